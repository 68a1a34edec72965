"""Draw a network as a diagram (PNG or SVG) for a paper or slides, with no window and no scene.

It paints straight from the model and its analysis with the same functions the canvas items use, so it needs only
a QGuiApplication (created here, offscreen, when the caller has none): `netbuilder render FILE -o OUT.svg` works on
a machine without a display.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgGenerator

from netbuilder.analysis import Analysis, analyze
from netbuilder.document import Document, DocumentError, Network
from netbuilder.layout import LEFT_TO_RIGHT, Rect, document_flow, layered_positions
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.visuals import (
    NodeState,
    NodeVisual,
    geometry_of,
    make_visual,
    node_content,
    paint_node,
    paint_wire,
    wire_shape,
)

MARGIN = 14.0  # around the diagram: tight, so it drops into a paper as is
PNG_SCALE = 2.0  # device pixel ratio of PNG exports (crisp on slides and High-DPI screens)
FORMATS = (".png", ".svg")

_app: Any = None  # the application this module had to create, kept alive for the process


def ensure_gui_application() -> None:
    """Make sure a Q(Gui)Application exists; without a caller's one, start an offscreen one (no window)."""
    global _app
    if QGuiApplication.instance() is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        _app = QGuiApplication([])


def _resolve(source: Any, network: str | None) -> tuple[Network, Analysis]:
    document = getattr(source, "document", source)
    if not isinstance(document, Document):
        raise TypeError("render_network needs a Document or a QtDocument.")
    net = document.network(network)
    cached = getattr(source, "analysis", None)
    analysis = cached(net.name) if callable(cached) else analyze(net)
    return net, analysis


class Diagram:
    """The visuals of a whole network at its model positions, and the rectangle they cover."""

    def __init__(self, network: Network, analysis: Analysis):
        document = getattr(network, "document", None)
        with style.drawing_in(document_flow(document.settings) if document is not None else LEFT_TO_RIGHT):
            self._build(network, analysis)

    def _build(self, network: Network, analysis: Analysis) -> None:
        places = {node.id: node.position for node in network.nodes}
        if len(network) > 1 and len(set(places.values())) == 1:  # never placed (a scripted network): lay it out
            places = layered_positions(network, _size_of(network), flow=style.flow())
        by_node: dict[str, list] = {}
        for diagnostic in analysis.diagnostics:
            if diagnostic.node_id is not None:
                by_node.setdefault(diagnostic.node_id, []).append(diagnostic)
        self.nodes: list[tuple[QPointF, NodeVisual, NodeState]] = []
        connected: dict[str, set[tuple[str, bool]]] = {}
        for wire in network.wires:
            connected.setdefault(wire.src, set()).add((wire.src_port, False))
            connected.setdefault(wire.dst, set()).add((wire.dst_port, True))
        positions: dict[str, tuple[QPointF, NodeVisual]] = {}
        rect = QRectF()
        overhang = style.metrics().port_radius + 1.5
        for node in network.nodes:
            visual = make_visual(node_content(node, analysis.nodes.get(node.id), by_node.get(node.id, ())))
            origin = QPointF(*places[node.id])
            self.nodes.append((origin, visual, NodeState(connected=frozenset(connected.get(node.id, ())))))
            positions[node.id] = (origin, visual)
            g = visual.geometry
            rect = rect.united(QRectF(origin.x() - overhang, origin.y(), g.width + 2 * overhang, g.height + 2))
        boxes: dict[str, Rect] = {}
        for node_id, (origin, visual) in positions.items():
            g = visual.geometry
            boxes[node_id] = (origin.x(), origin.y(), origin.x() + g.width, origin.y() + g.height)

        def boxes_in(area: Rect) -> list[Rect]:
            return [b for b in boxes.values() if b[0] < area[2] and b[2] > area[0] and b[1] < area[3]
                    and b[3] > area[1]]

        self.wires: list[tuple[Any, str, QRectF]] = []
        for wire in network.wires:
            src, dst = positions.get(wire.src), positions.get(wire.dst)
            if src is None or dst is None:
                continue
            p1 = src[1].geometry.port_pos(wire.src_port, False) or src[1].geometry.edge_pos(False)
            p2 = dst[1].geometry.port_pos(wire.dst_port, True) or dst[1].geometry.edge_pos(True)
            tensor = analysis.wire_type(wire.src, wire.src_port)
            label = str(tensor) if tensor is not None else ""
            shape = wire_shape(src[0] + p1, dst[0] + p2, label, boxes_in, (boxes[wire.src], boxes[wire.dst]))
            label_rect = shape.label_rect if shape.label_fits else QRectF()
            self.wires.append((shape.path, label, label_rect))
            rect = rect.united(shape.path.boundingRect()).united(label_rect)
        self.rect = rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)

    def paint(self, painter: QPainter) -> None:
        """Paint at scene coordinates (translate the painter by -rect.topLeft() first); white background."""
        painter.fillRect(self.rect, QColor("#ffffff"))
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing)
        self.paint_contents(painter)

    def paint_contents(self, painter: QPainter) -> None:
        """The wires, then the nodes, with no background (a block node draws its inside with this)."""
        for path, label, label_rect in self.wires:
            paint_wire(painter, path, label, label_rect, cosmetic=False, decorations=False)
        for origin, visual, state in self.nodes:
            painter.save()
            painter.translate(origin)
            paint_node(painter, visual, state, cosmetic=False, decorations=False)
            painter.restore()


