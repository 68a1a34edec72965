"""How a block node looks on the canvas: the block's name, each port labelled with its name and tensor shape,
its parameter values and its parameter total; expanded, the block's inside is drawn in place under that.

Like every canvas item it holds no graph logic: `block_content` turns the model and the analysis into plain
values, and `BlockNodeItem` draws them. Expanded or collapsed is a view state of the item (the document does not
change; a definition opened with a double-click is where it is edited)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QFontMetricsF, QPainter, QPainterPath
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem, QWidget

from netbuilder.analysis import Diagnostic, NodeInfo
from netbuilder.document import DocumentError, Node
from netbuilder.document.blocks import BLOCK_CATEGORY
from netbuilder.layout import TOP_TO_BOTTOM
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.items import Z_NODE, Z_SELECTED_NODE, NodeItem
from netbuilder_ui.canvas.visuals import (
    NodeContent,
    NodeGeometry,
    NodeVisual,
    _node_paths,
    _port_label_room,
    compact_count,
    content_width,
    detail_zoom,
    diagnostic_text,
    make_visual,
    node_bounds,
    paint_compact,
    pen,
    translucent,
    type_text,
)

BLOCK_COLOR = "#4b5d9c"  # slate indigo: a block reads as "a network in here", apart from every layer category
INNER_SCALE = 0.5  # an expanded block draws its inside at half size
MAX_INNER_WIDTH = 1400.0  # scene units; a wider inside is scaled down further to fit
Z_EXPANDED = 1.5  # over selected nodes, under hovered wires' labels
STACK_OFFSET = 4.0  # the second card behind a block node (it holds more than one layer)

style.CATEGORY_COLORS.setdefault(BLOCK_CATEGORY, BLOCK_COLOR)


@dataclass(frozen=True)
class BlockContent(NodeContent):
    """A block node's content: the layer content plus its definition, the shapes of its input ports and the
    definition's revision (so editing the definition redraws an expanded instance)."""

    block: str = ""
    input_types: tuple[str, ...] = ()  # one per input port, "" while unknown
    output_types: tuple[str, ...] = ()
    layers: int = 0
    revision: Any = None
    expanded: bool = False  # the node's view state in the document: its inside shown in place


def block_content(node: Node, info: NodeInfo | None, diagnostics: tuple[Diagnostic, ...] | list[Diagnostic] = (),
                  input_types: tuple[str, ...] = ()) -> NodeContent:
    """What a block node shows: the block's name as its title, the instance's name, its parameter values, each
    port's shape and the parameter total."""
    errors = tuple(diagnostic_text(d) for d in diagnostics if d.severity == "error")
    warnings = tuple(diagnostic_text(d) for d in diagnostics if d.severity != "error")
    try:
        spec = node.spec
        network = node._owner()  # type: ignore[attr-defined]
        definition = network.block_table[node.block]
    except (DocumentError, AttributeError, KeyError, TypeError) as error:
        text = str(error) if isinstance(error, DocumentError) else f"The block {node.block!r} is not defined."
        return BlockContent(node.block or "Block", node.name, "", BLOCK_CATEGORY, (), (), "", "",
                            errors or (text,), warnings, block=node.block)
    inputs = tuple(p.name for p in spec.inputs)
    outputs = tuple(p.name for p in spec.outputs)
    values = {**definition.defaults(), **node.params}
    summary = ", ".join(f"{p.name}={_short(values.get(p.name))}" for p in definition.params)
    layers = len(definition.network)
    if not summary:
        summary = f"{layers} layer{'s' * (layers != 1)}"
    out_types: tuple[str, ...] = ()
    shape = params = ""
    if info is not None and info.outputs:
        out_types = tuple(str(info.outputs[name]) if name in info.outputs else "" for name in outputs)
        shape = type_text(list(info.outputs.values()))
        params = f"{compact_count(info.params)} params"
    # What redraws an expanded instance when its definition is edited (cheap: read for every instance).
    key = (id(definition), definition.network.change_position, definition.meta_version)
    inputs_shown = tuple(input_types) + ("",) * (len(inputs) - len(input_types))
    return BlockContent(node.block, node.name, summary, BLOCK_CATEGORY, inputs, outputs, shape, params, errors,
                        warnings, block=node.block, input_types=inputs_shown[:len(inputs)],
                        output_types=out_types, layers=layers, revision=key, expanded=node.expanded)


