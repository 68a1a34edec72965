"""The inspector: editors by parameter kind, inline validation, rename, per-node training options, one
undoable command per change, and downstream shapes that follow an edit."""

from __future__ import annotations

import html

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox

from netbuilder.document import Document
from netbuilder.specs import ParamKind, all_specs
from netbuilder_ui.inspector import InspectorWidget, human_count
from netbuilder_ui.qt_document import QtDocument


def make_doc() -> Document:
    doc = Document()
    net = doc.network()
    x = net.add("Input", name="pixels", shape=(64,))
    h = net.add("Linear", name="hidden", units=32)
    r = net.add("ReLU", name="act")
    d = net.add("Dropout", name="drop", p=0.1)
    o = net.add("Linear", name="classes", units=10)
    y = net.add("Output", name="digit")
    net.chain(x, h, r, d, o, y)
    doc.undo_stack.clear()
    return doc


@pytest.fixture
def setup(qtbot):
    qt_doc = QtDocument(make_doc())
    inspector = InspectorWidget(qt_doc)
    qtbot.addWidget(inspector)
    inspector.resize(320, 700)
    inspector.show()
    return qt_doc, inspector


def node_id(qt_doc: QtDocument, name: str) -> str:
    return qt_doc.document.network().find(name).id


def select(qt_doc: QtDocument, inspector: InspectorWidget, name: str) -> str:
    nid = node_id(qt_doc, name)
    inspector.set_target("model", [nid])
    return nid


def type_and_commit(qtbot, edit: QLineEdit, text: str) -> None:
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key.Key_Return)


EXPECTED_WIDGET = {
    ParamKind.INT: QSpinBox,
    ParamKind.FLOAT: QLineEdit,
    ParamKind.BOOL: QCheckBox,
    ParamKind.CHOICE: QComboBox,
    ParamKind.INTS: QLineEdit,
    ParamKind.SHAPE: QLineEdit,
    ParamKind.TEXT: QLineEdit,
}


def test_every_spec_gets_editors_chosen_by_kind(qtbot):
    doc = Document()
    net = doc.network()
    ids = {spec.id: net.add(spec.id, **spec.example_params) for spec in all_specs()}
    qt_doc = QtDocument(doc)
    inspector = InspectorWidget(qt_doc)
    qtbot.addWidget(inspector)
    for spec in all_specs():
        inspector.set_target("model", [ids[spec.id]])
        assert set(inspector.editors) == {p.name for p in spec.params}
        for param in spec.params:
            editor = inspector.editors[param.name]
            wanted = QLineEdit if param.allow_none else EXPECTED_WIDGET[param.kind]
            assert isinstance(editor.widget, wanted), (spec.id, param.name)
            assert html.escape(param.doc) in editor.widget.toolTip()
            node = net.node(ids[spec.id])
            value = node.params[param.name]
            assert editor.text() in (param.format(value), str(value).lower(), str(value))


def test_int_editor_has_the_param_range_and_edits_shapes_downstream(qtbot, setup):
    qt_doc, inspector = setup
    hidden = select(qt_doc, inspector, "hidden")
    spin = inspector.editors["units"].widget
    assert isinstance(spin, QSpinBox)
    param = qt_doc.document.network().node(hidden).spec.param("units")
    assert spin.minimum() == param.minimum and spin.maximum() == param.maximum
    spin.setValue(48)
    qt_doc.flush()
    net = qt_doc.document.network()
    assert net.node(hidden).params["units"] == 48
    analysis = qt_doc.analysis("model")
    classes = node_id(qt_doc, "classes")
    assert str(analysis.nodes[node_id(qt_doc, "drop")].output) == "N×48"
    assert analysis.nodes[classes].params == 48 * 10 + 10
    assert "N×48" in inspector.header_text()
    assert str(64 * 48 + 48) in inspector.header_text().replace(" ", "") or "3.1 K" in inspector.header_text()
    assert qt_doc.undo_stack.count() == 1
    assert qt_doc.undo_stack.undoText() == "Change hidden units"


def test_the_wheel_scrolls_the_inspector_and_edits_only_a_focused_editor(qtbot, setup):
    qt_doc, inspector = setup
    select(qt_doc, inspector, "hidden")
    spin = inspector.editors["units"].widget
    before = spin.value()

    def wheel(widget) -> None:
        centre = QPointF(widget.rect().center())
        widget.wheelEvent(QWheelEvent(centre, QPointF(widget.mapToGlobal(centre.toPoint())), QPoint(0, 0),
                                      QPoint(0, 120), Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier,
                                      Qt.ScrollPhase.NoScrollPhase, False))

    assert spin.focusPolicy() == Qt.FocusPolicy.StrongFocus
    wheel(spin)  # not focused: the wheel passes to the scroll area
    assert spin.value() == before and qt_doc.undo_stack.count() == 0
    inspector.window().activateWindow()
    spin.setFocus()
    qtbot.waitUntil(spin.hasFocus, timeout=2000)
    wheel(spin)
    assert spin.value() == before + spin.singleStep()


