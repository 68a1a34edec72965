"""How a node and a wire look, as plain painting functions shared by the live canvas and the image export.

`node_content` turns the model (a Node) and the analysis (its NodeInfo and diagnostics) into the few strings a node
shows; comparing two contents tells the scene whether an item must be repainted at all. `NodeVisual` adds the
geometry (size, port positions) and the elided text, measured once; `paint_node` and `paint_wire` draw them with a
QPainter onto any device (the view's viewport, a QImage, a QSvgGenerator), so the exported diagram is exactly what
the canvas shows, minus the editing decorations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontInfo,
    QFontMetricsF,
    QPainter,
    QPainterPath,
    QPainterPathStroker,
    QPen,
    QPixmap,
    QTransform,
)

from netbuilder.analysis import Diagnostic, NodeInfo
from netbuilder.document import Node
from netbuilder.document.blocks import BLOCK_CATEGORY, BLOCK_TYPE
from netbuilder.layout import TOP_TO_BOTTOM, ObstacleFn, Rect, label_spot, rect_clear, route_wire
from netbuilder.specs import TensorType, UnknownLayerError, get_spec
from netbuilder_ui.canvas import style

PortRef = tuple[str, bool]  # (port name, is_input)


def compact_count(count: int) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M: parameter counts short enough for a node's corner."""
    for limit, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if count >= limit:
            value = count / limit
            text = f"{value:.1f}" if value < 100 else f"{value:.0f}"
            return text.removesuffix(".0") + suffix
    return str(count)


def type_text(types: list[TensorType]) -> str:
    """The output shape(s) a node shows: one type, ``2× N×64`` for equal outputs, or a list."""
    if not types:
        return ""
    texts = [str(t) for t in types]
    if len(texts) == 1:
        return texts[0]
    if len(set(texts)) == 1:
        return f"{len(texts)}× {texts[0]}"
    return ", ".join(texts)


@dataclass(frozen=True)
class NodeContent:
    """Everything a node shows, as plain values; equal contents draw identically."""

    title: str
    name: str
    summary: str
    category: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    shape: str  # the output type, "" while unknown
    params: str  # "18.5k params", "" for layers without weights
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def diagnostic_text(diagnostic: Diagnostic) -> str:
    return f"{diagnostic.message} {diagnostic.suggestion}" if diagnostic.suggestion else diagnostic.message


def node_content(node: Node, info: NodeInfo | None, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...] = ()
                 ) -> NodeContent:
    """What a node shows, from the model and (when known) its analysis."""
    if node.type == BLOCK_TYPE:  # a block node draws its definition's name, ports with shapes and totals
        from netbuilder_ui.blocks.node_item import block_content
        return block_content(node, info, diagnostics)
    errors = tuple(diagnostic_text(d) for d in diagnostics if d.severity == "error")
    warnings = tuple(diagnostic_text(d) for d in diagnostics if d.severity != "error")
    try:
        spec = get_spec(node.type)
    except UnknownLayerError as error:
        return NodeContent(node.type, node.name, "", "", (), (), "", "", errors or (str(error),), warnings)
    inputs = tuple(p.name for p in spec.input_ports(node.params))
    outputs = tuple(p.name for p in spec.output_ports(node.params))
    # An Input's summary repeats its shape, which the shape line already shows.
    summary = "" if spec.id == "Input" else spec.summary(node.params)
    shape = params = ""
    if info is not None and info.outputs:
        shape = type_text(list(info.outputs.values()))
        if info.params:
            params = f"{compact_count(info.params)} params"
    return NodeContent(spec.title, node.name, summary, spec.category, inputs, outputs, shape, params, errors,
                       warnings)


