"""The graphics items of the canvas. They hold what they draw and nothing about the graph: the scene tells them
their content, position, wire end points and decorations; gestures are handled by `interactions`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsSceneHoverEvent, QStyleOptionGraphicsItem, QWidget

from netbuilder.analysis import NodeInfo
from netbuilder.layout import ObstacleFn, Rect
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.visuals import (
    NodeContent,
    NodeState,
    PortRef,
    detail_zoom,
    make_visual,
    node_bounds,
    paint_node,
    paint_wire,
    wire_hit_shape,
    wire_path,
    wire_shape,
)

WireKey = tuple[str, str, str, str]

Z_WIRE = -1.0
Z_NODE = 0.0
Z_SELECTED_NODE = 1.0
Z_HOVERED_WIRE = 2.0
Z_DRAFT = 5.0
Z_TOAST = 10.0


def _lod(painter: QPainter) -> float:
    return QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())


class BadgeItem(QGraphicsItem):
    """The red (error) or yellow (warning) dot on a node's corner; its tooltip lists the diagnostics."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.severity = "error"
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.WhatsThisCursor)

    def set_problems(self, severity: str, messages: tuple[str, ...]) -> None:
        self.severity = severity
        title = "Error" if severity == "error" else "Warning"
        if len(messages) > 1:
            title += "s"
        items = "".join(f"<li>{_escape(m)}</li>" for m in messages)
        self.setToolTip(f"<b>{title}</b><ul style='margin-left:-20px'>{items}</ul>")
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-9, -9, 18, 18)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        color = QColor(style.ERROR if self.severity == "error" else style.WARNING)
        pen = QPen(QColor("#ffffff"), 1.5)
        painter.setPen(pen)
        painter.setBrush(color)
        painter.drawEllipse(QPointF(0, 0), 7.5, 7.5)
        mark = QPen(QColor("#ffffff"), 1.8)
        mark.setCapStyle(Qt.PenCapStyle.RoundCap)
        painter.setPen(mark)
        painter.drawLine(QPointF(0, -3.6), QPointF(0, 1.0))
        painter.drawPoint(QPointF(0, 3.6))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class NodeItem(QGraphicsItem):
    """One layer. Its position is its top-left corner, the same as the node's position in the document."""

    def __init__(self, node_id: str, content: NodeContent):
        super().__init__()
        self.node_id = node_id
        self.info_ref: NodeInfo | None = None  # the NodeInfo it was last built from (the analyzer reuses unchanged
        # ones, so an identical object means nothing to redraw)
        self.visual = make_visual(content)
        self.state = NodeState()
        self.badge: BadgeItem | None = None
        self._bounds = node_bounds(self.visual.geometry, 9.0)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(Z_NODE)
        self._update_badge()
        self._update_tooltip(None)

    @property
    def content(self) -> NodeContent:
        return self.visual.content

    @property
    def geometry_size(self) -> tuple[float, float]:
        return self.visual.geometry.width, self.visual.geometry.height

    def set_content(self, content: NodeContent) -> bool:
        """Show new content; returns True when the ports moved (the scene then re-routes the wires)."""
        if content == self.visual.content:
            return False
        old = self.visual.geometry
        self.visual = make_visual(content)
        moved = self.visual.geometry != old
        if moved:
            self.prepareGeometryChange()
            self._bounds = node_bounds(self.visual.geometry, 9.0)
        self._update_badge()
        self._update_tooltip(self.state.hovered_port)
        self.update()
        return moved

    def set_state(self, **changes: Any) -> None:
        state = replace(self.state, **changes)
        if state != self.state:
            self.state = state
            self.update()

    def node_rect(self) -> Rect:
        """The node's box in scene coordinates (left, top, right, bottom): what wires and labels keep clear of."""
        x, y = self.pos().x(), self.pos().y()
        g = self.visual.geometry
        return (x, y, x + g.width, y + g.height)

    def port_scene_pos(self, name: str, is_input: bool) -> QPointF:
        local = self.visual.geometry.port_pos(name, is_input)
        if local is None:  # a port that no longer exists: the wire is about to go; anchor it on the edge
            local = self.visual.geometry.edge_pos(is_input)
        return self.mapToScene(local)

    def port_at(self, scene_pos: QPointF, reach: float | None = None) -> PortRef | None:
        """The port under a scene point, if any (generous radius: ports are small)."""
        local = self.mapFromScene(scene_pos)
        g = self.visual.geometry
        reach = style.metrics().port_hit if reach is None else reach
        best: tuple[float, PortRef] | None = None
        for is_input, ports in ((True, g.inputs), (False, g.outputs)):
            for name in ports:
                spot = g.port_pos(name, is_input)
                distance = ((local.x() - spot.x()) ** 2 + (local.y() - spot.y()) ** 2) ** 0.5
                if distance <= reach and (best is None or distance < best[0]):
                    best = (distance, (name, is_input))
        return best[1] if best else None

    def _update_badge(self) -> None:
        content = self.visual.content
        problems = content.errors or content.warnings
        if not problems:
            if self.badge is not None:
                self.badge.setParentItem(None)
                if self.badge.scene() is not None:
                    self.badge.scene().removeItem(self.badge)
                self.badge = None
            return
        if self.badge is None:
            self.badge = BadgeItem(self)
        self.badge.setPos(self.visual.geometry.width - 1, 1)
        self.badge.set_problems("error" if content.errors else "warning", problems)

    def _update_tooltip(self, port: PortRef | None) -> None:
        content = self.visual.content
        if port is not None:
            name, is_input = port
            kind = "input" if is_input else "output"
            self.setToolTip(f"{content.name}: {kind} {name!r}. Drag to connect.")
        else:  # the full title and name, which a narrow or zoomed-out node may cut short
            self.setToolTip(f"{content.title} “{content.name}”" + (f"\n{content.shape}" if content.shape else ""))

    # ---- QGraphicsItem ---------------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        r = style.metrics().port_radius + 2
        g = self.visual.geometry
        path.addRect(g.rect.adjusted(0, -r, 0, r) if g.vertical else g.rect.adjusted(-r, 0, r, 0))
        return path

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        lod = _lod(painter)
        detail = lod >= detail_zoom()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        state = self.state
        if state.selected != self.isSelected():
            state = replace(state, selected=self.isSelected())
        paint_node(painter, self.visual, state, detail=detail, zoom=lod)

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(Z_SELECTED_NODE if value else Z_NODE)
        return super().itemChange(change, value)

    def hoverMoveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        port = self.port_at(event.scenePos())
        if port != self.state.hovered_port:
            self.set_state(hovered_port=port)
            self._update_tooltip(port)
            self.setCursor(Qt.CursorShape.CrossCursor if port else Qt.CursorShape.ArrowCursor)

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        if self.state.hovered_port is not None:
            self.set_state(hovered_port=None)
            self._update_tooltip(None)
            self.unsetCursor()


