"""The overview in the canvas's corner: every node as a small box in its category colour and the visible area as a
frame; click or drag in it to move the view there. It reads the scene's node boxes (no copy of the graph)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import QWidget

from netbuilder_ui.canvas import style

if TYPE_CHECKING:
    from netbuilder_ui.canvas.view import CanvasView

SIZE = (200, 130)
PAD = 8.0


class Minimap(QWidget):
    """A small map of the whole network with the visible area; shown when part of the network is off screen."""

    def __init__(self, view: CanvasView):
        super().__init__(view)
        self.view = view
        self.setObjectName("minimap")
        self.setFixedSize(*SIZE)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Overview: click or drag to move the view.")

    def mapping(self) -> tuple[QRectF, float, QPointF]:
        """(the scene area shown, scene-to-map scale, map offset)."""
        area = self.view.scene().nodes_rect()
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        area = area.united(visible) if not area.isEmpty() else visible
        scale = min((self.width() - 2 * PAD) / max(area.width(), 1.0), (self.height() - 2 * PAD) / max(area.height(),
                                                                                                        1.0))
        offset = QPointF(PAD + (self.width() - 2 * PAD - area.width() * scale) / 2,
                         PAD + (self.height() - 2 * PAD - area.height() * scale) / 2)
        return area, scale, offset

    def to_scene(self, point: QPointF) -> QPointF:
        area, scale, offset = self.mapping()
        return QPointF(area.left() + (point.x() - offset.x()) / scale, area.top() + (point.y() - offset.y()) / scale)

    def to_map(self, rect: QRectF, area: QRectF, scale: float, offset: QPointF) -> QRectF:
        return QRectF(offset.x() + (rect.left() - area.left()) * scale, offset.y() + (rect.top() - area.top()) * scale,
                      rect.width() * scale, rect.height() * scale)

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt override)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(QColor(style.NODE_BORDER), 1))
        painter.setBrush(QColor(255, 255, 255, 235))
        painter.drawRoundedRect(QRectF(self.rect()).adjusted(0.5, 0.5, -0.5, -0.5), 6, 6)
        area, scale, offset = self.mapping()
        painter.setPen(Qt.PenStyle.NoPen)
        for item in self.view.scene().node_items.values():
            box = self.to_map(item.mapRectToScene(item.visual.geometry.rect), area, scale, offset)
            painter.setBrush(item.visual.color)
            painter.drawRect(box.adjusted(0, 0, max(0.0, 2 - box.width()), max(0.0, 2 - box.height())))
        visible = self.view.mapToScene(self.view.viewport().rect()).boundingRect()
        pen = QPen(QColor(style.ACCENT), 1.5)
        painter.setPen(pen)
        painter.setBrush(QColor(47, 111, 222, 28))
        painter.drawRect(self.to_map(visible, area, scale, offset))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        self.view.centerOn(self.to_scene(event.position()))
        self.update()
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt override)
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.mousePressEvent(event)