@dataclass(frozen=True)
class NodeGeometry:
    """Size and port positions of a node (in its own coordinates: top-left is 0, 0).

    Left to right, ports sit on the left (inputs) and right (outputs) edges and ``inputs``/``outputs`` give their
    y; top to bottom, they sit on the top and bottom edges and give their x."""

    width: float
    height: float
    inputs: dict[str, float]  # port name -> offset along its edge
    outputs: dict[str, float]
    label_inputs: bool  # several inputs: draw their names
    label_outputs: bool
    port_rows: int  # rows taken by named ports, above the text lines
    text_top: float
    flow: str = "left-to-right"

    @property
    def vertical(self) -> bool:
        return self.flow == TOP_TO_BOTTOM

    def port_pos(self, name: str, is_input: bool) -> QPointF | None:
        offsets = self.inputs if is_input else self.outputs
        offset = offsets.get(name)
        if offset is None:
            return None
        if self.vertical:
            return QPointF(offset, 0.0 if is_input else self.height)
        return QPointF(0.0 if is_input else self.width, offset)

    def edge_pos(self, is_input: bool) -> QPointF:
        """The middle of the edge a side's ports sit on (where a wire to a port that went away is anchored)."""
        if self.vertical:
            return QPointF(self.width / 2, 0.0 if is_input else self.height)
        return QPointF(0.0 if is_input else self.width, self.height / 2)

    @property
    def rect(self) -> QRectF:
        return QRectF(0, 0, self.width, self.height)


def node_geometry(inputs: tuple[str, ...], outputs: tuple[str, ...], has_summary: bool, width: float = 0.0,
                  flow: str | None = None) -> NodeGeometry:
    """Size and ports of a node; ``width`` 0 is the standard width (see `content_width` for titles that need more);
    ``flow`` None is the flow the canvas draws in now (`style.flow`)."""
    flow = flow or style.flow()
    if flow == TOP_TO_BOTTOM:
        return _vertical_geometry(inputs, outputs, has_summary, width)
    return _horizontal_geometry(inputs, outputs, has_summary, width)


@lru_cache(maxsize=512)
def _vertical_geometry(inputs: tuple[str, ...], outputs: tuple[str, ...], has_summary: bool, width: float
                       ) -> NodeGeometry:
    """Top to bottom: ports spread evenly along the top (inputs) and bottom (outputs) edges; with several, their
    names take a row under the title band (inputs) and one at the bottom (outputs)."""
    m = style.metrics()
    width = max(width, m.node_width)
    label_in, label_out = len(inputs) > 1, len(outputs) > 1
    port_rows = int(label_in) + int(label_out)
    lines = 2 if has_summary else 1
    height = m.header + 2 * m.pad + (port_rows + lines) * m.row
    ins = {name: round(width * (i + 1) / (len(inputs) + 1)) for i, name in enumerate(inputs)}
    outs = {name: round(width * (i + 1) / (len(outputs) + 1)) for i, name in enumerate(outputs)}
    return NodeGeometry(width, height, ins, outs, label_in, label_out, port_rows,
                        m.header + m.pad + int(label_in) * m.row, TOP_TO_BOTTOM)


@lru_cache(maxsize=512)
def _horizontal_geometry(inputs: tuple[str, ...], outputs: tuple[str, ...], has_summary: bool, width: float
                         ) -> NodeGeometry:
    m = style.metrics()
    label_in, label_out = len(inputs) > 1, len(outputs) > 1
    port_rows = max(len(inputs) if label_in else 0, len(outputs) if label_out else 0)
    lines = 2 if has_summary else 1
    first = m.header + m.pad + m.row / 2
    height = m.header + 2 * m.pad + (port_rows + lines) * m.row
    ins = {name: first + i * m.row for i, name in enumerate(inputs)}
    outs = {name: first + i * m.row for i, name in enumerate(outputs)}
    return NodeGeometry(max(width, m.node_width), height, ins, outs, label_in, label_out, port_rows,
                        m.header + m.pad + port_rows * m.row)


MAX_WIDTH_FACTOR = 1.6  # a long title widens its node up to this many standard widths; beyond, it is elided


@lru_cache(maxsize=1024)
def _title_width(title: str, name: str) -> float:
    m = style.metrics()
    return (_text_width("title_font", title) + _text_width("small_font", name)
            + 2 * m.inset + 12)


