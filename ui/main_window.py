"""The main window: palette (left), one canvas tab per network (centre), inspector (right), problems (bottom),
menus, toolbar and status bar.

The window is glue. It owns no graph logic: the document lives in `QtDocument`, edits are commands, each
panel listens to the document's signals, and file handling lives in `FileController`. Panels are dock
widgets with object names, so the layout persists; a later Training panel is added with
`MainWindow.add_panel` and gets a View > Panels toggle and its saved place."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shiboken6
from PySide6.QtCore import QByteArray, QSettings, QSize, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
    QPaintEvent,
    QShowEvent,
)
from PySide6.QtWidgets import (
    QDialog,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QTabBar,
    QTabWidget,
    QToolBar,
    QUndoView,
    QWidget,
)

from netbuilder import __version__
from netbuilder.analysis import group_by_cause
from netbuilder.analysis.per_token import latest_cost
from netbuilder.document import Document, DocumentError
from netbuilder.specs import ParamError
from netbuilder.templates import load_template
from netbuilder_ui.blocks import install_blocks_ui
from netbuilder_ui.canvas import CanvasView
from netbuilder_ui.canvas.flow import install_flow_menu
from netbuilder_ui.files import AUTOSAVE_INTERVAL_MS, FILE_SUFFIX, FileController, RecoveryInfo
from netbuilder_ui.gallery import TemplateGalleryDialog, blank_document
from netbuilder_ui.icons import ERROR, OK, WARNING, action_icon, app_icon, color_dot
from netbuilder_ui.inspector import InspectorWidget, human_count
from netbuilder_ui.palette import PaletteWidget
from netbuilder_ui.problems import ProblemsWidget
from netbuilder_ui.qt_document import QtDocument
from netbuilder_ui.shortcuts import ShortcutsDialog
from netbuilder_ui.style_sheet import app_style_sheet
from netbuilder_ui.training_loader import TrainingLoader

if TYPE_CHECKING:
    from netbuilder_ui.training import TrainingUI

APP_NAME = "NetBuilder"
# Disabled while training runs (the document is locked): they change the network or replace the document.
LOCKED_ACTIONS = ("new", "new_template", "open", "import_model", "cut", "paste", "duplicate", "delete", "auto_layout")
SETTINGS_VERSION = 1  # bump when the dock layout changes incompatibly, so an old saved state is ignored
BOTTOM_PANEL_HEIGHT = 190  # problems, plots and results share it: room for a plot, not only a list



class MainWindow(QMainWindow):
    """The editor window for one document."""

    def __init__(self, qt_doc: QtDocument | None = None, settings: QSettings | None = None,
                 recovery_dir: str | os.PathLike[str] | None = None,
                 autosave_interval_ms: int = AUTOSAVE_INTERVAL_MS,
                 ask_restore: Callable[[RecoveryInfo], bool] | None = None,
                 run_root: str | os.PathLike[str] | None = None, training: bool = True,
                 defer_training: bool = False, parent: QWidget | None = None):
        """``run_root`` is where training runs are written (default: beside the saved file, else the user's data
        folder); ``training=False`` builds the editor alone (the Train menu and its docks are left out).
        ``defer_training=True`` (the app) shows the editor first and adds training once PyTorch has loaded in
        the background (see `TrainingLoader`); otherwise training is built here, importing PyTorch now."""
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.setWindowIcon(app_icon())
        self.setStyleSheet(app_style_sheet())
        self.setAcceptDrops(True)
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks)
        self.qt_doc = qt_doc if qt_doc is not None else QtDocument(parent=self)
        self.settings = settings or QSettings()
        self.files = FileController(self.qt_doc, self, self.settings, recovery_dir, autosave_interval_ms,
                                    ask_restore)
        self.views: dict[str, CanvasView] = {}
        self.acts: dict[str, QAction] = {}
        self._fitted_once = False
        self._painted_once = False
        self._after_first_paint: list[Callable[[], None]] = []
        self._default_layout_pending = True

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("canvasTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.setMovable(False)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self.setCentralWidget(self.tabs)

        self.palette_panel = PaletteWidget(self)
        self.inspector = InspectorWidget(self.qt_doc, self)
        self.problems = ProblemsWidget(self.qt_doc, self)
        self.history = QUndoView(self.qt_doc.undo_stack, self)
        self.history.setEmptyLabel("Opened document")
        self.panels_menu: QMenu | None = None
        left, right, bottom = (Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea)
        self.palette_dock = self.add_panel("Layers", "paletteDock", self.palette_panel, left, "Alt+1")
        self.inspector_dock = self.add_panel("Inspector", "inspectorDock", self.inspector, right, "Alt+2")
        self.problems_dock = self.add_panel("Problems", "problemsDock", self.problems, bottom, "Alt+3")
        self.history_dock = self.add_panel("Undo History", "historyDock", self.history, right, "Alt+4")
        self.tabifyDockWidget(self.inspector_dock, self.history_dock)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)

        self._build_status_bar()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self.blocks = install_blocks_ui(self)
        self.training_ui: TrainingUI | None = None
        self.training_loader: TrainingLoader | None = None
        if training and defer_training:
            self.training_loader = TrainingLoader(self, run_root)
            self.training_loader.ready.connect(self._on_training_ready)
        elif training:
            from netbuilder_ui.training import install_training_ui

            self.training_ui = install_training_ui(self, run_root)
        if training:
            self.toolbar.addSeparator()
            self.toolbar.addActions([self.acts["train_start"], self.acts["train_pause"], self.acts["train_stop"]])
        # The editor comes first; the training tabs come forward when a run starts.
        self.inspector_dock.raise_()
        self.problems_dock.raise_()

        self.palette_panel.layerActivated.connect(self.add_layer)
        self.inspector.editCommitted.connect(self.focus_canvas)
        self.problems.nodeActivated.connect(self.show_node)
        self.problems.countChanged.connect(self._on_problem_count)
        self.problems.message.connect(self.show_message)
        self.qt_doc.documentReplaced.connect(self._on_document_replaced)
        self.qt_doc.networksChanged.connect(self._sync_tabs)
        self.qt_doc.analysisChanged.connect(self._on_analysis_changed)
        self.qt_doc.undo_stack.cleanChanged.connect(self._update_title)  # bound: disconnects when we are gone
        self.files.titleChanged.connect(self._update_title)
        self.files.recentChanged.connect(self._rebuild_recent_menu)
        self.files.message.connect(self.show_message)
        self.qt_doc.lockChanged.connect(self._on_lock_changed)
        # After the undo/redo actions' own connections, so a locked document keeps them disabled.
        self.qt_doc.undo_stack.canUndoChanged.connect(self._on_undo_availability)  # bound, as above
        self.qt_doc.undo_stack.canRedoChanged.connect(self._on_undo_availability)

        self._restore_settings()
        self.hide_stray_tab_bars()
        self._on_document_replaced()

    def _on_training_ready(self, ui: TrainingUI) -> None:
        """The training UI arrived after start-up (`TrainingLoader`): its docks take their saved places and the
        editor's panels stay in front."""
        self.training_ui = ui
        self.toolbar.addActions([self.acts["train_start"], self.acts["train_pause"], self.acts["train_stop"]])
        state = self.settings.value("window/state")
        if isinstance(state, QByteArray | bytes) and state:
            self.restoreState(QByteArray(state), SETTINGS_VERSION)  # the layout saved with these docks in it
        self.inspector_dock.raise_()
        self.problems_dock.raise_()
        self.hide_stray_tab_bars()
        self.show_message(f"Training is ready (PyTorch loaded in {self.training_loader.seconds:.1f} s)."
                          if self.training_loader is not None else "Training is ready.")

    # ---- construction --------------------------------------------------------------------------------------
    def add_panel(self, title: str, object_name: str, widget: QWidget, area: Qt.DockWidgetArea,
                  shortcut: str | None = None) -> QDockWidget:
        """Add a dockable panel (e.g. a later Training panel) with a View > Panels toggle. Its object name
        keys the saved layout; a panel added after start-up gets its saved place back too."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable |
                         QDockWidget.DockWidgetFeature.DockWidgetClosable |
                         QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        late = self.panels_menu is not None  # after start-up: menus exist and the saved layout was applied
        if not (late and self.restoreDockWidget(dock)):
            self.addDockWidget(area, dock)
        toggle = dock.toggleViewAction()
        if shortcut:
            toggle.setShortcut(QKeySequence(shortcut))
        self.addAction(toggle)
        self.acts[f"toggle_{object_name}"] = toggle
        if self.panels_menu is not None:
            self.panels_menu.addAction(toggle)
        return dock

    def hide_stray_tab_bars(self) -> None:
        """Hide the tab bars Qt leaves behind when docks are tabbed in a second dock area (seen with Qt 6.12:
        a bar with the group's first two tabs stays visible in the middle of the window, over the palette).
        A stray bar holds a strict subset of the tabs of a live bar, or the same tabs as an earlier one."""
        bars = list(self.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly))  # fast
        tabs = [tuple(re.sub(r" \(\d+\)$", "", bar.tabText(i)) for i in range(bar.count())) for bar in bars]
        for index, (bar, mine) in enumerate(zip(bars, tabs, strict=True)):
            stray = any(set(mine) < set(other) or (other == mine and other_index > index)
                        for other_index, other in enumerate(tabs) if other_index != index)
            if stray and mine:
                bar.hide()

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(True)
        state = QWidget()
        layout = QHBoxLayout(state)
        layout.setContentsMargins(8, 0, 0, 0)
        layout.setSpacing(0)
        self.status_dot = QLabel()
        self.status_state = QLabel("Valid")
        self.status_state.setObjectName("statusState")
        self.status_state.setToolTip("Validation state of the current network; F8 goes to the next problem.")
        layout.addWidget(self.status_dot)
        layout.addWidget(self.status_state)
        self.status_params = QLabel()
        self.status_params.setToolTip("Parameters in the current network (trainable and frozen).")
        self.status_macs = QLabel()
        self.status_macs.setToolTip("Multiply-add operations for one sample through the current network.")
        bar.addPermanentWidget(state)
        bar.addPermanentWidget(self.status_params)
        bar.addPermanentWidget(self.status_macs)

    def _action(self, key: str, text: str, slot: Callable[[], Any], shortcut: Any = None,
                icon: str | None = None, tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if icon:
            action.setIcon(action_icon(icon))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.setCheckable(checkable)
        if checkable:
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work even when the menu bar is hidden
        self.acts[key] = action
        return action

    def _canvas_slot(self, method: str) -> Callable[[], None]:
        def run() -> None:
            view = self.current_view()
            if view is not None:
                try:
                    getattr(view, method)()
                except (DocumentError, ParamError) as error:
                    self.statusBar().showMessage(str(error), 8000)
        return run

    def _build_actions(self) -> None:
        key = QKeySequence.StandardKey
        a = self._action
        a("new", "&New", self.new_blank, key.New, "new", "Start a blank network with an Input and an Output.")
        a("new_template", "New from &Template…", self.new_from_template, "Ctrl+Shift+N", "template",
          "Start from one of the example networks.")
        a("open", "&Open…", self.files.open, key.Open, "open", "Open a NetBuilder file (.nbg).")
        a("import_model", "&Import…", self.import_model, "Ctrl+I", "open",
          "Import an ONNX model with its weights as a new network.")
        a("save", "&Save", self.files.save, key.Save, "save", "Save the document.")
        a("save_as", "Save &As…", self.files.save_as, key.SaveAs, None, "Save the document under a new name.")
        a("export_image", "Export &Image…", self.export_image, "Ctrl+E", "image",
          "Save the current network's diagram as PNG or SVG.")
        a("export_onnx", "Export &ONNX…", self.export_onnx, "Ctrl+Shift+E", "export",
          "Export the current network to ONNX, checked against onnxruntime.")
        a("export_pytorch", "Export &PyTorch Code…", self.export_pytorch, "Ctrl+Alt+E", "code",
          "Write the current network as a standalone PyTorch module.")
        a("quit", "&Quit", self.close, key.Quit, None, "Close the window (asks to save unsaved changes).")

        undo = self.qt_doc.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcuts(QKeySequence.keyBindings(key.Undo))
        undo.setIcon(action_icon("undo"))
        redo = self.qt_doc.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts(QKeySequence.keyBindings(key.Redo))
        redo.setIcon(action_icon("redo"))
        for name, action in (("undo", undo), ("redo", redo)):
            action.setProperty("shortcutLabel", name.capitalize())
            self.addAction(action)
            self.acts[name] = action
        a("cut", "Cu&t", self._canvas_slot("cut"), key.Cut, None, "Cut the selected layers.")
        a("copy", "&Copy", self._canvas_slot("copy"), key.Copy, None,
          "Copy the selected layers and their wires.")
        a("paste", "&Paste", self._canvas_slot("paste"), key.Paste, None, "Paste layers.")
        a("duplicate", "D&uplicate", self._canvas_slot("duplicate"), "Ctrl+D", None,
          "Duplicate the selected layers with the wires between them.")
        a("delete", "&Delete", self._canvas_slot("delete_selection"), [key.Delete, "Backspace"], "delete",
          "Delete the selected layers and wires.")
        a("select_all", "Select &All", self._canvas_slot("select_all"), key.SelectAll, None,
          "Select every layer of the current network.")
        a("find", "&Find Layer…", self.focus_palette_search, key.Find, None, "Search the layer palette.")
        a("next_problem", "Next &Problem", lambda: self.problems.select_next(1), "F8", "problem",
          "Select the next layer with a problem.")
        a("prev_problem", "Previous P&roblem", lambda: self.problems.select_next(-1), "Shift+F8", None,
          "Select the previous layer with a problem.")

        a("zoom_in", "Zoom &In", self._canvas_slot("zoom_in"), [key.ZoomIn, "Ctrl+="], "zoom-in", "Zoom in.")
        a("zoom_out", "Zoom &Out", self._canvas_slot("zoom_out"), key.ZoomOut, "zoom-out", "Zoom out.")
        a("reset_zoom", "&Actual Size", self._canvas_slot("reset_zoom"), "Ctrl+1", None, "Zoom to 100%.")
        a("fit_all", "&Fit Network", self._canvas_slot("fit_all"), "Ctrl+0", "fit",
          "Zoom so that the whole network is visible.")
        a("zoom_selection", "Zoom to &Selection", self._canvas_slot("zoom_to_selection"), "Ctrl+2", None,
          "Zoom to the selected layers.")
        a("auto_layout", "Auto &Layout", self._canvas_slot("auto_layout"), "Ctrl+L", "layout",
          "Arrange the layers left to right from the graph (undoable).")
        a("snap", "S&nap to Grid", self._set_snap, "Ctrl+;", None, "Snap moved layers to the grid.",
          checkable=True)
        a("next_tab", "Next Network", lambda: self._step_tab(1), "Ctrl+PgDown", None,
          "Show the next network.")
        a("prev_tab", "Previous Network", lambda: self._step_tab(-1), "Ctrl+PgUp", None,
          "Show the previous network.")
        a("shortcuts", "&Keyboard Shortcuts", self.show_shortcuts, [key.HelpContents, "Ctrl+/"], "keyboard",
          "List every keyboard shortcut.")
        a("about", "&About NetBuilder", self.show_about, None, None, "Version and credits.")


    def _build_menus(self) -> None:
        bar = self.menuBar()
        acts = self.acts
        file_menu = bar.addMenu("&File")
        file_menu.addActions([acts["new"], acts["new_template"], acts["open"], acts["import_model"]])
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addSeparator()
        file_menu.addActions([acts["save"], acts["save_as"]])
        file_menu.addSeparator()
        file_menu.addActions([acts["export_image"], acts["export_onnx"], acts["export_pytorch"]])
        file_menu.addSeparator()
        file_menu.addAction(acts["quit"])
        self._rebuild_recent_menu()

        edit = bar.addMenu("&Edit")
        edit.addActions([acts["undo"], acts["redo"]])
        edit.addSeparator()
        edit.addActions([acts["cut"], acts["copy"], acts["paste"], acts["duplicate"], acts["delete"]])
        edit.addSeparator()
        edit.addActions([acts["select_all"], acts["find"]])
        edit.addSeparator()
        edit.addActions([acts["next_problem"], acts["prev_problem"]])

        view = bar.addMenu("&View")
        view.addActions([acts["zoom_in"], acts["zoom_out"], acts["reset_zoom"], acts["fit_all"],
                         acts["zoom_selection"]])
        view.addSeparator()
        view.addActions([acts["auto_layout"], acts["snap"]])
        self.flow = install_flow_menu(self, view)
        view.addSeparator()
        view.addActions([acts["next_tab"], acts["prev_tab"]])
        view.addSeparator()
        panels = view.addMenu("&Panels")
        panels.addActions([dock.toggleViewAction() for dock in
                           self.findChildren(QDockWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)])
        self.panels_menu = panels

        help_menu = bar.addMenu("&Help")
        help_menu.addActions([acts["shortcuts"], acts["about"]])

    def _build_toolbar(self) -> None:
        bar = QToolBar("Main toolbar", self)
        bar.setObjectName("mainToolbar")
        bar.setMovable(False)
        bar.setIconSize(QSize(20, 20))
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
        acts = self.acts
        for group in (("new", "new_template", "open", "save"), ("undo", "redo"),
                      ("zoom_out", "zoom_in", "fit_all", "auto_layout"), ("delete",),
                      ("export_image", "export_onnx", "export_pytorch")):
            if bar.actions():
                bar.addSeparator()
            for name in group:
                bar.addAction(acts[name])
        for action in bar.actions():
            if not action.isSeparator() and action.shortcut().toString():
                keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
                action.setToolTip(f"{action.text().replace('&', '').rstrip('…')} ({keys})")
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar

    # ---- settings ------------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray | bytes) and geometry:
            self.restoreGeometry(QByteArray(geometry))
        else:
            self.resize(1400, 900)
        state = self.settings.value("window/state")
        restored = isinstance(state, QByteArray | bytes) and bool(state) and \
            self.restoreState(QByteArray(state), SETTINGS_VERSION)
        self._default_layout_pending = not restored
        snap = self.settings.value("canvas/snapToGrid", True)
        self.acts["snap"].setChecked(str(snap).lower() in ("true", "1"))

    def save_settings(self) -> None:
        """Window geometry and dock layout (recent files are saved as they change)."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState(SETTINGS_VERSION))
        self.settings.setValue("canvas/snapToGrid", self.acts["snap"].isChecked())
        self.settings.sync()

    # ---- canvas tabs ---------------------------------------------------------------------------------------
    def current_network(self) -> str | None:
        """The network the visible tab shows: its own, or the block opened in it (None when there is none)."""
        view = self.current_view()
        return view.network if view is not None else None

    def current_view(self) -> CanvasView | None:
        """The canvas of the visible tab; the Edit and View actions act on it."""
        widget = self.tabs.currentWidget()
        for name, view in self.views.items():
            if view is widget and name in self.qt_doc.document.networks:
                return view
        return None

    def refresh_current_network(self) -> None:
        """The panels follow the network the current canvas shows (after a block was opened or left)."""
        self._on_tab_changed(self.tabs.currentIndex())

    def view_for(self, network: str) -> CanvasView:
        """The canvas showing ``network``."""
        return self.views[network]

    def _make_view(self, network: str) -> CanvasView:
        view = CanvasView(self.qt_doc, network, self.tabs)
        view.setObjectName(f"canvas_{network}")
        view.set_snap_to_grid(self.acts["snap"].isChecked())
        view.selectionChanged.connect(lambda ids, v=view: self._on_selection(v, ids))
        view.statusMessage.connect(self.show_message)
        self.blocks.attach_view(view)
        return view

    def _remove_view(self, network: str) -> None:
        view = self.views.pop(network)
        index = self.tabs.indexOf(view)
        if index >= 0:
            self.tabs.removeTab(index)
        view.hide()
        view.setParent(None)
        view.deleteLater()

    def _sync_tabs(self) -> None:
        """One tab per network of the document, in document order; views of vanished networks go."""
        names = list(self.qt_doc.document.networks)
        blocked = self.tabs.blockSignals(True)  # half-synced tabs must not drive the panels
        try:
            for name in [n for n in self.views if n not in names]:
                self._remove_view(name)
            for index, name in enumerate(names):
                view = self.views.get(name)
                if view is None:
                    view = self.views[name] = self._make_view(name)
                if self.tabs.indexOf(view) != index:
                    if self.tabs.indexOf(view) >= 0:
                        self.tabs.removeTab(self.tabs.indexOf(view))
                    self.tabs.insertTab(index, view, name)
                self.tabs.setTabToolTip(index, f"Network “{name}”")
        finally:
            self.tabs.blockSignals(blocked)
        self._on_tab_changed(self.tabs.currentIndex())

    def _on_document_replaced(self) -> None:
        # Views of networks that the new document also has are kept: their scenes rebuild themselves on the
        # same
        # signal (after this slot). Selection is dropped first, so the inspector never shows an old node.
        for view in self.views.values():
            view.select_nodes([])
        self._sync_tabs()
        self.tabs.setCurrentIndex(0)
        self.inspector.set_target(self.current_network(), [])
        self._update_title()
        if self.isVisible():
            QTimer.singleShot(0, self, self.fit_all_views)

    def fit_all_views(self) -> None:
        """The first view of a freshly opened document: the whole network where every title reads (see
        CanvasView.fit_legible)."""
        for view in self.views.values():
            view.fit_legible()

    def _step_tab(self, step: int) -> None:
        count = self.tabs.count()
        if count:
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % count)

    def _on_tab_changed(self, _index: int) -> None:
        network = self.current_network()
        view = self.current_view()
        self.problems.set_network(network)
        self.inspector.set_target(network, view.selected_node_ids() if view else [])
        self._update_status()
        self._update_selection_actions(view.selected_node_ids() if view else [])

    def _on_selection(self, view: CanvasView, ids: list[str]) -> None:
        if view is self.current_view():
            self.inspector.set_target(self.current_network(), list(ids))
            self._update_selection_actions(list(ids))

    def _update_selection_actions(self, ids: list[str]) -> None:
        has_view = self.current_view() is not None
        for name in ("cut", "copy", "duplicate", "delete", "zoom_selection"):
            self.acts[name].setEnabled(has_view and bool(ids))
        for name in ("paste", "select_all", "zoom_in", "zoom_out", "reset_zoom", "fit_all", "auto_layout",
                     "export_image", "export_onnx", "export_pytorch"):
            self.acts[name].setEnabled(has_view)
        if self.qt_doc.lock_reason:
            for name in LOCKED_ACTIONS:
                self.acts[name].setEnabled(False)

    # ---- status and title ----------------------------------------------------------------------------------
    def show_message(self, text: str) -> None:
        """A short message in the status bar (file saved, why a wire was refused, ...)."""
        self.statusBar().showMessage(text, 6000)

    def _update_title(self, *_: object) -> None:
        if not shiboken6.isValid(self):  # the undo stack signals while the window is being destroyed
            return
        self.setWindowTitle(f"{self.files.display_name()}[*] — {APP_NAME}")
        self.setWindowModified(self.qt_doc.modified)

    def _on_analysis_changed(self, network: str) -> None:
        if network == self.current_network():
            self._update_status()

    def _update_status(self) -> None:
        network = self.current_network()
        if network is None:
            self.status_state.setText("No network")
            self.status_params.setText("")
            self.status_macs.setText("")
            return
        analysis = self.qt_doc.analysis(network)
        # Counted by root cause, as the Problems list shows them (a deleted wire is one problem, not seven).
        groups = group_by_cause(self.qt_doc.document.network(network), analysis)
        errors = sum(g.severity == "error" for g in groups)
        warnings = len(groups) - errors
        if errors:
            text, state, color = f"{errors} problem{'s' * (errors != 1)}", "error", ERROR
        elif warnings:
            text, state, color = f"Valid, {warnings} warning{'s' * (warnings != 1)}", "warning", WARNING
        else:
            text, state, color = "Valid", "ok", OK
        self.status_state.setText(text)
        self.status_state.setProperty("state", state)
        self.status_state.style().unpolish(self.status_state)
        self.status_state.style().polish(self.status_state)
        self.status_dot.setPixmap(color_dot(color))
        self.status_params.setText(f"Parameters  {human_count(analysis.total_params)}")
        per_token = latest_cost(self.qt_doc.document.network(network)) if analysis.ok else None
        self.status_macs.setText(f"Multiply-adds  {human_count(analysis.total_macs)}" if per_token is None else
                                 f"Multiply-adds  {human_count(round(per_token.per_token))} per token")

    def status_text(self) -> str:
        """The permanent status-bar text (validation, parameters, multiply-adds)."""
        return "  ".join(w.text() for w in (self.status_state, self.status_params, self.status_macs))

    def _on_lock_changed(self, reason: str) -> None:
        self._apply_lock()
        self.palette_panel.setEnabled(not reason)
        self.palette_panel.setToolTip(reason)
        self.show_message(reason or "The network can be edited again.")

    def _on_undo_availability(self, _available: bool) -> None:
        if self.qt_doc.lock_reason and shiboken6.isValid(self.qt_doc.undo_stack):
            self._apply_lock()

    def _apply_lock(self) -> None:
        """While training runs, everything that would change the network or replace the document is disabled;
        selecting, moving, zooming and inspecting stay available (moves are the one edit the lock allows)."""
        locked = bool(self.qt_doc.lock_reason)
        stack = self.qt_doc.undo_stack
        self.acts["undo"].setEnabled(not locked and stack.canUndo())
        self.acts["redo"].setEnabled(not locked and stack.canRedo())
        self.recent_menu.setEnabled(not locked)
        if locked:
            for name in LOCKED_ACTIONS:
                self.acts[name].setEnabled(False)
        else:
            for name in ("new", "new_template", "open"):
                self.acts[name].setEnabled(True)
            view = self.current_view()
            self._update_selection_actions(view.selected_node_ids() if view else [])

    def _on_problem_count(self, errors: int, warnings: int) -> None:
        total = errors + warnings
        self.problems_dock.setWindowTitle(f"Problems ({total})" if total else "Problems")

    # ---- commands from panels ------------------------------------------------------------------------------
    def add_layer(self, type_id: str) -> str | None:
        """Add a layer at the centre of the current canvas and select it (palette double-click / Enter)."""
        view = self.current_view()
        if view is None:
            return None
        try:
            node_id = view.add_layer(type_id)
        except (DocumentError, ParamError) as error:
            self.statusBar().showMessage(str(error), 8000)
            return None
        if node_id:
            view.select_nodes([node_id])
        view.setFocus(Qt.FocusReason.OtherFocusReason)
        return node_id

    def show_node(self, network: str, node_id: str) -> None:
        """Bring a node into view and select it (problems list, search results)."""
        view = self.views.get(network)
        if view is None and network == self.current_network():  # a block opened in the current canvas
            view = self.current_view()
        if view is None:
            return
        self.tabs.setCurrentWidget(view)
        view.select_nodes([node_id])
        view.center_on_node(node_id)

    def focus_canvas(self) -> None:
        """Keyboard focus to the current canvas (after an inspector edit is committed with Enter)."""
        view = self.current_view()
        if view is not None:
            view.setFocus(Qt.FocusReason.OtherFocusReason)

    def focus_palette_search(self) -> None:
        """Ctrl+F: show the layer palette and put the cursor in its search field."""
        self.palette_dock.show()
        self.palette_dock.raise_()
        self.palette_panel.focus_search()

    def _set_snap(self, on: bool) -> None:
        for view in self.views.values():
            view.set_snap_to_grid(on)

    # ---- files ---------------------------------------------------------------------------------------------
    def new_blank(self) -> bool:
        """File > New: an Input and an Output to build between (asks to save first)."""
        return self.files.replace_document(blank_document(), None, "Untitled")

    def open_template(self, template_id: str, ask: bool = True) -> bool:
        """Replace the document with a fresh copy of a template (named after it until saved)."""
        try:
            doc = load_template(template_id)
        except Exception as error:  # noqa: BLE001  TemplateError, LoadError, or a bug: never a crash
            QMessageBox.critical(self, "Could not open the template", str(error))
            return False
        return self.files.replace_document(doc, None, template_id, ask=ask)

    def new_from_template(self) -> bool:
        """File > New from Template: pick an example in the gallery; False if cancelled."""
        dialog = TemplateGalleryDialog(self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        template_id = dialog.selected_id()
        if template_id is None:
            return False
        if not template_id:
            return self.new_blank()
        return self.open_template(template_id)

    def open_path(self, path: str | os.PathLike[str]) -> bool:
        """Open a file without a dialog (recent files, drops, command line)."""
        return self.files.open(path)

    def load_document(self, doc: Document, name: str = "Untitled") -> None:
        """Show an in-memory document without asking (startup, scripts)."""
        self.files.replace_document(doc, None, name, ask=False)

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        paths = self.files.recent.paths()
        for index, path in enumerate(paths, start=1):
            label = f"&{index} {Path(path).name}" if index < 10 else Path(path).name
            action = menu.addAction(label)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.triggered.connect(lambda _checked=False, p=path: self.files.open(p))
        if paths:
            menu.addSeparator()
            clear = menu.addAction("Clear Recent Files")
            clear.triggered.connect(self._clear_recent)
        else:
            empty = menu.addAction("No recent files")
            empty.setEnabled(False)

    def _clear_recent(self) -> None:
        self.files.recent.clear()
        self._rebuild_recent_menu()

    # ---- exports -------------------------------------------------------------------------------------------
    def export_image(self) -> bool:
        """File > Export Image: the current network as PNG or SVG."""
        view, network = self.current_view(), self.current_network()
        return bool(view and network and self.files.export_image(view, network))

    def _check_exportable(self, network: str, what: str) -> bool:
        errors = self.qt_doc.analysis(network).errors
        if not errors:
            return True
        first = errors[0]
        QMessageBox.warning(self, f"Cannot export {what}",
                            f"“{network}” has {len(errors)} problem{'s' * (len(errors) != 1)} to fix first, "
                            f"e.g. {first}\n\nThe Problems panel lists them all (F8 goes to the next one).")
        return False

    def import_model(self, source: str | os.PathLike[str] | None = None,
                     target: str | os.PathLike[str] | None = None) -> bool:
        """File > Import…: an ONNX model with its weights, saved as a new document and opened."""
        from netbuilder_ui.import_model import ModelImport

        return ModelImport(self, self.files).run(source, target)

    def model_network(self) -> str | None:
        """The network of the current tab, even while one of its blocks is open (what exports and runs)."""
        view = self.current_view()
        return self.blocks.root_network(view) if view is not None else None

    def export_onnx(self) -> bool:
        """File > Export ONNX: refused with the problems listed while the network is invalid."""
        network = self.model_network()
        return bool(network and self._check_exportable(network, "ONNX") and self.files.export_onnx(network))

    def export_pytorch(self) -> bool:
        """File > Export PyTorch Code, for the current network."""
        network = self.model_network()
        return bool(network and self._check_exportable(network, "PyTorch code")
                    and self.files.export_pytorch(network))

    # ---- help ----------------------------------------------------------------------------------------------
    def show_shortcuts(self) -> ShortcutsDialog:
        """Help > Keyboard Shortcuts (modeless, so it can stay open while working)."""
        dialog = ShortcutsDialog(self)
        dialog.show()
        return dialog

    def show_about(self) -> None:
        """Help > About: the version and the library versions it runs on."""
        from importlib.metadata import PackageNotFoundError, version

        import PySide6

        try:
            torch_version = version("torch")  # without importing it (seconds) just to show a number
        except PackageNotFoundError:
            torch_version = "not installed"
        QMessageBox.about(
            self, f"About {APP_NAME}",
            f"<h3>{APP_NAME} {html.escape(__version__)}</h3>"
            "<p>Design neural networks visually, train them, and export them to ONNX and PyTorch.</p>"
            f"<p style='color:#6b7480'>PyTorch {html.escape(torch_version)} · "
            f"Qt {html.escape(PySide6.__version__)} · MIT licence</p>")

    # ---- window events -------------------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        if self._default_layout_pending:  # first run: sizes need the real window size, known only now
            self._default_layout_pending = False
            self.resizeDocks([self.palette_dock, self.inspector_dock], [240, 320], Qt.Orientation.Horizontal)
            self.resizeDocks([self.problems_dock], [BOTTOM_PANEL_HEIGHT], Qt.Orientation.Vertical)
        if not self._fitted_once:
            self._fitted_once = True
            QTimer.singleShot(0, self, self.fit_all_views)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        super().paintEvent(event)
        if not self._painted_once:
            self._painted_once = True
            for call in self._after_first_paint:
                QTimer.singleShot(0, self, call)
            self._after_first_paint.clear()
            if self.training_loader is not None:  # heavy imports wait until the window is on screen
                QTimer.singleShot(0, self, self.training_loader.begin)

    def call_after_first_paint(self, call: Callable[[], None]) -> None:
        """Run ``call`` once the window is on screen (at once if it already is), before training loads."""
        if self._painted_once:
            QTimer.singleShot(0, self, call)
        else:
            self._after_first_paint.append(call)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        if self.training_ui is not None and not self.training_ui.confirm_close():
            event.ignore()
            return
        if not self.files.maybe_save("closing"):
            event.ignore()
            return
        self.save_settings()
        if self.training_loader is not None:
            self.training_loader.shutdown()
        if self.training_ui is not None:
            self.training_ui.shutdown()
        self.files.shutdown()
        event.accept()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt override)
        if _dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        if _dropped_file(event) is not None:
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt override)
        path = _dropped_file(event)
        if path is None:
            event.ignore()
            return
        event.acceptProposedAction()
        QTimer.singleShot(0, self, lambda: self.files.open(path))  # after the drag ends: dialogs may follow

    def menu_for(self, title: str) -> QMenu:
        """The top-level menu with this title (without the & mnemonic)."""
        for action in self.menuBar().actions():
            if action.menu() is not None and action.text().replace("&", "") == title:
                return action.menu()
        raise KeyError(title)


def _dropped_file(event: QDropEvent | QDragEnterEvent) -> str | None:
    mime = event.mimeData()
    if mime is None or not mime.hasUrls():
        return None
    for url in mime.urls():
        if url.isLocalFile():
            local = url.toLocalFile()
            if local.lower().endswith(FILE_SUFFIX) or Path(local).is_file():
                return local
    return None
