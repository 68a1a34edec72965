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
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from netbuilder.specs import BATCH, SEQ

MOVES = {"Identity", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Flatten", "Gather", "Slice", "Split", "Cast",
         "Dropout"}
ARITHMETIC = {"Add", "Sub", "Mul", "Div", "Where"}
PRODUCTS = {"MatMul", "Gemm"}
MASKED = -1e9  # an additive mask at or below this hides a position (exp underflows to exactly 0 in float32)
SIZES = ((2, 5), (3, 7))  # (batch, length) pairs the region is proved at
_FLOAT_CASTS = {1, 10, 11, 16}
_MAX_REGION = 600  # nodes: a bound on the backward walks


class NoMatch(Exception):
    """The region is not (provably) the attention NetBuilder's layer computes; the message says why."""


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
        elif node.op_type not in MOVES | ARITHMETIC or len(data) != 1:
            foreign.append(f"{node.op_type} {node.name or name!r} is on its path")
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
        return "; ".join(dict.fromkeys(foreign))
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
        return "; ".join(dict.fromkeys(foreign)) or "its values come from a product of computed tensors"
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
                if consumer not in allowed and index not in region.ends:
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
# Labels: what each element of a tensor in the region stands for


@dataclass(frozen=True)
class Projection:
    """``scale * (x @ weight.T) + bias`` of the region's input x, row by row (rows: output features)."""

    weight: np.ndarray
    bias: np.ndarray
    scale: float
    entry: str


@dataclass
class Labeled:
    """A data tensor of the region as labels: one integer (or mask) array per label, all of the tensor's shape.

    kinds: ``input`` (n, t, e), ``proj`` (n, t, f: a row of ``meta['proj']``), ``scores`` (n, g, i, j, mask:
    head group g, query i, key j, the mask added so far), ``probs`` (n, g, i, j), ``attended`` (n, t, f, g: value
    row f of head g), ``out`` (n, t, m)."""

    kind: str
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    @property
    def shape(self) -> tuple[int, ...]:
        return next(iter(self.arrays.values())).shape

    def moved(self, fn: Any) -> Labeled:
        return Labeled(self.kind, {key: np.asarray(fn(array)) for key, array in self.arrays.items()}, self.meta)


def _constant_along(array: np.ndarray, axis: int) -> bool:
    return bool(np.all(array == np.take(array, [0], axis=axis)))


