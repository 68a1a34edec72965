"""Blocks in the app, finished: block nodes put their ports where the flow says (top and bottom, top to bottom),
an expanded block opens expanded from its file, and renaming a port inside an opened block moves the wires on the
canvas outside."""

from __future__ import annotations

import pytest
from conftest import build_mlp
from PySide6.QtWidgets import QApplication, QFileDialog

from netbuilder.document import RenameNode
from netbuilder.document.blocks import BLOCK_TYPE
from netbuilder.layout import LEFT_TO_RIGHT, TOP_TO_BOTTOM
from netbuilder_ui.blocks.node_item import BlockNodeItem
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.flow import SETTINGS_KEY

NAME = "LinearBlock"  # what grouping hidden (Linear) and act (ReLU) names the block


@pytest.fixture(autouse=True)
def _back_to_left_to_right():
    yield
    style.set_flow(LEFT_TO_RIGHT)  # the module-level flow must not leak into later tests


@pytest.fixture
def window(main_window, monkeypatch, tmp_path):
    monkeypatch.setenv("NETBUILDER_DATA_DIR", str(tmp_path / "data"))
    main_window.qt_doc.set_document(build_mlp())
    main_window.qt_doc.flush()
    return main_window


def group(window, names: list[str]) -> str:
    view = window.current_view()
    net = window.qt_doc.document.network(view.network)
    view.select_nodes([net.find(n).id for n in names])
    window.blocks.acts["group"].trigger()
    window.qt_doc.flush()
    (block_id,) = view.selected_node_ids()
    return block_id


def assert_wires_meet_the_ports(scene, network) -> None:
    """Every wire starts and ends exactly on its ports (none falls back to the middle of an edge)."""
    for wire in network.wires:
        src, dst = scene.node_items[wire.src], scene.node_items[wire.dst]
        assert src.visual.geometry.port_pos(wire.src_port, False) is not None
        assert dst.visual.geometry.port_pos(wire.dst_port, True) is not None
        item = scene.wire_items[wire.key]
        assert item.endpoints[0] == src.port_scene_pos(wire.src_port, False)
        assert item.endpoints[1] == dst.port_scene_pos(wire.dst_port, True)


# ---- ports follow the flow ------------------------------------------------------------------------------------

@pytest.mark.parametrize("flow", [LEFT_TO_RIGHT, TOP_TO_BOTTOM])
def test_block_node_ports_follow_the_flow_like_layer_ports(main_window, flow):
    window = main_window
    window.settings.setValue(SETTINGS_KEY, flow)
    assert window.open_template("resnet-small", ask=False)
    QApplication.processEvents()
    view = window.current_view()
    scene = view.scene()
    net = window.qt_doc.document.network(view.network)
    blocks = [n.id for n in net.nodes if n.type == BLOCK_TYPE]
    assert len(blocks) == 2
    for node_id in blocks:
        item = scene.node_items[node_id]
        assert isinstance(item, BlockNodeItem)
        left, top, right, bottom = item.node_rect()
        into, out = item.port_scene_pos("x", True), item.port_scene_pos("y", False)
        if flow == TOP_TO_BOTTOM:  # on the top and bottom edges, as a Conv2d's are
            assert into.y() == pytest.approx(top) and out.y() == pytest.approx(bottom)
            assert left < into.x() < right and left < out.x() < right
        else:  # on the left and right edges
            assert into.x() == pytest.approx(left) and out.x() == pytest.approx(right)
            assert top < into.y() < bottom and top < out.y() < bottom
        layer = scene.node_items[net.find("stem").id].visual.geometry
        assert item.visual.geometry.vertical == layer.vertical == (flow == TOP_TO_BOTTOM)
    assert_wires_meet_the_ports(scene, net)
    # Expanded, the ports stay on their edges and the wires follow them.
    window.blocks.set_expanded(view, blocks[:1], True)
    item = scene.node_items[blocks[0]]
    assert item.expanded
    if flow == TOP_TO_BOTTOM:
        assert item.port_scene_pos("y", False).y() == pytest.approx(item.node_rect()[3])
    assert_wires_meet_the_ports(scene, net)


