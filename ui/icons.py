"""Icons drawn with QPainter: one glyph per layer category, severities, toolbar actions and the app icon.

Everything is vector-drawn at several sizes so icons stay crisp on High-DPI screens, and nothing is
downloaded or shipped as a bitmap. Category colours come from the canvas style when it defines them, so
palette and canvas agree."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPen, QPixmap, QPolygonF

# Used when the canvas style does not define a colour for a category (or is not importable).
_FALLBACK_COLORS = {
    "Input/Output": "#5b6b80",
    "Dense & Shape": "#3a78d0",
    "Convolution": "#16958a",
    "Pooling": "#3f9d4e",
    "Normalization": "#8667c0",
    "Activation": "#dd8a26",
    "Merge": "#c24d6a",
    "Recurrent": "#a8702c",
    "Attention": "#c59a12",
    "Generative": "#cf5a9a",
}
_NEUTRAL = "#7a8391"

INK = QColor("#3b4350")  # toolbar glyphs
ACCENT = QColor("#2f6fde")
ERROR = QColor("#d14343")
WARNING = QColor("#d98e04")
OK = QColor("#2e9e5b")

_SIZES = (16, 20, 24, 32, 40, 48, 64)
_cache: dict[tuple[str, str], QIcon] = {}


def category_color(category: str) -> QColor:
    """The colour of a layer category, shared with the canvas
    (``netbuilder_ui.canvas.style.CATEGORY_COLORS``)."""
    try:
        from netbuilder_ui.canvas.style import CATEGORY_COLORS
    except ImportError:
        CATEGORY_COLORS = {}  # noqa: N806 (mirrors the canvas constant)
    value = CATEGORY_COLORS.get(category) or _FALLBACK_COLORS.get(category, _NEUTRAL)
    return QColor(value)


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


# ---- category glyphs ---------------------------------------------------------------------------------------

def _glyph_io(p: QPainter) -> None:
    p.drawLine(QPointF(5, 12), QPointF(15, 12))
    p.drawPolyline(QPolygonF([QPointF(11, 8), QPointF(15, 12), QPointF(11, 16)]))
    p.drawLine(QPointF(18.5, 6.5), QPointF(18.5, 17.5))


def _glyph_dense(p: QPainter) -> None:
    left = [QPointF(7, 7), QPointF(7, 12), QPointF(7, 17)]
    right = [QPointF(17, 9.5), QPointF(17, 14.5)]
    pen = p.pen()
    thin = QPen(pen)
    thin.setWidthF(1.0)
    p.setPen(thin)
    for a in left:
        for b in right:
            p.drawLine(a, b)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(pen.color())
    for point in left + right:
        p.drawEllipse(point, 2.0, 2.0)


def _glyph_conv(p: QPainter) -> None:
    color = p.pen().color()
    p.setPen(Qt.PenStyle.NoPen)
    for i in range(3):
        for j in range(3):
            shade = QColor(color)
            shade.setAlphaF(1.0 if (i + j) % 2 == 0 else 0.6)
            p.setBrush(shade)
            p.drawRoundedRect(QRectF(5.5 + 4.6 * i, 5.5 + 4.6 * j, 3.6, 3.6), 0.8, 0.8)


def _glyph_pool(p: QPainter) -> None:
    p.drawPolygon(QPolygonF([QPointF(5, 6.5), QPointF(19, 6.5), QPointF(14.5, 13), QPointF(9.5, 13)]))
    p.drawLine(QPointF(12, 13), QPointF(12, 18.5))


def _glyph_norm(p: QPainter) -> None:
    path = QPainterPath(QPointF(4.5, 17.5))
    for k in range(0, 31):
        x = 4.5 + 15 * k / 30
        y = 17.5 - 11 * math.exp(-((x - 12) ** 2) / 9.0)
        path.lineTo(x, y)
    p.drawPath(path)
    p.drawLine(QPointF(4.5, 18.5), QPointF(19.5, 18.5))


def _glyph_activation(p: QPainter) -> None:
    p.drawPolyline(QPolygonF([QPointF(4.5, 16), QPointF(12, 16), QPointF(19, 7)]))


def _glyph_merge(p: QPainter) -> None:
    p.drawLine(QPointF(6, 6.5), QPointF(12, 12))
    p.drawLine(QPointF(6, 17.5), QPointF(12, 12))
    p.drawLine(QPointF(12, 12), QPointF(19, 12))


def _glyph_recurrent(p: QPainter) -> None:
    p.drawArc(QRectF(6, 6, 12, 12), 30 * 16, 290 * 16)
    p.drawPolyline(QPolygonF([QPointF(17.6, 4.8), QPointF(17.4, 8.8), QPointF(13.6, 8.4)]))


def _glyph_attention(p: QPainter) -> None:
    eye = QPainterPath(QPointF(4, 12))
    eye.quadTo(12, 3.5, 20, 12)
    eye.quadTo(12, 20.5, 4, 12)
    p.drawPath(eye)
    color = p.pen().color()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    p.drawEllipse(QPointF(12, 12), 2.6, 2.6)


def _glyph_generative(p: QPainter) -> None:
    color = p.pen().color()
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(color)
    star = QPainterPath(QPointF(12, 4))
    for a, b in (((13.4, 10.6), (20, 12)), ((13.4, 13.4), (12, 20)), ((10.6, 13.4), (4, 12)),
                 ((10.6, 10.6), (12, 4))):
        star.quadTo(QPointF(*a), QPointF(*b))
    p.drawPath(star)
    p.drawEllipse(QPointF(18.5, 6), 1.5, 1.5)


def _glyph_unknown(p: QPainter) -> None:
    p.drawEllipse(QPointF(12, 12), 5, 5)


_GLYPHS: dict[str, Callable[[QPainter], None]] = {
    "Input/Output": _glyph_io,
    "Dense & Shape": _glyph_dense,
    "Convolution": _glyph_conv,
    "Pooling": _glyph_pool,
    "Normalization": _glyph_norm,
    "Activation": _glyph_activation,
    "Merge": _glyph_merge,
    "Recurrent": _glyph_recurrent,
    "Attention": _glyph_attention,
    "Generative": _glyph_generative,
}


def category_icon(category: str) -> QIcon:
    """A rounded tile in the category colour with a white glyph that hints at what the layers do."""
    color = category_color(category)

    def draw(p: QPainter) -> None:
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(color)
        p.drawRoundedRect(QRectF(1, 1, 22, 22), 5.5, 5.5)
        p.setPen(_pen("#ffffff", 1.9))
        p.setBrush(Qt.BrushStyle.NoBrush)
        _GLYPHS.get(category, _glyph_unknown)(p)

    return _icon(("category", category + color.name()), draw)


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