def test_bad_value_shows_inline_error_and_never_reaches_the_model(qtbot, setup):
    qt_doc, inspector = setup
    pixels = select(qt_doc, inspector, "pixels")
    edit = inspector.editors["shape"].widget
    type_and_commit(qtbot, edit, "0, 5")
    field = inspector.field("shape")
    assert "at least 1" in field.message_text()
    assert edit.property("invalid") is True
    assert qt_doc.document.network().node(pixels).params["shape"] == (64,)
    assert qt_doc.undo_stack.count() == 0
    assert edit.text() == "0, 5"  # what the user typed stays, for fixing
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert edit.text() == "64" and field.message_text() == ""
    type_and_commit(qtbot, edit, "8, 8")
    assert qt_doc.document.network().node(pixels).params["shape"] == (8, 8)
    assert field.message_text() == ""


def test_float_editor_validates_through_coerce(qtbot, setup):
    qt_doc, inspector = setup
    drop = select(qt_doc, inspector, "drop")
    edit = inspector.editors["p"].widget
    type_and_commit(qtbot, edit, "abc")
    assert "must be a number" in inspector.field("p").message_text()
    type_and_commit(qtbot, edit, "1.5")
    assert "at most" in inspector.field("p").message_text()
    assert qt_doc.document.network().node(drop).params["p"] == 0.1
    type_and_commit(qtbot, edit, "0.25")
    assert qt_doc.document.network().node(drop).params["p"] == 0.25
    assert inspector.field("p").message_text() == ""
    assert qt_doc.undo_stack.count() == 1


def test_choice_and_bool_editors_commit_one_command_each(qtbot, setup):
    qt_doc, inspector = setup
    digit = select(qt_doc, inspector, "digit")
    combo = inspector.editors["role"].widget
    index = combo.findData("probabilities")
    combo.setCurrentIndex(index)
    combo.activated.emit(index)
    assert qt_doc.document.network().node(digit).params["role"] == "probabilities"
    hidden = select(qt_doc, inspector, "hidden")
    box = inspector.editors["bias"].widget
    box.click()
    assert qt_doc.document.network().node(hidden).params["bias"] is False
    assert qt_doc.undo_stack.count() == 2


def test_rename_validates_inline_and_is_one_command(qtbot, setup):
    qt_doc, inspector = setup
    hidden = select(qt_doc, inspector, "hidden")
    edit = inspector.name_edit
    edit.setFocus()
    edit.selectAll()
    qtbot.keyClicks(edit, "1st")
    assert "not a usable name" in inspector.field("name").message_text()  # shown while typing
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert qt_doc.document.network().node(hidden).name == "hidden"
    type_and_commit(qtbot, edit, "classes")
    assert "already named" in inspector.field("name").message_text()
    assert qt_doc.undo_stack.count() == 0
    type_and_commit(qtbot, edit, "encoder")
    assert qt_doc.document.network().node(hidden).name == "encoder"
    assert inspector.field("name").message_text() == ""
    assert qt_doc.undo_stack.count() == 1
    qt_doc.undo_stack.undo()
    assert edit.text() == "hidden"


def test_training_options(qtbot, setup):
    qt_doc, inspector = setup
    hidden = select(qt_doc, inspector, "hidden")
    node = qt_doc.document.network().node(hidden)
    inspector.trainable_box.click()
    assert node.trainable is False
    type_and_commit(qtbot, inspector.option_edits["lr_mult"], "0.1")
    assert node.lr_mult == 0.1
    type_and_commit(qtbot, inspector.option_edits["l2"], "-1")
    assert "L2 penalty" in inspector.field("l2").message_text()
    type_and_commit(qtbot, inspector.option_edits["l1"], "lots")
    assert "must be a number" in inspector.field("l1").message_text()
    assert node.l2 == 0.0 and node.l1 == 0.0
    assert qt_doc.undo_stack.count() == 2
    qt_doc.undo_stack.undo()
    qt_doc.undo_stack.undo()
    assert node.trainable is True and node.lr_mult == 1.0
    assert inspector.trainable_box.isChecked()
    assert inspector.option_edits["lr_mult"].text() == "1.0"


def test_undo_refreshes_editors(qtbot, setup):
    qt_doc, inspector = setup
    select(qt_doc, inspector, "hidden")
    spin = inspector.editors["units"].widget
    spin.setValue(100)
    qt_doc.undo_stack.undo()
    assert spin.value() == 32
    qt_doc.undo_stack.redo()
    assert spin.value() == 100


