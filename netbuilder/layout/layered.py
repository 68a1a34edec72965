"""Auto-layout: a layered drawing of the graph, left to right or top to bottom, in the Sugiyama style. Pure model
logic, no Qt.

The steps below are written for the left-to-right flow. Top to bottom is the same drawing transposed: every node's
size and port offsets are swapped (its height runs along the flow, its ports sit on its top and bottom edges at x
offsets), the window's aspect is inverted, and the result is swapped back, so layers become rows read downwards and
long networks wrap into columns read left to right.

1. Layers: each node goes one column right of its furthest predecessor (networkx topological generations, i.e. the
   longest path from a source).
2. Wires that skip columns get invisible waypoints, so they claim room and do not cut through layers.
3. Order within a column: a few barycentre sweeps to reduce crossings.
4. Vertical positions: each node sits level with what it is wired to (first the layers feeding it, then those it
   feeds), solved per column as an isotonic regression, so nodes keep their order and never overlap. A chain stays
   one straight row; a skip connection's waypoints take a slot beside the layers it jumps over, so its wire
   passes next to them rather than through them.
5. Wrapping: a long strip of columns is cut into several rows (read left to right, row after row) so the drawing
   has about the shape of the window it is shown in. Cuts go where one wire crosses (between two blocks of a
   ResNet, say), so skip connections stay inside a row; the wire that wraps is routed through the gap between rows
   (see `routing`).
Each weakly connected part is laid out on its own and the parts are stacked top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import networkx as nx

from netbuilder.document import Network
from netbuilder.layout.routing import LEFT_TO_RIGHT, TOP_TO_BOTTOM

# size_of(node_id) -> (width, height, {input port: y}, {output port: y})
SizeFn = Callable[[str], tuple[float, float, dict[str, float], dict[str, float]]]

COLUMN_GAP = 100.0  # room for a wire's shape label between columns
ROW_GAP = 40.0
PART_GAP = 100.0
BAND_GAP = 80.0  # between wrapped rows: a lane for the wrapping wire and its label
WAYPOINT_HEIGHT = 30.0
DEFAULT_ASPECT = 1.6  # width / height of the view the drawing should fill (16:10)

FLOWS = (LEFT_TO_RIGHT, TOP_TO_BOTTOM)
FLOW_SETTING = "canvas_flow"  # the document setting that records the flow its networks are laid out in


@dataclass(frozen=True)
class Gaps:
    """Spacing of one flow: between layers (along the flow), between siblings of a layer, and between wrapped
    bands. Top to bottom, a shape label (a short, wide pill) lies across a vertical wire, so layers need less room
    between them and wrapped columns more."""

    layer: float
    sibling: float
    band: float
    part: float


GAPS = {LEFT_TO_RIGHT: Gaps(COLUMN_GAP, ROW_GAP, BAND_GAP, PART_GAP),
        TOP_TO_BOTTOM: Gaps(60.0, ROW_GAP, 120.0, PART_GAP)}


def document_flow(settings: dict) -> str:
    """The flow a document's networks are laid out in (its ``canvas_flow`` setting); left to right when unset or
    not a known flow (older files, files from elsewhere)."""
    value = settings.get(FLOW_SETTING)
    return value if value in FLOWS else LEFT_TO_RIGHT


def check_flow(flow: str) -> str:
    """``flow`` if it is one of FLOWS; ValueError naming the choices otherwise."""
    if flow not in FLOWS:
        raise ValueError(f"Unknown flow {flow!r}: use {' or '.join(FLOWS)}.")
    return flow


@dataclass
class _Slot:
    key: object  # node id, or ("waypoint", wire index, layer)
    height: float
    real: bool
    in_y: dict[str, float] = field(default_factory=dict)
    out_y: dict[str, float] = field(default_factory=dict)
    y: float = 0.0
    order: float = 0.0
    preds: list[tuple[_Slot, float, float]] = field(default_factory=list)  # (slot, its port y, my port y)
    succs: list[tuple[_Slot, float, float]] = field(default_factory=list)


def layered_positions(network: Network, size_of: SizeFn, grid: float = 20.0, aspect: float | None = DEFAULT_ASPECT,
                      flow: str = LEFT_TO_RIGHT) -> dict[str, tuple[float, float]]:
    """Top-left positions for every node, starting at (0, 0) and snapped to ``grid``.

    ``aspect`` is the width / height of the view the drawing is for: long networks wrap into rows (columns, top to
    bottom) to match it. None keeps every part on one row (column).
    ``flow`` is LEFT_TO_RIGHT (``size_of`` gives port y offsets: ports on the left and right edges) or
    TOP_TO_BOTTOM (``size_of`` gives port x offsets: ports on the top and bottom edges).
    """
    gaps = GAPS[check_flow(flow)]
    if flow == TOP_TO_BOTTOM:
        def across(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
            width, height, ins, outs = size_of(node_id)
            return height, width, ins, outs

        placed = _positions(network, across, None if aspect is None else 1.0 / aspect, gaps)
        return {k: (round(y / grid) * grid, round(x / grid) * grid) for k, (x, y) in placed.items()}
    placed = _positions(network, size_of, aspect, gaps)
    return {k: (round(x / grid) * grid, round(y / grid) * grid) for k, (x, y) in placed.items()}


def _positions(network: Network, size_of: SizeFn, aspect: float | None, gaps: Gaps
               ) -> dict[str, tuple[float, float]]:
    """The left-to-right drawing (unsnapped); see the module's steps."""
    graph = nx.DiGraph()
    graph.add_nodes_from(network.graph.nodes)
    wires = [w for w in network.wires if w.src != w.dst]
    graph.add_edges_from((w.src, w.dst) for w in wires)
    while not nx.is_directed_acyclic_graph(graph):  # files made elsewhere may hold a loop; break it to draw it
        u, v = nx.find_cycle(graph)[0][:2]
        graph.remove_edge(u, v)
    order = {node_id: i for i, node_id in enumerate(network.graph.nodes)}
    parts = sorted(nx.weakly_connected_components(graph), key=lambda part: min(order[n] for n in part))
    positions: dict[str, tuple[float, float]] = {}
    top = 0.0
    for part in parts:
        placed, height = _layout_part(graph.subgraph(part), [w for w in wires if w.src in part and w.dst in part
                                                             and graph.has_edge(w.src, w.dst)], size_of, order,
                                      aspect, gaps)
        for node_id, (x, y) in placed.items():
            positions[node_id] = (x, y + top)
        top += height + gaps.part
    return positions