def content_width(content: NodeContent) -> float:
    """A node's width: the standard one, widened (on the grid, up to a limit) so its title and name fit."""
    m = style.metrics()
    need = math.ceil(_title_width(content.title, content.name) / style.GRID) * style.GRID
    return min(max(need, m.node_width), m.node_width * MAX_WIDTH_FACTOR)


def geometry_of(content: NodeContent, flow: str | None = None) -> NodeGeometry:
    if content.category == BLOCK_CATEGORY:
        from netbuilder_ui.blocks.node_item import block_geometry
        return block_geometry(content, flow=flow)  # type: ignore[arg-type]
    return node_geometry(content.inputs, content.outputs, bool(content.summary), content_width(content), flow)


def node_size(node: Node) -> tuple[float, float]:
    """A node's size on the canvas without building its item (auto-layout, placing a dropped layer)."""
    geometry = geometry_of(node_content(node, None))
    return geometry.width, geometry.height


@dataclass
class NodeVisual:
    """A node's content, geometry, elided strings and colours, measured once per content change."""

    content: NodeContent
    geometry: NodeGeometry
    title: str = ""
    name: str = ""
    summary: str = ""
    shape: str = ""
    params: str = ""
    port_labels: dict[PortRef, str] = field(default_factory=dict)
    color: QColor = field(default_factory=QColor)
    header_path: QPainterPath = field(default_factory=QPainterPath)
    body_path: QPainterPath = field(default_factory=QPainterPath)


@lru_cache(maxsize=4)
def _font_metrics(which: str) -> QFontMetricsF:
    """The metrics of one of the node fonts, made once (opening a 200-layer network measured 600 of them)."""
    return QFontMetricsF(getattr(style.metrics(), which))


@lru_cache(maxsize=8192)
def _text_width(which: str, text: str) -> float:
    """Width of ``text`` in one of the node fonts (titles, shapes and labels repeat across a network)."""
    return _font_metrics(which).horizontalAdvance(text)


@lru_cache(maxsize=8192)
def _elided(which: str, text: str, mode: Qt.TextElideMode, width: float) -> str:
    return _font_metrics(which).elidedText(text, mode, width)


@lru_cache(maxsize=256)
def _node_paths(width: float, height: float) -> tuple[QPainterPath, QPainterPath]:
    """(body, title band) outlines of a node of this size; nodes of one size share them."""
    m = style.metrics()
    body = QPainterPath()
    body.addRoundedRect(QRectF(0, 0, width, height), m.radius, m.radius)
    header = QPainterPath()
    header.addRoundedRect(QRectF(0, 0, width, m.header + m.radius), m.radius, m.radius)
    cut = QPainterPath()
    cut.addRect(QRectF(0, 0, width, m.header))
    return body, header.intersected(cut)


def make_visual(content: NodeContent) -> NodeVisual:
    if content.category == BLOCK_CATEGORY and content.inputs + content.outputs:
        from netbuilder_ui.blocks.node_item import make_block_visual
        return make_block_visual(content)  # type: ignore[arg-type]
    m = style.metrics()
    geometry = geometry_of(content)
    visual = NodeVisual(content, geometry, color=style.category_color(content.category))
    width = geometry.width - 2 * m.inset
    name_width = min(_text_width("small_font", content.name), max(width - _text_width("title_font", content.title) - 8,
                                                                 width * 0.4))
    right = Qt.TextElideMode.ElideRight
    visual.name = _elided("small_font", content.name, right, name_width)
    visual.title = _elided("title_font", content.title, right, width - name_width - 8)
    visual.summary = _elided("body_font", content.summary, right, width)
    params_width = _text_width("small_font", content.params)
    visual.params = content.params
    visual.shape = _elided("body_font", content.shape or "—", Qt.TextElideMode.ElideMiddle, width - params_width - 8)
    if geometry.label_inputs:
        room = _port_label_room(geometry, len(content.inputs))
        for name in content.inputs:
            visual.port_labels[(name, True)] = _elided("small_font", name, right, room)
    if geometry.label_outputs:
        room = _port_label_room(geometry, len(content.outputs))
        for name in content.outputs:
            visual.port_labels[(name, False)] = _elided("small_font", name, right, room)
    visual.body_path, visual.header_path = _node_paths(geometry.width, geometry.height)
    return visual


