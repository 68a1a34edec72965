"""Icons: one SVG glyph per layer category on a tile of the category's colour, and, drawn with QPainter,
severities, toolbar actions and the app icon.

`CATEGORIES` is the one table of layer categories: its colour (the canvas's nodes, the palette's tiles, the
inspector, the template gallery all read it) and its glyph, an SVG in ``resources/icons/categories/`` (white
strokes on a 24x24 grid). Category icons are drawn on demand, at the size and pixel ratio they are shown at, so
nothing is rendered or read before it is needed and they stay crisp on High-DPI screens."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QIcon,
    QIconEngine,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QPolygonF,
)


@dataclass(frozen=True)
class Category:
    """How a layer category looks: its colour (dark enough for white text) and its glyph's SVG file."""

    color: str
    glyph: str  # file name in resources/icons/categories/


CATEGORIES: dict[str, Category] = {
    "Input/Output": Category("#56677d", "input-output.svg"),
    "Dense & Shape": Category("#3a78d0", "dense-shape.svg"),
    "Convolution": Category("#14897f", "convolution.svg"),
    "Pooling": Category("#3c8f4a", "pooling.svg"),
    "Normalization": Category("#7f60bd", "normalization.svg"),
    "Activation": Category("#d07a1c", "activation.svg"),
    "Merge": Category("#c0496a", "merge.svg"),
    "Recurrent": Category("#9c6a2a", "recurrent.svg"),
    "Attention": Category("#b38a0e", "attention.svg"),
    "Generative": Category("#c2528f", "generative.svg"),
}
UNKNOWN_CATEGORY = Category("#7a8391", "unknown.svg")  # a layer type this version does not know

INK = QColor("#3b4350")  # toolbar glyphs
ACCENT = QColor("#2f6fde")
ERROR = QColor("#d14343")
WARNING = QColor("#d98e04")
OK = QColor("#2e9e5b")

_SIZES = (16, 20, 24, 32, 40, 48, 64)
_cache: dict[tuple[str, str], QIcon] = {}


def category_of(category: str) -> Category:
    return CATEGORIES.get(category, UNKNOWN_CATEGORY)


def category_color(category: str) -> QColor:
    """The colour of a layer category (`CATEGORIES`), the same on the canvas, in the palette and the inspector."""
    return QColor(category_of(category).color)


def glyph_path(category: str) -> Path:
    """The SVG file of a category's glyph."""
    from netbuilder.resources import resource_dir

    return resource_dir("icons", "categories", category_of(category).glyph)


def _icon(key: tuple[str, str], draw: Callable[[QPainter], None]) -> QIcon:
    """Build (once) an icon whose glyph is drawn on a 24x24 design grid at every size it may be shown."""
    cached = _cache.get(key)
    if cached is not None:
        return cached
    icon = QIcon()
    for size in _SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.scale(size / 24.0, size / 24.0)
        draw(painter)
        painter.end()
        icon.addPixmap(pixmap)
    _cache[key] = icon
    return icon


def _pen(color: QColor | str, width: float = 1.8) -> QPen:
    pen = QPen(QColor(color), width)
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    return pen


# ---- category tiles ----------------------------------------------------------------------------------------

_renderers: dict[str, object] = {}  # SVG file -> QSvgRenderer, parsed on first use


def _renderer(path: Path) -> object:
    renderer = _renderers.get(str(path))
    if renderer is None:
        from PySide6.QtSvg import QSvgRenderer

        renderer = _renderers[str(path)] = QSvgRenderer(str(path))
    return renderer