def test_choosing_the_other_flow_moves_block_ports_and_lays_out_the_definitions(main_window):
    window = main_window
    assert window.open_template("resnet-small", ask=False)
    QApplication.processEvents()
    view = window.current_view()
    doc = window.qt_doc.document
    block_id = next(n.id for n in doc.network(view.network).nodes if n.type == BLOCK_TYPE)
    window.flow.choose(TOP_TO_BOTTOM)
    item = view.scene().node_items[block_id]
    assert item.port_scene_pos("x", True).y() == pytest.approx(item.node_rect()[1])
    inner = doc.network(doc.network(view.network).node(block_id).block)
    for wire in inner.wires:  # inside the block too, each wire goes down or on to the next column
        (sx, sy), (dx, dy) = inner.node(wire.src).position, inner.node(wire.dst).position
        assert dy > sy or dx > sx
    assert window.qt_doc.undo_stack.count() == 1  # still one step
    window.qt_doc.undo_stack.undo()
    item = view.scene().node_items[block_id]  # a change of flow draws every item again
    assert item.port_scene_pos("x", True).x() == pytest.approx(item.node_rect()[0])


# ---- expanded state in the file -------------------------------------------------------------------------------

def test_an_expanded_block_opens_expanded_from_its_file(window, tmp_path, monkeypatch):
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    collapsed = view.scene().node_items[block_id].geometry_size
    window.qt_doc.undo_stack.setClean()
    window.blocks.acts["expand_block"].trigger()
    assert window.qt_doc.modified  # a close would ask to save it
    path = tmp_path / "expanded.nbg"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *_a, **_k: (str(path), "")))
    assert window.files.save_as()
    window.qt_doc.set_document(build_mlp())
    assert window.open_path(path)
    QApplication.processEvents()
    view = window.current_view()
    item = view.scene().node_items[block_id]
    assert item.expanded and item.geometry_size[1] > collapsed[1] and item._diagram is not None
    assert not window.qt_doc.modified
    assert_wires_meet_the_ports(view.scene(), window.qt_doc.document.network(view.network))
    view.select_nodes([block_id])
    window.blocks.acts["expand_block"].trigger()  # collapse: one undoable step
    assert not item.expanded and item.geometry_size == collapsed
    window.qt_doc.undo_stack.undo()
    assert item.expanded


def test_expanding_is_allowed_while_training_locks_the_network(window):
    block_id = group(window, ["hidden", "act"])
    window.qt_doc.set_locked("Training is running: stop it to change the network.")
    try:
        view = window.current_view()
        view.select_nodes([block_id])
        window.blocks.acts["expand_block"].trigger()
        assert view.scene().node_items[block_id].expanded
    finally:
        window.qt_doc.set_locked("")


# ---- renaming a port ------------------------------------------------------------------------------------------

def test_renaming_a_port_in_the_opened_block_moves_the_wires_outside(window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    assert window.blocks.open_block(view, block_id)
    inner = qt_doc.document.network(NAME)
    qt_doc.execute(RenameNode(NAME, inner.find("x").id, "features"))
    qt_doc.execute(RenameNode(NAME, inner.find("y").id, "hidden_out"))
    qt_doc.flush()
    assert window.blocks.go_up(view)
    qt_doc.flush()
    scene = view.scene()
    net = qt_doc.document.network("model")
    keys = {k for k in scene.wire_items if block_id in (k[0], k[2])}
    assert {k[3] for k in keys if k[2] == block_id} == {"features"}
    assert {k[1] for k in keys if k[0] == block_id} == {"hidden_out"}
    assert_wires_meet_the_ports(scene, net)
    assert qt_doc.analysis("model").ok
    qt_doc.undo_stack.undo()
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    keys = {k for k in scene.wire_items if block_id in (k[0], k[2])}
    assert {k[3] for k in keys if k[2] == block_id} == {"x"} and {k[1] for k in keys if k[0] == block_id} == {"y"}
    assert_wires_meet_the_ports(scene, net)