def _port_label_room(geometry: NodeGeometry, count: int) -> float:
    """How wide one port's name may be: half the node beside a side edge, a share of the width along the top or
    bottom edge."""
    inner = geometry.width - 2 * style.metrics().inset
    return inner / count - 6 if geometry.vertical else inner / 2 - 4


def node_bounds(geometry: NodeGeometry, margin: float = 0.0) -> QRectF:
    """The area a node paints: its box, the ports sticking out on both sides, and a margin for halos."""
    r = style.metrics().port_radius + 2 + margin
    if geometry.vertical:
        return QRectF(-margin - 1, -r, geometry.width + 2 * margin + 3, geometry.height + 2 * r)
    return QRectF(-r, -margin - 1, geometry.width + 2 * r, geometry.height + 2 * margin + 3)


@lru_cache(maxsize=128)
def color(value: str) -> QColor:
    """A shared QColor per hex string (parsing colours in every paint call is measurable with 500 nodes)."""
    return QColor(value)


@lru_cache(maxsize=128)
def pen(value: str, width: float, cosmetic: bool, dashed: bool = False) -> QPen:
    result = QPen(color(value), width)
    result.setCosmetic(cosmetic)
    result.setCapStyle(Qt.PenCapStyle.RoundCap)
    if dashed:
        result.setStyle(Qt.PenStyle.DashLine)
    return result


@lru_cache(maxsize=32)
def translucent(value: str, alpha: float) -> QColor:
    result = QColor(value)
    result.setAlphaF(alpha)
    return result


_SHADOW = QColor(16, 24, 40, 22)
_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_NO_PEN = Qt.PenStyle.NoPen
_NO_BRUSH = Qt.BrushStyle.NoBrush


@dataclass(frozen=True)
class NodeState:
    """Editing decorations of a node on the live canvas (the export draws none)."""

    selected: bool = False
    hovered_port: PortRef | None = None
    highlighted: frozenset[PortRef] = frozenset()  # ports a dragged wire may connect to
    connected: frozenset[PortRef] = frozenset()
    flash: float = 0.0  # 0..1, the "here it is" halo after jumping to a node


PLAIN = NodeState()


@dataclass(frozen=True)
class CompactText:
    """The compact (zoomed-out) form's text: sizes in scene units, chosen so the title reads at >= 9 screen px."""

    title: str
    title_size: float  # font pixel size in scene units
    name: str  # "" when there is no room for a second line
    name_size: float
    complete: bool  # the whole title is shown (not elided)


COMPACT_TITLE_PX = 12.0  # preferred screen size of a zoomed-out title
MIN_TITLE_PX = 9.0  # never smaller: below this it is elided instead
_REFERENCE_PX = 100


@lru_cache(maxsize=64)
def _compact_font(pixels: int, bold: bool) -> QFont:
    font = QFont(style.metrics().title_font if bold else style.metrics().small_font)
    font.setPixelSize(max(1, pixels))
    return font


@lru_cache(maxsize=8192)
def _advance(text: str, bold: bool) -> float:
    """Width of ``text`` at the reference size; text width scales with the font size."""
    return QFontMetricsF(_compact_font(_REFERENCE_PX, bold)).horizontalAdvance(text) / _REFERENCE_PX


def title_pixels() -> float:
    """Screen pixel size of a title at 100 % zoom (the detail form's title font)."""
    return float(QFontInfo(style.metrics().title_font).pixelSize())


def detail_zoom() -> float:
    """The zoom below which detail text is too small and nodes switch to the compact form."""
    return MIN_TITLE_PX / title_pixels()


