"""Finding repeated structure in an imported (flat) network: the units that become blocks.

The network is cut where every path from the inputs to the outputs passes: the dominators of the outputs (with a
virtual source before every input and a virtual sink after every output). Between two consecutive cuts lies a
*segment*: the layers after one cut up to and including the next. A run of consecutive segments is a region with a
single entry (the cut before it) and a single exit (its last cut): a ResNet bottleneck is the segment of its convs
and skip add plus the segment of its final ReLU; an Inception module, a DenseNet layer, the expand part of a
SqueezeNet fire module are one segment each.

Each segment gets a *structural* symbol (layer types, wiring, and every parameter except the numeric ones) and the
numeric values separately, so the network becomes a sequence of symbols and a repeated unit is a repeated run of
symbols. Units are chosen greedily by how many nodes they take off the top level, with three rules that make them
the units a person would draw:

- a unit holds at least one segment with more than one layer (a branch or a skip: plain chains such as VGG's
  conv-relu pairs stay as they are) and at least `MIN_LAYERS` layers;
- a unit is not a repetition of a smaller one (two bottlenecks are two instances, not one unit);
- of two units that save as much, the one that starts at its branch wins (a bottleneck is its convs and skip
  add, then its ReLU; not the ReLU before them and the convs);
- a unit is not two units glued together: when a part of it that holds a branch occurs more often on its own (a
  ResNet-18 stage = down-sampling block + basic block, where the basic block also occurs alone), the parts win.

Instances never overlap. Which numeric values become block parameters is decided when the blocks are built
(`netbuilder.importers.repeat_blocks`).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from netbuilder.document.blocks import BLOCK_TYPE
from netbuilder.document.model import Network
from netbuilder.specs import ParamKind, get_spec

MIN_LAYERS = 3
MAX_UNIT_SEGMENTS = 64
# Parameter kinds whose values may differ between instances of one block (then they become block parameters).
VARYING_KINDS = (ParamKind.INT, ParamKind.INTS, ParamKind.FLOAT)
_SOURCE, _SINK = ("<source>",), ("<sink>",)


@dataclass
class Segment:
    """The layers after one cut up to and including the next (``nodes`` in dependency order, the cut last)."""

    index: int
    nodes: list[str]
    entry: Any  # the cut before it (a node id, or the virtual source)
    symbol: int = -1  # structural symbol; -1: cannot be part of a block
    values: tuple[tuple[Any, ...], ...] = ()  # per node, the values of its varying parameters

    @property
    def usable(self) -> bool:
        return self.symbol >= 0


@dataclass
class Unit:
    """A repeated run of segments: where each chosen instance starts, and how long it is."""

    length: int  # segments
    layers: int  # layers in one instance
    starts: list[int] = field(default_factory=list)  # indices into the segment list, chosen, non-overlapping

    def segments(self, start: int) -> range:
        return range(start, start + self.length)


def segment_network(network: Network) -> list[Segment]:
    """The network's segments in order (see the module doc). Empty when the network has no Output."""
    graph = nx.DiGraph()
    order = {node_id: index for index, node_id in enumerate(network.node_ids())}
    graph.add_nodes_from(order)
    for wire in network.wires:
        graph.add_edge(wire.src, wire.dst)
    outputs = [n.id for n in network.nodes if n.type == "Output"]
    if not outputs:
        return []
    graph.add_edges_from((_SOURCE, node_id) for node_id in order if graph.in_degree(node_id) == 0)
    graph.add_edges_from((node_id, _SINK) for node_id in outputs)
    topological = list(nx.lexicographical_topological_sort(
        graph, key=lambda n: order.get(n, -1) if n != _SINK else len(order)))
    rank = {node: index for index, node in enumerate(topological)}
    idom = _dominators(graph, topological, rank)
    chain = [_SINK]
    while chain[-1] != _SOURCE:
        chain.append(idom[chain[-1]])
    chain.reverse()  # _SOURCE, c1, c2, ..., _SINK
    cut_index = {node: index for index, node in enumerate(chain)}
    segment_of: dict[Any, int] = {}

    def find(node: Any) -> int:
        if node in cut_index:
            return cut_index[node]
        path = []
        current = node
        while current not in segment_of and current not in cut_index:
            path.append(current)
            current = idom[current]
        found = segment_of[current] if current in segment_of else cut_index[current] + 1
        for item in path:
            segment_of[item] = found
        return found

    members: list[list[str]] = [[] for _ in chain]
    for node_id in sorted(order, key=rank.__getitem__):
        members[find(node_id)].append(node_id)
    reaching = nx.ancestors(graph, _SINK)
    segments = [Segment(index, members[index], chain[index - 1]) for index in range(1, len(chain))]
    symbols: dict[Hashable, int] = {}
    for segment in segments:
        _describe(network, segment, reaching, symbols)
    return segments


def _dominators(graph: nx.DiGraph, topological: list[Any], rank: dict[Any, int]) -> dict[Any, Any]:
    """Immediate dominators of a DAG from its first node: in dependency order, each node's is the nearest common
    dominator of its predecessors (Cooper, Harvey and Kennedy's intersection; one pass suffices without loops)."""
    idom = {topological[0]: topological[0]}
    for node in topological[1:]:
        found = None
        for pred in graph.pred[node]:
            if found is None:
                found = pred
                continue
            a, b = pred, found
            while a != b:
                while rank[a] > rank[b]:
                    a = idom[a]
                while rank[b] > rank[a]:
                    b = idom[b]
            found = a
        idom[node] = found
    return idom