def test_diagnostics_at_the_top_and_inline(qtbot, setup):
    qt_doc, inspector = setup
    net = qt_doc.document.network()
    pixels = node_id(qt_doc, "pixels")
    net.set_param(pixels, "shape", ("T",))  # Linear cannot take a variable-length feature axis
    qt_doc.flush()
    select(qt_doc, inspector, "hidden")
    texts = " ".join(label.text() for label in inspector.findChildren(type(inspector._title))
                     if label.objectName() == "diagnosticText")
    assert "fixed number of input features" in texts


def test_network_info_when_nothing_is_selected(qtbot, setup):
    qt_doc, inspector = setup
    inspector.set_target("model", [])
    text = inspector.header_text()
    analysis = qt_doc.analysis("model")
    assert "model" in text and "6 layers" in text and "5 wires" in text
    assert human_count(analysis.total_params) in text
    assert "Valid" in text
    assert "pixels" in inspector._info_labels["Inputs"].text()
    assert "digit" in inspector._info_labels["Outputs"].text()


def test_multi_selection_freezes_in_one_step(qtbot, setup):
    qt_doc, inspector = setup
    ids = [node_id(qt_doc, "hidden"), node_id(qt_doc, "classes")]
    inspector.set_target("model", ids)
    assert "2 layers selected" in inspector.header_text()
    inspector.trainable_box.click()
    net = qt_doc.document.network()
    assert not net.node(ids[0]).trainable and not net.node(ids[1]).trainable
    assert qt_doc.undo_stack.count() == 1
    qt_doc.undo_stack.undo()
    assert net.node(ids[0]).trainable and net.node(ids[1]).trainable


def test_removed_node_falls_back_to_network_info(qtbot, setup):
    qt_doc, inspector = setup
    hidden = select(qt_doc, inspector, "hidden")
    qt_doc.document.network().remove(hidden)
    assert inspector.node_ids == []
    assert "Network" in inspector.header_text()


def test_pending_text_is_committed_when_the_selection_changes(qtbot, setup):
    qt_doc, inspector = setup
    drop = select(qt_doc, inspector, "drop")
    edit = inspector.editors["p"].widget
    edit.setText("0.3")  # typed, not confirmed
    select(qt_doc, inspector, "hidden")
    assert qt_doc.document.network().node(drop).params["p"] == 0.3


@pytest.mark.parametrize("number, text", [(950, "950"), (12_500, "12.5 K"), (1_200_000, "1.2 M"),
                                          (3_000_000_000, "3 G"), (150_000, "150 K")])
def test_human_count(number, text):
    assert human_count(number) == text


def test_pending_spin_box_text_is_committed_too(qtbot, setup):
    qt_doc, inspector = setup
    hidden = select(qt_doc, inspector, "hidden")
    spin = inspector.editors["units"].widget
    spin.lineEdit().setText("77")  # typed, not confirmed
    select(qt_doc, inspector, "classes")
    assert qt_doc.document.network().node(hidden).params["units"] == 77


def test_typed_text_never_reaches_a_replaced_document(qtbot, setup):
    qt_doc, inspector = setup
    select(qt_doc, inspector, "drop")
    inspector.editors["p"].widget.setText("0.4")  # typed, not confirmed, then File > Open replaces everything
    replacement = make_doc()
    qt_doc.set_document(replacement)
    assert replacement.network().find("drop").params["p"] == 0.1
    assert inspector.network_name is None and qt_doc.undo_stack.count() == 0



def test_every_param_kind_has_one_editor_in_the_table(qtbot):
    """One table maps kinds to editors; an optional value of any kind is typed text (empty means auto)."""
    from netbuilder.specs import Param
    from netbuilder_ui.inspector import EDITOR_FOR_KIND, make_editor
    from netbuilder_ui.inspector.editors import TextEditor

    assert set(EDITOR_FOR_KIND) == set(ParamKind)
    parent = QLineEdit()
    qtbot.addWidget(parent)
    defaults = {ParamKind.INT: 3, ParamKind.FLOAT: 0.5, ParamKind.BOOL: True, ParamKind.CHOICE: "b",
                ParamKind.INTS: (3, 3), ParamKind.SHAPE: (1, 28, 28), ParamKind.TEXT: "hi"}
    for kind in ParamKind:
        param = Param("x", kind, defaults[kind], choices=("a", "b") if kind is ParamKind.CHOICE else (),
                      length=2 if kind is ParamKind.INTS else None)
        editor = make_editor(param, lambda _value: None, parent)
        assert type(editor) is EDITOR_FOR_KIND[kind]
        assert isinstance(editor.widget, EXPECTED_WIDGET[kind])
        editor.set_value(param.default)
        assert param.coerce(editor.text()) == param.default, kind
        optional = Param("y", kind, None, allow_none=True, choices=param.choices, length=param.length)
        assert type(make_editor(optional, lambda _value: None, parent)) is TextEditor