def _short(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "×".join(str(v) for v in value)
    return str(value)


def block_geometry(content: BlockContent, inner: QRectF | None = None, flow: str | None = None) -> NodeGeometry:
    """A block node's size and ports, in ``flow`` (None: the canvas's), with a label (name and shape) per port.

    Left to right: one full-width row per port (inputs, then outputs) on the side edges, then the summary and shape
    lines. Top to bottom, like every other node: inputs spread along the top edge with their labels in a row under
    the title band, outputs along the bottom edge with theirs in the last row. Expanded, room for the inside
    (``inner``, in the node's scaled units) comes after the text lines. It is as wide as a layer with the same
    title, so block nodes fit where layers were laid out."""
    m = style.metrics()
    width = content_width(NodeContent(content.title, content.name, "", content.category, (), (), "", ""))
    if inner is not None:
        width = max(width, inner.width() + 2 * m.inset)
    width = style.GRID * round(width / style.GRID + 0.49)
    if (flow or style.flow()) == TOP_TO_BOTTOM:
        label_in, label_out = bool(content.inputs), bool(content.outputs)
        ins = {name: round(width * (i + 1) / (len(content.inputs) + 1)) for i, name in enumerate(content.inputs)}
        outs = {name: round(width * (i + 1) / (len(content.outputs) + 1)) for i, name in enumerate(content.outputs)}
        text_top = m.header + m.pad + int(label_in) * m.row
        height = text_top + (2 + int(label_out)) * m.row + m.pad
        if inner is not None:
            height += inner.height() + m.pad
        return NodeGeometry(width, height, ins, outs, label_in, label_out, int(label_in) + int(label_out), text_top,
                            TOP_TO_BOTTOM)
    rows = max(len(content.inputs) + len(content.outputs), 1)
    first = m.header + m.pad + m.row / 2
    ins = {name: first + i * m.row for i, name in enumerate(content.inputs)}
    outs = {name: first + (len(content.inputs) + i) * m.row for i, name in enumerate(content.outputs)}
    text_top = m.header + m.pad + rows * m.row
    height = text_top + 2 * m.row + m.pad
    if inner is not None:
        height += inner.height() + m.pad
    return NodeGeometry(width, height, ins, outs, True, True, rows, text_top)


def make_block_visual(content: BlockContent, inner: QRectF | None = None) -> NodeVisual:
    """The visual of a block node: its geometry, elided texts (measured once per distinct text and width: fifty
    instances of a block share them) and shapes."""
    geometry = block_geometry(content, inner)
    ports = tuple((name, True, types_at(content.input_types, i)) for i, name in enumerate(content.inputs)) + \
        tuple((name, False, types_at(content.output_types, i)) for i, name in enumerate(content.outputs))
    rooms = (_port_label_room(geometry, len(content.inputs) or 1), _port_label_room(geometry, len(content.outputs)
                                                                                    or 1)) \
        if geometry.vertical else None
    title, name, summary, shape, labels = _texts(content.title, content.name, content.summary, content.shape,
                                                 content.params, ports, geometry.width, rooms)
    visual = NodeVisual(content, geometry, title, name, summary, shape, content.params, dict(labels),
                        color=style.category_color(content.category))
    visual.body_path, visual.header_path = _node_paths(geometry.width, geometry.height)
    return visual


def types_at(types: tuple[str, ...], index: int) -> str:
    return types[index] if index < len(types) and types[index] else "?"


@lru_cache(maxsize=4096)
def _texts(title: str, name: str, summary: str, shape: str, params: str, ports: tuple[tuple[str, bool, str], ...],
           node_width: float, rooms: tuple[float, float] | None = None
           ) -> tuple[str, str, str, str, tuple[tuple[tuple[str, bool], str], ...]]:
    """Elided texts; ``rooms``: the width of an input's and an output's label when ports share an edge (top to
    bottom), else each label has the node's width."""
    m = style.metrics()
    small, body, bold = QFontMetricsF(m.small_font), QFontMetricsF(m.body_font), QFontMetricsF(m.title_font)
    width = node_width - 2 * m.inset
    name_width = min(small.horizontalAdvance(name), max(width - bold.horizontalAdvance(title) - 8, width * 0.35))
    labels = tuple(((port, is_input), small.elidedText(f"{port}  {tensor}", Qt.TextElideMode.ElideMiddle,
                                                       width if rooms is None else rooms[0 if is_input else 1]))
                   for port, is_input, tensor in ports)
    return (bold.elidedText(title, Qt.TextElideMode.ElideRight, width - name_width - 8),
            small.elidedText(name, Qt.TextElideMode.ElideRight, name_width),
            body.elidedText(summary, Qt.TextElideMode.ElideRight, width - m.row - 4),
            body.elidedText(shape or "—", Qt.TextElideMode.ElideMiddle, width - small.horizontalAdvance(params) - 8),
            labels)




class BlockNodeItem(NodeItem):
    """A block node: a stacked card with labelled, shaped ports; expanded, its inside drawn under the text."""

    def __init__(self, node_id: str, content: NodeContent):
        self.expanded = False
        self._diagram: Any = None  # render.Diagram of the definition, kept while its revision holds
        self._diagram_key: Any = None
        super().__init__(node_id, content)
        if isinstance(content, BlockContent) and content.expanded:
            self._show_expanded(True)  # a file saved with the block open opens with it open
        self._apply_visual(content)

    # ---- content -----------------------------------------------------------------------------------------
    def set_content(self, content: NodeContent) -> bool:
        if content == self.visual.content:
            return False
        if isinstance(content, BlockContent) and content.expanded != self.expanded:
            self._show_expanded(content.expanded)
        moved = self._apply_visual(content)
        self.update()
        return moved

    def set_expanded(self, expanded: bool) -> bool:
        """Draw the block's inside or not, whatever the document says (the canvas follows the node's ``expanded``
        through `set_content`; benchmarks call this to time the drawing alone); True when the node's size (so its
        ports) changed."""
        if expanded == self.expanded:
            return False
        self._show_expanded(expanded)
        moved = self._apply_visual(self.visual.content)
        self.update()
        return moved

    def _show_expanded(self, expanded: bool) -> None:
        self.expanded = expanded
        # Drawn over its neighbours while open (nothing is moved in the document).
        self.setZValue(Z_EXPANDED if expanded else (Z_SELECTED_NODE if self.isSelected() else Z_NODE))

    def _inner_rect(self, content: NodeContent) -> QRectF | None:
        if not self.expanded or not isinstance(content, BlockContent) or not content.block:
            return None
        diagram = self._diagram
        if diagram is None or self._diagram_key != content.revision:  # built again after the definition changed
            diagram = self._diagram = self._build_diagram(content.block)
            self._diagram_key = content.revision
        if diagram is None:
            return None
        rect = diagram.rect
        scale = self.inner_scale(rect)
        return QRectF(0, 0, rect.width() * scale, rect.height() * scale)

    @staticmethod
    def inner_scale(rect: QRectF) -> float:
        return min(INNER_SCALE, MAX_INNER_WIDTH / max(rect.width(), 1.0))

    def _build_diagram(self, block: str) -> Any:
        from netbuilder_ui.canvas.render import Diagram

        scene = self.scene()
        qt_doc = getattr(scene, "qt_doc", None)
        if qt_doc is None or block not in qt_doc.document.blocks:
            return None
        network = qt_doc.document.network(block)
        if len(network) == 0:
            return None
        return Diagram(network, qt_doc.analysis(block))

    def _input_types(self, content: BlockContent) -> tuple[str, ...]:
        """The shape arriving at each input port, from the analysis of the network this node is in."""
        scene = self.scene()
        qt_doc = getattr(scene, "qt_doc", None)
        if qt_doc is None or not scene.has_network():
            return content.input_types
        network = scene.network
        if self.node_id not in network:
            return content.input_types
        analysis = qt_doc.cached_analysis(scene.network_name)
        if analysis is None:  # mid-edit: the scene applies the next analysis, which calls back here
            return content.input_types
        feeding = {w.dst_port: w for w in network.wires_into(self.node_id)}
        types = []
        for name in content.inputs:
            wire = feeding.get(name)
            tensor = analysis.wire_type(wire.src, wire.src_port) if wire is not None else None
            types.append(str(tensor) if tensor is not None else "")
        return tuple(types)

    def _apply_visual(self, content: NodeContent, force: bool = False) -> bool:
        old = self.visual.geometry
        if isinstance(content, BlockContent):
            if force:
                self._diagram = None
            shown = replace(content, input_types=self._input_types(content))
            visual = make_block_visual(shown, self._inner_rect(content))
            visual.content = content  # compared with the next content: the scene's, without the input shapes
        else:
            visual = make_visual(content)
        self.visual = visual
        moved = visual.geometry != old
        if moved:
            self.prepareGeometryChange()
            self._bounds = node_bounds(visual.geometry, 9.0 + STACK_OFFSET)
        self._update_badge()
        self._update_tooltip(self.state.hovered_port)
        return moved

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: object) -> object:
        if change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged and self.expanded:
            result = super().itemChange(change, value)
            self.setZValue(Z_EXPANDED)
            return result
        if change == QGraphicsItem.GraphicsItemChange.ItemSceneHasChanged and value is not None:
            self._apply_visual(self.visual.content, force=True)  # now the input shapes can be looked up
        return super().itemChange(change, value)

    def _update_tooltip(self, port: Any) -> None:
        content = self.visual.content
        if port is None and isinstance(content, BlockContent):
            hint = "Double-click to open it; use the ▸ button or the menu to expand it in place."
            self.setToolTip(f"Block {content.block} “{content.name}”: {content.layers} layers"
                            + (f"\n{content.shape}" if content.shape else "") + f"\n{hint}")
            return
        super()._update_tooltip(port)

    # ---- expand toggle ----------------------------------------------------------------------------------
    def toggle_rect(self) -> QRectF:
        """The ▸ / ▾ button at the right end of the summary row, in item coordinates."""
        m = style.metrics()
        g = self.visual.geometry
        return QRectF(g.width - m.inset - m.row, g.text_top, m.row, m.row)

    # ---- painting ----------------------------------------------------------------------------------------
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        m = style.metrics()
        rect = self.visual.geometry.rect
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(pen(style.NODE_BORDER, 1.0, True))
        painter.setBrush(translucent(BLOCK_COLOR, 0.18))
        painter.drawRoundedRect(rect.translated(STACK_OFFSET, STACK_OFFSET), m.radius, m.radius)
        lod = QStyleOptionGraphicsItem.levelOfDetailFromTransform(painter.worldTransform())
        if self.expanded and self._diagram is not None and lod < detail_zoom():
            self._paint_compact_head(painter, lod)  # zoomed out: the title where the inside leaves room for it
        else:
            super().paint(painter, option, widget)
        if lod >= detail_zoom():
            self._paint_toggle(painter)
        if self.expanded and self._diagram is not None:
            self._paint_inside(painter)

    def _paint_compact_head(self, painter: QPainter, zoom: float) -> None:
        """The zoomed-out form of an expanded block: its box in the block colour, the title (and name) large
        enough to read in the band above its inside, which `_paint_inside` draws next."""
        g = self.visual.geometry
        state = self.state if self.state.selected == self.isSelected() else replace(self.state,
                                                                                    selected=self.isSelected())
        painter.save()
        painter.setPen(pen(style.ACCENT if state.selected else style.NODE_BORDER, 2.0 if state.selected else 1.0,
                           True))
        painter.setBrush(self.visual.color)
        painter.drawRoundedRect(g.rect, style.metrics().radius, style.metrics().radius)
        head = replace(self.visual, geometry=replace(g, height=self._inside_top()))
        paint_compact(painter, head, state, zoom, decorations=True)
        painter.restore()

    def _inside_top(self) -> float:
        m = style.metrics()
        return self.visual.geometry.text_top + 2 * m.row + m.pad / 2

    def _paint_toggle(self, painter: QPainter) -> None:
        box = self.toggle_rect().adjusted(2, 2, -2, -2)
        painter.save()
        painter.setPen(pen(style.NODE_BORDER, 1.0, True))
        painter.setBrush(translucent(BLOCK_COLOR, 0.10))
        painter.drawRoundedRect(box, 4, 4)
        c = box.center()
        s = box.height() * 0.2
        path = QPainterPath()
        if self.expanded:  # ▾
            path.moveTo(c + QPointF(-s, -s * 0.5))
            path.lineTo(c + QPointF(s, -s * 0.5))
            path.lineTo(c + QPointF(0, s * 0.7))
        else:  # ▸
            path.moveTo(c + QPointF(-s * 0.5, -s))
            path.lineTo(c + QPointF(-s * 0.5, s))
            path.lineTo(c + QPointF(s * 0.7, 0))
        path.closeSubpath()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(translucent(BLOCK_COLOR, 1.0))
        painter.drawPath(path)
        painter.restore()

    def _paint_inside(self, painter: QPainter) -> None:
        m = style.metrics()
        g = self.visual.geometry
        diagram = self._diagram
        top = self._inside_top()
        below = m.row if g.vertical and g.outputs else 0.0  # top to bottom, the output labels come last
        area = QRectF(m.inset / 2, top, g.width - m.inset, g.height - top - m.pad / 2 - below)
        scale = self.inner_scale(diagram.rect)
        painter.save()
        painter.setPen(pen(style.GRID_MAJOR, 1.0, True))
        painter.setBrush(translucent(style.CANVAS_BACKGROUND, 1.0))
        painter.drawRoundedRect(area, 4, 4)
        painter.setClipRect(area)
        painter.translate(area.left() + (area.width() - diagram.rect.width() * scale) / 2, area.top())
        painter.scale(scale, scale)
        painter.translate(-diagram.rect.topLeft())
        diagram.paint_contents(painter)
        painter.restore()


def make_node_item(node_id: str, content: NodeContent) -> NodeItem:
    """The item for a node: a block node's own item, or a layer's."""
    if isinstance(content, BlockContent):
        return BlockNodeItem(node_id, content)
    return NodeItem(node_id, content)