def _describe(network: Network, segment: Segment, reaching: set[Any], symbols: dict[Hashable, int]) -> None:
    """Give the segment its structural symbol and numeric values, or leave it unusable (an Input, an Output, a
    block, a layer whose output is never used, a wire that enters other than from the cut before)."""
    local = {node_id: index for index, node_id in enumerate(segment.nodes)}
    if not segment.nodes or segment.entry == _SOURCE:
        return
    structure: list[Hashable] = []
    values: list[tuple[Any, ...]] = []
    for node_id in segment.nodes:
        node = network.node(node_id)
        if node.type in ("Input", "Output", BLOCK_TYPE) or node_id not in reaching or node.bindings:
            return
        if node.params.get("tie_weight_to") or node.type == "Embedding":
            return  # tied weights name another node: keep them where the names still hold
        spec = get_spec(node.type)
        fixed, varying, numbers = [], [], []
        for param in spec.params:
            value = node.params.get(param.name)
            if param.kind in VARYING_KINDS and value is not None and not isinstance(value, bool):
                varying.append(param.name)
                numbers.append(value)
            else:
                fixed.append((param.name, _hashable(value)))
        inputs = []
        for wire in sorted(network.wires_into(node_id), key=lambda w: w.dst_port):
            if wire.src in local:
                source: int = local[wire.src]
            elif wire.src == segment.entry:
                source = -1
            else:
                return
            inputs.append((wire.dst_port, source, wire.src_port))
        options = (node.trainable, node.lr_mult, node.l1, node.l2)
        structure.append((node.type, tuple(fixed), tuple(varying), tuple(inputs), options))
        values.append(tuple(numbers))
    key = tuple(structure)
    segment.symbol = symbols.setdefault(key, len(symbols))
    segment.values = tuple(values)


def _hashable(value: Any) -> Hashable:
    if isinstance(value, list | tuple):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def find_units(segments: list[Segment]) -> list[Unit]:
    """The repeated units, best first, with their non-overlapping instances (see the module doc)."""
    count = len(segments)
    keys: dict[tuple[int, int], int] = {}  # (start, length) -> key id of that run of symbols
    interned: dict[tuple[int, int], int] = {}
    positions: dict[int, list[int]] = {}
    shape: dict[int, tuple[int, int]] = {}  # key id -> (first start, length)
    for start in range(count):
        previous = -1
        for length in range(1, min(MAX_UNIT_SEGMENTS, count - start) + 1):
            segment = segments[start + length - 1]
            if not segment.usable:
                break
            key = interned.setdefault((previous, segment.symbol), len(interned))
            keys[(start, length)] = key
            positions.setdefault(key, []).append(start)
            shape.setdefault(key, (start, length))
            previous = key
    layers = [len(s.nodes) for s in segments]
    branched = [len(s.nodes) > 1 for s in segments]

    def spread(key: int, used: set[int] | frozenset[int] = frozenset()) -> list[int]:
        length = shape[key][1]
        chosen, end = [], -1
        for start in positions[key]:
            if start >= end and not any(i in used for i in range(start, start + length)):
                chosen.append(start)
                end = start + length
        return chosen

    counts: dict[int, int] = {}

    def occurrences(key: int) -> int:
        if key not in counts:
            counts[key] = len(spread(key))
        return counts[key]

    candidates: list[int] = []
    for key, starts in positions.items():
        if len(starts) < 2:
            continue
        first, length = shape[key]
        run = range(first, first + length)
        if sum(layers[i] for i in run) < MIN_LAYERS or not any(branched[i] for i in run):
            continue
        symbols = [segments[i].symbol for i in run]
        if _is_power(symbols):
            continue
        own = occurrences(key)
        if own < 2:
            continue
        glued = False
        for cut in range(1, length):
            for part_start, part_length in ((first, cut), (first + cut, length - cut)):
                if any(branched[i] for i in range(part_start, part_start + part_length)) and \
                        occurrences(keys[(part_start, part_length)]) > own:
                    glued = True
                    break
            if glued:
                break
        if not glued:
            candidates.append(key)

    units: list[Unit] = []
    used: set[int] = set()
    while candidates:
        best, best_score, best_starts = None, None, []
        for key in candidates:
            starts = spread(key, used)
            if len(starts) < 2:
                continue
            first, length = shape[key]
            size = sum(layers[i] for i in range(first, first + length))
            leading = next(i for i in range(length) if branched[first + i])
            # Ties go to the unit that starts at its branch (a bottleneck's convs and skip, then its ReLU; not the
            # ReLU before it): equal counts mean the run around it is the same either way.
            score = (len(starts) * (size - 1), len(starts), -leading, -first)
            if best_score is None or score > best_score:
                best, best_score, best_starts = key, score, starts
        if best is None:
            break
        first, length = shape[best]
        units.append(Unit(length, sum(layers[i] for i in range(first, first + length)), best_starts))
        for start in best_starts:
            used.update(range(start, start + length))
        candidates.remove(best)
    return units


def _is_power(symbols: list[int]) -> bool:
    """True when the run is a smaller run repeated (``abab``), which is that smaller unit's instances."""
    length = len(symbols)
    for period in range(1, length // 2 + 1):
        if length % period == 0 and symbols == symbols[:period] * (length // period):
            return True
    return False


__all__ = ["MIN_LAYERS", "Segment", "Unit", "find_units", "segment_network"]
