"""The canvas: gestures end in one command, refused wires say why and change nothing, items follow the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QEvent, QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent, QImage, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from netbuilder.document import AddNode, AddWire, Document, MoveNodes, RemoveWires, SetParams, Wire
from netbuilder_ui.canvas import LAYER_MIME, NODES_MIME, CanvasView, render_network, style
from netbuilder_ui.canvas.clipboard import nodes_from_mime
from netbuilder_ui.canvas.items import NodeItem

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def make_view(qtbot, qt_doc, width: int = 1400, height: int = 500) -> CanvasView:
    view = CanvasView(qt_doc, "model")
    qtbot.addWidget(view)
    view.resize(width, height)
    view.show()
    qtbot.waitExposed(view)
    view.reset_zoom()
    view.centerOn(view.scene().nodes_rect().center())
    return view


def node_id(qt_doc, name: str) -> str:
    return qt_doc.document.network("model").find(name).id


def snapshot(qt_doc) -> tuple:
    net = qt_doc.document.network("model")
    return (sorted((n.id, n.name, n.position, tuple(sorted(n.params.items()))) for n in net.nodes),
            sorted(w.key for w in net.wires), qt_doc.undo_stack.count(), qt_doc.undo_stack.index())


def drag(view: CanvasView, start: QPointF, end: QPointF, steps: int = 4) -> None:
    """A real left-button drag on the viewport, from one scene point to another."""
    viewport = view.viewport()
    a, b = view.mapFromScene(start), view.mapFromScene(end)
    QTest.mouseMove(viewport, a)
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
    for i in range(1, steps + 1):
        QTest.mouseMove(viewport, a + (b - a) * i / steps)
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)


def port(view: CanvasView, qt_doc, name: str, port_name: str, is_input: bool) -> QPointF:
    return view.scene().port_scene_pos(node_id(qt_doc, name), port_name, is_input)


# ---- items follow the model ------------------------------------------------------------------------------------------


def test_nodes_show_title_summary_shape_params_and_wires_show_shapes(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    assert len(scene.node_items) == 5 and len(scene.wire_items) == 4
    hidden = scene.node_items[node_id(qt_doc, "hidden")].content
    assert (hidden.title, hidden.name, hidden.summary) == ("Linear (Dense)", "hidden", "32")
    assert hidden.shape == "N×32" and hidden.params == "2.1k params"  # 64*32 + 32 = 2080
    assert hidden.category == "Dense & Shape" and not hidden.errors
    wire = scene.wire_items[(node_id(qt_doc, "hidden"), "out", node_id(qt_doc, "act"), "in")]
    assert wire.label == "N×32" and "hidden.out → act.in" in wire.toolTip()
    assert set(style.CATEGORY_COLORS) >= {"Input/Output", "Dense & Shape", "Convolution", "Merge"}


def test_drop_from_palette_adds_one_node_where_it_was_dropped(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"Dropout")
    drop_at = QPoint(300, 400)
    before = qt_doc.undo_stack.count()
    event = QDropEvent(QPointF(drop_at), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    view.dropEvent(event)
    net = qt_doc.document.network("model")
    added = [n for n in net.nodes if n.type == "Dropout"]
    assert len(added) == 1 and qt_doc.undo_stack.count() == before + 1
    item = view.scene().node_items[added[0].id]
    assert item.sceneBoundingRect().contains(view.mapToScene(drop_at))
    assert view.selected_node_ids() == [added[0].id]
    qt_doc.flush()
    assert item.content.warnings  # not wired yet (and so not part of the model): a yellow badge says so
    assert item.badge is not None and item.badge.severity == "warning"
    assert "not connected" in item.badge.toolTip()
    qt_doc.undo_stack.undo()
    assert added[0].id not in view.scene().node_items

    unknown = QMimeData()
    unknown.setData(LAYER_MIME, b"NoSuchLayer")
    with qtbot.waitSignal(view.statusMessage) as message:
        assert view.handle_drop(unknown, QPointF(0, 0)) is None
    assert "NoSuchLayer" in message.args[0]


def test_wire_by_dragging_from_port_to_port_shows_its_shape(qtbot, qt_doc):
    net = qt_doc.document.network("model")
    act, logits = node_id(qt_doc, "act"), node_id(qt_doc, "logits")
    qt_doc.execute(RemoveWires("model", [Wire(act, "out", logits, "in")]))
    view = make_view(qtbot, qt_doc)
    qt_doc.flush()
    before = qt_doc.undo_stack.count()
    drag(view, port(view, qt_doc, "act", "out", False), port(view, qt_doc, "logits", "in", True))
    assert net.has_wire(Wire(act, "out", logits, "in"))
    assert qt_doc.undo_stack.count() == before + 1 and qt_doc.undo_stack.undoText().startswith("Connect act")
    qt_doc.flush()
    assert view.scene().wire_items[(act, "out", logits, "in")].label == "N×32"
    assert view.scene().node_items[logits].content.shape == "N×10"
    assert view.scene().interaction is None and view.scene().toast is None


def test_dragging_from_an_input_to_an_output_also_wires(qtbot, qt_doc):
    act, logits = node_id(qt_doc, "act"), node_id(qt_doc, "logits")
    qt_doc.execute(RemoveWires("model", [Wire(act, "out", logits, "in")]))
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    scene.begin_wire(logits, "in", True)
    scene.interaction.mouse_move(port(view, qt_doc, "act", "out", False))
    assert scene.node_items[act].state.hovered_port == ("out", False)  # the target under the cursor is marked
    interaction, scene.interaction = scene.interaction, None  # what the scene does on release
    interaction.mouse_release(port(view, qt_doc, "act", "out", False))
    assert qt_doc.document.network("model").has_wire(Wire(act, "out", logits, "in"))


def test_compatible_ports_light_up_while_dragging(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    extra = view.add_layer("Linear", QPointF(600, 300))
    scene.begin_wire(node_id(qt_doc, "act"), "out", False)
    lit = {nid for nid, item in scene.node_items.items() if item.state.highlighted}
    assert lit == {extra}  # every other input is taken, and upstream inputs would loop
    assert scene.node_items[extra].state.highlighted == frozenset({("in", True)})
    scene.cancel_interaction()
    assert not any(item.state.highlighted for item in scene.node_items.values())


@pytest.mark.parametrize("case", ["occupied", "cycle", "int64 into Linear", "rank 3 into Conv2d", "both outputs"])
def test_invalid_wire_is_refused_with_its_reason_and_changes_nothing(qtbot, qt_doc, case):
    net = qt_doc.document.network("model")
    if case == "cycle":
        qt_doc.execute(RemoveWires("model", [Wire(node_id(qt_doc, "x"), "out", node_id(qt_doc, "hidden"), "in")]))
        src, dst, reason = ("logits", "out"), ("hidden", "in"), "loop"
    elif case == "occupied":
        src, dst, reason = ("x", "out"), ("act", "in"), "already fed by hidden"
    elif case == "int64 into Linear":
        qt_doc.execute(AddNode("model", "Input", {"shape": (12,), "dtype": "int64"}, name="ids",
                               position=(0, 300)))
        qt_doc.execute(AddNode("model", "Linear", {}, name="dense", position=(300, 300)))
        src, dst, reason = ("ids", "out"), ("dense", "in"), "integer token ids"
    elif case == "rank 3 into Conv2d":
        qt_doc.execute(AddNode("model", "Input", {"shape": (8, 8)}, name="flat_image", position=(0, 300)))
        qt_doc.execute(AddNode("model", "Conv2d", {}, name="conv", position=(300, 300)))
        src, dst, reason = ("flat_image", "out"), ("conv", "in"), "rank 4"
    else:
        src, dst, reason = ("x", "out"), ("hidden", "out"), "Both ends are outputs"
    view = make_view(qtbot, qt_doc)
    qt_doc.flush()
    before = snapshot(qt_doc)
    dst_is_input = dst[1] == "in"
    with qtbot.waitSignal(view.statusMessage) as message:
        drag(view, port(view, qt_doc, *src, False), port(view, qt_doc, *dst, dst_is_input))
    assert reason in message.args[0]
    toast = view.scene().toast
    assert toast is not None and toast.isVisible() and reason in toast.text
    assert snapshot(qt_doc) == before  # the document is untouched
    assert net.graph.number_of_edges() == len(view.scene().wire_items)


def test_dragging_a_wire_end_off_its_input_replugs_or_disconnects_it(qtbot, cnn_doc):
    view = make_view(qtbot, cnn_doc)
    scene = view.scene()
    net = cnn_doc.document.network("model")
    fc, skip, add = node_id(cnn_doc, "fc"), node_id(cnn_doc, "fc_skip"), node_id(cnn_doc, "add")
    old = Wire(skip, "out", add, "in2")
    # Pick up the end of skip -> add.in2 and drop it on empty canvas: the wire goes, in one step.
    drag(view, port(view, cnn_doc, "add", "in2", True), port(view, cnn_doc, "add", "in2", True) + QPointF(0, 200))
    assert not net.has_wire(old) and cnn_doc.undo_stack.undoText() == "Disconnect"
    cnn_doc.undo_stack.undo()
    assert net.has_wire(old) and scene.wire_items[old.key].isVisible()
    # Replug fc_skip's wire from add.in2 into out? (occupied) is refused and the wire stays.
    drag(view, port(view, cnn_doc, "add", "in2", True), port(view, cnn_doc, "out", "in", True))
    assert net.has_wire(old) and scene.wire_items[old.key].isVisible()
    assert "already fed" in scene.toast.text
    assert fc in net and net.has_wire(Wire(add, "out", node_id(cnn_doc, "out"), "in"))


# ---- select, move, delete, clipboard -------------------------------------------------------------------------------


def test_moving_nodes_is_one_undo_step_snapped_to_the_grid(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    hidden, act = node_id(qt_doc, "hidden"), node_id(qt_doc, "act")
    view.select_nodes([hidden, act])
    start = scene.node_items[hidden].sceneBoundingRect().center() + QPointF(0, 10)
    before = qt_doc.undo_stack.count()
    drag(view, start, start + QPointF(47, 93), steps=6)
    net = qt_doc.document.network("model")
    assert qt_doc.undo_stack.count() == before + 1 and qt_doc.undo_stack.undoText() == "Move 2 layers"
    assert net.node(hidden).position == (340.0, 100.0) and net.node(act).position == (640.0, 100.0)
    assert scene.node_items[hidden].pos() == QPointF(340, 100)
    wire = scene.wire_items[(hidden, "out", act, "in")]
    assert wire.endpoints[0] == scene.port_scene_pos(hidden, "out", False)
    qt_doc.undo_stack.undo()
    assert net.node(hidden).position == (300.0, 0.0) and scene.node_items[hidden].pos() == QPointF(300, 0)
    assert wire.endpoints[0] == scene.port_scene_pos(hidden, "out", False)

    view.set_snap_to_grid(False)
    view.select_nodes([hidden])
    start = scene.node_items[hidden].sceneBoundingRect().center() + QPointF(0, 10)
    drag(view, start, start + QPointF(47, 93), steps=3)
    assert net.node(hidden).position == (347.0, 93.0)
    # A click without moving selects without a command.
    count = qt_doc.undo_stack.count()
    drag(view, scene.node_items[act].sceneBoundingRect().center(), scene.node_items[act].sceneBoundingRect().center())
    assert view.selected_node_ids() == [act] and qt_doc.undo_stack.count() == count


def test_selection_signal_rubber_band_and_select_all(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    with qtbot.waitSignal(view.selectionChanged) as changed:
        view.select_nodes([node_id(qt_doc, "act")])
    assert changed.args[0] == [node_id(qt_doc, "act")]
    # Rubber band around hidden and act only.
    rect = view.scene().nodes_rect([node_id(qt_doc, "hidden"), node_id(qt_doc, "act")]).adjusted(-20, -30, 20, 30)
    view.scene().clearSelection()
    drag(view, rect.topLeft(), rect.bottomRight())
    assert set(view.selected_node_ids()) == {node_id(qt_doc, "hidden"), node_id(qt_doc, "act")}
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert len(view.selected_node_ids()) == 5 and len(view.scene().selected_wire_keys()) == 4
    # Clicking a wire selects just that wire.
    wire = view.scene().wire_items[(node_id(qt_doc, "act"), "out", node_id(qt_doc, "logits"), "in")]
    on_wire = wire.path.pointAtPercent(0.25)
    drag(view, on_wire, on_wire, steps=1)
    assert view.scene().selected_wire_keys() == [wire.key] and view.selected_node_ids() == []


def test_pan_with_middle_button_and_with_space_drag(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    viewport = view.viewport()
    before = view.mapToScene(viewport.rect().center())
    QTest.mousePress(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(400, 200))
    QTest.mouseMove(viewport, QPoint(300, 150))
    QTest.mouseRelease(viewport, Qt.MouseButton.MiddleButton, Qt.KeyboardModifier.NoModifier, QPoint(300, 150))
    moved = view.mapToScene(viewport.rect().center()) - before
    assert abs(moved.x() - 100) <= 1 and abs(moved.y() - 50) <= 1
    count = qt_doc.undo_stack.count()
    view.setFocus()
    QTest.keyPress(view, Qt.Key.Key_Space)
    start = view.mapToScene(viewport.rect().center())
    on_node = view.mapFromScene(view.scene().node_items[node_id(qt_doc, "act")].sceneBoundingRect().center())
    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, on_node)
    QTest.mouseMove(viewport, on_node + QPoint(-80, 0))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, on_node + QPoint(-80, 0))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    assert abs((view.mapToScene(viewport.rect().center()) - start).x() - 80) <= 1
    assert qt_doc.undo_stack.count() == count  # panning over a node did not move it


def test_closing_a_view_leaves_the_document_usable(qtbot, qt_doc):
    view = CanvasView(qt_doc, "model")
    view.show()
    view.close()
    scene = view.scene()
    view.deleteLater()
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert not shiboken6.isValid(view) and not shiboken6.isValid(scene)
    qt_doc.execute(AddNode("model", "ReLU", {}, position=(0, 400)))
    qt_doc.flush()
    assert len(qt_doc.document.network("model")) == 6


def test_delete_and_undo_restore_nodes_and_wires(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    original = snapshot(qt_doc)
    view.select_nodes([node_id(qt_doc, "hidden"), node_id(qt_doc, "act")])
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Delete)
    assert len(scene.node_items) == 3 and len(scene.wire_items) == 1
    assert qt_doc.undo_stack.undoText() == "Delete hidden, act"
    qt_doc.undo_stack.undo()
    assert snapshot(qt_doc)[:2] == original[:2]
    assert len(scene.node_items) == 5 and len(scene.wire_items) == 4
    # A selected wire alone, with Backspace.
    key = (node_id(qt_doc, "act"), "out", node_id(qt_doc, "logits"), "in")
    scene.select_nodes([], [key])
    QTest.keyClick(view, Qt.Key.Key_Backspace)
    assert key not in scene.wire_items and len(scene.node_items) == 5
    qt_doc.undo_stack.undo()
    assert key in scene.wire_items
    # Nodes and a wire elsewhere: one step.
    scene.select_nodes([node_id(qt_doc, "x")], [key])
    index = qt_doc.undo_stack.index()
    view.delete_selection()
    assert qt_doc.undo_stack.index() == index + 1 and len(scene.wire_items) == 2
    qt_doc.undo_stack.undo()
    assert snapshot(qt_doc)[:2] == original[:2]


def test_copy_paste_and_duplicate_keep_internal_wires(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    net = qt_doc.document.network("model")
    hidden, act = node_id(qt_doc, "hidden"), node_id(qt_doc, "act")
    view.select_nodes([hidden, act])
    view.copy()
    assert QApplication.clipboard().mimeData().hasFormat(NODES_MIME)
    before = len(net)
    view.paste()
    new = view.selected_node_ids()
    assert len(net) == before + 2 and len(new) == 2 and not {hidden, act} & set(new)
    assert qt_doc.undo_stack.undoText() == "Paste 2 layers"
    pasted = {net.node(i).type: i for i in new}
    assert net.has_wire(Wire(pasted["Linear"], "out", pasted["ReLU"], "in"))
    assert len(net.wires) == 5  # the pasted pair keeps its wire, nothing else is wired to it
    assert net.node(pasted["Linear"]).params["units"] == 32

    view.select_nodes([hidden, act])
    view.duplicate()
    assert len(net) == before + 4 and len(net.wires) == 6
    qt_doc.undo_stack.undo()
    qt_doc.undo_stack.undo()
    assert len(net) == before and len(net.wires) == 4

    # Paste into another network of the document through its own view (another tab).
    qt_doc.document.add_network("other")
    other = CanvasView(qt_doc, "other")
    qtbot.addWidget(other)
    other.paste()
    assert len(qt_doc.document.network("other")) == 2 and len(qt_doc.document.network("other").wires) == 1
    assert len(other.scene().node_items) == 2 and len(other.scene().wire_items) == 1

    view.select_nodes([hidden])
    view.cut()
    assert hidden not in net and qt_doc.undo_stack.undoText() == "Cut 1 layer"
    nodes, wires = nodes_from_mime(QApplication.clipboard().mimeData())
    assert [n.name for n in nodes] == ["hidden"] and wires == []


def test_auto_layout_orders_nodes_left_to_right_by_depth(qtbot, cnn_doc):
    view = make_view(qtbot, cnn_doc, 4000, 300)  # a view as wide as the network: one row, no wrapping
    net = cnn_doc.document.network("model")
    scrambled = {n.id: (float((i * 7919) % 900), float((i * 104729) % 700)) for i, n in enumerate(net.nodes)}
    cnn_doc.execute(MoveNodes("model", scrambled))
    count = cnn_doc.undo_stack.count()
    view.auto_layout()
    assert cnn_doc.undo_stack.count() == count + 1 and cnn_doc.undo_stack.undoText() == "Auto-layout"
    x = {n.name: n.position[0] for n in net.nodes}
    chain = ["image", "conv", "relu", "pool", "flat", "fc", "fc_skip", "add", "out"]
    assert [x[a] < x[b] for a, b in zip(chain, chain[1:], strict=False)] == [True] * 8
    rects = [view.scene().node_items[n.id].sceneBoundingRect() for n in net.nodes]
    overlaps = [(a, b) for i, a in enumerate(rects) for b in rects[i + 1:] if a.adjusted(8, 8, -8, -8).intersects(b)]
    assert not overlaps
    # The main path is one straight row: each wire of the chain is level.
    y = {n.name: n.position[1] for n in net.nodes}
    assert len({y[name] for name in ["image", "conv", "relu", "pool", "flat", "fc", "add", "out"]}) == 1
    cnn_doc.undo_stack.undo()
    assert {n.id: n.position for n in net.nodes} == scrambled


def test_editing_a_param_updates_node_text_and_downstream_wire_labels(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    hidden, act, logits = node_id(qt_doc, "hidden"), node_id(qt_doc, "act"), node_id(qt_doc, "logits")
    qt_doc.execute(SetParams("model", hidden, {"units": 48}))
    assert scene.node_items[hidden].content.summary == "48"  # the text follows at once
    qt_doc.flush()
    assert scene.node_items[hidden].content.shape == "N×48"
    assert scene.wire_items[(hidden, "out", act, "in")].label == "N×48"
    assert scene.wire_items[(act, "out", logits, "in")].label == "N×48"
    assert scene.node_items[logits].content.params == "490 params"
    # A merge node growing a port: the node grows and a wire can go into the new port.
    add_id = view.add_layer("Add", QPointF(0, 400))
    height = scene.node_items[add_id].geometry_size[1]
    qt_doc.execute(SetParams("model", add_id, {"inputs": 3}))
    assert scene.node_items[add_id].geometry_size[1] > height
    assert scene.node_items[add_id].visual.geometry.port_pos("in3", True) is not None
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert scene.node_items[add_id].visual.geometry.port_pos("in3", True) is None


def test_error_badge_on_an_invalid_node_and_its_tooltip(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    qt_doc.execute(SetParams("model", node_id(qt_doc, "x"), {"dtype": "int64"}))
    qt_doc.flush()
    item = view.scene().node_items[node_id(qt_doc, "hidden")]
    assert item.badge is not None and item.badge.severity == "error"
    assert "integer token ids" in item.badge.toolTip() and "Embedding" in item.badge.toolTip()
    assert item.content.shape == ""  # no shape to show
    assert view.scene().wire_items[(item.node_id, "out", node_id(qt_doc, "act"), "in")].label == ""
    qt_doc.undo_stack.undo()
    qt_doc.flush()
    assert item.badge is None and item.content.shape == "N×32"


def test_warning_badge_for_a_node_that_feeds_no_output(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    extra = view.add_layer("ReLU", QPointF(600, 300))
    qt_doc.execute(AddWire("model", Wire(node_id(qt_doc, "hidden"), "out", extra, "in")))
    qt_doc.flush()
    item = view.scene().node_items[extra]
    assert item.badge is not None and item.badge.severity == "warning"
    assert "Output" in item.badge.toolTip() and not item.content.errors


# ---- view: zoom, menus, problems list jump --------------------------------------------------------------------------


def test_zoom_wheel_around_cursor_fit_and_limits(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    anchor = QPoint(500, 200)
    under = view.mapToScene(anchor)
    event = QWheelEvent(QPointF(anchor), QPointF(view.mapToGlobal(anchor)), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    view.wheelEvent(event)
    assert view.zoom() > 1.3
    assert (view.mapFromScene(under) - anchor).manhattanLength() <= 2  # the point under the cursor stays put
    for _ in range(40):
        view.zoom_in()
    assert view.zoom() == style.MAX_ZOOM
    for _ in range(60):
        view.zoom_out()
    assert view.zoom() == style.MIN_ZOOM
    view.fit_all()
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.scene().nodes_rect()) and view.zoom() <= 1.0
    view.select_nodes([node_id(qt_doc, "act")])
    view.zoom_to_selection()
    assert view.zoom() > 1.0
    view.reset_zoom()
    assert view.zoom() == 1.0


def test_center_on_node_selects_and_centres_it(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc, width=500)
    target = node_id(qt_doc, "y")
    view.center_on_node(target)
    assert view.selected_node_ids() == [target]
    centre = view.mapToScene(view.viewport().rect().center())
    assert view.scene().node_items[target].sceneBoundingRect().adjusted(-20, -20, 20, 20).contains(centre)
    assert view.scene().node_items[target].state.flash > 0


def test_context_menus(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    act = node_id(qt_doc, "act")
    menu = view.context_menu(scene.node_items[act].sceneBoundingRect().center())
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts[:5] == ["Delete", "Delete and reconnect", "Duplicate", "Cut", "Copy"]
    assert {"Disconnect all", "Select upstream", "Select downstream"} <= set(texts)
    assert view.selected_node_ids() == [act]
    next(a for a in menu.actions() if a.text() == "Select upstream").trigger()
    assert set(view.selected_node_ids()) == {node_id(qt_doc, n) for n in ("x", "hidden", "act")}
    view.select_nodes([act])
    next(a for a in view.context_menu(scene.node_items[act].sceneBoundingRect().center()).actions()
         if a.text() == "Disconnect all").trigger()
    assert not qt_doc.document.network("model").wires_into(act) and qt_doc.undo_stack.undoText() == "Disconnect 1 layer"
    qt_doc.undo_stack.undo()

    wire = scene.wire_items[(node_id(qt_doc, "hidden"), "out", act, "in")]
    menu = view.context_menu(wire.path.pointAtPercent(0.3))
    assert [a.text() for a in menu.actions()] == ["Delete wire"]
    menu.actions()[0].trigger()
    assert wire.key not in scene.wire_items

    menu = view.context_menu(QPointF(-5000, -5000))
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Paste", "Select all", "Auto-layout", "Find layer…", "Fit all", "Snap to grid"]


# ---- pictures ------------------------------------------------------------------------------------------------------


def _ink(path: Path) -> float:
    image = QImage(str(path))
    assert not image.isNull()
    white = sum(1 for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)
                if image.pixelColor(x, y).lightness() > 250)
    total = len(range(0, image.width(), 7)) * len(range(0, image.height(), 7))
    return 1 - white / total


def test_export_image_png_and_svg(qtbot, cnn_doc, tmp_path):
    view = make_view(qtbot, cnn_doc)
    png = view.export_image(tmp_path / "cnn.png")
    image = QImage(str(png))
    rect = view.scene().nodes_rect()
    assert image.width() >= 2 * rect.width() * 0.95 and image.width() <= 2 * (rect.width() + 60)
    assert image.pixelColor(2, 2).name() == "#ffffff"  # white, no grid
    assert 0.05 < _ink(png) < 0.6
    svg = view.export_image(tmp_path / "cnn.svg")
    text = svg.read_text(encoding="utf-8")
    assert text.lstrip().startswith("<?xml") and "<svg" in text and "Conv 2D" in text and "N×8×6×6" in text


def test_render_network_without_a_view(qapp, tmp_path):
    from conftest import build_cnn

    from netbuilder.document import DocumentError

    document = build_cnn()
    path = render_network(document, "model", tmp_path / "diagram.png")
    assert path.exists() and QImage(str(path)).width() > 4000 and _ink(path) > 0.05
    # A scripted network whose nodes were never placed is laid out for the picture (the document is untouched).
    scripted = Document()
    net = scripted.network()
    net.chain(net.add("Input", shape=(4,)), net.add("Linear", units=3), net.add("Output"))
    path = render_network(scripted, "model", tmp_path / "scripted.png")
    assert QImage(str(path)).width() > 2 * 3 * style.metrics().node_width
    assert {n.position for n in net.nodes} == {(0.0, 0.0)}
    assert render_network(document, None, tmp_path / "diagram.svg").stat().st_size > 2000
    with pytest.raises(DocumentError, match=".png or .svg"):
        render_network(document, "model", tmp_path / "diagram.gif")
    with pytest.raises(DocumentError, match="empty"):
        render_network(Document(), "model", tmp_path / "empty.png")


def test_screenshot_of_a_small_cnn(qtbot, cnn_doc):
    view = make_view(qtbot, cnn_doc, width=1920, height=600)
    view.auto_layout()
    cnn_doc.flush()
    view.fit_all()
    view.select_nodes([node_id(cnn_doc, "conv")])
    problem = view.add_layer("Linear", QPointF(1320, 250))  # an unwired layer: a warning badge
    view.select_nodes([node_id(cnn_doc, "conv")])
    cnn_doc.flush()
    assert view.scene().node_items[problem].badge is not None
    view.fit_all()
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "canvas.png"
    assert view.grab().save(str(target))
    assert target.stat().st_size > 20_000 and isinstance(view.scene().node_items[problem], NodeItem)


def test_keyboard_nudge_escape_and_empty_clipboard_messages(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    scene = view.scene()
    act = node_id(qt_doc, "act")
    view.select_nodes([act])
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Right)
    QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert qt_doc.document.network("model").node(act).position == (620.0, 100.0)
    assert qt_doc.undo_stack.undoText() == "Nudge"
    scene.begin_wire(act, "out", False)
    assert scene.interaction is not None
    QTest.keyClick(view, Qt.Key.Key_Escape)
    assert scene.interaction is None and not any(i.state.highlighted for i in scene.node_items.values())
    view.select_nodes([])
    with qtbot.waitSignal(view.statusMessage) as message:
        view.copy()
    assert "Select the layers" in message.args[0]
    QApplication.clipboard().clear()
    with qtbot.waitSignal(view.statusMessage) as message:
        view.paste()
    assert "no layers" in message.args[0]


def test_render_network_starts_its_own_offscreen_application(tmp_path):
    """The `netbuilder render` path: no QApplication, no display, no QT_QPA_PLATFORM set by the caller."""
    import os
    import subprocess
    import sys

    script = (
        "from netbuilder.document import Document\n"
        "from netbuilder_ui.canvas import render_network\n"
        "doc = Document(); net = doc.network()\n"
        "net.chain(net.add('Input', shape=(4,)), net.add('Linear', units=3), net.add('Output'))\n"
        f"print(render_network(doc, None, {str(tmp_path / 'cli.svg')!r}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[2], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "cli.svg").read_text(encoding="utf-8").count("<text") >= 6
