"""The minimap and the view ask for the network's extent on every scroll step: it is worked out once and again only
after a node is added, removed, moved or resized."""

from __future__ import annotations

from PySide6.QtWidgets import QApplication

from netbuilder.document import AddNode, MoveNodes
from netbuilder_ui.canvas import CanvasView


def test_scrolling_reuses_the_extent_and_edits_renew_it(qtbot, qt_doc, monkeypatch):
    view = CanvasView(qt_doc, "model")
    qtbot.addWidget(view)
    view.resize(500, 300)
    view.show()
    qtbot.waitExposed(view)
    view.set_zoom(2.0)
    QApplication.processEvents()
    scene = view.scene()
    assert view.minimap.isVisible()  # part of the network is off screen
    computed = []
    original = scene._nodes_rect
    monkeypatch.setattr(scene, "_nodes_rect", lambda ids: computed.append(ids) or original(ids))
    first = scene.nodes_rect()
    for step in range(20):
        view.horizontalScrollBar().setValue(view.horizontalScrollBar().value() + 15 * (1 if step % 2 else -1))
        view.minimap.repaint()
    assert scene.nodes_rect() == first and len(computed) <= 1
    node = qt_doc.document.network("model").nodes[0]
    qt_doc.execute(MoveNodes("model", {node.id: (node.position[0] - 2000.0, node.position[1])}))
    assert scene.nodes_rect().left() <= node.position[0] < first.left()
    added = qt_doc.execute(AddNode("model", "ReLU", position=(5000.0, 3000.0)))
    assert scene.nodes_rect().bottom() > 3000.0
    qt_doc.undo_stack.undo()
    assert scene.nodes_rect().bottom() < 3000.0
    assert added.node_id not in scene.node_items
