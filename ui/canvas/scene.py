"""The scene of one network: id -> item maps kept in step with the document through QtDocument's signals.

The model is the truth. Structural signals (node/wire added, removed, moved, changed) update items at once;
shapes, parameter counts and problems arrive with the coalesced `analysisChanged` and are applied in one batch,
touching only the items whose analysis actually changed (the incremental analyzer hands back the same NodeInfo
object for a node it did not recompute). Nothing is analysed while painting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QGraphicsItem, QGraphicsScene, QGraphicsSceneMouseEvent, QGraphicsView

from netbuilder.analysis import Analysis, Diagnostic
from netbuilder.analysis.fixes import Fix
from netbuilder.document import Command, DocumentError, Network
from netbuilder.layout import FLOW_SETTING, Rect, document_flow
from netbuilder.layout.spatial import RectIndex
from netbuilder.specs import ParamError
from netbuilder.wiring import PortKey
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.interactions import Interaction, MoveNodesInteraction, NewWireInteraction
from netbuilder_ui.canvas.items import NodeItem, ToastItem, WireItem, WireKey
from netbuilder_ui.canvas.visuals import NodeContent, node_content
from netbuilder_ui.qt_document import QtDocument

TOAST_MS = 4500


class NetworkScene(QGraphicsScene):
    """Shows one network of a QtDocument and turns gestures on it into commands."""

    statusMessage = Signal(str)

    def __init__(self, qt_doc: QtDocument, network: str, parent: QGraphicsView | None = None):
        super().__init__(parent)
        self.qt_doc = qt_doc
        self.network_name = network
        self.node_items: dict[str, NodeItem] = {}
        self.wire_items: dict[WireKey, WireItem] = {}
        self._node_wires: dict[str, set[WireKey]] = defaultdict(set)
        self._diagnostics: dict[str, tuple[Diagnostic, ...]] = {}
        self._stale_nodes: set[str] = set()  # params or name changed since the last analysis was applied
        self._unlabelled: set[WireKey] = set()
        self._highlighted: dict[str, set[tuple[str, bool]]] = {}
        self._hovered: PortKey | None = None
        self._node_index = RectIndex()  # node boxes, kept in step with the items, for routing wires
        self._extent: QRectF | None = None  # the box around every node (see nodes_rect); None: work it out
        self.snap_to_grid = True
        self.interaction: Interaction | None = None
        self.toast: ToastItem | None = None
        self._toast_timer = QTimer(self)
        self._toast_timer.setSingleShot(True)
        self._toast_timer.timeout.connect(self.hide_toast)
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)

        qt_doc.nodeAdded.connect(self._on_node_added)
        qt_doc.nodeRemoved.connect(self._on_node_removed)
        qt_doc.nodeChanged.connect(self._on_node_changed)
        qt_doc.nodeMoved.connect(self._on_node_moved)
        qt_doc.wireAdded.connect(self._on_wire_added)
        qt_doc.wireRemoved.connect(self._on_wire_removed)
        qt_doc.analysisChanged.connect(self._on_analysis_changed)
        qt_doc.documentReplaced.connect(self.rebuild)
        qt_doc.networksChanged.connect(self._on_networks_changed)
        qt_doc.settingsChanged.connect(self._on_settings_changed)
        self.rebuild()

    # ---- reading ------------------------------------------------------------------------------------------------
    @property
    def network(self) -> Network:
        return self.qt_doc.document.network(self.network_name)

    def has_network(self) -> bool:
        doc = self.qt_doc.document
        return self.network_name in doc.networks or self.network_name in doc.blocks  # or an opened block

    def zoom(self) -> float:
        views = self.views()
        return views[0].transform().m11() if views else 1.0

    def port_scene_pos(self, node_id: str, port: str, is_input: bool) -> QPointF:
        return self.node_items[node_id].port_scene_pos(port, is_input)

    def port_near(self, pos: QPointF) -> PortKey | None:
        """The port under a scene point (nearest one when ports of two nodes are close)."""
        reach = style.metrics().port_hit / min(1.0, max(self.zoom(), 0.25))  # easier to hit when zoomed out
        area = QRectF(pos.x() - reach, pos.y() - reach, 2 * reach, 2 * reach)
        best: tuple[float, PortKey] | None = None
        for item in self.items(area, Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            if not isinstance(item, NodeItem):
                continue
            port = item.port_at(pos, reach)
            if port is None:
                continue
            spot = item.port_scene_pos(*port)
            distance = (spot - pos).manhattanLength()
            if best is None or distance < best[0]:
                best = (distance, (item.node_id, port[0], port[1]))
        return best[1] if best else None

    def selected_node_ids(self) -> list[str]:
        """The selected nodes, in the document's order (stable, unlike Qt's selection order)."""
        return [node_id for node_id, item in self.node_items.items() if item.isSelected()]

    def selected_wire_keys(self) -> list[WireKey]:
        return [item.key for item in self.selectedItems() if isinstance(item, WireItem)]

    def nodes_rect(self, node_ids: list[str] | None = None) -> QRectF:
        """The box around the given nodes (all of them by default). The whole network's box is kept until a node
        is added, removed, moved or resized: the minimap and the view ask for it on every scroll step."""
        if node_ids is None:
            if self._extent is None:
                self._extent = self._nodes_rect(None)
            return QRectF(self._extent)
        return self._nodes_rect(node_ids)

    def _nodes_rect(self, node_ids: list[str] | None) -> QRectF:
        rect = QRectF()
        for node_id in self.node_items if node_ids is None else node_ids:
            item = self.node_items.get(node_id)
            if item is not None:
                rect = rect.united(item.sceneBoundingRect())
        return rect

    # ---- editing helpers used by interactions and the view ----------------------------------------------------
    def run(self, command: Command, at: QPointF | None = None) -> bool:
        """Push a command; an impossible edit shows its reason (at ``at`` when given) and changes nothing."""
        try:
            self.qt_doc.execute(command)
        except (DocumentError, ParamError) as error:
            if at is not None:
                self.refuse(at, str(error))
            else:
                self.statusMessage.emit(str(error))
            return False
        return True

    def snap(self, pos: QPointF) -> QPointF:
        if not self.snap_to_grid:
            return QPointF(pos)
        return QPointF(round(pos.x() / style.GRID) * style.GRID, round(pos.y() / style.GRID) * style.GRID)

    def place_node(self, item: NodeItem, pos: QPointF) -> None:
        """Move an item (preview during a drag, or following the model) and re-route its wires."""
        if item.pos() != pos:
            item.setPos(pos)
            self._reroute(item.node_id)

    def refuse(self, pos: QPointF, message: str, fixes: Iterable[Fix] = ()) -> None:
        """Show why a gesture was refused: next to the cursor, and on the status bar; with ``fixes``, the toast
        offers each as a button that makes it (one undoable step) and stays up longer to be clicked."""
        self.hide_toast()
        fixes = list(fixes)
        actions = tuple((fix.title, lambda fix=fix: self.apply_fix(fix)) for fix in fixes)
        self.toast = ToastItem(message, actions)
        self.addItem(self.toast)
        self.toast.setPos(pos + QPointF(14 / max(self.zoom(), 1e-6), 10 / max(self.zoom(), 1e-6)))
        self._toast_timer.start(TOAST_MS * (3 if fixes else 1))
        self.statusMessage.emit(message + (f" Fix: {fixes[0].title}." if fixes else ""))

    def apply_fix(self, fix: Fix) -> bool:
        """Make a one-click fix (one undo step) and select the layer it fixed."""
        self.hide_toast()
        if not self.run(fix.command()):
            return False
        self.select_nodes([fix.node_id])
        self.statusMessage.emit(f"{fix.title}: done (Ctrl+Z undoes it).")
        return True

    def hide_toast(self) -> None:
        self._toast_timer.stop()
        if self.toast is not None:
            self.removeItem(self.toast)
            self.toast = None

    def set_wire_visible(self, key: WireKey, visible: bool) -> None:
        item = self.wire_items.get(key)
        if item is not None:
            item.setVisible(visible)

    def highlight_ports(self, ports: set[PortKey]) -> None:
        wanted: dict[str, set[tuple[str, bool]]] = defaultdict(set)
        for node_id, port, is_input in ports:
            wanted[node_id].add((port, is_input))
        for node_id in set(self._highlighted) | set(wanted):
            item = self.node_items.get(node_id)
            if item is not None:
                item.set_state(highlighted=frozenset(wanted.get(node_id, ())))
        self._highlighted = dict(wanted)

    def hover_port(self, port: PortKey | None) -> None:
        if self._hovered is not None and self._hovered[0] in self.node_items:
            self.node_items[self._hovered[0]].set_state(hovered_port=None)
        self._hovered = port
        if port is not None and port[0] in self.node_items:
            self.node_items[port[0]].set_state(hovered_port=(port[1], port[2]))

    def cancel_interaction(self) -> None:
        if self.interaction is not None:
            interaction, self.interaction = self.interaction, None
            interaction.cancel()

    def _new_node_item(self, node_id: str, content: NodeContent, position: tuple[float, float]) -> NodeItem:
        from netbuilder_ui.blocks.node_item import make_node_item  # here: blocks builds on this package

        item = make_node_item(node_id, content)  # a block node gets its own item
        item.setPos(QPointF(*position))
        self.addItem(item)
        self.node_items[node_id] = item
        self._node_index.put(node_id, item.node_rect())
        self._extent = None
        return item

    def begin_wire(self, node_id: str, port: str, is_input: bool) -> NewWireInteraction:
        """Start dragging a wire from a port (what a press on a port does)."""
        self.cancel_interaction()
        interaction = NewWireInteraction(self, node_id, port, is_input)
        self.interaction = interaction
        return interaction

    # ---- building items from the model ----------------------------------------------------------------------------
    def rebuild(self) -> None:
        """Recreate every item from the model (open, document replaced, network switched)."""
        self.cancel_interaction()
        self.hide_toast()
        self.node_items.clear()  # first: clear() deselects, and selection listeners must not read deleted items
        self._node_index.clear()
        self._extent = None
        self.wire_items.clear()
        self._node_wires.clear()
        self._diagnostics.clear()
        self._stale_nodes.clear()
        self._unlabelled.clear()
        self._highlighted.clear()
        self._hovered = None
        self.clear()
        style.set_flow(document_flow(self.qt_doc.document.settings))  # before measuring any node
        if not self.has_network():
            return
        network = self.network
        analysis = self.qt_doc.analysis(self.network_name)
        by_node = _diagnostics_by_node(analysis)
        for node in network.nodes:
            info = analysis.nodes.get(node.id)
            diagnostics = by_node.get(node.id, ())
            item = self._new_node_item(node.id, node_content(node, info, diagnostics), node.position)
            item.info_ref = info
            self._diagnostics[node.id] = diagnostics
        for wire in network.wires:
            self._add_wire_item(wire.key, self._wire_label(analysis, wire.key))
        self._label_wires(analysis, self.wire_items)
        self._unlabelled.clear()
        for node_id in self.node_items:
            self._update_connected(node_id)

    def _add_wire_item(self, key: WireKey, label: str = "") -> WireItem | None:
        src, src_port, dst, dst_port = key
        if src not in self.node_items or dst not in self.node_items:
            return None
        item = WireItem(key, self.node_items[src].port_scene_pos(src_port, False),
                        self.node_items[dst].port_scene_pos(dst_port, True), self.node_rects_in,
                        (self.node_items[src].node_rect(), self.node_items[dst].node_rect()), label)
        self.addItem(item)
        self.wire_items[key] = item
        self._node_wires[src].add(key)
        self._node_wires[dst].add(key)
        return item

    def node_rects_in(self, area: Rect) -> list[Rect]:
        """The boxes of the nodes meeting a scene area (wires route around them; labels keep off them)."""
        return self._node_index.query(area)

    def _reroute(self, node_id: str) -> None:
        """Re-route the node's own wires, and the wires it now sits on (they find a way around it)."""
        self._extent = None  # it moved or changed size
        if node_id in self.node_items:
            self._node_index.put(node_id, self.node_items[node_id].node_rect())
        own = self._node_wires.get(node_id, set())
        for key in own:
            item = self.wire_items.get(key)
            if item is not None:
                item.set_endpoints(self.node_items[key[0]].port_scene_pos(key[1], False),
                                   self.node_items[key[2]].port_scene_pos(key[3], True),
                                   (self.node_items[key[0]].node_rect(), self.node_items[key[2]].node_rect()))
        node = self.node_items.get(node_id)
        if node is None:
            return
        for other in self.items(node.sceneBoundingRect(), Qt.ItemSelectionMode.IntersectsItemBoundingRect):
            if isinstance(other, WireItem) and other.key not in own:
                other.set_endpoints(*other.endpoints, force=True)

    def _update_connected(self, node_id: str) -> None:
        item = self.node_items.get(node_id)
        if item is None:
            return
        connected = set()
        for src, src_port, dst, dst_port in self._node_wires.get(node_id, ()):
            if src == node_id:
                connected.add((src_port, False))
            if dst == node_id:
                connected.add((dst_port, True))
        item.set_state(connected=frozenset(connected))

    def _wire_tooltip(self, key: WireKey, label: str) -> str:
        network = self.network
        src, dst = network.node(key[0]), network.node(key[2])
        route = f"{src.name}.{key[1]} → {dst.name}.{key[3]}"
        return f"{label}\n{route}" if label else f"{route}\n(shape not known yet: check the layers above)"

    @staticmethod
    def _wire_label(analysis: Analysis, key: WireKey) -> str:
        info = analysis.nodes.get(key[0])
        tensor = info.outputs.get(key[1]) if info is not None else None
        return str(tensor) if tensor is not None else ""

    def _label_wires(self, analysis: Analysis, keys: Iterable[WireKey]) -> None:
        for key in keys:
            item = self.wire_items.get(key)
            if item is None:
                continue
            label = self._wire_label(analysis, key)
            if label != item.label or not item.toolTip():
                item.set_label(label, self._wire_tooltip(key, label))

    # ---- document signals ---------------------------------------------------------------------------------------
    def _on_node_added(self, network: str, node_id: str) -> None:
        if network != self.network_name or node_id in self.node_items:
            return
        node = self.network.node(node_id)
        self._new_node_item(node_id, node_content(node, None), node.position)
        self._stale_nodes.add(node_id)

    def _on_node_removed(self, network: str, node_id: str) -> None:
        if network != self.network_name:
            return
        self.cancel_interaction()  # an edit from elsewhere (undo shortcut, script) during a drag ends the drag
        item = self.node_items.pop(node_id, None)
        self._node_index.remove(node_id)
        self._extent = None
        if item is not None:
            self.removeItem(item)
        for key in list(self._node_wires.pop(node_id, ())):
            self._remove_wire_item(key)
        self._diagnostics.pop(node_id, None)
        self._stale_nodes.discard(node_id)
        self._highlighted.pop(node_id, None)

    def _on_node_changed(self, network: str, node_id: str, field: str) -> None:
        if network != self.network_name or node_id not in self.node_items:
            return
        item = self.node_items[node_id]
        node = self.network.node(node_id)
        # Ports and text follow at once (a wire into a new port may come next); shapes follow the analysis.
        if item.set_content(node_content(node, item.info_ref, self._diagnostics.get(node_id, ()))):
            self._reroute(node_id)
        self._stale_nodes.add(node_id)
        if field == "name":
            for key in self._node_wires.get(node_id, ()):
                wire = self.wire_items.get(key)
                if wire is not None:
                    wire.set_label(wire.label, self._wire_tooltip(key, wire.label))

    def _on_node_moved(self, network: str, node_id: str) -> None:
        if network != self.network_name or node_id not in self.node_items:
            return
        self.place_node(self.node_items[node_id], QPointF(*self.network.node(node_id).position))

    def _on_wire_added(self, network: str, wire_key: object) -> None:
        if network != self.network_name:
            return
        key = _key(wire_key)
        if key in self.wire_items:
            return
        if self._add_wire_item(key) is not None:
            self._unlabelled.add(key)
            self._update_connected(key[0])
            self._update_connected(key[2])

    def _remove_wire_item(self, key: WireKey) -> None:
        item = self.wire_items.pop(key, None)
        if item is not None:
            self.removeItem(item)
        for node_id in (key[0], key[2]):
            wires = self._node_wires.get(node_id)
            if wires is not None:
                wires.discard(key)
        self._unlabelled.discard(key)

    def _on_wire_removed(self, network: str, wire_key: object) -> None:
        if network != self.network_name:
            return
        self.cancel_interaction()
        key = _key(wire_key)
        self._remove_wire_item(key)
        self._update_connected(key[0])
        self._update_connected(key[2])

    def _on_settings_changed(self, key: str) -> None:
        if key == FLOW_SETTING:  # every node's ports move to other edges: draw everything again
            self.rebuild()

    def _on_networks_changed(self) -> None:
        if not self.has_network() and self.node_items:
            self.rebuild()

    def _on_analysis_changed(self, network: str) -> None:
        if network == self.network_name and self.has_network():
            self.apply_analysis()

    def apply_analysis(self) -> None:
        """Show the current analysis: one batch, touching only nodes and wires whose results changed."""
        analysis = self.qt_doc.analysis(self.network_name)
        by_node = _diagnostics_by_node(analysis)
        network = self.network
        changed_sources: list[str] = []
        for node_id, item in self.node_items.items():
            info = analysis.nodes.get(node_id)
            diagnostics = by_node.get(node_id, ())
            if info is item.info_ref and node_id not in self._stale_nodes and \
                    diagnostics == self._diagnostics.get(node_id, ()):
                continue
            if info is not item.info_ref:
                changed_sources.append(node_id)
            item.info_ref = info
            self._diagnostics[node_id] = diagnostics
            if item.set_content(node_content(network.node(node_id), info, diagnostics)):
                self._reroute(node_id)
        self._stale_nodes.clear()
        keys = set(self._unlabelled)
        for node_id in changed_sources:
            keys.update(k for k in self._node_wires.get(node_id, ()) if k[0] == node_id)
        self._label_wires(analysis, keys)
        self._unlabelled.clear()

    # ---- mouse: dispatch to the gesture in progress ----------------------------------------------------------------
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        toast = self.toast
        if toast is not None and toast.actions and event.button() == Qt.MouseButton.LeftButton:
            index = toast.action_at(toast.mapFromScene(event.scenePos()))
            if index is not None:  # a fix button on the refusal toast
                event.accept()
                toast.actions[index][1]()
                return
        self.hide_toast()
        if self.interaction is not None:  # another button during a gesture cancels it
            self.cancel_interaction()
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton:
            port = self.port_near(event.scenePos())
            if port is not None:
                self.begin_wire(*port)
                event.accept()
                return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton:
            grabber = self.mouseGrabberItem()
            if isinstance(grabber, NodeItem) and grabber.isSelected():
                self.interaction = MoveNodesInteraction(self, grabber, event.scenePos())

    def mouseMoveEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self.interaction is not None:
            self.interaction.mouse_move(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        interaction, self.interaction = self.interaction, None
        if interaction is not None:
            interaction.mouse_release(event.scenePos())
            if not isinstance(interaction, MoveNodesInteraction):
                event.accept()
                return
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Escape and self.interaction is not None:
            self.cancel_interaction()
            event.accept()
            return
        super().keyPressEvent(event)

    # ---- selection ------------------------------------------------------------------------------------------------
    def select_nodes(self, node_ids: Iterable[str], wires: Iterable[WireKey] = ()) -> None:
        """Select exactly these nodes (and wires), emitting one selectionChanged."""
        wanted: list[QGraphicsItem] = [self.node_items[i] for i in node_ids if i in self.node_items]
        wanted += [self.wire_items[k] for k in wires if k in self.wire_items]
        self.blockSignals(True)
        try:
            self.clearSelection()
            for item in wanted:
                item.setSelected(True)
        finally:
            self.blockSignals(False)
        self.selectionChanged.emit()


def _key(wire_key: object) -> WireKey:
    """A wire key from a signal (Qt may hand a tuple over as a list)."""
    src, src_port, dst, dst_port = wire_key  # type: ignore[misc]
    return (str(src), str(src_port), str(dst), str(dst_port))


def _diagnostics_by_node(analysis: Analysis) -> dict[str, tuple[Diagnostic, ...]]:
    grouped: dict[str, list[Diagnostic]] = defaultdict(list)
    for diagnostic in analysis.diagnostics:
        if diagnostic.node_id is not None:
            grouped[diagnostic.node_id].append(diagnostic)
    return {k: tuple(v) for k, v in grouped.items()}