def compact_text(title: str, name: str, width: float, height: float, zoom: float) -> CompactText:
    """Lay out the compact form's text: the title on one line, or on two when that reads larger ("Global average
    pool" / "2D"), elided only when not even two lines fit at the minimum size; the name below when room allows."""
    shown, size, lines, complete = _compact_title(title, width, height, zoom)
    room = width - 12.0
    name_size = min(size * 0.8, room / max(_advance(name, False), 1e-6)) if name else 0.0
    lines_fit = size * 1.2 * lines + name_size * 1.2 <= height
    show_name = bool(name) and name_size * zoom >= MIN_TITLE_PX and lines_fit and complete
    return CompactText(shown, size, name if show_name else "", name_size, complete)


@lru_cache(maxsize=4096)
def _compact_title(title: str, width: float, height: float, zoom: float) -> tuple[str, float, int, bool]:
    """(text with a line break where wrapped, font size in scene units, line count, whole title shown)."""
    room = width - 12.0
    lines = (title,)
    size = min(COMPACT_TITLE_PX / zoom, room / max(_advance(title, True), 1e-6), height * 0.6)
    words = title.split(" ")
    if size * zoom < COMPACT_TITLE_PX and len(words) > 1:  # try two lines, split nearest the middle
        splits = [(" ".join(words[:i]), " ".join(words[i:])) for i in range(1, len(words))]
        first, second = min(splits, key=lambda pair: max(_advance(pair[0], True), _advance(pair[1], True)))
        two = min(COMPACT_TITLE_PX / zoom, room / max(_advance(first, True), _advance(second, True), 1e-6),
                  height * 0.42)
        if two > size:
            size, lines = two, (first, second)
    complete = size * zoom >= MIN_TITLE_PX - 1e-6
    if not complete:
        size = min(MIN_TITLE_PX / zoom, height * 0.9)
        metrics = QFontMetricsF(_compact_font(round(size), True))
        lines = (metrics.elidedText(title, Qt.TextElideMode.ElideRight, room),)
    return "\n".join(lines), size, len(lines), complete and " ".join(lines) == title


def title_screen_pixels(visual: NodeVisual, zoom: float) -> tuple[float, bool]:
    """How tall a node's title is drawn on screen at ``zoom``, and whether it is drawn whole."""
    if zoom >= detail_zoom():
        return title_pixels() * zoom, visual.title == visual.content.title
    g = visual.geometry
    text = compact_text(visual.content.title, "", g.width, g.height, round(zoom, 3))  # the name never shrinks it
    return round(text.title_size) * zoom, text.complete


def paint_compact(painter: QPainter, visual: NodeVisual, state: NodeState, zoom: float, decorations: bool) -> None:
    """The zoomed-out form: a box in the category's colour with the title (and name, when room) large enough to
    read; never a blank bar."""
    m = style.metrics()
    g = visual.geometry
    rect = g.rect
    selected = decorations and (state.selected or state.flash > 0)
    border = (style.ACCENT if selected else style.ERROR if decorations and visual.content.errors else
              style.NODE_BORDER)
    painter.setPen(pen(border, 2.0 if selected else 1.0, True))
    painter.setBrush(visual.color)
    painter.drawRoundedRect(rect, m.radius, m.radius)
    text = compact_text(visual.content.title, visual.content.name, g.width, g.height, round(zoom, 3))
    painter.setPen(color(style.TITLE_TEXT))
    title_font = _compact_font(round(text.title_size), True)
    if text.name:
        name_font = _compact_font(round(text.name_size), False)
        title_height = text.title_size * 1.2 * (text.title.count("\n") + 1)
        top = (g.height - title_height - text.name_size * 1.2) / 2
        painter.setFont(title_font)
        painter.drawText(QRectF(0, top, g.width, title_height), Qt.AlignmentFlag.AlignCenter, text.title)
        painter.setFont(name_font)
        painter.setPen(translucent(style.TITLE_TEXT, 0.85))
        painter.drawText(QRectF(0, top + title_height, g.width, text.name_size * 1.2),
                         Qt.AlignmentFlag.AlignCenter, text.name)
    else:
        painter.setFont(title_font)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text.title)