class WireItem(QGraphicsItem):
    """A wire from an output port to an input port, labelled with the tensor type it carries."""

    def __init__(self, key: WireKey, p1: QPointF, p2: QPointF, obstacles_in: ObstacleFn | None = None,
                 ends: tuple[Rect, ...] = (), label: str = ""):
        super().__init__()
        self.key = key
        self.label = label
        self.label_fits = False
        self.hovered = False
        self.obstacles_in = obstacles_in  # the scene's node rectangles, to route around and keep labels off
        self.ends = ends
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(Z_WIRE)
        self._p1, self._p2 = QPointF(p1), QPointF(p2)
        self._rebuild()

    @property
    def endpoints(self) -> tuple[QPointF, QPointF]:
        return self._p1, self._p2

    def set_endpoints(self, p1: QPointF, p2: QPointF, ends: tuple[Rect, ...] | None = None,
                      force: bool = False) -> None:
        """Move the ends (and re-route); ``force`` re-routes even in place (a node moved next to the wire)."""
        if p1 == self._p1 and p2 == self._p2 and not force and (ends is None or ends == self.ends):
            return
        self.prepareGeometryChange()
        self._p1, self._p2 = QPointF(p1), QPointF(p2)
        if ends is not None:
            self.ends = ends
        self._rebuild()

    def set_label(self, label: str, tooltip: str) -> None:
        self.setToolTip(tooltip)
        if label == self.label:
            return
        self.prepareGeometryChange()
        self.label = label
        self._rebuild()

    def _rebuild(self) -> None:
        shape = wire_shape(self._p1, self._p2, self.label, self.obstacles_in, self.ends)
        self.path, self.label_rect, self.label_fits = shape.path, shape.label_rect, shape.label_fits
        self._shape = wire_hit_shape(self.path)
        if self.label_fits:
            self._shape.addRect(self.label_rect)
        self._bounds = self.path.boundingRect().adjusted(-6, -6, 6, 6).united(self.label_rect.adjusted(-2, -2, 2, 2))

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._shape

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        lod = _lod(painter)
        # A label shows where it has room at a readable size; hovering or selecting the wire always shows it.
        shown = (self.label_fits and lod >= style.LABEL_ZOOM) or self.hovered or self.isSelected()
        paint_wire(painter, self.path, self.label, self.label_rect, selected=self.isSelected(), hovered=self.hovered,
                   detail=shown, thin=lod < style.THIN_WIRE_ZOOM,
                   stamp_ratio=widget.devicePixelRatioF() if widget is not None else 1.0)

    def hoverEnterEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = True
        self.setZValue(Z_HOVERED_WIRE)  # its label, shown now, goes over the nodes it would otherwise cover
        self.update()

    def hoverLeaveEvent(self, event: QGraphicsSceneHoverEvent) -> None:
        self.hovered = False
        self.setZValue(Z_WIRE)
        self.update()


