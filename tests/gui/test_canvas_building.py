"""Fast building: a layer added with one selected goes after it and is wired when shapes allow; a layer dropped on
a wire is inserted into it; a layer can be deleted with its neighbours reconnected. Each is one undo step."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtTest import QTest

from netbuilder_ui.canvas import LAYER_MIME, CanvasView


def make_view(qtbot, qt_doc) -> CanvasView:
    view = CanvasView(qt_doc, "model")
    qtbot.addWidget(view)
    view.resize(1400, 600)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_a_layer_added_with_one_selected_goes_after_it_wired(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    net = qt_doc.document.network("model")
    y = net.find("y")
    view.select_nodes([net.find("act").id])
    count = qt_doc.undo_stack.count()
    new = view.add_layer("Dropout")
    assert new is not None and view.selected_node_ids() == [new]
    assert qt_doc.undo_stack.count() == count + 1
    assert [(w.src, w.dst) for w in net.wires_into(new)] == [(net.find("act").id, new)]
    act = net.find("act")
    assert net.node(new).position[0] > act.position[0]  # to its right
    boxes = {n.id: view.scene().node_items[n.id].sceneBoundingRect().adjusted(8, 8, -8, -8) for n in net.nodes}
    assert not any(boxes[new].intersects(b) for k, b in boxes.items() if k != new)  # on a free spot
    # Chained: the next one goes after the new one.
    second = view.add_layer("ReLU")
    assert [w.src for w in net.wires_into(second)] == [new]
    qt_doc.undo_stack.undo()
    qt_doc.undo_stack.undo()
    assert new not in net.graph and len(net.wires_out_of(net.find("act").id)) == 1
    assert y.id in net.graph


def test_a_layer_that_does_not_fit_is_added_unwired_and_the_status_bar_says_why(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    net = qt_doc.document.network("model")
    messages: list[str] = []
    view.statusMessage.connect(messages.append)
    view.select_nodes([net.find("hidden").id])  # N×32 cannot feed a Conv2d
    new = view.add_layer("Conv2d")
    assert new is not None and net.wires_into(new) == []
    assert messages and "not wired" in messages[-1]


def test_a_layer_dropped_on_a_wire_is_inserted_into_it(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    net = qt_doc.document.network("model")
    act, logits = net.find("act"), net.find("logits")
    wire = next(w for w in net.wires if w.src == act.id and w.dst == logits.id)
    item = view.scene().wire_items[wire.key]
    spot = item.path.pointAtPercent(0.5)
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"Dropout")
    count = qt_doc.undo_stack.count()
    new = view.handle_drop(mime, spot)
    assert new is not None and qt_doc.undo_stack.count() == count + 1
    assert wire not in net.wires
    assert [w.src for w in net.wires_into(new)] == [act.id]
    assert [w.dst for w in net.wires_out_of(new)] == [logits.id]
    qt_doc.undo_stack.undo()
    assert wire in net.wires and new not in net.graph


def test_delete_and_reconnect_bridges_the_gap_with_its_shortcut(qtbot, qt_doc):
    view = make_view(qtbot, qt_doc)
    net = qt_doc.document.network("model")
    hidden, act, logits = net.find("hidden"), net.find("act"), net.find("logits")
    view.select_nodes([act.id])
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert act.id not in net.graph
    assert [w.src for w in net.wires_into(logits.id)] == [hidden.id]
    assert qt_doc.undo_stack.undoText() == "Delete act and reconnect"
    qt_doc.undo_stack.undo()
    assert act.id in net.graph and [w.src for w in net.wires_into(logits.id)] == [act.id]


def test_delete_and_reconnect_refuses_when_the_shapes_would_break(qtbot, cnn_doc):
    view = make_view(qtbot, cnn_doc)
    net = cnn_doc.document.network("model")
    messages: list[str] = []
    view.statusMessage.connect(messages.append)
    fc = net.find("fc")  # flat (N×128) would reach add beside fc_skip (N×10): the Add cannot take both
    view.select_nodes([fc.id])
    count = cnn_doc.undo_stack.count()
    view.delete_and_reconnect()
    assert fc.id in net.graph and cnn_doc.undo_stack.count() == count
    assert messages and messages[-1].startswith("Cannot reconnect around fc:")


def test_ctrl_f_finds_a_layer_by_name_or_type(qtbot, cnn_doc):
    view = make_view(qtbot, cnn_doc)
    net = cnn_doc.document.network("model")
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    box = view._find
    assert box is not None and box.isVisible()
    QTest.keyClicks(box, "pool")
    QTest.keyClick(box, Qt.Key.Key_Return)
    assert view.selected_node_ids() == [net.find("pool").id]
    visible = view.mapToScene(view.viewport().rect()).boundingRect()
    assert visible.contains(view.scene().node_items[net.find("pool").id].sceneBoundingRect().center())
    assert view.find_matches("linear") == [net.find("fc").id, net.find("fc_skip").id]  # by type, in order
    assert view.find_matches("Conv 2D") == [net.find("conv").id]  # by the title shown on the node
    messages: list[str] = []
    view.statusMessage.connect(messages.append)
    assert view.find_layer("lstm") is False and messages == ["No layer matches “lstm”."]
    QTest.keyClick(box, Qt.Key.Key_Escape)
    assert not box.isVisible()


def test_the_minimap_shows_when_the_network_is_cut_off_and_clicking_it_moves_the_view(qtbot, cnn_doc):
    from PySide6.QtCore import QPoint

    view = make_view(qtbot, cnn_doc)
    view.fit_all()
    assert not view.minimap.isVisible()  # everything on screen: no overview needed
    view.set_zoom(2.0)
    view.centerOn(0, 0)
    assert view.minimap.isVisible()
    net = cnn_doc.document.network("model")
    target = view.scene().node_items[net.find("out").id].sceneBoundingRect().center()
    area, scale, offset = view.minimap.mapping()
    spot = QPoint(round(offset.x() + (target.x() - area.left()) * scale),
                  round(offset.y() + (target.y() - area.top()) * scale))
    QTest.mouseClick(view.minimap, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, spot)
    centre = view.mapToScene(view.viewport().rect().center())
    assert abs(centre.x() - target.x()) < 2 / scale and abs(centre.y() - target.y()) < 2 / scale