def _broadcast(constant: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        if np.broadcast_shapes(constant.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise NoMatch(f"{what} of shape {list(constant.shape)} does not fit its values {list(shape)}") from None
    return np.broadcast_to(constant, shape)


# -------------------------------------------------------------------------------------------------------------------
# Evaluating the region at one concrete size


class _Evaluator:
    def __init__(self, importer: Any, plan: AttentionPlan, region: Region, batch: int, length: int):
        self.importer = importer
        self.graph = plan.graph
        self.region = region
        self.batch = batch
        self.length = length
        self.values: dict[str, Any] = {}

    # ---- constants and shape arithmetic -------------------------------------------------------------------------
    def concrete(self, dims: tuple[Any, ...]) -> tuple[int, ...]:
        out = []
        for d in dims:
            if d == BATCH:
                out.append(self.batch)
            elif d == SEQ:
                out.append(self.length)
            elif isinstance(d, int):
                out.append(d)
            else:
                raise NoMatch(f"an axis of size {d} that cannot be given a concrete size")
        return tuple(out)

    def shape_of(self, name: str) -> tuple[int, ...]:
        from netbuilder.importers.onnx_import import Tensor

        value = self.values.get(name)
        if isinstance(value, Labeled):
            return value.shape
        found = self.importer.values.get(name)
        if isinstance(found, Tensor):
            return self.concrete(found.virtual_shape())
        if isinstance(found, np.ndarray):
            return found.shape
        raise NoMatch(f"the shape of {name!r} is not known")

    def const(self, name: str) -> np.ndarray:
        value = self.value(name)
        if not isinstance(value, np.ndarray | list):  # a list: an ONNX sequence of constants
            raise NoMatch(f"{name!r} is computed where a constant is needed")
        return value

    def value(self, name: str) -> Any:
        if name in self.values:
            return self.values[name]
        index = self.graph.producer.get(name)
        stored = self.importer.values.get(name)
        if isinstance(stored, np.ndarray) and (index is None or self.graph.nodes[index].op_type == "Constant"):
            return stored
        if name in self.region.entries:
            return self._entry(name)
        if index is None or not (index in self.region.closure or index in self.region.nodes
                                 or name in self.graph.static):
            if isinstance(stored, np.ndarray):
                return stored
            raise NoMatch(f"{name!r} is not known")
        if index in self.region.nodes:
            raise NoMatch(f"{name!r} is used before it is computed")
        self._fold(index)
        return self.values[name]

    def _fold(self, index: int) -> None:
        from netbuilder.importers.onnx_import import FOLDERS, NodeView, RuleRefused

        node = self.graph.nodes[index]
        op = node.op_type
        view = NodeView(self.importer, node)
        if op == "Shape":
            shape = np.array(self.shape_of(node.input[0]), dtype=np.int64)
            start, end = view.attr("start", 0), view.attr("end", None)
            result = [shape[start:end]]
        elif op == "Size":
            result = [np.array(math.prod(self.shape_of(node.input[0])), dtype=np.int64)]
        elif op == "CastLike":
            like = self.values.get(node.input[1])
            dtype = np.float32 if isinstance(like, Labeled) or like is None else \
                np.asarray(self.value(node.input[1])).dtype
            result = [self.const(node.input[0]).astype(dtype)]
        elif op == "Constant":
            result = [self.importer.values[node.output[0]]]
        elif op in EXTRA_FOLDERS or op in FOLDERS:
            args = [self.const(name) if name else None for name in node.input]
            folder = EXTRA_FOLDERS.get(op) or FOLDERS[op]
            try:
                result = folder(view, args)
            except (RuleRefused, ValueError, IndexError, TypeError) as error:
                raise NoMatch(f"its shape arithmetic ({op}) cannot be evaluated: {error}") from None
        else:
            raise NoMatch(f"its shape arithmetic uses {op}")
        for name, array in zip(node.output, result, strict=False):
            if name:
                self.values[name] = array if isinstance(array, list) else np.asarray(array)

    def _entry(self, name: str) -> Labeled:
        from netbuilder.importers.onnx_import import Tensor

        tensor = self.importer.values.get(name)
        if not isinstance(tensor, Tensor):
            raise NoMatch(f"its input {name!r} is not a computed tensor")
        real = self.concrete(tensor.type.shape)
        if len(real) != 3 or tensor.type.dtype != "float32":
            raise NoMatch(f"its input is not a float sequence N×T×D (it is {list(tensor.type.shape)})")
        grids = np.indices(real)
        axes = tensor.axes if tensor.axes is not None else (0, 1, 2)
        order = [a for a in axes if a is not None]
        arrays = {}
        for key, grid in zip(("n", "t", "e"), grids, strict=True):
            moved = np.transpose(grid, order)
            for position, axis in enumerate(axes):
                if axis is None:
                    moved = np.expand_dims(moved, position)
            arrays[key] = moved
        labeled = Labeled("input", arrays, {"entry": name, "width": real[2]})
        self.values[name] = labeled
        return labeled

    # ---- the data path ------------------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        for index in sorted(self.region.nodes):
            node = self.graph.nodes[index]
            data = [self.value(name) if name else None for name in node.input]
            outputs = self._step(node, data)
            for name, result in zip(node.output, outputs, strict=False):
                if name:
                    self.values[name] = result
        return self.values

    def _step(self, node: Any, args: list[Any]) -> list[Any]:
        op = node.op_type
        from netbuilder.importers.onnx_import import NodeView

        view = NodeView(self.importer, node)
        labeled = [a for a in args if isinstance(a, Labeled)]
        if op in MOVES:
            return _move(view, args)
        if op in ("MatMul", "Gemm"):
            return [_product(view, args)]
        if op == "Softmax":
            return [_softmax(view, args[0], self.length_of(args[0]))]
        if op in ("Add", "Sub", "Mul", "Div") and len(labeled) == 1:
            return [_arithmetic(op, args)]
        if op == "Where" and len(labeled) == 1:
            return [_where(args)]
        raise NoMatch(f"it uses {op} on its values")

    def length_of(self, scores: Any) -> int:
        if not isinstance(scores, Labeled) or scores.kind != "scores":
            raise NoMatch("its softmax is not taken over attention scores")
        return int(scores.meta["keys"])


# ---- data movement ------------------------------------------------------------------------------------------------


def _axes_input(view: Any, args: list[Any]) -> tuple[int, ...] | None:
    if len(args) > 1 and args[1] is not None:
        return tuple(int(a) for a in np.asarray(args[1]).reshape(-1).tolist())
    value = view.attr("axes")
    return tuple(int(a) for a in value) if value is not None else None


def _move(view: Any, args: list[Any]) -> list[Any]:
    op = view.op_type
    x = args[0]
    if not isinstance(x, Labeled):
        raise NoMatch(f"{op} takes a constant where its values were expected")
    shape = x.shape
    if op in ("Identity", "Dropout"):
        return [x]
    if op == "Cast":
        if view.attr("to") not in _FLOAT_CASTS:
            raise NoMatch("it casts its values to a non-float type")
        return [x]
    if op == "Reshape":
        target = [int(d) for d in np.asarray(args[1]).reshape(-1).tolist()]
        if not view.attr("allowzero", 0):
            target = [shape[i] if d == 0 and i < len(shape) else d for i, d in enumerate(target)]
        try:
            return [x.moved(lambda a: a.reshape(target))]
        except ValueError:
            raise NoMatch(f"a Reshape of {list(shape)} to {target} does not fit") from None
    if op == "Transpose":
        perm = view.attr("perm") or list(reversed(range(len(shape))))
        return [x.moved(lambda a: np.transpose(a, perm))]
    if op == "Unsqueeze":
        axes = _axes_input(view, args) or ()
        rank = len(shape) + len(axes)

        def unsqueeze(a: np.ndarray) -> np.ndarray:
            for axis in sorted(ax % rank for ax in axes):
                a = np.expand_dims(a, axis)
            return a

        return [x.moved(unsqueeze)]
    if op == "Squeeze":
        axes = _axes_input(view, args)
        if axes and any(shape[a % len(shape)] != 1 for a in axes):
            raise NoMatch("it squeezes an axis longer than 1")
        return [x.moved(lambda a: np.squeeze(a, axis=tuple(ax % len(shape) for ax in axes)) if axes
                        else np.squeeze(a))]
    if op == "Flatten":
        axis = int(view.attr("axis", 1)) % (len(shape) + 1)
        front = math.prod(shape[:axis])
        return [x.moved(lambda a: a.reshape(front, -1))]
    if op == "Gather":
        index = np.asarray(args[1]).astype(np.int64)
        axis = int(view.attr("axis", 0)) % len(shape)
        if np.any(index >= shape[axis]) or np.any(index < -shape[axis]):
            raise NoMatch("it gathers past the end of an axis")
        return [x.moved(lambda a: np.take(a, index, axis=axis))]
    if op == "Slice":
        starts = np.asarray(args[1]).reshape(-1).tolist()
        ends = np.asarray(args[2]).reshape(-1).tolist()
        axes = np.asarray(args[3]).reshape(-1).tolist() if len(args) > 3 and args[3] is not None else \
            list(range(len(starts)))
        steps = np.asarray(args[4]).reshape(-1).tolist() if len(args) > 4 and args[4] is not None else \
            [1] * len(starts)
        index = [slice(None)] * len(shape)
        for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
            index[int(axis) % len(shape)] = slice(int(start), int(end), int(step))
        return [x.moved(lambda a: a[tuple(index)])]
    if op == "Split":
        axis = int(view.attr("axis", 0)) % len(shape)
        count = view.output_count
        if len(args) > 1 and args[1] is not None:
            sizes = [int(s) for s in np.asarray(args[1]).reshape(-1).tolist()]
        elif view.attr("split") is not None:
            sizes = [int(s) for s in view.attr("split")]
        else:
            size = -(-shape[axis] // count)
            sizes = [min(size, shape[axis] - size * i) for i in range(count)]
        if sum(sizes) != shape[axis] or len(sizes) != count:
            raise NoMatch("a Split whose parts do not add up")
        bounds = np.cumsum([0, *sizes])
        return [x.moved(lambda a, s=s, e=e: np.take(a, np.arange(s, e), axis=axis))
                for s, e in zip(bounds[:-1], bounds[1:], strict=True)]
    raise NoMatch(f"it uses {op} on its values")


# ---- products -----------------------------------------------------------------------------------------------------


def _product(view: Any, args: list[Any]) -> Labeled:
    a = args[0]
    if not isinstance(a, Labeled):
        raise NoMatch("a product whose first factor is a constant")
    if isinstance(args[1], Labeled):
        b = args[1]
        if a.kind == "proj" and b.kind == "proj":
            return _scores(a, b)
        if a.kind == "probs" and b.kind == "proj":
            return _attend(a, b)
        raise NoMatch("it multiplies computed tensors other than queries by keys and weights by values")
    weight = np.asarray(args[1], dtype=np.float64)
    bias = None
    if view.op_type == "Gemm":
        if view.attr("transA", 0):
            raise NoMatch("a Gemm with its input transposed")
        if view.attr("transB", 0):
            weight = weight.T
        weight = weight * float(view.attr("alpha", 1.0))
        if len(args) > 2 and args[2] is not None:
            bias = np.asarray(args[2], dtype=np.float64) * float(view.attr("beta", 1.0))
    if weight.ndim != 2:
        raise NoMatch(f"a projection by a weight of rank {weight.ndim}")
    if a.kind == "input":
        result = _project(a, weight)
    elif a.kind == "attended":
        result = _output_projection(a, weight)
    else:
        raise NoMatch("two projections follow each other")
    return _arithmetic("Add", [result, bias]) if bias is not None else result


def _rows(x: Labeled, key: str, what: str) -> np.ndarray:
    """The labels ``key`` along the last axis, the same in every row (else refuse)."""
    for other in ("n", "t"):
        if not _constant_along(x.arrays[other], -1):
            raise NoMatch(f"{what} mixes {'samples' if other == 'n' else 'positions'}")
    labels = x.arrays[key].reshape(-1, x.shape[-1])
    if not np.all(labels == labels[:1]):
        raise NoMatch(f"{what} does not take the same features in every row")
    return labels[0]


def _project(x: Labeled, weight: np.ndarray) -> Labeled:
    width = x.meta["width"]
    features = _rows(x, "e", "a projection")
    if weight.shape[0] != x.shape[-1] or sorted(features.tolist()) != list(range(width)):
        raise NoMatch("a projection does not read whole input vectors")
    rows = weight.shape[1]
    full = np.zeros((rows, width))
    full[:, features] = weight.T
    base = x.shape[:-1] + (rows,)
    arrays = {"n": np.broadcast_to(x.arrays["n"][..., :1], base), "t": np.broadcast_to(x.arrays["t"][..., :1], base),
              "f": np.broadcast_to(np.arange(rows), base)}
    return Labeled("proj", arrays, {"proj": Projection(full, np.zeros(rows), 1.0, x.meta["entry"])})


def _output_projection(x: Labeled, weight: np.ndarray) -> Labeled:
    rows = _rows(x, "f", "the output projection")
    heads = x.meta["heads"]
    used = sorted(r for group in heads.values() for r in group)
    if weight.shape[0] != x.shape[-1] or sorted(rows.tolist()) != used or len(set(rows.tolist())) != len(used):
        raise NoMatch("its output projection does not read every head's values exactly once")
    columns = x.meta["proj_v"].weight.shape[0]
    full = np.zeros((weight.shape[1], columns))
    full[:, rows] = weight.T
    base = x.shape[:-1] + (weight.shape[1],)
    arrays = {"n": np.broadcast_to(x.arrays["n"][..., :1], base), "t": np.broadcast_to(x.arrays["t"][..., :1], base),
              "m": np.broadcast_to(np.arange(weight.shape[1]), base)}
    return Labeled("out", arrays, {**x.meta, "out_weight": full, "out_bias": np.zeros(weight.shape[1])})


def _scores(q: Labeled, k: Labeled) -> Labeled:
    if q.shape[:-2] != k.shape[:-2] or q.shape[-1] != k.shape[-2]:
        raise NoMatch(f"queries {list(q.shape)} and keys {list(k.shape)} do not pair up")
    for key in ("n", "t"):
        if not _constant_along(q.arrays[key], -1) or not _constant_along(k.arrays[key], -2):
            raise NoMatch("its query-key product mixes samples or positions")
    if not _constant_along(q.arrays["f"], -2) or not _constant_along(k.arrays["f"], -1):
        raise NoMatch("its query-key product does not use the same features for every position")
    batch = q.shape[:-2]
    fq = q.arrays["f"][..., 0, :].reshape(-1, q.shape[-1])
    fk = k.arrays["f"][..., :, 0].reshape(-1, q.shape[-1])
    keys: dict[tuple[bytes, bytes], int] = {}
    groups = np.array([keys.setdefault((a.tobytes(), b.tobytes()), len(keys)) for a, b in zip(fq, fk, strict=True)])
    pairs = {g: (fq[i], fk[i]) for i, g in enumerate(groups.tolist())}
    rows_q = np.concatenate([p[0] for p in pairs.values()])
    rows_k = np.concatenate([p[1] for p in pairs.values()])
    if len(set(rows_q.tolist())) != rows_q.size or len(set(rows_k.tolist())) != rows_k.size:
        raise NoMatch("its heads share query or key features")
    n_q = q.arrays["n"][..., :, :1]
    n_k = k.arrays["n"][..., :1, :]
    if not np.all(n_q == n_k):
        raise NoMatch("its queries meet keys of other samples")
    shape = batch + (q.shape[-2], k.shape[-1])
    arrays = {"n": np.broadcast_to(n_q, shape), "g": np.broadcast_to(groups.reshape(batch + (1, 1)), shape),
              "i": np.broadcast_to(q.arrays["t"][..., :, :1], shape),
              "j": np.broadcast_to(k.arrays["t"][..., :1, :], shape), "mask": np.zeros(shape)}
    meta = {"proj_q": q.meta["proj"], "proj_k": k.meta["proj"], "pairs": pairs, "scale": 1.0,
            "queries": int(np.max(q.arrays["t"])) + 1, "keys": int(np.max(k.arrays["t"])) + 1}
    return Labeled("scores", arrays, meta)


def _attend(p: Labeled, v: Labeled) -> Labeled:
    if p.shape[:-2] != v.shape[:-2] or p.shape[-1] != v.shape[-2]:
        raise NoMatch(f"its weights {list(p.shape)} and values {list(v.shape)} do not pair up")
    for key in ("n", "g", "i"):
        if not _constant_along(p.arrays[key], -1):
            raise NoMatch("its weights mix rows")
    if not _constant_along(p.arrays["g"], -2):
        raise NoMatch("its weights mix heads where they meet the values")
    if not (_constant_along(v.arrays["n"], -2) and _constant_along(v.arrays["f"], -2)
            and _constant_along(v.arrays["t"], -1) and _constant_along(p.arrays["j"], -2)):
        raise NoMatch("its values are not laid out one position per row")
    if not np.all(p.arrays["j"][..., :1, :] == np.swapaxes(v.arrays["t"][..., :, :1], -1, -2)):
        raise NoMatch("its weights meet values of other positions")
    if not np.all(p.arrays["n"][..., :, :1] == v.arrays["n"][..., :1, :]):
        raise NoMatch("its weights meet values of other samples")
    shape = p.shape[:-1] + (v.shape[-1],)
    g = np.broadcast_to(p.arrays["g"][..., :, :1], shape)
    f = np.broadcast_to(v.arrays["f"][..., :1, :], shape)
    heads: dict[int, tuple[int, ...]] = {}
    flat_g = p.arrays["g"][..., 0, 0].reshape(-1)
    flat_f = v.arrays["f"][..., 0, :].reshape(-1, v.shape[-1])
    for group, rows in zip(flat_g.tolist(), flat_f, strict=True):
        if heads.setdefault(group, tuple(rows.tolist())) != tuple(rows.tolist()):
            raise NoMatch("one head takes different values for different samples")
    used = [r for rows in heads.values() for r in rows]
    if len(set(used)) != len(used):
        raise NoMatch("its heads share value features")
    if v.meta["proj"].entry != p.meta["proj_k"].entry:
        raise NoMatch("its values come from another sequence than its keys")
    arrays = {"n": np.broadcast_to(p.arrays["n"][..., :, :1], shape),
              "t": np.broadcast_to(p.arrays["i"][..., :, :1], shape), "f": f, "g": g}
    return Labeled("attended", arrays, {**p.meta, "proj_v": v.meta["proj"], "heads": heads})


# ---- element-wise arithmetic with constants ----------------------------------------------------------------------


def _uniform(constant: np.ndarray, what: str) -> float:
    flat = np.asarray(constant, dtype=np.float64).reshape(-1)
    if flat.size == 0 or not np.all(flat == flat[0]):
        raise NoMatch(f"it {what} by a constant that differs from element to element")
    return float(flat[0])


def _arithmetic(op: str, args: list[Any]) -> Labeled:
    x = next(a for a in args if isinstance(a, Labeled))
    constant = np.asarray(next(a for a in args if not isinstance(a, Labeled)), dtype=np.float64)
    first = isinstance(args[0], Labeled)
    if op in ("Sub", "Div") and not first:
        raise NoMatch(f"it {'subtracts its values from' if op == 'Sub' else 'divides'} a constant")
    if op in ("Mul", "Div"):
        factor = _uniform(constant, "multiplies")
        if factor == 0:
            raise NoMatch("it multiplies by zero")
        factor = 1.0 / factor if op == "Div" else factor
        return _scaled(x, factor)
    values = _broadcast(constant, x.shape, "a constant added")
    values = -values if op == "Sub" else values
    if x.kind == "proj":
        proj = x.meta["proj"]
        shift = np.zeros_like(proj.bias)
        flat_f, flat_v = x.arrays["f"].reshape(-1), values.reshape(-1)
        shift[flat_f] = flat_v
        if not np.array_equal(shift[flat_f], flat_v):
            raise NoMatch("it adds a constant that is not one bias per feature")
        return Labeled("proj", x.arrays, {"proj": replace(proj, bias=proj.bias + shift)})
    if x.kind == "out":
        shift = np.zeros_like(x.meta["out_bias"])
        flat_m, flat_v = x.arrays["m"].reshape(-1), values.reshape(-1)
        shift[flat_m] = flat_v
        if not np.array_equal(shift[flat_m], flat_v):
            raise NoMatch("it adds a constant to its output that is not one bias per feature")
        return Labeled("out", x.arrays, {**x.meta, "out_bias": x.meta["out_bias"] + shift})
    if x.kind == "scores":
        return Labeled("scores", {**x.arrays, "mask": x.arrays["mask"] + values}, x.meta)
    raise NoMatch(f"it adds a constant to its {_KIND_WORDS[x.kind]}")


def _scaled(x: Labeled, factor: float) -> Labeled:
    if x.kind == "proj":
        proj = x.meta["proj"]
        return Labeled("proj", x.arrays, {"proj": replace(proj, scale=proj.scale * factor, bias=proj.bias * factor)})
    if x.kind == "scores":
        if factor <= 0:
            raise NoMatch("it multiplies its scores by a negative number")
        return Labeled("scores", {**x.arrays, "mask": x.arrays["mask"] * factor},
                       {**x.meta, "scale": x.meta["scale"] * factor})
    raise NoMatch(f"it multiplies its {_KIND_WORDS[x.kind]} by a constant")


def _where(args: list[Any]) -> Labeled:
    condition, a, b = args
    if isinstance(condition, Labeled):
        raise NoMatch("it selects with a computed condition")
    scores = a if isinstance(a, Labeled) else b
    if scores.kind != "scores":
        raise NoMatch(f"it selects between its {_KIND_WORDS[scores.kind]} and a constant")
    other = np.asarray(b if scores is a else a, dtype=np.float64)
    keep = _broadcast(np.asarray(condition, dtype=bool), scores.shape, "a mask")
    keep = keep if scores is a else ~keep
    fill = _broadcast(other, scores.shape, "a mask value")
    if np.any(fill[~keep] > MASKED):
        raise NoMatch("it replaces scores by values that do not hide them (above -1e9)")
    mask = np.where(keep, scores.arrays["mask"], -np.inf)
    return Labeled("scores", {**scores.arrays, "mask": mask}, scores.meta)


_KIND_WORDS = {"input": "input", "proj": "projections", "scores": "scores", "probs": "attention weights",
               "attended": "attended values", "out": "output"}


# ---- softmax ------------------------------------------------------------------------------------------------------


def _softmax(view: Any, x: Labeled, keys: int) -> Labeled:
    rank = len(x.shape)
    default = -1 if view.opset >= 13 else 1
    if int(view.attr("axis", default)) % rank != rank - 1:
        raise NoMatch("its softmax is not taken over the last axis")
    for key in ("n", "g", "i"):
        if not _constant_along(x.arrays[key], -1):
            raise NoMatch("its softmax mixes rows of different queries")
    j = x.arrays["j"].reshape(-1, x.shape[-1])
    if x.shape[-1] != keys or not np.all(np.sort(j, axis=1) == np.arange(keys)):
        raise NoMatch("its softmax does not run over every key position once")
    mask = x.arrays["mask"]
    hidden = mask <= MASKED
    if np.any(~hidden & (mask != 0)):
        raise NoMatch("it adds a mask with values other than 0 and -inf (e.g. a position bias), which "
                      "multi-head attention cannot express")
    if not hidden.any():
        causal = False
    elif np.array_equal(hidden, x.arrays["j"] > x.arrays["i"]):
        causal = True
    else:
        raise NoMatch("its mask is neither none nor causal (each step sees only itself and earlier steps), the "
                      "two masks multi-head attention has")
    arrays = {key: x.arrays[key] for key in ("n", "g", "i", "j")}
    return Labeled("probs", arrays, {**x.meta, "causal": causal})


# -------------------------------------------------------------------------------------------------------------------
# The layer


@dataclass
class AttentionLayer:
    """What one attention region imports as: the layer's settings and weights, and the ONNX value it gives."""

    num_heads: int
    causal: bool
    weights: dict[str, np.ndarray]
    output: str
    axes: tuple[int, ...] | None  # the output's axes when it is not batch first (see onnx_import.Tensor.axes)
    end: int  # index of the node giving ``output`` (nodes of the chain after it are imported normally)
    query: str  # the ONNX value attending
    memory: str | None  # the value attended to in cross-attention (None: self-attention)


def _layer(values: dict[str, Any], region: Region, graph: _Graph, sizes: tuple[int, int]) -> AttentionLayer:
    end, result, axes = None, None, None
    for index in region.ends:
        candidate = values[graph.nodes[index].output[0]]
        if isinstance(candidate, Labeled) and candidate.kind == "out":
            width = candidate.meta["proj_q"].weight.shape[1]
            axes = _layout(candidate, (sizes[0], candidate.meta["queries"], width))
            if axes is not None:
                end, result = index, candidate
                break
    if result is None or end is None or axes is None:
        raise NoMatch("its output is not the sequence N×T×D it came from, batch first or with its axes moved")
    meta = result.meta
    pairs = [meta["pairs"][g] for g in sorted(meta["pairs"], key=lambda g: int(meta["pairs"][g][0].min()))]
    heads = len(pairs)
    size = len(pairs[0][0])
    width = meta["proj_q"].weight.shape[1]
    if set(meta["heads"]) != set(meta["pairs"]):
        raise NoMatch("some heads have queries and keys but no values, or the reverse")
    if any(len(q) != size for q, _ in pairs) or any(len(rows) != size for rows in meta["heads"].values()):
        raise NoMatch("its heads differ in size")
    if heads * size != width:
        raise NoMatch(f"its {heads} heads of {size} features do not add up to the input's {width} features")
    scale = meta["proj_q"].scale * meta["proj_k"].scale * meta["scale"]
    expected = 1.0 / math.sqrt(size)
    if not math.isclose(scale, expected, rel_tol=1e-5):
        raise NoMatch(f"its scores are scaled by {scale:.6g}, not by 1/√{size} = {expected:.6g} as multi-head "
                      f"attention with heads of {size} features scales them")
    groups = sorted(meta["pairs"], key=lambda g: int(meta["pairs"][g][0].min()))
    rows_q = np.concatenate([meta["pairs"][g][0] for g in groups])
    rows_k = np.concatenate([meta["pairs"][g][1] for g in groups])
    rows_v = np.concatenate([np.array(meta["heads"][g]) for g in groups])
    q, k, v = meta["proj_q"], meta["proj_k"], meta["proj_v"]
    cross = q.entry != k.entry
    if cross and meta["causal"]:
        raise NoMatch("it masks cross-attention causally, which the layer does not do (causal is for "
                      "self-attention)")
    projections = [q.weight[rows_q], k.weight[rows_k], v.weight[rows_v] * v.scale]
    bias = np.concatenate([q.bias[rows_q] / q.scale, k.bias[rows_k] / k.scale, v.bias[rows_v]])
    if projections[1].shape[1] == width:
        weights = {"in_proj_weight": np.concatenate(projections).astype(np.float32)}
    else:  # keys and values of another width: nn.MultiheadAttention keeps three matrices
        weights = {f"{p}_proj_weight": w.astype(np.float32) for p, w in zip("qkv", projections, strict=True)}
    weights |= {"in_proj_bias": bias.astype(np.float32),
                "out_proj.weight": meta["out_weight"][:, rows_v].astype(np.float32),
                "out_proj.bias": meta["out_bias"].astype(np.float32)}
    return AttentionLayer(heads, bool(meta["causal"]), weights, graph.nodes[end].output[0],
                          None if axes == (0, 1, 2) else axes, end, q.entry, k.entry if cross else None)


def _layout(x: Labeled, sizes: tuple[int, int, int]) -> tuple[int, ...] | None:
    """How the labels lie against the batch-first N×T×D output: for each axis, the output axis it is ((0, 1, 2)
    when in order); None when they are not that output with its axes moved."""
    if len(x.shape) != 3:
        return None
    axes: list[int | None] = [None, None, None]
    single = []
    for real, key in enumerate(("n", "t", "m")):
        if sizes[real] == 1:  # constant everywhere: placed on a free axis of size 1 below
            if np.any(x.arrays[key] != 0):
                return None
            single.append(real)
            continue
        varying = [axis for axis in range(3) if not _constant_along(x.arrays[key], axis)]
        if len(varying) != 1 or axes[varying[0]] is not None or x.shape[varying[0]] != sizes[real]:
            return None
        axis = varying[0]
        axes[axis] = real
        expected = np.arange(sizes[real]).reshape([-1 if a == axis else 1 for a in range(3)])
        if not np.all(x.arrays[key] == expected):
            return None
    free = [axis for axis in range(3) if axes[axis] is None]
    if any(x.shape[axis] != 1 for axis in free):
        return None
    for axis, real in zip(free, single, strict=True):
        axes[axis] = real
    return tuple(a for a in axes if a is not None)


def match(importer: Any, plan: AttentionPlan, region: Region) -> AttentionLayer:
    """Prove ``region`` equal to one MultiheadAttention layer at two sizes; the layer, or `NoMatch`."""
    found: AttentionLayer | None = None
    batch = importer.fixed_batch
    for n, t in SIZES:
        values = _Evaluator(importer, plan, region, batch or n, t).run()
        layer = _layer(values, region, plan.graph, (batch or n, t))
        if found is not None and (layer.num_heads != found.num_heads or layer.causal != found.causal or
                                  layer.end != found.end or layer.memory != found.memory or any(not np.allclose(layer.weights[key], value)
                                                                for key, value in found.weights.items())):
            raise NoMatch("it computes a different attention at another batch size or length")
        found = layer
    assert found is not None
    return found


# -------------------------------------------------------------------------------------------------------------------
# Constant folding the region's shape arithmetic needs beyond the importer's


def _split_to_sequence(view: Any, args: list[Any]) -> list[Any]:
    data, axis = args[0], int(view.attr("axis", 0)) % args[0].ndim
    split = args[1] if len(args) > 1 and args[1] is not None else None
    if split is None:
        parts = np.split(data, data.shape[axis], axis=axis)
        return [[np.squeeze(p, axis) for p in parts] if not view.attr("keepdims", 1) else parts]
    sizes = [int(split)] * -(-data.shape[axis] // int(split)) if np.ndim(split) == 0 else \
        [int(s) for s in split.tolist()]
    return [np.split(data, np.cumsum(sizes)[:-1], axis=axis)]


def _trilu(view: Any, args: list[Any]) -> list[np.ndarray]:
    k = int(np.asarray(args[1]).reshape(-1)[0]) if len(args) > 1 and args[1] is not None else 0
    return [np.triu(args[0], k) if view.attr("upper", 1) else np.tril(args[0], k)]


EXTRA_FOLDERS: dict[str, Any] = {
    "SplitToSequence": _split_to_sequence,
    "SequenceAt": lambda view, args: [args[0][int(args[1])]],
    "Trilu": _trilu,
    "Equal": lambda view, args: [np.equal(args[0], args[1])],
    "Less": lambda view, args: [np.less(args[0], args[1])],
    "Greater": lambda view, args: [np.greater(args[0], args[1])],
    "LessOrEqual": lambda view, args: [np.less_equal(args[0], args[1])],
    "GreaterOrEqual": lambda view, args: [np.greater_equal(args[0], args[1])],
    "Not": lambda view, args: [np.logical_not(args[0])],
    "Where": lambda view, args: [np.where(args[0], args[1], args[2])],
    "Pow": lambda view, args: [np.power(args[0], args[1])],
    "Reciprocal": lambda view, args: [np.reciprocal(args[0])],
    "Mod": lambda view, args: [np.fmod(args[0], args[1]) if view.attr("fmod", 0) else np.mod(args[0], args[1])],
    "Max": lambda view, args: [np.maximum.reduce(args)],
    "Min": lambda view, args: [np.minimum.reduce(args)],
    "Abs": lambda view, args: [np.abs(args[0])],
    "Floor": lambda view, args: [np.floor(args[0])],
    "Ceil": lambda view, args: [np.ceil(args[0])],
    "Expand": lambda view, args: [np.broadcast_to(args[0], np.broadcast_shapes(
        args[0].shape, tuple(int(d) for d in args[1].reshape(-1)))).copy()],
}


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
