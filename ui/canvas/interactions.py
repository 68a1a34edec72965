"""Canvas gestures as small objects (orange-canvas-core's interactions): each follows the mouse between press and
release, shows transient feedback, and ends by pushing ONE command through the QtDocument, or nothing.

They take scene positions rather than Qt events, so tests drive them exactly like the mouse does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QApplication, QGraphicsView

from netbuilder.analysis.fixes import fixes_for_wire
from netbuilder.document import AddWire, Macro, MoveNodes, RemoveWires, Wire
from netbuilder.layout import TOP_TO_BOTTOM
from netbuilder.wiring import PortKey, compatible_ports, connection_problem
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.items import DraftWireItem, NodeItem

if TYPE_CHECKING:
    from netbuilder_ui.canvas.scene import NetworkScene


class Interaction:
    """A gesture in progress. The scene forwards mouse moves and the release; `cancel` undoes any preview."""

    def __init__(self, scene: NetworkScene):
        self.scene = scene

    def mouse_move(self, pos: QPointF) -> None:
        pass

    def mouse_release(self, pos: QPointF) -> None:
        pass

    def cancel(self) -> None:
        pass


class MoveNodesInteraction(Interaction):
    """Drag the selected nodes; one MoveNodes command on release (snapped to the grid when snapping is on)."""

    def __init__(self, scene: NetworkScene, grabbed: NodeItem, pos: QPointF):
        super().__init__(scene)
        self.grabbed = grabbed
        self.press = QPointF(pos)
        self.items = [i for i in scene.selectedItems() if isinstance(i, NodeItem)] or [grabbed]
        self.start = {item.node_id: QPointF(item.pos()) for item in self.items}
        self.moved = False

    def mouse_move(self, pos: QPointF) -> None:
        delta = pos - self.press
        if not self.moved:
            threshold = QApplication.startDragDistance() / max(self.scene.zoom(), 1e-6)
            if abs(delta.x()) + abs(delta.y()) < threshold:
                return
            self.moved = True
        origin = self.start[self.grabbed.node_id]
        target = self.scene.snap(origin + delta)
        shift = target - origin
        for item in self.items:
            self.scene.place_node(item, self.start[item.node_id] + shift)

    def mouse_release(self, pos: QPointF) -> None:
        if not self.moved:
            return
        self.mouse_move(pos)
        positions = {item.node_id: (item.pos().x(), item.pos().y()) for item in self.items
                     if item.pos() != self.start[item.node_id]}
        if not positions:
            return
        names = [self.scene.network.node(i).name for i in positions]
        text = f"Move {names[0]}" if len(names) == 1 else f"Move {len(names)} layers"
        if not self.scene.run(MoveNodes(self.scene.network_name, positions, text=text)):
            self.cancel()

    def cancel(self) -> None:
        for item in self.items:
            if item.scene() is self.scene:
                self.scene.place_node(item, self.start[item.node_id])


class NewWireInteraction(Interaction):
    """Drag from a port to make a wire. Compatible ports light up; releasing on one pushes AddWire, releasing on
    an impossible one shows why at the cursor. Dragging the end of an existing wire off its input re-plugs it
    (one Macro) or, released on empty canvas, disconnects it."""

    def __init__(self, scene: NetworkScene, node_id: str, port: str, is_input: bool):
        super().__init__(scene)
        network = scene.network
        self.replacing: Wire | None = network.wire_into_port(node_id, port) if is_input else None
        if self.replacing is not None:  # pick up the wire's loose end; its source is the anchor
            node_id, port, is_input = self.replacing.src, self.replacing.src_port, False
            scene.set_wire_visible(self.replacing.key, False)
        self.anchor: PortKey = (node_id, port, is_input)
        self.compatible = compatible_ports(network, node_id, port, is_input, self.replacing)
        scene.highlight_ports(self.compatible)
        anchor_pos = scene.port_scene_pos(node_id, port, is_input)
        self.draft = DraftWireItem(anchor_pos, from_output=not is_input)
        scene.addItem(self.draft)
        self.target: PortKey | None = None

    def mouse_move(self, pos: QPointF) -> None:
        target = self.scene.port_near(pos)
        if target is not None and target in self.compatible:
            self.draft.set_end(self.scene.port_scene_pos(*target))
        else:
            self.draft.set_end(pos)
        if target != self.target:
            self.scene.hover_port(target if target in self.compatible else None)
            self.target = target

    def _cleanup(self) -> None:
        self.scene.removeItem(self.draft)
        self.scene.highlight_ports(set())
        self.scene.hover_port(None)
        if self.replacing is not None:
            self.scene.set_wire_visible(self.replacing.key, True)

    def cancel(self) -> None:
        self._cleanup()

    def mouse_release(self, pos: QPointF) -> None:
        self._cleanup()
        scene = self.scene
        target = scene.port_near(pos)
        if target is None or target == self.anchor:
            if self.replacing is not None and target is None:
                scene.run(RemoveWires(scene.network_name, [self.replacing]))
            return
        node_id, port, is_input = self.anchor
        if target[2] == is_input:
            side = "inputs" if is_input else "outputs"
            out_side, in_side = ("bottom", "top") if style.flow() == TOP_TO_BOTTOM else ("right", "left")
            scene.refuse(pos, f"Both ends are {side}: connect an output ({out_side} side of a layer) to an input "
                              f"({in_side} side).")
            return
        if is_input:
            wire = Wire(target[0], target[1], node_id, port)
        else:
            wire = Wire(node_id, port, target[0], target[1])
        if wire == self.replacing:
            return
        network = scene.network
        analysis = scene.qt_doc.analysis(scene.network_name)
        problem = connection_problem(network, wire, analysis, self.replacing)
        if problem:
            fixes = fixes_for_wire(network, wire, analysis) if self.replacing is None else []
            scene.refuse(pos, problem, fixes)
            return
        name = scene.network_name
        if self.replacing is None:
            command = AddWire(name, wire)
        else:
            src, dst = network.node(wire.src).name, network.node(wire.dst).name
            command = Macro(f"Reconnect {src} → {dst}", [RemoveWires(name, [self.replacing]), AddWire(name, wire)])
        if not scene.run(command, at=pos):
            return


class PanInteraction:
    """Middle-button drag, or space + left drag: scroll the view with the hand (view coordinates)."""

    def __init__(self, view: QGraphicsView, pos: QPoint):
        self.view = view
        self.last = QPoint(pos)
        view.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)

    def mouse_move(self, pos: QPoint) -> None:
        delta = pos - self.last
        self.last = QPoint(pos)
        h, v = self.view.horizontalScrollBar(), self.view.verticalScrollBar()
        h.setValue(h.value() - delta.x())
        v.setValue(v.value() - delta.y())

    def finish(self) -> None:
        self.view.viewport().unsetCursor()
