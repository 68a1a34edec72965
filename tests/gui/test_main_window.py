"""The main window: docks, tabs per network, status bar, palette (filter, drag, double-click, Enter),
inspector edits reaching the canvas, Edit-menu undo/redo of every kind of edit, problems list, template
gallery, shortcuts, persistence, the first run and the error hook. Screenshots of three templates go to
tests/artifacts/."""

from __future__ import annotations

import html
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPointF, QSettings, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QImage
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from netbuilder.document import AddWire, MoveNodes, RemoveWires
from netbuilder.io import save_document
from netbuilder.specs import all_specs, get_spec
from netbuilder_ui import app as app_module
from netbuilder_ui.gallery import BLANK, TemplateGalleryDialog
from netbuilder_ui.inspector import human_count
from netbuilder_ui.main_window import MainWindow
from netbuilder_ui.shortcuts import ShortcutsDialog, shortcut_rows

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
EXPECTED_TEMPLATES = {"mlp", "lenet", "resnet-small", "lstm-classifier", "char-gru", "transformer-classifier",
                      "gpt-mini", "autoencoder", "vae", "dcgan", "transfer-digits", "resnet18", "cartpole", "acrobot"}


class Dialogs:
    """Stands in for the static QMessageBox functions: records what would be shown, answers from a queue."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.answers: list[Any] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        button = QMessageBox.StandardButton
        for kind, default in (("critical", button.Ok), ("warning", button.Cancel), ("information", button.Ok),
                              ("question", button.No), ("about", None)):
            monkeypatch.setattr(QMessageBox, kind, self._recorder(kind, default))

    def _recorder(self, kind: str, default: Any) -> Any:
        def show(_parent: Any, title: str, text: str, *_args: Any, **_kwargs: Any) -> Any:
            self.shown.append((kind, title, text))
            return self.answers.pop(0) if self.answers else default
        return staticmethod(show)


@pytest.fixture
def dialogs(monkeypatch):
    recorder = Dialogs()
    recorder.install(monkeypatch)
    return recorder


def make_window(qtbot, tmp_path: Path, resize: bool = True, **options: Any) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    options.setdefault("run_root", tmp_path / "runs")
    window = MainWindow(settings=settings, recovery_dir=tmp_path / "recovery", autosave_interval_ms=3_600_000,
                        **options)
    qtbot.addWidget(window)
    if resize:
        window.resize(1400, 900)
    window.show()
    qtbot.waitExposed(window)
    return window


@pytest.fixture
def window(qtbot, tmp_path, dialogs):
    win = make_window(qtbot, tmp_path)
    win.open_template("mlp", ask=False)
    QApplication.processEvents()
    yield win
    win.qt_doc.undo_stack.setClean()
    win.close()


def net(win: MainWindow, name: str | None = None):
    return win.qt_doc.document.network(name or win.current_network())


def snapshot(win: MainWindow) -> dict[str, Any]:
    doc = win.qt_doc.document
    return {name: (sorted((n.id, n.type, n.name, repr(sorted(n.params.items())), n.position,
                           repr(sorted(n.options().items()))) for n in network.nodes),
                   sorted(w.key for w in network.wires)) for name, network in doc.networks.items()}


# ---- layout, tabs, status ----------------------------------------------------------------------------------

def test_window_layout_title_and_status(window):
    area = window.dockWidgetArea
    assert area(window.palette_dock) == Qt.DockWidgetArea.LeftDockWidgetArea
    assert area(window.inspector_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert area(window.problems_dock) == Qt.DockWidgetArea.BottomDockWidgetArea
    assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == ["model"]
    assert window.windowTitle() == "mlp[*] — NetBuilder" and not window.isWindowModified()
    analysis = window.qt_doc.analysis("model")
    assert window.status_state.text() == "Valid"
    assert window.status_params.text() == f"Parameters  {human_count(analysis.total_params)}"
    assert window.status_params.text() == "Parameters  17.2 K"
    assert window.status_macs.text() == f"Multiply-adds  {human_count(analysis.total_macs)}"
    # The editor's panels are in front; training's docks wait in tabs beside them.
    assert not window.inspector_dock.visibleRegion().isEmpty()
    assert not window.problems_dock.visibleRegion().isEmpty()
    tabbed = {dock.objectName() for dock in window.tabifiedDockWidgets(window.problems_dock)}
    assert tabbed == {"trainingPlotsDock", "trainingResultsDock"}
    # One visible tab bar per tabbed group: none left behind over the palette or the canvas (a Qt bug).
    from PySide6.QtWidgets import QTabBar

    visible_bars = [bar for bar in window.findChildren(QTabBar) if bar.parent() is window and bar.isVisible()]
    assert len(visible_bars) == 2
    assert all(bar.geometry().bottom() >= window.height() - window.statusBar().height() - 40
               for bar in visible_bars)  # both sit at the bottom of their dock area


def test_gan_shows_one_tab_per_network(window):
    window.open_template("dcgan", ask=False)
    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    assert names == list(window.qt_doc.document.networks) == ["generator", "discriminator"]
    window.tabs.setCurrentIndex(1)
    assert window.current_network() == "discriminator"
    assert window.problems.network_name == "discriminator"
    assert window.inspector.network_name == "discriminator"
    params = window.qt_doc.analysis("discriminator").total_params
    assert window.status_params.text() == f"Parameters  {human_count(params)}"
    assert params != window.qt_doc.analysis("generator").total_params


# ---- palette -----------------------------------------------------------------------------------------------

def test_palette_lists_every_spec_by_category_and_filters(window, qtbot):
    palette = window.palette_panel
    assert palette.spec_ids() == [s.id for s in all_specs()]
    palette.set_filter("conv")
    visible = palette.visible_spec_ids()
    assert visible and all("conv" in (sid + spec.title).lower() or any("conv" in k for k in spec.keywords)
                           for sid in visible for spec in all_specs() if spec.id == sid)
    assert "Linear" not in visible
    palette.set_filter("pool 2d")
    assert set(palette.visible_spec_ids()) >= {"MaxPool2d", "AvgPool2d"}
    keyword_specs = [(s, k) for s in all_specs() for k in s.keywords
                     if k.lower() not in (s.title + s.id).lower()]
    spec, keyword = keyword_specs[0]
    palette.set_filter(keyword)
    assert spec.id in palette.visible_spec_ids()
    palette.set_filter("norm")
    assert "Dropout" not in palette.visible_spec_ids()  # matches titles and keywords, not the category name
    palette.set_filter("no such layer")
    assert palette.visible_spec_ids() == [] and palette.empty.isVisibleTo(palette)
    palette.set_filter("")
    assert len(palette.visible_spec_ids()) == len(all_specs())
    window.activateWindow()
    window.acts["find"].trigger()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is palette.search, timeout=2000)
    assert html.escape(get_spec("Linear").doc) in palette.item_for("Linear").toolTip(0)


def test_drop_from_palette_adds_the_layer(window):
    view = window.current_view()
    before = len(net(window))
    mime = window.palette_panel.mime_data_for("Linear")
    assert bytes(mime.data("application/x-netbuilder-layer").data()) == b"Linear"
    pos = QPointF(view.viewport().rect().center())
    actions = Qt.DropAction.CopyAction
    for event in (QDragEnterEvent(pos.toPoint(), actions, mime, Qt.MouseButton.LeftButton,
                                  Qt.KeyboardModifier.NoModifier),
                  QDragMoveEvent(pos.toPoint(), actions, mime, Qt.MouseButton.LeftButton,
                                 Qt.KeyboardModifier.NoModifier),
                  QDropEvent(pos, actions, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)):
        QApplication.sendEvent(view.viewport(), event)
    assert len(net(window)) == before + 1
    assert window.acts["undo"].text().replace("&", "") == "Undo Add Linear (Dense)"
    window.acts["undo"].trigger()
    assert len(net(window)) == before


def test_double_click_and_enter_add_at_the_centre(window, qtbot):
    palette = window.palette_panel
    tree = palette.tree
    before = set(net(window).node_ids())
    item = palette.item_for("ReLU")
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    qtbot.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a real double-click
    qtbot.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # starts with a press
    added = set(net(window).node_ids()) - before
    assert len(added) == 1 and net(window).node(added.pop()).type == "ReLU"
    assert window.inspector.node is not None and window.inspector.node.type == "ReLU"
    tree.setCurrentItem(palette.item_for("Dropout"))
    tree.setFocus()
    qtbot.keyClick(tree, Qt.Key.Key_Return)
    types = sorted(net(window).node(i).type for i in set(net(window).node_ids()) - before)
    assert types == ["Dropout", "ReLU"]
    palette.set_filter("gelu")
    qtbot.keyClick(palette.search, Qt.Key.Key_Return)  # Enter in the search field adds the first match
    assert any(net(window).node(i).type == "GELU" for i in net(window).node_ids())


# ---- inspector and canvas ----------------------------------------------------------------------------------

def test_inspector_edit_changes_shapes_downstream_on_the_canvas(window):
    network = net(window)
    hidden = network.find("hidden1").id
    view = window.current_view()
    view.select_nodes([hidden])
    assert window.inspector.node_ids == [hidden]
    spin = window.inspector.editors["units"].widget
    spin.setValue(96)
    window.qt_doc.flush()
    items = view.scene().node_items
    assert items[hidden].content.shape == "N×96"
    downstream = [w for w in network.wires if w.src == hidden][0]
    relu = downstream.dst
    assert items[relu].content.shape == "N×96"
    assert "96" in view.scene().wire_items[downstream.key].label
    total = window.qt_doc.analysis("model").total_params
    assert window.status_params.text() == f"Parameters  {human_count(total)}"


def test_edit_menu_undoes_and_redoes_every_kind_of_edit(window, qtbot):
    undo, redo = window.acts["undo"], window.acts["redo"]
    view = window.current_view()
    network = net(window)
    hidden = network.find("hidden1").id
    inspector = window.inspector

    def check(action_text: str, edit: Any) -> None:
        before = snapshot(window)
        edit()
        after = snapshot(window)
        assert after != before
        assert undo.text().replace("&", "").startswith(f"Undo {action_text}"), undo.text()
        undo.trigger()
        assert snapshot(window) == before
        assert redo.text().replace("&", "").startswith(f"Redo {action_text}")
        redo.trigger()
        assert snapshot(window) == after

    check("Add ReLU", lambda: window.add_layer("ReLU"))
    view.select_nodes([hidden])
    check("Change hidden1 units", lambda: inspector.editors["units"].widget.setValue(200))

    def rename() -> None:
        inspector.name_edit.setText("encoder")
        inspector.name_edit.editingFinished.emit()
    check("Rename to encoder", rename)
    check("Change trainable", lambda: inspector.trainable_box.click())

    def lr() -> None:
        inspector.option_edits["lr_mult"].setText("0.5")
        inspector.option_edits["lr_mult"].editingFinished.emit()
    check("Change lr_mult", lr)
    wire = next(w for w in network.wires if w.src == hidden)
    check("Disconnect", lambda: window.qt_doc.execute(RemoveWires("model", [wire])))
    check("Connect", lambda: window.qt_doc.execute(AddWire("model", wire)))
    check("Move", lambda: window.qt_doc.execute(MoveNodes("model", {hidden: (5.0, 500.0)})))
    view.select_nodes([hidden])
    check("Duplicate", window.acts["duplicate"].trigger)
    view.select_nodes([hidden])
    check("Delete", window.acts["delete"].trigger)
    view.select_nodes([network.node_ids()[0]])
    window.acts["copy"].trigger()
    check("Paste", window.acts["paste"].trigger)
    check("Auto-layout", window.acts["auto_layout"].trigger)
    assert window.isWindowModified()
    while window.qt_doc.undo_stack.canUndo():
        undo.trigger()
    assert not window.isWindowModified()


# ---- problems ----------------------------------------------------------------------------------------------

def test_problems_list_and_jump_to_node(window):
    network = net(window)
    hidden = network.find("hidden1")
    wire = next(w for w in network.wires if w.dst == hidden.id)
    window.qt_doc.execute(RemoveWires("model", [wire]))
    window.qt_doc.flush()
    rows = window.problems.rows()
    assert rows and rows[0][0] == "hidden1" and "not connected" in rows[0][1]
    errors = len(window.qt_doc.analysis("model").errors)
    assert window.status_state.text() == f"{errors} problem{'s' * (errors != 1)}"
    assert window.problems_dock.windowTitle().startswith("Problems (")
    view = window.current_view()
    view.select_nodes([])
    window.problems.activate_row(0)
    assert view.selected_node_ids() == [hidden.id]
    assert window.inspector.node_ids == [hidden.id]
    view.select_nodes([])
    window.acts["next_problem"].trigger()
    assert len(view.selected_node_ids()) == 1
    window.acts["undo"].trigger()
    window.qt_doc.flush()
    assert window.problems.rows() == [] and window.status_state.text() == "Valid"


# ---- templates ---------------------------------------------------------------------------------------------

def test_gallery_opens_every_template(window, monkeypatch, dialogs):
    dialog = TemplateGalleryDialog(window)
    dialog.load_all()
    assert set(dialog.ids()) == {BLANK} | EXPECTED_TEMPLATES
    assert dialog.errors == {}
    assert all(dialog.summaries[t].split()[0].isdigit() for t in EXPECTED_TEMPLATES)
    dialog.close()
    for template_id in dialog.ids()[1:] + [BLANK]:
        def fake_exec(self: TemplateGalleryDialog, chosen: str = template_id) -> int:
            self.select(chosen)
            return QDialog.DialogCode.Accepted
        monkeypatch.setattr(TemplateGalleryDialog, "exec", fake_exec)
        assert window.new_from_template()
        doc = window.qt_doc.document
        expected = template_id or "Untitled"
        assert window.windowTitle() == f"{expected}[*] — NetBuilder"
        assert [window.tabs.tabText(i) for i in range(window.tabs.count())] == list(doc.networks)
        for name in doc.networks:
            window.tabs.setCurrentIndex(list(doc.networks).index(name))
            if template_id:
                assert window.status_state.text() == "Valid", (template_id, name, window.problems.rows())
                assert len(window.view_for(name).scene().node_items) == len(doc.network(name))
    assert len(net(window)) == 2  # the blank network: an Input and an Output
    assert not dialogs.shown


def test_screenshots_of_the_main_window(window, qtbot):
    ARTIFACTS.mkdir(exist_ok=True)
    for template_id, layer in (("mlp", "hidden1"), ("lenet", "conv1"), ("dcgan", "project")):
        window.open_template(template_id, ask=False)
        QApplication.processEvents()
        window.fit_all_views()
        network = net(window)
        window.current_view().select_nodes([network.find(layer).id])
        QApplication.processEvents()
        path = ARTIFACTS / f"main-window-{template_id}.png"
        assert window.grab().save(str(path))
        image = QImage(str(path))
        assert (image.width(), image.height()) == (1400, 900)
        colours = {image.pixel(x, y) for x in range(0, 1400, 37) for y in range(0, 900, 29)}
        assert len(colours) > 20  # a real window, not a blank frame


# ---- shortcuts, settings, first run, errors ----------------------------------------------------------------

def test_shortcuts_are_listed_from_the_actions(window):
    rows = shortcut_rows(window)
    listed = {(name, keys) for _group, name, keys in rows}
    for action in window.acts.values():
        if not action.shortcut().isEmpty():
            name = action.property("shortcutLabel") or action.text().replace("&", "").rstrip(".…").strip()
            assert any(n == name for n, _ in listed), name
    assert ("File", "Save", "Ctrl+S") in rows
    assert ("Edit", "Undo", "Ctrl+Z, Alt+Backspace") in rows or any(
        group == "Edit" and name == "Undo" and keys.startswith("Ctrl+Z") for group, name, keys in rows)
    dialog = ShortcutsDialog(window)
    dialog.set_filter("zoom")
    shown = [dialog.tree.topLevelItem(i).child(j).text(0) for i in range(dialog.tree.topLevelItemCount())
             for j in range(dialog.tree.topLevelItem(i).childCount())
             if not dialog.tree.topLevelItem(i).child(j).isHidden()]
    assert shown and all("zoom" in s.lower() for s in shown)
    dialog.close()


def test_layout_and_geometry_persist(qtbot, tmp_path, dialogs):
    first = make_window(qtbot, tmp_path)
    first.resize(720, 520)  # within the offscreen screen (800x600): restoring clamps to the screen
    first.problems_dock.hide()
    first.acts["snap"].setChecked(False)
    first.close()
    second = make_window(qtbot, tmp_path, resize=False)
    assert second.problems_dock.isHidden()
    assert not second.acts["snap"].isChecked()
    assert (second.width(), second.height()) == (720, 520)
    second.close()


def test_first_run_opens_mlp_and_command_line_files(qtbot, tmp_path, dialogs):
    options = {"settings": QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
               "recovery_dir": tmp_path / "rec"}
    previous_hook = sys.excepthook
    try:
        win = app_module.launch([], **options)
        qtbot.addWidget(win)
        assert win.windowTitle() == "mlp[*] — NetBuilder" and win.isVisible()
        assert isinstance(sys.excepthook, app_module.ErrorHook)
        win.close()
        path = tmp_path / "given.nbg"
        doc = win.qt_doc.document
        doc.network().rename(doc.network().find("hidden1").id, "given_layer")
        save_document(doc, path)
        options["recovery_dir"] = tmp_path / "rec2"
        win2 = app_module.launch([str(path)], **options)
        qtbot.addWidget(win2)
        assert win2.windowTitle() == "given.nbg[*] — NetBuilder"
        assert win2.qt_doc.document.network().find("given_layer")
        win2.close()
        broken = tmp_path / "broken.nbg"
        broken.write_text("{ not json")
        options["recovery_dir"] = tmp_path / "rec3"
        win3 = app_module.launch([str(broken)], **options)
        qtbot.addWidget(win3)
        assert dialogs.shown and "broken.nbg" in dialogs.shown[-1][2]
        assert win3.windowTitle() == "mlp[*] — NetBuilder"  # the example opens instead
        win3.close()
    finally:
        sys.excepthook = previous_hook


def test_run_app_runs_the_loop_and_restores_the_hook(qtbot, tmp_path, dialogs, monkeypatch):
    real_launch = app_module.launch
    opened: list[MainWindow] = []

    def launch(argv: list[str], **options: object) -> MainWindow:
        win = real_launch(argv, **options, settings=QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat),
                          recovery_dir=tmp_path / "rec")
        opened.append(win)
        return win

    monkeypatch.setattr(app_module, "launch", launch)
    monkeypatch.setattr(QApplication, "exec", lambda self=None: 7)
    previous_hook = sys.excepthook
    assert app_module.run_app([]) == 7
    assert sys.excepthook is previous_hook
    qtbot.addWidget(opened[0])
    opened[0].close()


def test_error_hook_shows_a_short_message_and_keeps_running(window, monkeypatch):
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "exec", lambda box: shown.append((box.text(), box.detailedText())) or 0)
    hook = app_module.ErrorHook(window)
    try:
        raise ValueError("the widget fell over\nsecond line")
    except ValueError as error:
        hook(type(error), error, error.__traceback__)
    assert shown[0][0] == "Something went wrong: the widget fell over"
    assert "Traceback" in shown[0][1] and "ValueError" in shown[0][1]
    assert window.isVisible()


def test_about_and_help_menus(window, dialogs):
    window.show_about()
    assert dialogs.shown[-1][1] == "About NetBuilder"
    dialog = window.show_shortcuts()
    assert dialog.isVisible() and dialog.rows
    dialog.close()
    assert [a.text().replace("&", "") for a in window.menuBar().actions()] == ["File", "Edit", "View", "Train", "Help"]
    assert window.menu_for("File").actions()



def test_a_later_panel_gets_a_toggle_and_its_saved_place(qtbot, tmp_path, dialogs):
    from PySide6.QtWidgets import QLabel

    first = make_window(qtbot, tmp_path)
    right = Qt.DockWidgetArea.RightDockWidgetArea
    dock = first.add_panel("Training", "trainingDock", QLabel("curves"), right, "Alt+5")
    assert dock.toggleViewAction() in first.panels_menu.actions()
    assert ("View › Panels", "Training", "Alt+5") in shortcut_rows(first)
    first.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)  # the user moves it
    first.close()
    second = make_window(qtbot, tmp_path, resize=False)
    again = second.add_panel("Training", "trainingDock", QLabel("curves"), right)
    assert second.dockWidgetArea(again) == Qt.DockWidgetArea.BottomDockWidgetArea
    second.close()