class DraftWireItem(QGraphicsItem):
    """The dashed wire following the cursor while a connection is being dragged."""

    def __init__(self, anchor: QPointF, from_output: bool):
        super().__init__()
        self.anchor = QPointF(anchor)
        self.from_output = from_output
        self.end = QPointF(anchor)
        self.setZValue(Z_DRAFT)
        self._rebuild()

    def set_end(self, end: QPointF) -> None:
        self.prepareGeometryChange()
        self.end = QPointF(end)
        self._rebuild()

    def _rebuild(self) -> None:
        p1, p2 = (self.anchor, self.end) if self.from_output else (self.end, self.anchor)
        self.path = wire_path(p1, p2)
        self._bounds = self.path.boundingRect().adjusted(-4, -4, 4, 4)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        paint_wire(painter, self.path, "", QRectF(), draft=True)


class ToastItem(QGraphicsItem):
    """A short message shown next to the cursor (why a wire was refused); it keeps its size at any zoom."""

    MAX_WIDTH = 340.0

    def __init__(self, text: str, actions: tuple[tuple[str, Callable[[], None]], ...] = ()):
        """``actions``: (button text, what it does) for one-click fixes, drawn as buttons below the message (the
        scene runs the one a press lands on, see `action_at`)."""
        super().__init__()
        self.text = text
        self.actions = actions
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setZValue(Z_TOAST)
        self.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        fm = QFontMetricsF(style.metrics().body_font)
        flags = int(Qt.TextFlag.TextWordWrap)
        bound = fm.boundingRect(QRectF(0, 0, self.MAX_WIDTH, 1000), flags, text)
        self._text_rect = QRectF(12, 8, bound.width() + 1, bound.height())
        self._action_rects: list[QRectF] = []
        top, width = self._text_rect.bottom() + 6, bound.width()
        for label, _ in actions:
            box = fm.boundingRect(QRectF(0, 0, self.MAX_WIDTH, 100), flags, label)
            self._action_rects.append(QRectF(12, top, box.width() + 16, box.height() + 6))
            top += box.height() + 10
            width = max(width, box.width() + 16)
        self._rect = QRectF(0, 0, width + 25, (top - 4 if actions else bound.height() + 16))
        if actions:
            self.setCursor(Qt.CursorShape.PointingHandCursor)

    def action_at(self, local: QPointF) -> int | None:
        """The index of the fix button under a point in the toast's coordinates."""
        return next((i for i, rect in enumerate(self._action_rects) if rect.contains(local)), None)

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 3)

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(16, 24, 40, 30))
        painter.drawRoundedRect(self._rect.translated(0, 2), 6, 6)
        painter.setPen(QPen(QColor(style.TOAST_BORDER), 1))
        painter.setBrush(QColor(style.TOAST_BACKGROUND))
        painter.drawRoundedRect(self._rect, 6, 6)
        painter.setPen(QColor(style.TEXT))
        painter.setFont(style.metrics().body_font)
        painter.drawText(self._text_rect, int(Qt.TextFlag.TextWordWrap), self.text)
        for rect, (label, _) in zip(self._action_rects, self.actions, strict=True):
            painter.setPen(QPen(QColor(style.ACCENT), 1))
            painter.setBrush(QColor(style.NODE_BODY))
            painter.drawRoundedRect(rect, 4, 4)
            painter.setPen(QColor(style.ACCENT))
            painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap), label)
