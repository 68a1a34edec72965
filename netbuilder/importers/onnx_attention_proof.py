"""The attention proof (see `netbuilder.importers.onnx_attention`): a region's data path run on labels at concrete
sizes, its shape arithmetic evaluated at those sizes, and the MultiheadAttention layer read off the result.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from netbuilder.importers.onnx_attention_labels import (
    MOVES,
    Labeled,
    NoMatch,
    arithmetic,
    constant_along,
    move,
    product,
    softmax,
    where,
)
from netbuilder.specs import BATCH, SEQ

if TYPE_CHECKING:
    from netbuilder.importers.onnx_attention import AttentionPlan, Region, _Graph

SIZES = ((2, 5), (3, 7))  # (batch, length) pairs the region is proved at


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
            result = [self.const(node.input[0]).astype(self._dtype(node.input[1]))]
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

    def _dtype(self, name: str) -> np.dtype:
        from netbuilder.importers.onnx_import import Tensor

        if isinstance(self.values.get(name), Labeled):
            return np.dtype(np.float32)
        found = self.importer.values.get(name)
        if isinstance(found, Tensor):
            return np.dtype(found.type.dtype)
        return np.asarray(self.value(name)).dtype

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
        labeled = Labeled("input", arrays, {"entry": name, "width": real[2], "length": real[1]})
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
            return move(view, args)
        if op in ("MatMul", "Gemm"):
            return [product(view, args)]
        if op == "Softmax":
            return [softmax(view, args[0], self.length_of(args[0]))]
        if op in ("Add", "Sub", "Mul", "Div") and len(labeled) == 1:
            return [arithmetic(op, args)]
        if op == "Where" and len(labeled) == 1:
            return [where(args)]
        raise NoMatch(f"it uses {op} on its values")

    def length_of(self, scores: Any) -> int:
        if not isinstance(scores, Labeled) or scores.kind != "scores":
            raise NoMatch("its softmax is not taken over attention scores")
        return int(scores.meta["keys"])


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
        varying = [axis for axis in range(3) if not constant_along(x.arrays[key], axis)]
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
        try:
            values = _Evaluator(importer, plan, region, batch or n, t).run()
            layer = _layer(values, region, plan.graph, (batch or n, t))
        except NoMatch as error:
            if found is None:
                raise
            raise NoMatch(f"it only works at the sizes it was exported with (with batch {batch or n} and length "
                          f"{t}, {error}): the file has them built in; export it again with a variable batch and "
                          "length (PyTorch's dynamo exporter keeps them)") from None
        if found is not None and not _same(layer, found):
            raise NoMatch("it computes a different attention at another batch size or length")
        found = layer
    assert found is not None
    return found


def _same(a: AttentionLayer, b: AttentionLayer) -> bool:
    return (a.num_heads, a.causal, a.end, a.query, a.memory) == (b.num_heads, b.causal, b.end, b.query, b.memory) \
        and a.weights.keys() == b.weights.keys() and all(np.allclose(a.weights[k], b.weights[k]) for k in a.weights)


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


def _split(view: Any, args: list[Any]) -> list[np.ndarray]:
    data, count = args[0], view.output_count
    axis = int(view.attr("axis", 0)) % data.ndim
    if len(args) > 1 and args[1] is not None:
        sizes = [int(s) for s in args[1].reshape(-1).tolist()]
    elif view.attr("split") is not None:
        sizes = [int(s) for s in view.attr("split")]
    else:
        size = -(-data.shape[axis] // count)
        sizes = [min(size, data.shape[axis] - size * i) for i in range(count)]
    return np.split(data, np.cumsum(sizes)[:-1], axis=axis)


def _trilu(view: Any, args: list[Any]) -> list[np.ndarray]:
    k = int(np.asarray(args[1]).reshape(-1)[0]) if len(args) > 1 and args[1] is not None else 0
    return [np.triu(args[0], k) if view.attr("upper", 1) else np.tril(args[0], k)]


EXTRA_FOLDERS: dict[str, Any] = {
    "Split": _split,
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
