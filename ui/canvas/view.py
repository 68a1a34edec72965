"""The canvas widget: a QGraphicsView on one network, with zoom, pan, keyboard, clipboard, drag and drop and
context menus. Every edit it makes is one core command pushed through the QtDocument.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import shiboken6
from PySide6.QtCore import QEvent, QLineF, QMimeData, QPoint, QPointF, QRectF, Qt, QVariantAnimation, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QContextMenuEvent,
    QCursor,
    QDragEnterEvent,
    QDragMoveEvent,
    QDropEvent,
    QFocusEvent,
    QKeyEvent,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPen,
    QShowEvent,
    QTransform,
    QWheelEvent,
)
from PySide6.QtWidgets import QApplication, QCompleter, QGraphicsView, QLineEdit, QMenu, QWidget

from netbuilder.analysis.fixes import fixes_for_node
from netbuilder.document import (
    AddNode,
    AddWire,
    DocumentError,
    InsertNodes,
    Macro,
    MoveNodes,
    Node,
    RemoveNodes,
    RemoveWires,
    Wire,
)
from netbuilder.layout import DEFAULT_ASPECT, layered_positions
from netbuilder.specs import UnknownLayerError, get_spec
from netbuilder.wiring import edit_problem
from netbuilder_ui._compat import set_clipboard_mime
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.clipboard import NODES_MIME, nodes_from_mime, nodes_to_mime
from netbuilder_ui.canvas.interactions import PanInteraction
from netbuilder_ui.canvas.items import BadgeItem, NodeItem, WireItem
from netbuilder_ui.canvas.minimap import Minimap
from netbuilder_ui.canvas.render import render_network
from netbuilder_ui.canvas.scene import NetworkScene
from netbuilder_ui.canvas.visuals import MIN_TITLE_PX, node_geometry, title_screen_pixels
from netbuilder_ui.qt_document import QtDocument

LAYER_MIME = "application/x-netbuilder-layer"
SCROLL_EXTENT = 50_000.0  # room to pan around the nodes
PASTE_STEP = 40.0
ZOOM_STEP = 1.25
FIT_MARGIN = 40  # view pixels around the nodes when fitting


class CanvasView(QGraphicsView):
    """Shows one network of a QtDocument; the main window makes one per network tab.

    Signals: ``selectionChanged(list)`` with the selected node ids, ``statusMessage(str)`` with short feedback
    (why a wire was refused, what was copied).
    """

    selectionChanged = Signal(list)
    statusMessage = Signal(str)

    def __init__(self, qt_doc: QtDocument, network: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.qt_doc = qt_doc
        self._scene = NetworkScene(qt_doc, network, self)
        self.setScene(self._scene)
        self._pan: PanInteraction | None = None
        self._space = False
        self._paste_serial = 0
        self._fitted = False
        self._flash: QVariantAnimation | None = None
        self._find: QLineEdit | None = None
        self.minimap = Minimap(self)
        self.minimap.hide()
        # Extra entries for a node's context menu: hook(menu, selected node ids) (the blocks' Open, Group...).
        self.context_menu_hooks: list = []

        self.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.MinimalViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.ItemSelectionMode.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self._update_scroll_extent()
        self._scale_to(1.0)

        self._scene.selectionChanged.connect(self._emit_selection)
        self._scene.statusMessage.connect(self.statusMessage)
        self._scene.sceneRectChanged.connect(self._update_scroll_extent)

    # ---- the network shown ----------------------------------------------------------------------------------------
    def scene(self) -> NetworkScene:  # type: ignore[override]
        return self._scene

    @property
    def network(self) -> str:
        return self._scene.network_name

    def set_network(self, network: str) -> None:
        """Show another network of the document (e.g. after the tab's network was renamed)."""
        self._scene.network_name = network
        self._scene.rebuild()
        self.fit_all()

    # ---- selection --------------------------------------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        return self._scene.selected_node_ids()

    def select_nodes(self, ids: list[str]) -> None:
        self._scene.select_nodes(list(ids))

    def select_all(self) -> None:
        self._scene.select_nodes(list(self._scene.node_items), list(self._scene.wire_items))

    def select_upstream(self) -> None:
        """Add every layer feeding the selected ones to the selection."""
        self._select_related(upstream=True)

    def select_downstream(self) -> None:
        self._select_related(upstream=False)

    def _select_related(self, upstream: bool) -> None:
        import networkx as nx

        graph = self._scene.network.graph
        chosen = set(self.selected_node_ids())
        related = set(chosen)
        for node_id in chosen:
            related |= nx.ancestors(graph, node_id) if upstream else nx.descendants(graph, node_id)
        order = {node_id: i for i, node_id in enumerate(self._scene.node_items)}
        self.select_nodes(sorted(related, key=order.__getitem__))

    def _emit_selection(self) -> None:
        self.selectionChanged.emit(self._scene.selected_node_ids())

    # ---- find layer (Ctrl+F) ---------------------------------------------------------------------------------
    def find_matches(self, text: str) -> list[str]:
        """Node ids whose name or layer type matches ``text`` (case-insensitive): exact names first, then names
        and types that start with it, then those that contain it; in network order within each."""
        wanted = text.strip().lower()
        if not wanted:
            return []
        ranked: list[tuple[int, int, str]] = []
        for index, node in enumerate(self._scene.network.nodes):
            title = self._scene.node_items[node.id].visual.content.title.lower() \
                if node.id in self._scene.node_items else ""
            keys = (node.name.lower(), node.type.lower(), title)
            if keys[0] == wanted:
                rank = 0
            elif any(k.startswith(wanted) for k in keys):
                rank = 1
            elif any(wanted in k for k in keys):
                rank = 2
            else:
                continue
            ranked.append((rank, index, node.id))
        return [node_id for _, _, node_id in sorted(ranked)]

    def find_layer(self, text: str) -> bool:
        """Jump to and select the best match for ``text`` (a name or a layer type); False when none matches."""
        matches = self.find_matches(text)
        if not matches:
            self.statusMessage.emit(f"No layer matches “{text.strip()}”.")
            return False
        self.center_on_node(matches[0])
        if len(matches) > 1:
            self.statusMessage.emit(f"{len(matches)} layers match “{text.strip()}”; showing the first.")
        return True

    def show_find(self) -> QLineEdit:
        """Open the find box over the canvas (Ctrl+F): type a name or type, Enter jumps, Esc closes."""
        if self._find is None:
            box = QLineEdit(self)
            box.setObjectName("findLayer")
            box.setPlaceholderText("Find layer by name or type…")
            box.setClearButtonEnabled(True)
            box.setFixedWidth(260)
            box.returnPressed.connect(lambda: self.find_layer(box.text()))
            box.installEventFilter(self)
            self._find = box
        box = self._find
        names = [n.name for n in self._scene.network.nodes]
        titles = sorted({i.visual.content.title for i in self._scene.node_items.values()})
        completer = QCompleter(names + titles, box)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.activated.connect(self.find_layer)
        box.setCompleter(completer)
        box.move(self.viewport().width() - box.width() - 12, 10)
        box.show()
        box.raise_()
        box.setFocus()
        box.selectAll()
        return box

    def event(self, event: QEvent) -> bool:
        # Ctrl+F on the canvas finds a layer (elsewhere in the window it searches the palette).
        if event.type() == QEvent.Type.ShortcutOverride and \
                event.matches(QKeySequence.StandardKey.Find):  # type: ignore[attr-defined]
            event.accept()
            return True
        return super().event(event)

    def eventFilter(self, watched: object, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        if watched is self._find and event.type() == QEvent.Type.KeyPress and \
                event.key() == Qt.Key.Key_Escape:  # type: ignore[attr-defined]
            self._find.hide()
            self.setFocus()
            return True
        return super().eventFilter(watched, event)

    def center_on_node(self, node_id: str) -> None:
        """Select a node, bring it to the middle of the view and flash it (the problems list jumps here)."""
        item = self._scene.node_items.get(node_id)
        if item is None:
            return
        self.select_nodes([node_id])
        if self.zoom() < 0.6:
            self.set_zoom(1.0)
        self.centerOn(item.sceneBoundingRect().center())
        if self._flash is not None:
            self._flash.stop()
        animation = QVariantAnimation(self)
        animation.setStartValue(1.0)
        animation.setEndValue(0.0)
        animation.setDuration(1400)

        def step(value: object) -> None:
            if shiboken6.isValid(item) and item.scene() is self._scene:  # the node may go (undo) mid-flash
                item.set_state(flash=float(value))  # type: ignore[arg-type]  (a float from the animation)

        animation.valueChanged.connect(step)
        animation.finished.connect(lambda: step(0.0))
        self._flash = animation
        step(1.0)
        animation.start()

    # ---- zoom and pan ---------------------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def set_zoom(self, scale: float, anchor: QPoint | None = None) -> None:
        """Zoom to ``scale`` (clamped) keeping the scene point under ``anchor`` (default: the centre) in place."""
        scale = min(max(scale, style.MIN_ZOOM), style.MAX_ZOOM)
        if anchor is None:
            anchor = self.viewport().rect().center()
        before = self.mapToScene(anchor)
        self._scale_to(scale)
        drift = self.mapFromScene(before) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + drift.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + drift.y())

    def zoom_in(self) -> None:
        self.set_zoom(self.zoom() * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self.zoom() / ZOOM_STEP)

    def reset_zoom(self) -> None:
        self.set_zoom(1.0)

    def fit_all(self) -> None:
        """Show every node (Ctrl+0); never magnifies beyond 100%."""
        rect = self._scene.nodes_rect()
        if rect.isEmpty():
            self._scale_to(1.0)
            self.centerOn(0, 0)
            return
        self._fit(rect, 1.0)

    def legible_fraction(self, zoom: float | None = None) -> float:
        """The share of nodes whose title is drawn whole and at least 9 screen pixels tall at ``zoom``."""
        items = list(self._scene.node_items.values())
        if not items:
            return 1.0
        zoom = self.zoom() if zoom is None else zoom
        kinds: dict[tuple, list] = {}  # nodes that look alike are measured once
        for item in items:
            c, g = item.visual.content, item.visual.geometry
            kinds.setdefault((c.title, item.visual.title, g.width, g.height), [item.visual, 0])[1] += 1
        legible = 0
        for visual, count in kinds.values():
            pixels, whole = title_screen_pixels(visual, zoom)
            legible += count if whole and pixels >= MIN_TITLE_PX - 1e-6 else 0
        return legible / len(items)

    def fit_legible(self) -> None:
        """Fit the whole network (what a newly opened network shows); when that would make titles unreadable,
        the smallest zoom where every title reads, with the start of the network (its top left) in view."""
        self.fit_all()
        if self.legible_fraction() >= 1.0:
            return
        low, high = self.zoom(), 1.0
        if self.legible_fraction(high) < 1.0:
            return
        for _ in range(12):
            middle = (low + high) / 2
            low, high = (middle, high) if self.legible_fraction(middle) < 1.0 else (low, middle)
        self._scale_to(high)
        nodes = self._scene.nodes_rect()
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        margin = FIT_MARGIN / high
        self.centerOn(QPointF(nodes.left() - margin + visible.width() / 2,
                              min(nodes.center().y(), nodes.top() - margin + visible.height() / 2)))

    def zoom_to_selection(self) -> None:
        rect = QRectF()
        for item in self._scene.selectedItems():
            rect = rect.united(item.sceneBoundingRect())
        if rect.isEmpty():
            self.fit_all()
        else:
            self._fit(rect, 2.0)

    def _fit(self, rect: QRectF, max_zoom: float) -> None:
        view = self.viewport().rect()
        width = max(view.width() - 2 * FIT_MARGIN, 50)
        height = max(view.height() - 2 * FIT_MARGIN, 50)
        scale = min(width / max(rect.width(), 1.0), height / max(rect.height(), 1.0), max_zoom)
        scale = min(max(scale, style.MIN_ZOOM), style.MAX_ZOOM)
        self._scale_to(scale)
        self.centerOn(rect.center())

    def _scale_to(self, scale: float) -> None:
        self.setTransform(QTransform.fromScale(scale, scale))
        self.update_minimap()

    def update_minimap(self) -> None:
        """Show the overview in the bottom-right corner while part of the network is off screen."""
        minimap = getattr(self, "minimap", None)
        if minimap is None:
            return
        nodes = self._scene.nodes_rect()
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        wanted = not nodes.isEmpty() and not visible.contains(nodes)
        viewport = self.viewport().geometry()
        minimap.move(viewport.right() - minimap.width() - 10, viewport.bottom() - minimap.height() - 10)
        if wanted != minimap.isVisible():
            minimap.setVisible(wanted)
        if wanted:
            minimap.update()

    def scrollContentsBy(self, dx: int, dy: int) -> None:  # noqa: N802 (Qt override)
        super().scrollContentsBy(dx, dy)
        self.update_minimap()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt override)
        super().resizeEvent(event)
        self.update_minimap()

    def _update_scroll_extent(self) -> None:
        items = self._scene.itemsBoundingRect()
        extent = QRectF(-SCROLL_EXTENT, -SCROLL_EXTENT, 2 * SCROLL_EXTENT, 2 * SCROLL_EXTENT)
        self.setSceneRect(extent.united(items.adjusted(-SCROLL_EXTENT / 5, -SCROLL_EXTENT / 5, SCROLL_EXTENT / 5,
                                                        SCROLL_EXTENT / 5)))
        self.update_minimap()

    def wheelEvent(self, event: QWheelEvent) -> None:
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if not event.pixelDelta().isNull() and not ctrl:  # a touchpad's two-finger scroll pans
            super().wheelEvent(event)
            return
        steps = event.angleDelta().y() or event.angleDelta().x()
        if steps:
            self.set_zoom(self.zoom() * math.pow(1.0015, steps), event.position().toPoint())
        event.accept()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._fitted:
            self._fitted = True
            self.fit_legible()

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, QColor(style.CANVAS_BACKGROUND))
        scale = self.zoom()
        step = style.GRID
        major = style.GRID * style.MAJOR_GRID_EVERY
        show_minor = step * scale >= 12
        if major * scale < 8:
            return
        first = step if show_minor else major
        minor_lines: list[QLineF] = []
        major_lines: list[QLineF] = []
        x = math.floor(rect.left() / first) * first
        while x <= rect.right():
            (major_lines if abs(x / major - round(x / major)) < 1e-6 else minor_lines).append(
                QLineF(x, rect.top(), x, rect.bottom()))
            x += first
        y = math.floor(rect.top() / first) * first
        while y <= rect.bottom():
            (major_lines if abs(y / major - round(y / major)) < 1e-6 else minor_lines).append(
                QLineF(rect.left(), y, rect.right(), y))
            y += first
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        for color, lines in ((style.GRID_MINOR, minor_lines), (style.GRID_MAJOR, major_lines)):
            if lines:
                pen = QPen(QColor(color), 1)
                pen.setCosmetic(True)
                painter.setPen(pen)
                painter.drawLines(lines)

    # ---- mouse: panning here, the rest in the scene -----------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:
        # Focus first, before the click selects a layer: the selection rebuilds the inspector, and an inspector
        # editor that had focus is destroyed then, leaving no widget with focus (Delete and Ctrl+Z did nothing).
        if not self.hasFocus():
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self._space):
            self._pan = PanInteraction(self, event.position().toPoint())
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:
        if self._pan is not None:
            self._pan.mouse_move(event.position().toPoint())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        if self._pan is not None:
            self._pan.finish()
            self._pan = None
            if self._space:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    # ---- keyboard ---------------------------------------------------------------------------------------------------
    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            if not event.isAutoRepeat() and self._scene.interaction is None:
                self._space = True
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        if key == Qt.Key.Key_Escape and self._scene.interaction is not None:
            self._scene.cancel_interaction()
            event.accept()
            return
        for matches, action in (
            (key == Qt.Key.Key_Delete and event.modifiers() == (Qt.KeyboardModifier.ControlModifier |
                                                                Qt.KeyboardModifier.ShiftModifier),
             self.delete_and_reconnect),
            (key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace), self.delete_selection),
            (event.matches(QKeySequence.StandardKey.SelectAll), self.select_all),
            (event.matches(QKeySequence.StandardKey.Copy), self.copy),
            (event.matches(QKeySequence.StandardKey.Cut), self.cut),
            (event.matches(QKeySequence.StandardKey.Paste), self.paste),
            (event.matches(QKeySequence.StandardKey.ZoomIn) or self._ctrl_key(event, Qt.Key.Key_Equal),
             self.zoom_in),
            (event.matches(QKeySequence.StandardKey.ZoomOut), self.zoom_out),
            (self._ctrl_key(event, Qt.Key.Key_D), self.duplicate),
            (event.matches(QKeySequence.StandardKey.Find), self.show_find),
            (self._ctrl_key(event, Qt.Key.Key_0), self.fit_all),
            (self._ctrl_key(event, Qt.Key.Key_1), self.reset_zoom),
        ):
            if matches:
                action()
                event.accept()
                return
        arrows: dict[int, tuple[int, int]] = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0),
                                              Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        if key in arrows and self.selected_node_ids():
            step = style.GRID * (5 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1)
            dx, dy = arrows[key]
            self.nudge(dx * step, dy * step)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space = False
            if self._pan is None:
                self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    @staticmethod
    def _ctrl_key(event: QKeyEvent, key: Qt.Key) -> bool:
        return event.key() == key and bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)

    def focusOutEvent(self, event: QFocusEvent) -> None:
        self._space = False
        super().focusOutEvent(event)

    # ---- editing ----------------------------------------------------------------------------------------------------
    def add_layer(self, type_id: str, scene_pos: QPointF | None = None) -> str | None:
        """Add a layer with its default parameters, its title at ``scene_pos``. Without a point (palette
        double-click, Enter) it goes after the one selected layer, wired to it when the shapes allow (the status
        bar says why not), else at the view's centre. Dropped onto a wire, it is inserted into that wire.
        Returns the new node id, or None when it cannot be added (the reason goes to statusMessage)."""
        try:
            spec = get_spec(type_id)
        except UnknownLayerError as error:
            self.statusMessage.emit(f"{error} It may come from a newer NetBuilder.")
            return None
        network = self._scene.network
        params = spec.defaults()
        geometry = node_geometry(tuple(p.name for p in spec.input_ports(params)),
                                 tuple(p.name for p in spec.output_ports(params)),
                                 spec.id != "Input" and bool(spec.summary(params)))
        node_id = network.new_id()
        inputs = [p.name for p in spec.input_ports(params)]
        outputs = [p.name for p in spec.output_ports(params)]
        selected = self.selected_node_ids()
        after = selected[0] if scene_pos is None and len(selected) == 1 else None
        wire_under = self._wire_at(scene_pos) if scene_pos is not None else None
        if after is not None:
            item = self._scene.node_items[after]
            if geometry.vertical:  # below it, one layer gap down
                top_left = self._free_spot(QPointF(item.pos().x(), item.pos().y() + item.visual.geometry.height
                                                   + 60.0), geometry.height, across=True)
            else:
                top_left = self._free_spot(QPointF(item.pos().x() + item.visual.geometry.width + 100.0,
                                                   item.pos().y()), geometry.height)
        else:
            if scene_pos is None:
                scene_pos = self.mapToScene(self.viewport().rect().center())
            top_left = self._scene.snap(QPointF(scene_pos.x() - geometry.width / 2,
                                                scene_pos.y() - style.metrics().header / 2))
            if wire_under is None:  # repeated adds at one spot step aside instead of piling up
                taken = {(round(i.pos().x()), round(i.pos().y())) for i in self._scene.node_items.values()}
                while (round(top_left.x()), round(top_left.y())) in taken:
                    top_left += QPointF(2 * style.GRID, 2 * style.GRID)
        add = AddNode(self.network, spec.id, position=(top_left.x(), top_left.y()), node_id=node_id)
        command: AddNode | Macro = add
        note = ""
        new_node = Node(node_id, spec.id, network.unique_name(spec.id), dict(add.params), (0.0, 0.0))
        if after is not None and inputs:
            source_ports = [p.name for p in network.node(after).spec.output_ports(network.node(after).params)]
            if source_ports:
                wire = Wire(after, source_ports[0], node_id, inputs[0])
                problem = edit_problem(network, [new_node], [], [wire], self.qt_doc.analysis(self.network))
                if problem is None:
                    command = Macro(f"Add {spec.title} after {network.node(after).name}",
                                    [add, AddWire(self.network, wire)])
                else:
                    note = f"Added {spec.title}, not wired to {network.node(after).name}: {problem}"
        elif wire_under is not None and inputs and outputs:
            old = Wire(*wire_under)
            new_wires = [Wire(old.src, old.src_port, node_id, inputs[0]), Wire(node_id, outputs[0], old.dst,
                                                                                old.dst_port)]
            problem = edit_problem(network, [new_node], [old], new_wires, self.qt_doc.analysis(self.network))
            if problem is None:
                command = Macro(f"Insert {spec.title}", [RemoveWires(self.network, [old]), add,
                                                         *(AddWire(self.network, w) for w in new_wires)])
            else:
                note = f"Added {spec.title} beside the wire, not into it: {problem}"
        if not self._scene.run(command):
            return None
        self.select_nodes([node_id])
        if note:
            self.statusMessage.emit(note)
        return node_id

    def handle_drop(self, mime: QMimeData | None, scene_pos: QPointF) -> str | None:
        """Add the layer a palette drag carries (mime type application/x-netbuilder-layer) at a scene point."""
        if mime is None or not mime.hasFormat(LAYER_MIME):
            return None
        type_id = bytes(mime.data(LAYER_MIME).data()).decode("utf-8").strip()
        return self.add_layer(type_id, scene_pos)

    def _free_spot(self, top_left: QPointF, height: float, across: bool = False) -> QPointF:
        """The first place at or below ``top_left`` (right of it, ``across``: top to bottom) where a new node
        overlaps none (placing it locally)."""
        spot = self._scene.snap(top_left)
        width = style.metrics().node_width
        for _ in range(50):
            area = (spot.x() - 20, spot.y() - 20, spot.x() + width + 20, spot.y() + height + 20)
            if not self._scene.node_rects_in(area):
                return spot
            spot += QPointF(width + 2 * style.GRID, 0) if across else QPointF(0, height + 2 * style.GRID)
        return spot

    def _wire_at(self, scene_pos: QPointF) -> tuple[str, str, str, str] | None:
        """The wire under a scene point, unless a node is there (a layer dropped onto a wire goes into it)."""
        for item in self._scene.items(scene_pos):
            if isinstance(item, NodeItem):
                return None
            if isinstance(item, WireItem):
                return item.key
        return None

    def delete_and_reconnect(self) -> None:
        """Delete the selected layer and wire what fed it to what it fed (Ctrl+Shift+Delete), when the shapes
        allow; otherwise say why and change nothing."""
        ids = self.selected_node_ids()
        if len(ids) != 1:
            self.statusMessage.emit("Select one layer to delete and reconnect around.")
            return
        network = self._scene.network
        node = network.node(ids[0])
        feeding = network.wires_into(node.id)
        fed = network.wires_out_of(node.id)
        if len(feeding) != 1 or not fed:
            self._scene.run(RemoveNodes(self.network, ids))
            return
        source = feeding[0]
        bridges = [Wire(source.src, source.src_port, w.dst, w.dst_port) for w in fed]
        problem = edit_problem(network, [], list(feeding) + list(fed), bridges,
                               self.qt_doc.analysis(self.network))
        if problem is not None:
            self.statusMessage.emit(f"Cannot reconnect around {node.name}: {problem}")
            return
        self._scene.run(Macro(f"Delete {node.name} and reconnect",
                              [RemoveNodes(self.network, ids), *(AddWire(self.network, w) for w in bridges)]))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if event.mimeData().hasFormat(LAYER_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if event.mimeData().hasFormat(LAYER_MIME):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:
        if self.handle_drop(event.mimeData(), self.mapToScene(event.position().toPoint())) is not None:
            event.acceptProposedAction()
            self.setFocus()
        else:
            event.ignore()

    def delete_selection(self) -> None:
        """Delete the selected layers (with their wires) and the selected wires, as one undo step."""
        nodes = self.selected_node_ids()
        doomed = set(nodes)
        wires = [Wire(*k) for k in self._scene.selected_wire_keys() if k[0] not in doomed and k[2] not in doomed]
        commands = []
        if wires:
            commands.append(RemoveWires(self.network, wires))
        if nodes:
            commands.append(RemoveNodes(self.network, nodes))
        if not commands:
            return
        if len(commands) == 1:
            self._scene.run(commands[0])
            return
        self._scene.run(Macro(f"Delete {_count(len(nodes), 'layer')} and {_count(len(wires), 'wire')}", commands))

    def disconnect_selection(self) -> None:
        """Remove every wire into or out of the selected layers."""
        chosen = set(self.selected_node_ids())
        wires = [w for w in self._scene.network.wires if w.src in chosen or w.dst in chosen]
        if wires:
            command = RemoveWires(self.network, wires)
            command.text = f"Disconnect {_count(len(chosen), 'layer')}"
            self._scene.run(command)

    def nudge(self, dx: float, dy: float) -> None:
        network = self._scene.network
        positions = {i: (network.node(i).position[0] + dx, network.node(i).position[1] + dy)
                     for i in self.selected_node_ids()}
        if positions:
            self._scene.run(MoveNodes(self.network, positions, text="Nudge"))

    def copy(self) -> bool:
        ids = self.selected_node_ids()
        if not ids:
            self.statusMessage.emit("Select the layers to copy first.")
            return False
        set_clipboard_mime(nodes_to_mime(self._scene.network, ids))
        self._paste_serial = 0
        self.statusMessage.emit(f"Copied {_count(len(ids), 'layer')}.")
        return True

    def cut(self) -> None:
        ids = self.selected_node_ids()
        if self.copy():
            self._scene.run(Macro(f"Cut {_count(len(ids), 'layer')}", [RemoveNodes(self.network, ids)]))
            self._paste_serial = -1  # the first paste goes back where the layers were

    def paste(self) -> None:
        """Paste layers from the clipboard (also from another tab or window): under the mouse when it is over
        the canvas, otherwise next to where they were copied from. Wires among them come along."""
        try:
            payload = nodes_from_mime(QApplication.clipboard().mimeData())
        except DocumentError as error:
            self.statusMessage.emit(str(error))
            return
        if not payload or not payload[0]:
            self.statusMessage.emit("The clipboard holds no layers to paste.")
            return
        nodes, wires = payload
        self._paste_serial += 1
        offset = QPointF(PASTE_STEP * self._paste_serial, PASTE_STEP * self._paste_serial)
        box = _nodes_box(nodes)
        cursor = self.viewport().mapFromGlobal(QCursor.pos())
        visible = self.mapToScene(self.viewport().rect()).boundingRect()
        if self.viewport().rect().contains(cursor) and self.viewport().underMouse():
            offset = self._scene.snap(self.mapToScene(cursor) - box.center())
        elif not visible.intersects(box.translated(offset)):
            offset = self._scene.snap(visible.center() - box.center())
        command = InsertNodes(self.network, nodes, wires, (offset.x(), offset.y()),
                              text=f"Paste {_count(len(nodes), 'layer')}")
        if self._scene.run(command):
            self.select_nodes(list(command.id_map.values()))

    def duplicate(self) -> None:
        """Copy the selected layers (and the wires among them) next to the originals, in one step."""
        ids = self.selected_node_ids()
        if not ids:
            self.statusMessage.emit("Select the layers to duplicate first.")
            return
        network = self._scene.network
        chosen = set(ids)
        nodes = [network.node(i) for i in ids]
        wires = [w for w in network.wires if w.src in chosen and w.dst in chosen]
        command = InsertNodes(self.network, nodes, wires, (PASTE_STEP, PASTE_STEP),
                              text=f"Duplicate {_count(len(ids), 'layer')}")
        if self._scene.run(command):
            self.select_nodes(list(command.id_map.values()))

    def auto_layout(self) -> None:
        """Arrange the layers in columns, left to right by depth in the graph, wrapped into rows so the network
        fills this view's shape; one undoable step."""
        network = self._scene.network
        if len(network) == 0:
            return

        def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
            g = self._scene.node_items[node_id].visual.geometry
            return g.width, g.height, g.inputs, g.outputs

        view = self.viewport().rect()
        aspect = view.width() / view.height() if view.height() > 50 and view.width() > 50 else None
        layout = layered_positions(network, size_of, style.GRID, aspect or DEFAULT_ASPECT, style.flow())
        left = min(n.position[0] for n in network.nodes)
        top = min(n.position[1] for n in network.nodes)
        left, top = round(left / style.GRID) * style.GRID, round(top / style.GRID) * style.GRID
        positions = {node_id: (x + left, y + top) for node_id, (x, y) in layout.items()
                     if network.node(node_id).position != (x + left, y + top)}
        if positions:
            self._scene.run(MoveNodes(self.network, positions, text="Auto-layout"))
        self.fit_all()

    def set_snap_to_grid(self, enabled: bool) -> None:
        self._scene.snap_to_grid = bool(enabled)

    def snap_to_grid(self) -> bool:
        return self._scene.snap_to_grid

    def export_image(self, path: str | os.PathLike[str]) -> Path:
        """Write the network as PNG (2x pixel ratio) or SVG: white background, tight margins, no editing marks."""
        return render_network(self.qt_doc, self.network, path)

    # ---- context menus ----------------------------------------------------------------------------------------------
    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        if self._scene.interaction is not None or self._pan is not None:
            return
        menu = self.context_menu(self.mapToScene(event.pos()))
        menu.exec(event.globalPos())
        menu.deleteLater()

    def context_menu(self, scene_pos: QPointF) -> QMenu:
        """The menu for what is under a scene point: a layer, a wire, or the empty canvas."""
        target = None
        for item in self._scene.items(scene_pos):
            if isinstance(item, BadgeItem):
                item = item.parentItem()
            if isinstance(item, NodeItem | WireItem):
                target = item
                break
        menu = QMenu(self)

        def add(text: str, slot: object, shortcut: QKeySequence | str | None = None, enabled: bool = True
                ) -> QAction:
            action = menu.addAction(text)
            action.triggered.connect(slot)
            if shortcut is not None:
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutVisibleInContextMenu(True)
            action.setEnabled(enabled)
            return action

        if isinstance(target, NodeItem):
            if not target.isSelected():
                self.select_nodes([target.node_id])
            count = len(self.selected_node_ids())
            many = count > 1
            if not many:  # one-click fixes of its shape problem come first
                for fix in fixes_for_node(self._scene.network, target.node_id, self.qt_doc.analysis(self.network)):
                    add(fix.title, lambda _=False, fix=fix: self._scene.apply_fix(fix))
                if not menu.isEmpty():
                    menu.addSeparator()
            add("Delete" + (f" {count} layers" if many else ""), self.delete_selection,
                QKeySequence.StandardKey.Delete)
            if not many:
                add("Delete and reconnect", self.delete_and_reconnect, "Ctrl+Shift+Del")
            add("Duplicate", self.duplicate, "Ctrl+D")
            add("Cut", self.cut, QKeySequence.StandardKey.Cut)
            add("Copy", self.copy, QKeySequence.StandardKey.Copy)
            menu.addSeparator()
            network = self._scene.network
            wired = any(network.wires_into(i) or network.wires_out_of(i) for i in self.selected_node_ids())
            add("Disconnect all", self.disconnect_selection, enabled=wired)
            add("Select upstream", self.select_upstream)
            add("Select downstream", self.select_downstream)
            for hook in self.context_menu_hooks:
                hook(menu, self.selected_node_ids())
            menu.addSeparator()
            add("Zoom to selection", self.zoom_to_selection)
        elif isinstance(target, WireItem):
            if not target.isSelected():
                self._scene.select_nodes([], [target.key])
            add("Delete wire", self.delete_selection, QKeySequence.StandardKey.Delete)
        else:
            clipboard = QApplication.clipboard().mimeData()
            can_paste = clipboard is not None and clipboard.hasFormat(NODES_MIME)
            add("Paste", self.paste, QKeySequence.StandardKey.Paste, enabled=can_paste)
            add("Select all", self.select_all, QKeySequence.StandardKey.SelectAll,
                enabled=bool(self._scene.node_items))
            menu.addSeparator()
            add("Auto-layout", self.auto_layout, enabled=bool(self._scene.node_items))
            add("Find layer…", self.show_find, QKeySequence.StandardKey.Find, enabled=bool(self._scene.node_items))
            add("Fit all", self.fit_all, "Ctrl+0")
            snap = add("Snap to grid", self.set_snap_to_grid)
            snap.setCheckable(True)
            snap.setChecked(self._scene.snap_to_grid)
        return menu


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _nodes_box(nodes: list) -> QRectF:
    rect = QRectF()
    for node in nodes:
        rect = rect.united(QRectF(node.position[0], node.position[1], style.metrics().node_width, 60))
    return rect