def paint_node(painter: QPainter, visual: NodeVisual, state: NodeState = PLAIN, *, detail: bool = True,
               cosmetic: bool = True, decorations: bool = True, zoom: float = 1.0) -> None:
    """Draw a node at the painter's origin. ``detail`` False draws the compact form for ``zoom`` (far out)."""
    m = style.metrics()
    g = visual.geometry
    content = visual.content
    rect = g.rect
    selected = decorations and state.selected
    if not detail:
        paint_compact(painter, visual, state, zoom, decorations)
        return

    painter.setPen(_NO_PEN)
    if decorations and (selected or state.flash > 0):
        alpha = min(0.75, 0.28 + 0.5 * state.flash) if state.flash > 0 else 0.28
        grow = 3.0 + 5.0 * state.flash
        painter.setBrush(translucent(style.ACCENT, round(alpha, 2)))
        painter.drawRoundedRect(rect.adjusted(-grow, -grow, grow, grow), m.radius + grow, m.radius + grow)
    else:
        painter.setBrush(_SHADOW)
        painter.drawRoundedRect(rect.translated(0, 1.5), m.radius, m.radius)

    if selected:
        border = pen(style.ACCENT, 1.5, cosmetic)
    elif decorations and content.errors:
        border = pen(style.ERROR, 1.5, cosmetic)
    else:
        border = pen(style.NODE_BORDER, 1.0, cosmetic)
    painter.setPen(border)
    painter.setBrush(color(style.NODE_BODY))
    painter.drawPath(visual.body_path)
    painter.setPen(_NO_PEN)
    painter.setBrush(visual.color)
    painter.drawPath(visual.header_path)

    # Title band: type on the left, the node's name on the right.
    inset = m.inset
    header = QRectF(inset, 0, rect.width() - 2 * inset, m.header)
    painter.setFont(m.title_font)
    painter.setPen(color(style.TITLE_TEXT))
    painter.drawText(header, _LEFT, visual.title)
    painter.setFont(m.small_font)
    painter.setPen(translucent(style.TITLE_TEXT, 0.78))
    painter.drawText(header, _RIGHT, visual.name)

    # Named port rows.
    muted = color(style.TEXT_MUTED)
    if visual.port_labels:
        painter.setPen(muted)
        for (name, is_input), text in visual.port_labels.items():
            offset = (g.inputs if is_input else g.outputs)[name]
            if g.vertical:  # centred under (inputs) or over (outputs) its port
                room = _port_label_room(g, len(g.inputs if is_input else g.outputs)) + 6
                top = m.header + m.pad if is_input else g.height - m.pad - m.row
                painter.drawText(QRectF(offset - room / 2, top, room, m.row), Qt.AlignmentFlag.AlignCenter, text)
                continue
            row = QRectF(inset, offset - m.row / 2, rect.width() - 2 * inset, m.row)
            painter.drawText(row, _LEFT if is_input else _RIGHT, text)

    # Text lines: the parameters that matter, then the output shape and parameter count.
    y = g.text_top
    width = rect.width() - 2 * inset
    painter.setFont(m.body_font)
    if content.summary:
        painter.setPen(color(style.TEXT))
        painter.drawText(QRectF(inset, y, width, m.row), _LEFT, visual.summary)
        y += m.row
    line = QRectF(inset, y, width, m.row)
    painter.setPen(color(style.TEXT if content.shape else style.TEXT_MUTED))
    painter.drawText(line, _LEFT, visual.shape)
    if visual.params:
        painter.setFont(m.small_font)
        painter.setPen(muted)
        painter.drawText(line, _RIGHT, visual.params)

    # Ports on the edges.
    radius = m.port_radius
    for is_input, ports in ((True, g.inputs), (False, g.outputs)):
        for name in ports:
            ref = (name, is_input)
            centre = g.port_pos(name, is_input)
            r = radius
            if decorations and ref in state.highlighted:
                painter.setPen(_NO_PEN)
                painter.setBrush(translucent(style.COMPATIBLE, 0.25))
                painter.drawEllipse(centre, r + 4.5, r + 4.5)
                painter.setPen(pen(style.COMPATIBLE, 1.5, cosmetic))
                painter.setBrush(color(style.COMPATIBLE if ref == state.hovered_port else style.NODE_BODY))
                r += 1.0
            elif decorations and ref == state.hovered_port:
                painter.setPen(pen(style.ACCENT, 1.5, cosmetic))
                painter.setBrush(color(style.ACCENT))
                r += 1.0
            elif ref in state.connected:
                painter.setPen(pen(style.WIRE_HOVER, 1.0, cosmetic))
                painter.setBrush(color(style.WIRE_HOVER))
            else:
                painter.setPen(pen(style.WIRE_HOVER, 1.2, cosmetic))
                painter.setBrush(color(style.NODE_BODY))
            painter.drawEllipse(centre, r, r)