class _TileEngine(QIconEngine):
    """Draws a category tile (rounded square in its colour, white SVG glyph) at whatever size Qt asks for."""

    def __init__(self, category: str):
        super().__init__()
        self.category = category
        self._pixmaps: dict[tuple[int, int, int], QPixmap] = {}

    def paint(self, painter: QPainter, rect: QRect, mode: QIcon.Mode, state: QIcon.State) -> None:
        side = min(rect.width(), rect.height())
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.translate(rect.x() + (rect.width() - side) / 2, rect.y() + (rect.height() - side) / 2)
        painter.scale(side / 24.0, side / 24.0)
        if mode == QIcon.Mode.Disabled:
            painter.setOpacity(0.45)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(category_color(self.category))
        painter.drawRoundedRect(QRectF(1, 1, 22, 22), 5.5, 5.5)
        renderer = _renderer(glyph_path(self.category))
        if renderer.isValid():  # type: ignore[attr-defined]
            renderer.render(painter, QRectF(0, 0, 24, 24))  # type: ignore[attr-defined]
        painter.restore()

    def pixmap(self, size: QSize, mode: QIcon.Mode, state: QIcon.State) -> QPixmap:
        key = (size.width(), size.height(), int(mode.value))
        cached = self._pixmaps.get(key)
        if cached is None:
            cached = QPixmap(size)
            cached.fill(Qt.GlobalColor.transparent)
            painter = QPainter(cached)
            self.paint(painter, QRect(0, 0, size.width(), size.height()), mode, state)
            painter.end()
            self._pixmaps[key] = cached
        return cached

    def clone(self) -> QIconEngine:
        return _TileEngine(self.category)


def category_icon(category: str) -> QIcon:
    """A rounded tile in the category colour with its white glyph (`CATEGORIES`), drawn when first shown."""
    key = ("category", category)
    icon = _cache.get(key)
    if icon is None:
        icon = _cache[key] = QIcon(_TileEngine(category))
    return icon


def category_swatch(category: str) -> QIcon:
    """A small dot of the category colour, for compact lists."""
    color = category_color(category)

    def draw(p: QPainter) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawEllipse(QPointF(12, 12), 6, 6)

    return _icon(("swatch", category + color.name()), draw)


# ---- severities --------------------------------------------------------------------------------------------

def severity_icon(severity: str) -> QIcon:
    """Error (red disc with !), warning (amber triangle with !) or ok (green disc with a tick)."""

    def draw(p: QPainter) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        if severity == "warning":
            p.setBrush(WARNING)
            triangle = QPainterPath()
            triangle.addPolygon(QPolygonF([QPointF(12, 2.5), QPointF(22.5, 20.5), QPointF(1.5, 20.5)]))
            p.drawPath(triangle)
            mark_top, mark_bottom, dot = 8.5, 14.5, 17.6
        else:
            p.setBrush(OK if severity == "ok" else ERROR)
            p.drawEllipse(QPointF(12, 12), 10.5, 10.5)
            mark_top, mark_bottom, dot = 6.5, 13.5, 17.3
        p.setPen(_pen("#ffffff", 2.6))
        if severity == "ok":
            p.drawPolyline(QPolygonF([QPointF(7, 12.5), QPointF(10.5, 16), QPointF(17, 8.5)]))
            return
        p.drawLine(QPointF(12, mark_top), QPointF(12, mark_bottom))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#ffffff"))
        p.drawEllipse(QPointF(12, dot), 1.5, 1.5)

    return _icon(("severity", severity), draw)


# ---- actions -----------------------------------------------------------------------------------------------

def _a_new(p: QPainter) -> None:
    p.drawPolygon(QPolygonF([QPointF(6, 3.5), QPointF(14, 3.5), QPointF(18.5, 8), QPointF(18.5, 20.5),
                             QPointF(6, 20.5)]))
    p.drawPolyline(QPolygonF([QPointF(14, 3.5), QPointF(14, 8), QPointF(18.5, 8)]))


def _a_template(p: QPainter) -> None:
    for x, y in ((4, 4), (13, 4), (4, 13), (13, 13)):
        p.drawRoundedRect(QRectF(x, y, 7, 7), 1.5, 1.5)


def _a_open(p: QPainter) -> None:
    p.drawPolygon(QPolygonF([QPointF(3, 6), QPointF(9, 6), QPointF(11, 8), QPointF(19, 8), QPointF(19, 10),
                             QPointF(7, 10), QPointF(4.5, 19), QPointF(3, 19)]))
    p.drawPolygon(QPolygonF([QPointF(7, 10), QPointF(21.5, 10), QPointF(18.5, 19), QPointF(4.5, 19)]))