def _size_of(network: Network):  # noqa: ANN202 (a layout.SizeFn)
    def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
        node = network.node(node_id)
        content = node_content(node, None)
        g = geometry_of(content)
        return g.width, g.height, g.inputs, g.outputs

    return size_of


def _default_dpi() -> int:
    """The DPI text was measured at (the screen's logical DPI); the SVG uses the same so text fits its boxes."""
    return QImage(1, 1, QImage.Format.Format_ARGB32).logicalDpiX() or 96


def render_network(source: Any, network: str | None, path: str | os.PathLike[str]) -> Path:
    """Write ``network`` of a Document or QtDocument as PNG (2x pixel ratio) or SVG, chosen by the extension.

    Raises DocumentError (a message for the user) for an empty network or an unknown extension, OSError when the
    file cannot be written.
    """
    ensure_gui_application()
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise DocumentError(f"Cannot export {target.name!r}: use a .png or .svg file name.")
    net, analysis = _resolve(source, network)
    if len(net) == 0:
        raise DocumentError(f"Network {net.name!r} is empty; add layers before exporting a picture of it.")
    diagram = Diagram(net, analysis)
    rect = diagram.rect
    width, height = math.ceil(rect.width()), math.ceil(rect.height())
    if suffix == ".png":
        image = QImage(math.ceil(width * PNG_SCALE), math.ceil(height * PNG_SCALE),
                       QImage.Format.Format_ARGB32_Premultiplied)
        image.setDevicePixelRatio(PNG_SCALE)
        image.fill(Qt.GlobalColor.white)
        painter = QPainter(image)
        painter.translate(-rect.topLeft())
        diagram.paint(painter)
        painter.end()
        if not image.save(str(target), "PNG"):
            raise OSError(f"Could not write {target}: check that the folder exists and is writable.")
        return target
    generator = QSvgGenerator()
    generator.setFileName(str(target))
    generator.setSize(QSize(width, height))
    generator.setViewBox(QRectF(0, 0, width, height))
    generator.setResolution(_default_dpi())
    generator.setTitle(f"{net.name} — NetBuilder")
    generator.setDescription(f"Network {net.name!r}: {len(net)} layers.")
    painter = QPainter()
    if not painter.begin(generator):
        raise OSError(f"Could not write {target}: check that the folder exists and is writable.")
    painter.translate(-rect.topLeft())
    diagram.paint(painter)
    painter.end()
    if not target.exists():
        raise OSError(f"Could not write {target}: check that the folder exists and is writable.")
    return target