# ---- wires --------------------------------------------------------------------------------------------------------


CORNER = 10.0  # radius of a routed wire's bends


def wire_path(p1: QPointF, p2: QPointF, route: list[tuple[float, float]] | None = None, flow: str | None = None
              ) -> QPainterPath:
    """A smooth S-curve leaving the output port to the right and entering the input port from the left (top to
    bottom: leaving downwards, entering from above); with a ``route`` (from `netbuilder.layout.route_wire`), that
    polyline with rounded bends. ``flow`` None is the canvas's current flow."""
    if route:
        return _rounded(route)
    if (flow or style.flow()) == TOP_TO_BOTTOM:
        dy = p2.y() - p1.y()
        reach = max(abs(dy) * 0.5, 40.0) if dy >= 0 else max(80.0, min(-dy * 0.5, 200.0) + abs(p2.x() - p1.x()) * 0.2)
        path = QPainterPath(p1)
        path.cubicTo(QPointF(p1.x(), p1.y() + reach), QPointF(p2.x(), p2.y() - reach), p2)
        return path
    dx = p2.x() - p1.x()
    reach = max(abs(dx) * 0.5, 40.0) if dx >= 0 else max(80.0, min(-dx * 0.5, 200.0) + abs(p2.y() - p1.y()) * 0.2)
    path = QPainterPath(p1)
    path.cubicTo(QPointF(p1.x() + reach, p1.y()), QPointF(p2.x() - reach, p2.y()), p2)
    return path


def _rounded(points: list[tuple[float, float]]) -> QPainterPath:
    path = QPainterPath(QPointF(*points[0]))
    for i in range(1, len(points) - 1):
        (ax, ay), (bx, by), (cx, cy) = points[i - 1], points[i], points[i + 1]
        before = math.hypot(bx - ax, by - ay)
        after = math.hypot(cx - bx, cy - by)
        r = min(CORNER, before / 2, after / 2)
        if r < 0.5:
            path.lineTo(bx, by)
            continue
        path.lineTo(bx - (bx - ax) / before * r, by - (by - ay) / before * r)
        path.quadTo(bx, by, bx + (cx - bx) / after * r, by + (cy - by) / after * r)
    path.lineTo(QPointF(*points[-1]))
    return path


def wire_label_rect(path: QPainterPath, label: str, centre: QPointF | None = None) -> QRectF:
    """Where a wire's shape label sits: a pill centred on ``centre`` (default: the middle of the curve)."""
    if not label:
        return QRectF()
    width = _text_width("label_font", label) + 12
    height = _font_metrics("label_font").height() + 4
    mid = path.pointAtPercent(0.5) if centre is None else centre
    return QRectF(mid.x() - width / 2, mid.y() - height / 2, width, height)


@dataclass(frozen=True)
class WireShape:
    """How one wire is drawn: its path, where its label goes, and whether the label has room there."""

    path: QPainterPath
    label_rect: QRectF
    label_fits: bool