def _a_save(p: QPainter) -> None:
    p.drawPolygon(QPolygonF([QPointF(4, 4), QPointF(17, 4), QPointF(20, 7), QPointF(20, 20), QPointF(4, 20)]))
    p.drawRect(QRectF(8, 4, 7, 5))
    p.drawRoundedRect(QRectF(7.5, 13, 9, 7), 1, 1)


def _curl(p: QPainter, mirror: bool) -> None:
    if mirror:
        p.translate(24, 0)
        p.scale(-1, 1)
    path = QPainterPath(QPointF(5, 10))
    path.lineTo(14, 10)
    path.cubicTo(22, 10, 22, 19, 14, 19)
    path.lineTo(9, 19)
    p.drawPath(path)
    p.drawPolyline(QPolygonF([QPointF(9, 6), QPointF(5, 10), QPointF(9, 14)]))


def _a_undo(p: QPainter) -> None:
    _curl(p, False)


def _a_redo(p: QPainter) -> None:
    _curl(p, True)


def _magnifier(p: QPainter, plus: bool | None) -> None:
    p.drawEllipse(QPointF(10.5, 10.5), 6, 6)
    p.drawLine(QPointF(15, 15), QPointF(20.5, 20.5))
    if plus is None:
        return
    p.drawLine(QPointF(8, 10.5), QPointF(13, 10.5))
    if plus:
        p.drawLine(QPointF(10.5, 8), QPointF(10.5, 13))


def _a_zoom_in(p: QPainter) -> None:
    _magnifier(p, True)


def _a_zoom_out(p: QPainter) -> None:
    _magnifier(p, False)


def _a_fit(p: QPainter) -> None:
    for sx, sy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        cx, cy = 12 - 8 * sx, 12 - 8 * sy
        p.drawPolyline(QPolygonF([QPointF(cx, cy + 5 * sy), QPointF(cx, cy), QPointF(cx + 5 * sx, cy)]))
    p.drawRoundedRect(QRectF(8.5, 8.5, 7, 7), 1.5, 1.5)


def _a_layout(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(2.5, 9, 6, 6), 1.5, 1.5)
    p.drawRoundedRect(QRectF(15.5, 3.5, 6, 6), 1.5, 1.5)
    p.drawRoundedRect(QRectF(15.5, 14.5, 6, 6), 1.5, 1.5)
    p.drawPolyline(QPolygonF([QPointF(8.5, 12), QPointF(12, 12), QPointF(12, 6.5), QPointF(15.5, 6.5)]))
    p.drawPolyline(QPolygonF([QPointF(12, 12), QPointF(12, 17.5), QPointF(15.5, 17.5)]))


def _a_image(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(3, 5, 18, 14), 2, 2)
    p.drawPolyline(QPolygonF([QPointF(3.5, 17), QPointF(9, 11.5), QPointF(13, 15.5), QPointF(16, 12.5),
                              QPointF(20.5, 17)]))
    p.drawEllipse(QPointF(16, 9), 1.3, 1.3)


def _a_export(p: QPainter) -> None:
    p.drawPolyline(QPolygonF([QPointF(9, 5), QPointF(4, 5), QPointF(4, 20), QPointF(19, 20),
                              QPointF(19, 15)]))
    p.drawLine(QPointF(10, 14), QPointF(20, 4))
    p.drawPolyline(QPolygonF([QPointF(13.5, 4), QPointF(20, 4), QPointF(20, 10.5)]))


def _a_code(p: QPainter) -> None:
    p.drawPolyline(QPolygonF([QPointF(8, 7), QPointF(3.5, 12), QPointF(8, 17)]))
    p.drawPolyline(QPolygonF([QPointF(16, 7), QPointF(20.5, 12), QPointF(16, 17)]))
    p.drawLine(QPointF(13.5, 5.5), QPointF(10.5, 18.5))


def _a_keyboard(p: QPainter) -> None:
    p.drawRoundedRect(QRectF(2.5, 6, 19, 12), 2, 2)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(INK)
    for row, y in enumerate((9, 12)):
        for i in range(5 - row):
            p.drawRect(QRectF(5 + 3 * i + 1.5 * row, y - 0.6, 1.6, 1.6))
    p.drawRoundedRect(QRectF(8, 14.6, 8, 1.6), 0.8, 0.8)