def _layout_part(graph: nx.DiGraph, wires: list, size_of: SizeFn, order: dict[str, int], aspect: float | None,
                 gaps: Gaps) -> tuple[dict[str, tuple[float, float]], float]:
    layer_of: dict[str, int] = {}
    for index, generation in enumerate(nx.topological_generations(graph)):
        for node_id in generation:
            layer_of[node_id] = index
    count = max(layer_of.values()) + 1
    layers: list[list[_Slot]] = [[] for _ in range(count)]
    widths = [0.0] * count
    slots: dict[str, _Slot] = {}
    for node_id in sorted(layer_of, key=order.__getitem__):
        width, height, in_y, out_y = size_of(node_id)
        slot = _Slot(node_id, height, True, in_y, out_y)
        slots[node_id] = slot
        layers[layer_of[node_id]].append(slot)
        widths[layer_of[node_id]] = max(widths[layer_of[node_id]], width)

    for index, wire in enumerate(wires):
        src, dst = slots[wire.src], slots[wire.dst]
        a, b = layer_of[wire.src], layer_of[wire.dst]
        src_y = src.out_y.get(wire.src_port, src.height / 2)
        dst_y = dst.in_y.get(wire.dst_port, dst.height / 2)
        previous, previous_y = src, src_y
        for layer in range(a + 1, b):
            waypoint = _Slot(("waypoint", index, layer), WAYPOINT_HEIGHT, False)
            layers[layer].append(waypoint)
            half = WAYPOINT_HEIGHT / 2
            previous.succs.append((waypoint, half, previous_y))
            waypoint.preds.append((previous, previous_y, half))
            previous, previous_y = waypoint, half
        previous.succs.append((dst, dst_y, previous_y))
        dst.preds.append((previous, previous_y, dst_y))

    for layer in layers:
        for i, slot in enumerate(layer):
            slot.order = i
    # Barycentres count the port too (its y as a fraction of a slot), so wires into in1 and in2 do not cross.
    for _ in range(4):
        for layer in layers[1:]:
            _sort_by(layer, lambda s: [p.order + port / 1000 for p, port, _ in s.preds])
        for layer in reversed(layers[:-1]):
            _sort_by(layer, lambda s: [p.order + port / 1000 for p, port, _ in s.succs])

    gap = gaps.sibling
    for layer in layers:  # start stacked, then pull each node level with its neighbours
        _place(layer, [sum(s.height for s in layer[:i]) + gap * i for i in range(len(layer))], gap)
    for _ in range(3):
        for layer in layers[1:]:
            _place(layer, [_wish(s, s.preds) for s in layer], gap)
        for layer in reversed(layers[:-1]):
            _place(layer, [_wish(s, s.succs) for s in layer], gap)
    for layer in layers[1:]:
        _place(layer, [_wish(s, s.preds) for s in layer], gap)

    bands = _wrap(layers, widths, aspect, gaps)
    result: dict[str, tuple[float, float]] = {}
    band_top = 0.0
    for first, last in bands:
        band = [s for layer in layers[first:last] for s in layer]
        top = min(s.y for s in band)
        bottom = max(s.y + s.height for s in band if s.real)
        x = 0.0
        for index in range(first, last):
            for slot in layers[index]:
                if slot.real:
                    result[slot.key] = (x, slot.y - top + band_top)  # type: ignore[index]
            x += widths[index] + gaps.layer
        band_top += bottom - top + gaps.band
    return result, band_top - gaps.band


