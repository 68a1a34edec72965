"""Multi-head attention recognised in an ONNX graph and imported as one MultiheadAttention layer (self or cross).

Exporters write attention as dozens of operations: projections (one packed MatMul or three), reshapes and
transposes that split the heads, a scaled product of queries and keys, an optional mask (PyTorch builds the causal
one from Trilu/Equal/Where on the sequence length), a softmax, the product with the values, the heads merged back
and the output projection, with shape arithmetic on the side. No single operation is a layer, so the importer's
per-operation rules cannot take them; this module finds the pattern around each Softmax and proves it equal to
NetBuilder's layer before using it.

The proof does not trust names or the order of operations. The region's data path is run on *labels* instead of
numbers, at concrete sizes: every element of every tensor carries the batch index, the position and the feature
(or projection row) it stands for, and every operation moves the labels exactly as it moves values (reshape,
transpose, gather, slice…). Arithmetic is checked where it happens: a projection must contract whole input
vectors, the query-key product must pair the rows of one head for one sample, the softmax must run over every key
position of one query, the mask must be zero or -inf in the causal (or no) pattern, and the final tensor must be
the batch-first N×T×D output in order. The weights of the layer are read off those labels; the scale must be
exactly 1/√(head size). This is done at two different batch sizes and lengths, with the graph's own shape
arithmetic evaluated at each, and both must give the same layer. Anything else -- a different scale, a mask the
layer cannot express, an intermediate value used outside -- refuses the Softmax with the reason in words, and every
operation of the region goes through the normal rules (which refuse the products of two computed tensors), so
nothing is imported wrong. onnxruntime parity is checked on the whole network afterwards, as for any import.

This module finds the regions (before the walk) and imports each at its last operation (during the walk);
`onnx_attention_labels` says what every operation does to labels, `onnx_attention_proof` runs a region on them and
reads off the layer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from netbuilder.importers.onnx_attention_labels import ARITHMETIC, MOVES, PRODUCTS, NoMatch
from netbuilder.importers.onnx_attention_proof import match

_MAX_REGION = 600  # nodes: a bound on the backward walks


# -------------------------------------------------------------------------------------------------------------------
# Finding candidate regions


@dataclass
class Region:
    """The operations around one Softmax that may be one attention layer."""

    softmax: int
    nodes: set[int]
    entries: set[str]  # the values the projections read (one for self-attention, two for cross-attention)
    ends: list[int]  # the out-projection (or its bias Add), then each following reshape/transpose, in order
    closure: set[int] = field(default_factory=set)  # shape arithmetic only this region (or others) uses

    @property
    def last(self) -> int:
        return max(self.nodes)


class _Graph:
    """Producers, consumers and which values are constants or shape arithmetic (computed without data)."""

    def __init__(self, graph: Any):
        self.nodes = list(graph.node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for index, node in enumerate(self.nodes):
            for name in node.output:
                if name:
                    self.producer[name] = index
            for name in node.input:
                if name:
                    self.consumers[name].append(index)
        self.outputs = {value.name for value in graph.output}
        self.static: set[str] = {init.name for init in graph.initializer}
        for node in self.nodes:
            inputs = [name for name in node.input if name]
            if node.op_type in ("Constant", "Shape", "Size") or (
                    node.op_type == "CastLike" and node.input[0] in self.static) or (
                    inputs and all(name in self.static for name in inputs)):
                self.static.update(name for name in node.output if name)

    def data(self, name: str) -> bool:
        return bool(name) and name not in self.static

    def data_inputs(self, index: int) -> list[str]:
        return [name for name in self.nodes[index].input if self.data(name)]

    def data_consumers(self, name: str) -> list[int]:
        return [c for c in self.consumers[name] if any(self.data(o) for o in self.nodes[c].output)]

    def is_projection(self, index: int) -> bool:
        node = self.nodes[index]
        return node.op_type in PRODUCTS and len(node.input) > 1 and self.data(node.input[0]) and \
            node.input[1] in self.static

    def next_in_chain(self, name: str) -> int | None:
        """The one operation computing data from ``name`` (None when there are several, or it is an output)."""
        if name in self.outputs:
            return None
        consumers = self.data_consumers(name)
        return consumers[0] if len(consumers) == 1 else None


def _cone(graph: _Graph, start: str, nodes: set[int], entries: set[str], products: list[int],
          foreign: list[str]) -> None:
    """Walk back from ``start`` through data operations to the projections (whose inputs become entries)."""
    stack = [start]
    while stack:
        name = stack.pop()
        if not graph.data(name):
            continue
        index = graph.producer.get(name)
        if index is None:
            foreign.append(f"the network input {name!r} reaches it without a projection")
            continue
        if index in nodes:
            continue
        if len(nodes) > _MAX_REGION:
            foreign.append("it is too large")
            return
        node = graph.nodes[index]
        if graph.is_projection(index):
            nodes.add(index)
            entries.add(node.input[0])
            continue
        data = graph.data_inputs(index)
        if node.op_type == "MatMul" and len(data) == 2:
            products.append(index)
        elif node.op_type in ARITHMETIC and len(data) > 1:
            foreign.append(f"{node.op_type} {node.name or name!r} combines it with another computed tensor (e.g. "
                           "a padding mask built from the input), which the layer does not take")
            stack.extend(data)  # on, to tell whether this is attention at all (for the reason only)
            continue
        elif node.op_type not in MOVES | ARITHMETIC or len(data) != 1:
            foreign.append(f"{node.op_type} {node.name or name!r} is on its path, which the layer does not compute")
            continue
        nodes.add(index)
        stack.extend(data)


def _discover(graph: _Graph, softmax: int) -> Region | str | None:
    """The region around ``softmax`` (a reason when it is attention-like but cannot be one; None when it is not
    attention at all, e.g. a classifier's output)."""
    node = graph.nodes[softmax]
    if not graph.data(node.input[0]):
        return None
    nodes: set[int] = {softmax}
    entries: set[str] = set()
    products: list[int] = []
    foreign: list[str] = []
    _cone(graph, node.input[0], nodes, entries, products, foreign)
    if not products:
        return None
    if foreign:
        return next(iter(dict.fromkeys(foreign)))
    if len(products) != 1:
        return "its scores come from more than one product of computed tensors"
    # Forward: the weights times the values, the heads merged, the output projection.
    name, product = node.output[0], None
    while True:
        index = graph.next_in_chain(name)
        if index is None:
            return _branches(graph, name, "attention weights")
        following = graph.nodes[index]
        if following.op_type == "MatMul" and len(graph.data_inputs(index)) == 2 and following.input[0] == name:
            product = index
            break
        if following.op_type not in MOVES or following.op_type == "Split":
            return f"its attention weights go through {following.op_type}"
        nodes.add(index)
        name = following.output[0]
    nodes.add(product)
    values_products: list[int] = []
    _cone(graph, graph.nodes[product].input[1], nodes, entries, values_products, foreign)
    if foreign or values_products:
        return next(iter(foreign), "its values come from a product of computed tensors")
    name = graph.nodes[product].output[0]
    while True:
        index = graph.next_in_chain(name)
        if index is None:
            return _branches(graph, name, "attended values")
        following = graph.nodes[index]
        nodes.add(index)
        if graph.is_projection(index):
            break
        if following.op_type not in MOVES or following.op_type == "Split":
            return f"its result goes through {following.op_type} before any output projection"
        name = following.output[0]
    ends = [index]
    name = graph.nodes[index].output[0]
    index = graph.next_in_chain(name)
    if index is not None and graph.nodes[index].op_type in ("Add", "Sub") and \
            len(graph.data_inputs(index)) == 1 and all(n in graph.static or n == name
                                                       for n in graph.nodes[index].input):
        nodes.add(index)
        ends = [index]
        name = graph.nodes[index].output[0]
        index = graph.next_in_chain(name)
    while index is not None and graph.nodes[index].op_type in MOVES - {"Split", "Gather", "Slice"}:
        nodes.add(index)
        ends.append(index)
        index = graph.next_in_chain(graph.nodes[index].output[0])
    return Region(softmax, nodes, entries, ends)


def _branches(graph: _Graph, name: str, what: str) -> str:
    if name in graph.outputs:
        return f"its {what} {name!r} are an output of the network"
    return f"its {what} {name!r} are used by more than one operation"


def _outside_use(graph: _Graph, region: Region, closure: set[int]) -> str | None:
    """Why an intermediate value of the region cannot be hidden inside one layer (None when none is used
    outside it)."""
    allowed = region.nodes | closure
    for index in sorted(region.nodes - {region.ends[-1]}):
        for name in graph.nodes[index].output:
            if not name:
                continue
            if name in graph.outputs:
                return f"its intermediate value {name!r} is an output of the network"
            for consumer in graph.consumers[name]:
                if consumer not in allowed:
                    other = graph.nodes[consumer]
                    return f"its intermediate value {name!r} is also read by {other.op_type} {other.name!r}"
    return None


@dataclass
class AttentionPlan:
    """Which nodes of the graph the attention regions take over, and where each is imported."""

    graph: _Graph | None = None
    regions: dict[int, Region] = field(default_factory=dict)  # by the index of their last node
    skip: set[int] = field(default_factory=set)
    refused: dict[int, str] = field(default_factory=dict)  # Softmax index -> why it is not an attention layer
    visited: set[int] = field(default_factory=set)

    def handles(self, index: int) -> bool:
        return index in self.skip or index in self.regions


def plan_attention(graph: Any) -> AttentionPlan:
    """Find every attention region of ``graph`` (an ONNX GraphProto) before the walk."""
    softmaxes = [i for i, node in enumerate(graph.node) if node.op_type == "Softmax" and not node.domain]
    if not softmaxes:
        return AttentionPlan()
    view = _Graph(graph)
    plan = AttentionPlan(view)
    candidates: dict[int, Region] = {}
    for index in softmaxes:
        found = _discover(view, index)
        if isinstance(found, Region):
            candidates[index] = found
        elif isinstance(found, str):
            plan.refused[index] = found
    while True:
        taken = set().union(*(r.nodes for r in candidates.values())) if candidates else set()
        closure = _shape_closure(view, taken)
        dropped = False
        for index, region in list(candidates.items()):
            overlap = any(region.nodes & other.nodes for other_index, other in candidates.items()
                          if other_index != index)
            reason = "it shares operations with another attention" if overlap else \
                _outside_use(view, region, closure)
            if reason:
                plan.refused[index] = reason
                del candidates[index]
                dropped = True
        if not dropped:
            break
    for region in candidates.values():
        region.closure = _ancestors_in(view, region.nodes, closure)
        plan.regions[region.last] = region
        plan.skip |= region.nodes | region.closure
    return plan


def _shape_closure(graph: _Graph, taken: set[int]) -> set[int]:
    """Constant and shape operations whose every reader is in ``taken`` or in this set: the regions compute them
    (at concrete sizes), the walk skips them."""
    closure: set[int] = set()
    for index in range(len(graph.nodes) - 1, -1, -1):
        outputs = [name for name in graph.nodes[index].output if name]
        if not outputs or any(graph.data(name) or name in graph.outputs for name in outputs):
            continue
        readers = [c for name in outputs for c in graph.consumers[name]]
        if readers and all(c in taken or c in closure for c in readers):
            closure.add(index)
    return closure


def _ancestors_in(graph: _Graph, nodes: set[int], closure: set[int]) -> set[int]:
    found: set[int] = set()
    stack = [name for index in nodes for name in graph.nodes[index].input if name]
    while stack:
        index = graph.producer.get(stack.pop())
        if index is not None and index in closure and index not in found:
            found.add(index)
            stack.extend(name for name in graph.nodes[index].input if name)
    return found


# -------------------------------------------------------------------------------------------------------------------
# The importer's side


def refusal(reason: str) -> str:
    return f"it looks like multi-head attention, but {reason}"


def import_attention(importer: Any, plan: AttentionPlan, index: int) -> None:
    """The walk reached node ``index``, which an attention region takes: at the region's last node, import the
    region as one layer, or refuse it (with the reason) and import its operations one by one as usual."""
    from netbuilder.importers.onnx_import import RuleRefused, Tensor

    region = plan.regions.get(index)
    if region is None:
        return  # imported with its region, at the region's last node
    graph = plan.graph
    assert graph is not None
    softmax = graph.nodes[region.softmax]
    try:
        layer = match(importer, plan, region)
        inputs = [importer.values[name] for name in (layer.query, layer.memory) if name]
        added = importer.add_layer("MultiheadAttention", {"num_heads": layer.num_heads,
                                                          "mode": "cross" if layer.memory else "self",
                                                          "causal": layer.causal, "dropout": 0.0},
                                   [t.source for t in inputs], tuple(t.type for t in inputs), layer.weights,
                                   importer.name_for(softmax, "MultiheadAttention"))
    except (NoMatch, RuleRefused) as error:
        importer._refuse(softmax, softmax.op_type, refusal(str(error)))
        for other in sorted(region.nodes | region.closure):
            if other != region.softmax and other not in plan.visited:
                plan.visited.add(other)
                importer._visit(graph.nodes[other])
        return
    importer.values[layer.output] = Tensor(added.out(), added.outputs[0], importer.readers[layer.output] == 1,
                                           layer.axes)
    for other in region.ends[region.ends.index(layer.end) + 1:]:
        importer._visit(graph.nodes[other])
