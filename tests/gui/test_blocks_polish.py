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


# ---- Repeat Block… --------------------------------------------------------------------------------------------

def answer_repeat_dialog(qtbot, window, copies: int | None) -> list[tuple[int, int, str]]:
    """Answer the dialog the next action opens: ``copies`` then Repeat, or Cancel when None. Returns what the
    dialog offered: (minimum, maximum, its explanation)."""
    from PySide6.QtCore import QTimer

    from netbuilder_ui.blocks.repeat import RepeatDialog

    seen: list[tuple[int, int, str]] = []

    def answer() -> None:
        dialog = window.findChild(RepeatDialog, "repeatBlock")
        if dialog is None or not dialog.isVisible():
            QTimer.singleShot(10, answer)
            return
        seen.append((dialog.count.minimum(), dialog.count.maximum(), dialog.detail.text()))
        if copies is None:
            dialog.reject()
        else:
            dialog.count.setValue(copies)
            seen[-1] = (*seen[-1][:2], dialog.detail.text())
            dialog.accept()

    QTimer.singleShot(0, answer)
    return seen


def test_repeat_block_chains_copies_in_one_undo_step_laid_out_in_the_flow(qtbot, window):
    qt_doc = window.qt_doc
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    net = qt_doc.document.network("model")
    before = qt_doc.analysis("model").total_params
    saved = [(n.name, n.block) for n in net.nodes]
    steps = qt_doc.undo_stack.count()
    seen = answer_repeat_dialog(qtbot, window, 3)
    window.blocks.acts["repeat"].trigger()
    qt_doc.flush()
    assert seen and seen[0][:2] == (2, 64) and "block1.0 … block1.2" in seen[0][2]
    assert qt_doc.undo_stack.count() == steps + 1 and qt_doc.undo_stack.undoText() == "Repeat block1 3 times"
    node = net.node(block_id)
    assert node.block == f"{NAME}X3" and view.selected_node_ids() == [block_id]
    assert "3 LinearBlock blocks" in window.statusBar().currentMessage()
    inner = qt_doc.document.network(node.block)
    copies = [n for n in inner.nodes if n.type == BLOCK_TYPE]
    assert [n.name for n in copies] == ["0", "1", "2"] and {n.block for n in copies} == {NAME}
    assert qt_doc.analysis("model").ok
    # The hidden Linear's weights are repeated: 64*32+32 once became three times (32 -> 32 after the first).
    assert qt_doc.analysis("model").total_params == before + 2 * (32 * 32 + 32)
    # Laid out left to right: each copy after the one before, no two nodes on top of each other.
    xs = [n.position[0] for n in inner.nodes]
    assert len(set(inner.node(i).position for i in inner.node_ids())) == len(inner)
    ordered = [inner.find(name).position for name in ("x", "0", "1", "2", "y")]
    assert all(b[0] > a[0] or b[1] > a[1] for a, b in zip(ordered, ordered[1:], strict=False)), ordered
    assert max(xs) > min(xs)
    # The canvas shows the new block node, its wires on its ports.
    item = view.scene().node_items[block_id]
    assert item.visual.content.title == f"{NAME}X3"
    assert_wires_meet_the_ports(view.scene(), net)
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert [(n.name, n.block) for n in net.nodes] == saved and f"{NAME}X3" not in qt_doc.document.blocks
    assert qt_doc.analysis("model").total_params == before
    qt_doc.undo_stack.redo()
    inner = qt_doc.document.network(f"{NAME}X3")  # made again
    assert net.node(block_id).block == f"{NAME}X3" and inner.find("0").position == ordered[1]


def test_repeat_block_in_the_context_menu_and_cancel_changes_nothing(qtbot, window):
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    item = view.scene().node_items[block_id]
    menu = view.context_menu(item.sceneBoundingRect().center())
    assert "Repeat Block…" in [a.text().replace("&", "") for a in menu.actions()]
    edit = next(a.menu() for a in window.menuBar().actions() if a.text().replace("&", "") == "Edit")
    assert window.blocks.acts["repeat"] in edit.actions()
    steps = window.qt_doc.undo_stack.count()
    seen = answer_repeat_dialog(qtbot, window, None)
    window.blocks.acts["repeat"].trigger()
    assert seen and window.qt_doc.undo_stack.count() == steps
    assert window.qt_doc.document.network().node(block_id).block == NAME


def test_repeat_block_explains_what_cannot_be_repeated(window):
    view = window.current_view()
    net = window.qt_doc.document.network()
    view.select_nodes([net.find("hidden").id])
    window.blocks.acts["repeat"].trigger()
    assert "group it into a block first" in window.statusBar().currentMessage()
    view.select_nodes([])
    window.blocks.acts["repeat"].trigger()
    assert window.statusBar().currentMessage() == "Select one block node to repeat."
    steps = window.qt_doc.undo_stack.count()
    block_id = group(window, ["hidden", "act"])
    window.qt_doc.set_locked("Training is running: stop it to change the network.")
    try:
        assert window.blocks.repeat(view, block_id, 2) is None
        assert "Training is running" in window.statusBar().currentMessage()
    finally:
        window.qt_doc.set_locked("")
    assert window.qt_doc.undo_stack.count() == steps + 1  # only the group


def test_repeated_copies_are_laid_out_downwards_top_to_bottom(window):
    block_id = group(window, ["hidden", "act"])
    window.flow.choose(TOP_TO_BOTTOM)
    view = window.current_view()
    name = window.blocks.repeat(view, block_id, 2)
    inner = window.qt_doc.document.network(name)
    ordered = [inner.find(n).position for n in ("x", "0", "1", "y")]
    assert ordered[1][1] > ordered[0][1] and ordered[1][0] == ordered[0][0]  # the first copy under the input
    for (sx, sy), (dx, dy) in zip(ordered, ordered[1:], strict=False):  # then down, or on to the next column
        assert dy > sy or dx > sx


def test_grouping_top_to_bottom_puts_the_block_ports_above_and_below(window):
    window.flow.choose(TOP_TO_BOTTOM)
    block_id = group(window, ["hidden", "act"])
    inner = window.qt_doc.document.network(NAME)
    layers = [inner.find("hidden").position[1], inner.find("act").position[1]]
    assert inner.find("x").position[1] < min(layers) and inner.find("y").position[1] > max(layers)
    view = window.current_view()
    item = view.scene().node_items[block_id]
    assert item.port_scene_pos("x", True).y() == pytest.approx(item.node_rect()[1])


def test_an_expanded_block_zoomed_out_shows_its_title_above_its_inside(window):
    from PySide6.QtGui import QColor, QImage, QPainter

    window.flow.choose(TOP_TO_BOTTOM)  # the inside is a tall column: the middle of the node is inside it
    block_id = group(window, ["hidden", "act"])
    view = window.current_view()
    window.blocks.set_expanded(view, [block_id], True)
    item = view.scene().node_items[block_id]
    assert item._inside_top() < item.visual.geometry.height / 3
    zoom = 0.3  # far below the detail zoom: the compact form
    g = item.visual.geometry
    image = QImage(round(g.width * zoom) + 4, round(g.height * zoom) + 4, QImage.Format.Format_ARGB32)
    image.fill(QColor("#000000"))
    painter = QPainter(image)
    painter.scale(zoom, zoom)
    item.paint(painter, None, None)
    painter.end()
    band = round(item._inside_top() * zoom)  # the title band, above the inside

    def light(y: int) -> int:
        return sum(QColor(image.pixel(x, y)).lightness() > 200 for x in range(image.width()))

    assert max(light(y) for y in range(2, band - 1)) > 3  # white title text on the block colour
