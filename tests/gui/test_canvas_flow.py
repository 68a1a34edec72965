"""View > Flow: a document laid out top to bottom draws its ports on the top and bottom edges, the change is one
undo step that restores the document exactly, the choice is remembered for new documents, and every template reads
at Fit in both flows."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from netbuilder.layout import FLOW_SETTING, LEFT_TO_RIGHT, TOP_TO_BOTTOM
from netbuilder.templates import list_templates
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.flow import SETTINGS_KEY


def state(window) -> tuple:  # noqa: ANN001
    doc = window.qt_doc.document
    return (dict(doc.settings), {name: {n.id: n.position for n in net.nodes} for name, net in doc.networks.items()})


@pytest.fixture(autouse=True)
def _back_to_left_to_right():
    yield
    style.set_flow(LEFT_TO_RIGHT)  # the module-level flow must not leak into later tests


def test_choosing_top_to_bottom_is_one_undoable_step_that_moves_the_ports(main_window, qtbot):
    window = main_window
    assert window.open_template("lenet", ask=False)
    QApplication.processEvents()
    before = state(window)
    controller = window.flow
    assert controller.actions[LEFT_TO_RIGHT].isChecked()
    controller.actions[TOP_TO_BOTTOM].trigger()
    doc = window.qt_doc.document
    assert doc.settings[FLOW_SETTING] == TOP_TO_BOTTOM and controller.actions[TOP_TO_BOTTOM].isChecked()
    assert window.qt_doc.undo_stack.count() == 1 and window.qt_doc.undo_stack.undoText() == "Lay out top to bottom"
    assert window.settings.value(SETTINGS_KEY) == TOP_TO_BOTTOM
    view = window.current_view()
    scene = view.scene()
    net = doc.network(view.network)
    for wire in net.wires:  # every wire leaves the bottom edge of its source and enters the top edge of its target
        src, dst = scene.node_items[wire.src], scene.node_items[wire.dst]
        out = src.port_scene_pos(wire.src_port, False)
        into = dst.port_scene_pos(wire.dst_port, True)
        assert out.y() == pytest.approx(src.node_rect()[3]) and into.y() == pytest.approx(dst.node_rect()[1])
        assert src.node_rect()[0] < out.x() < src.node_rect()[2]
        assert scene.port_near(into) == (wire.dst, wire.dst_port, True)  # and a press there grabs that port
    chain = [n.id for n in net.nodes]
    tops = [scene.node_items[i].pos().y() for i in chain[:4]]
    assert tops == sorted(tops) and len(set(tops)) == 4  # the first layers read downwards
    window.qt_doc.undo_stack.undo()
    assert state(window) == before and style.flow() == LEFT_TO_RIGHT
    item = scene.node_items[chain[1]]
    assert item.port_scene_pos("in", True).x() == pytest.approx(item.node_rect()[0])  # back on the left edge
    window.qt_doc.undo_stack.redo()
    assert doc.settings[FLOW_SETTING] == TOP_TO_BOTTOM and style.flow() == TOP_TO_BOTTOM


def test_the_chosen_flow_applies_to_new_documents_without_modifying_them(main_window):
    window = main_window
    window.flow.choose(TOP_TO_BOTTOM)
    assert window.open_template("mlp", ask=False)
    QApplication.processEvents()
    doc = window.qt_doc.document
    assert doc.settings[FLOW_SETTING] == TOP_TO_BOTTOM and not window.qt_doc.modified
    assert window.flow.actions[TOP_TO_BOTTOM].isChecked() and style.flow() == TOP_TO_BOTTOM
    net = doc.network(window.current_view().network)
    for wire in net.wires:  # laid out downwards: each wire goes down, or on to the top of the next column
        (sx, sy), (dx, dy) = net.node(wire.src).position, net.node(wire.dst).position
        assert dy > sy or dx > sx
    window.flow.choose(LEFT_TO_RIGHT)
    assert window.settings.value(SETTINGS_KEY) == LEFT_TO_RIGHT and window.qt_doc.modified


@pytest.mark.parametrize("flow", [LEFT_TO_RIGHT, TOP_TO_BOTTOM])
def test_every_template_network_is_legible_at_fit_in_both_flows(main_window, flow):
    window = main_window
    window.settings.setValue(SETTINGS_KEY, flow)
    fractions = {}
    for info in list_templates():
        assert window.open_template(info.id, ask=False)
        QApplication.processEvents()
        assert style.flow() == flow
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            QApplication.processEvents()
            view = window.current_view()
            view.fit_all()
            fractions[f"{info.id}/{view.network}"] = view.legible_fraction()
    assert min(fractions.values()) == 1.0, {k: v for k, v in fractions.items() if v < 1.0}