def wire_shape(p1: QPointF, p2: QPointF, label: str, obstacles_in: ObstacleFn | None = None,
               ends: tuple[Rect, ...] = (), flow: str | None = None) -> WireShape:
    """Route a wire around the nodes ``obstacles_in`` reports and place its label on it, away from its ends; a
    label that would cover a node or a port, or that is longer than its wire, does not fit (it shows on hover)."""
    flow = flow or style.flow()
    a, b = (p1.x(), p1.y()), (p2.x(), p2.y())
    route = route_wire(a, b, obstacles_in, ends, flow) if obstacles_in is not None else None
    path = wire_path(p1, p2, route, flow)
    if not label:
        return WireShape(path, QRectF(), False)
    rect = wire_label_rect(path, label, QPointF(*label_spot(route, a, b)))
    box = (rect.left(), rect.top(), rect.right(), rect.bottom())
    margin = style.metrics().port_radius + 3
    near = list(ends) + (obstacles_in(box) if obstacles_in is not None else [])
    vertical = flow == TOP_TO_BOTTOM  # the label lies across a vertical wire: its height must fit along it
    along = rect.height() if vertical else rect.width()
    room = path.length() if route is None else abs(route[3][1 if vertical else 0] - route[2][1 if vertical else 0])
    fits = rect_clear(box, near, margin) and room >= along + 2 * margin
    return WireShape(path, rect, fits)


def wire_hit_shape(path: QPainterPath) -> QPainterPath:
    stroker = QPainterPathStroker()
    stroker.setWidth(10)
    return stroker.createStroke(path)


def paint_wire(painter: QPainter, path: QPainterPath, label: str, label_rect: QRectF, *, selected: bool = False,
               hovered: bool = False, detail: bool = True, cosmetic: bool = True, draft: bool = False,
               decorations: bool = True, thin: bool = False, stamp_ratio: float | None = None) -> None:
    """Draw a wire; its shape label only with ``detail`` (it is unreadable when zoomed far out). ``thin`` draws
    a 1-pixel line, which Qt strokes several times faster: used when zoomed out, with hundreds of wires in view.
    ``stamp_ratio`` (the screen's pixel ratio) draws the label from a cached pixmap: for the live canvas."""
    value = (style.ACCENT if (selected or draft) and decorations else
             style.WIRE_HOVER if hovered and decorations else style.WIRE)
    width = 1.0 if thin else 1.6
    if decorations and (selected or hovered or draft):
        width += 0.6
    painter.setPen(pen(value, width, cosmetic, draft))
    painter.setBrush(_NO_BRUSH)
    painter.drawPath(path)
    if not (detail and label and not label_rect.isEmpty()):
        return
    transform = painter.worldTransform()
    if stamp_ratio is not None and transform.type().value <= QTransform.TransformationType.TxScale.value:
        # On screen: stamp a pixmap of the label made once per text, colour and scale (hundreds of wires share
        # a handful of shapes), at device resolution so it stays crisp.
        scale = round(transform.m11(), 3)
        stamp = _label_pixmap(label, value, label_rect.width(), label_rect.height(), scale, stamp_ratio)
        corner = transform.map(label_rect.topLeft())
        painter.save()
        painter.resetTransform()
        painter.drawPixmap(QPointF(round(corner.x()), round(corner.y())), stamp)
        painter.restore()
        return
    _draw_label(painter, QRectF(label_rect), label, value, cosmetic)


def _draw_label(painter: QPainter, rect: QRectF, label: str, value: str, cosmetic: bool) -> None:
    painter.setPen(pen(value, 1.0, cosmetic))
    painter.setBrush(color(style.LABEL_BACKGROUND))
    radius = rect.height() / 2
    painter.drawRoundedRect(rect, radius, radius)
    painter.setFont(style.metrics().label_font)
    painter.setPen(color(style.TEXT))
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, label)


@lru_cache(maxsize=1024)
def _label_pixmap(label: str, value: str, width: float, height: float, scale: float, ratio: float) -> QPixmap:
    size = QSize(math.ceil((width * scale + 2) * ratio), math.ceil((height * scale + 2) * ratio))
    pixmap = QPixmap(size)
    pixmap.setDevicePixelRatio(ratio)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
    painter.translate(0.5, 0.5)
    painter.scale(scale, scale)
    _draw_label(painter, QRectF(0, 0, width, height), label, value, True)
    painter.end()
    return pixmap