def _a_delete(p: QPainter) -> None:
    p.drawLine(QPointF(4, 6.5), QPointF(20, 6.5))
    p.drawPolyline(QPolygonF([QPointF(9, 6.5), QPointF(9, 4), QPointF(15, 4), QPointF(15, 6.5)]))
    p.drawPolygon(QPolygonF([QPointF(6, 6.5), QPointF(18, 6.5), QPointF(17, 20), QPointF(7, 20)]))
    p.drawLine(QPointF(10.5, 10), QPointF(10.5, 16.5))
    p.drawLine(QPointF(13.5, 10), QPointF(13.5, 16.5))


def _a_problem(p: QPainter) -> None:
    p.drawEllipse(QPointF(12, 12), 8.5, 8.5)
    p.drawLine(QPointF(12, 7.5), QPointF(12, 13))
    p.drawPoint(QPointF(12, 16.5))


_ACTIONS: dict[str, Callable[[QPainter], None]] = {
    "new": _a_new, "template": _a_template, "open": _a_open, "save": _a_save, "undo": _a_undo,
    "redo": _a_redo,
    "zoom-in": _a_zoom_in, "zoom-out": _a_zoom_out, "fit": _a_fit, "layout": _a_layout, "image": _a_image,
    "export": _a_export, "code": _a_code, "keyboard": _a_keyboard, "delete": _a_delete, "problem": _a_problem,
}


def action_icon(name: str) -> QIcon:
    """A line icon for a toolbar or menu action; ``name`` is one of the keys of ``_ACTIONS``."""
    glyph = _ACTIONS[name]

    def draw(p: QPainter) -> None:
        p.setPen(_pen(INK, 1.7))
        p.setBrush(Qt.BrushStyle.NoBrush)
        glyph(p)

    return _icon(("action", name), draw)


def app_icon() -> QIcon:
    """Three layers of nodes wired left to right on an accent tile: NetBuilder's window and task-bar icon."""

    def draw(p: QPainter) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QBrush(ACCENT))
        p.drawRoundedRect(QRectF(0.5, 0.5, 23, 23), 6, 6)
        columns = [[12.0], [7.0, 17.0], [12.0]]
        xs = [5.5, 12.0, 18.5]
        p.setPen(_pen("#cfe0ff", 1.2))
        for (x0, ys0), (x1, ys1) in zip(zip(xs, columns, strict=True), zip(xs[1:], columns[1:], strict=True),
                                        strict=False):
            for y0 in ys0:
                for y1 in ys1:
                    p.drawLine(QPointF(x0, y0), QPointF(x1, y1))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#ffffff"))
        for x, ys in zip(xs, columns, strict=True):
            for y in ys:
                p.drawEllipse(QPointF(x, y), 2.4, 2.4)

    return _icon(("app", "netbuilder"), draw)


def color_dot(color: QColor | str, diameter: int = 10) -> QPixmap:
    """A filled circle, e.g. the validation state in the status bar."""
    pixmap = QPixmap(diameter * 2, diameter * 2)
    pixmap.setDevicePixelRatio(2.0)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(color))
    painter.drawEllipse(QRectF(1, 1, diameter - 2, diameter - 2))
    painter.end()
    return pixmap


def chevron_file(color: str = "#5b6472") -> str:
    """A small down-chevron PNG for style sheets (``QComboBox::down-arrow { image: url(...) }``), which need a
    file. It is drawn once per process into the temp folder; the path uses forward slashes as Qt expects."""
    folder = Path(tempfile.gettempdir()) / f"netbuilder-ui-{os.getuid() if hasattr(os, 'getuid') else 0}"
    path = folder / f"chevron-{color.lstrip('#')}.png"
    if not path.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        pixmap = QPixmap(40, 40)
        pixmap.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(_pen(color, 4.5))
        painter.drawPolyline(QPolygonF([QPointF(9, 15), QPointF(20, 26), QPointF(31, 15)]))
        painter.end()
        pixmap.save(str(path), "PNG")
    return path.as_posix()
