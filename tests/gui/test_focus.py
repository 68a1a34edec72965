"""Keyboard focus goes back to the canvas after an inspector edit is committed with Enter and after clicking a
layer, so Delete and Ctrl+Z act at once (no extra click on the canvas first)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QLineEdit, QSpinBox

from netbuilder_ui.main_window import MainWindow


@pytest.fixture
def window(qtbot, tmp_path: Path) -> MainWindow:
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win = MainWindow(settings=settings, recovery_dir=tmp_path / "recovery", autosave_interval_ms=3_600_000,
                     training=False)
    qtbot.addWidget(win)
    win.files.maybe_save = lambda *_args, **_kwargs: True  # type: ignore[method-assign]  # no "save?" box
    win.open_template("mlp", ask=False)
    win.resize(1400, 900)
    win.show()
    qtbot.waitExposed(win)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=3000)
    return win


def _click_layer(qtbot, window: MainWindow, name: str) -> str:
    view = window.current_view()
    node_id = window.qt_doc.document.network().find(name).id
    item = view.scene().node_items[node_id]
    point = view.mapFromScene(item.sceneBoundingRect().center())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    qtbot.waitUntil(lambda: window.inspector.node_ids == [node_id], timeout=3000)
    return node_id


def _delete_and_undo_work_at_once(qtbot, window: MainWindow, node_id: str) -> None:
    network = window.qt_doc.document.network()
    focused = QApplication.focusWidget()
    assert focused is window.current_view(), f"focus is on {focused!r}, not the canvas"
    qtbot.keyClick(focused, Qt.Key.Key_Delete)
    window.qt_doc.flush()
    assert node_id not in network.node_ids()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    window.qt_doc.flush()
    assert node_id in network.node_ids()


def test_enter_in_an_inspector_field_hands_focus_back_to_the_canvas(qtbot, window):
    node_id = _click_layer(qtbot, window, "hidden1")
    spin = window.inspector.editors["units"].widget
    assert isinstance(spin, QSpinBox)
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    spin.selectAll()
    qtbot.keyClicks(spin, "77")
    qtbot.keyClick(spin, Qt.Key.Key_Return)
    window.qt_doc.flush()
    assert window.qt_doc.document.network().node(node_id).params["units"] == 77
    _delete_and_undo_work_at_once(qtbot, window, node_id)


def test_renaming_with_enter_hands_focus_back_to_the_canvas(qtbot, window):
    node_id = _click_layer(qtbot, window, "hidden1")
    edit = window.inspector.name_edit
    assert isinstance(edit, QLineEdit)
    edit.setFocus()
    qtbot.waitUntil(edit.hasFocus, timeout=2000)
    edit.selectAll()
    qtbot.keyClicks(edit, "features")
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    window.qt_doc.flush()
    assert window.qt_doc.document.network().node(node_id).name == "features"
    _delete_and_undo_work_at_once(qtbot, window, node_id)


def test_clicking_a_layer_after_editing_a_field_gives_the_canvas_focus(qtbot, window):
    _click_layer(qtbot, window, "hidden1")
    spin = window.inspector.editors["units"].widget
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    qtbot.keyClicks(spin, "5")  # typed, not committed: clicking away commits it
    node_id = _click_layer(qtbot, window, "hidden2")
    _delete_and_undo_work_at_once(qtbot, window, node_id)