def _wrap(layers: list[list[_Slot]], widths: list[float], aspect: float | None, gaps: Gaps
          ) -> list[tuple[int, int]]:
    """Cut the columns into rows [first, last) so the whole drawing best fills a view of this aspect.

    Rows may only break where the wires crossing come from the fewest layers (one, between two blocks), so a skip
    connection never wraps from the middle of a block.
    Each row count from 1 up is tried, breaking greedily near equal widths, and the one that would be drawn
    largest in the view wins.
    """
    count = len(layers)
    if aspect is None or count < 4:
        return [(0, count)]
    # Where wires leave column i for column i + 1, how many layers (or skip-wire waypoints) they come from: one
    # means the network narrows to a single layer there (a chain, or the end of a residual block).
    crossing = [sum(1 for s in layer if s.succs) for layer in layers[:-1]]
    fewest = min(crossing)
    cuts = {i + 1 for i, c in enumerate(crossing) if c == fewest}
    total = sum(widths) + gaps.layer * (count - 1)
    best: tuple[float, list[tuple[int, int]]] = (0.0, [(0, count)])
    for rows in range(1, min(count, len(cuts) + 1) + 1):
        target = total / rows
        bands: list[tuple[int, int]] = []
        first, width = 0, 0.0
        for index in range(count):
            width += widths[index] + gaps.layer
            if index + 1 not in cuts or len(bands) >= rows - 1:
                continue
            # Break here if this is the allowed cut nearest the row's target width.
            later = next((c for c in sorted(cuts) if c > index + 1), None)
            later_width = width + sum(widths[index + 1:later]) + gaps.layer * ((later or 0) - index - 1)
            if width - gaps.layer >= target or (later is not None and
                                                abs(later_width - gaps.layer - target) > abs(width - target)
                                                and width - gaps.layer >= target * 0.6):
                bands.append((first, index + 1))
                first, width = index + 1, 0.0
        bands.append((first, count))
        band_width = max(sum(widths[a:b]) + gaps.layer * (b - a - 1) for a, b in bands)
        band_height = sum(_band_height(layers[a:b]) for a, b in bands) + gaps.band * (len(bands) - 1)
        scale = min(aspect / band_width, 1.0 / band_height)
        if scale > best[0] * 1.0001:
            best = (scale, bands)
    return best[1]


def _band_height(layers: list[list[_Slot]]) -> float:
    slots = [s for layer in layers for s in layer]
    if not slots:
        return 0.0
    return max(s.y + s.height for s in slots) - min(s.y for s in slots)


def _sort_by(layer: list[_Slot], neighbours: Callable[[_Slot], list[float]]) -> None:
    def key(slot: _Slot) -> tuple[float, int]:
        values = neighbours(slot)
        return (sum(values) / len(values) if values else slot.order, 0 if slot.real else 1)

    layer.sort(key=key)
    for i, slot in enumerate(layer):
        slot.order = i


def _wish(slot: _Slot, links: list[tuple[_Slot, float, float]]) -> float:
    """Where a node would like its top: level, on average, with the ports it is wired to."""
    if not links:
        return slot.y
    return sum(other.y + other_port - my_port for other, other_port, my_port in links) / len(links)


def _place(layer: list[_Slot], wishes: list[float], gap: float = ROW_GAP) -> None:
    """Set y as close to the wishes as possible (least squares) keeping order and gaps: isotonic regression by
    pool-adjacent-violators on y minus the room the nodes above need."""
    offsets, total = [], 0.0
    for slot in layer:
        offsets.append(total)
        total += slot.height + gap
    blocks: list[list[float]] = []  # [sum, count]
    for wish, offset in zip(wishes, offsets, strict=True):
        blocks.append([wish - offset, 1])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    i = 0
    for total, count in blocks:
        for _ in range(int(count)):
            layer[i].y = total / count + offsets[i]
            i += 1
