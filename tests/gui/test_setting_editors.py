"""Every setting of the schema has an editor in the app: set a valid value in it, and the document's settings and
the TrainConfig read from them hold it (undoably); type a bad one, and it is marked, explained and kept out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from netbuilder.train import TrainConfig, schema
from netbuilder.train import settings_check as check
from netbuilder_ui.training.settings import DATA_PANEL_SETTINGS

PANEL_ENTRIES = [pytest.param(e, id=e.id) for e in schema.SETTINGS if e.id not in DATA_PANEL_SETTINGS]


@pytest.fixture
def panel(qt_doc, qtbot):
    from netbuilder_ui.training.train_panel import TrainingPanel

    widget = TrainingPanel(qt_doc)
    qtbot.addWidget(widget)
    return widget


def _type(widget: Any, value: Any, entry: schema.Setting) -> None:
    """Set ``value`` the way a user would in this kind of editor."""
    if isinstance(widget, QComboBox):
        index = widget.findData(value)
        assert index >= 0, f"{entry.id}: the editor does not offer {value!r}"
        widget.setCurrentIndex(index)
    elif isinstance(widget, QCheckBox):
        widget.setChecked(bool(value))
    elif isinstance(widget, QSpinBox):
        widget.setValue(int(value))
    else:
        assert isinstance(widget, QLineEdit)
        if entry.type == "mapping":
            text = json.dumps(value)
        elif isinstance(value, list) and entry.type != "losses":
            text = ", ".join(map(str, value))
        else:
            text = str(value)
        widget.setText(text)
        widget.editingFinished.emit()


def test_every_setting_has_exactly_one_editor(panel) -> None:
    edited = set(panel.editors) | {"training.losses"} | DATA_PANEL_SETTINGS
    assert edited == {entry.id for entry in schema.SETTINGS}


@pytest.mark.parametrize("entry", PANEL_ENTRIES)
def test_editor_round_trips_default_and_a_valid_value(entry: schema.Setting, panel, qt_doc) -> None:
    if entry.type == "losses":  # one combo per Output node, covered below
        return
    editor = panel.editors[entry.id]
    assert editor.value() == entry.default  # what the panel shows is what the engine uses
    assert editor.widget.toolTip() == entry.doc
    example = entry.example()
    _type(editor.widget, example, entry)
    expected = check.parse(entry, example)
    assert TrainConfig.from_settings(qt_doc.document.settings).get(entry.id) == expected
    assert panel.message_banner.severity in ("", None) or not panel.message_banner.isVisible()
    qt_doc.undo_stack.undo()
    assert TrainConfig.from_settings(qt_doc.document.settings).get(entry.id) == entry.default
    assert editor.value() == entry.default  # the editor follows undo


_BAD_TEXT = {"int": "many", "float": "fast", "ints": "a, b", "floats": "x", "metrics": "auc", "mapping": "{not json"}


def _typed(entry: schema.Setting) -> bool:
    """Whether the editor is a text field that can hold a bad value (spin boxes, combos and check boxes cannot,
    and any text is valid text or a valid list of names)."""
    return entry.type in ("float", "ints", "floats", "metrics", "mapping") or (entry.type == "int" and entry.nullable)


@pytest.mark.parametrize("entry", [p for p in PANEL_ENTRIES if _typed(p.values[0])])
def test_typed_bad_value_is_marked_and_kept_out(entry: schema.Setting, panel, qt_doc) -> None:
    editor = panel.editors[entry.id]
    bad = _BAD_TEXT[entry.type]
    assert isinstance(editor.widget, QLineEdit)
    before = json.dumps(qt_doc.document.settings, sort_keys=True)
    editor.widget.setText(bad)
    editor.widget.editingFinished.emit()
    assert editor.widget.property("invalid") is True
    assert panel.message_banner.severity == "error"
    assert panel.message_banner.title.text().startswith(entry.label + ":")
    assert json.dumps(qt_doc.document.settings, sort_keys=True) == before


def test_loss_editor_per_output_round_trips(panel, qt_doc) -> None:
    box = panel._loss_boxes["y"]
    entry = next(f for f in schema.LOSS_FIELDS if f.key == "loss")
    assert [box.itemData(i) for i in range(box.count())] == list(entry.choices)
    box.setCurrentIndex(box.findData("mse"))
    config = TrainConfig.from_settings(qt_doc.document.settings)
    assert [(loss.output, loss.loss) for loss in config.losses] == [("y", "mse")]
    box.setCurrentIndex(box.findData("auto"))
    assert TrainConfig.from_settings(qt_doc.document.settings).losses == []


def test_data_panel_editors_round_trip(qt_doc, qtbot, tmp_path) -> None:
    from netbuilder_ui.training.data_panel import DataPanel

    data_panel = DataPanel(qt_doc)
    qtbot.addWidget(data_panel)
    try:
        assert data_panel.set_source("iris")
        assert TrainConfig.from_settings(qt_doc.document.settings).data.source == "iris"
        table = tmp_path / "table.csv"
        table.write_text("label,a,b\n0,1,2\n1,3,4\n0,5,6\n1,7,8\n")
        assert data_panel.set_source(str(table), "csv", {"target": "label"})
        data = TrainConfig.from_settings(qt_doc.document.settings).data
        assert (data.source, data.format, data.options) == (str(table), "csv", {"target": "label"})
        data_panel.val_percent.setValue(30)
        data_panel.test_percent.setValue(10)
        data_panel.normalize.setChecked(False)
        data = TrainConfig.from_settings(qt_doc.document.settings).data
        assert (data.val_fraction, data.test_fraction, data.normalize) == (0.3, 0.1, False)
        qtbot.waitUntil(lambda: not data_panel.is_loading(), timeout=20_000)
    finally:
        data_panel.shutdown()
