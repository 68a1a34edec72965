"""Labels for the attention proof (see `netbuilder.importers.onnx_attention`): what each element of a tensor in an
attention region stands for, and how every operation of the region moves or combines those labels.

A label array per meaning (the batch index n, the position t, the feature or projection row f, the head group g,
query i and key j, the mask added so far), all of the tensor's shape: data movement (reshape, transpose, gather,
slice, split…) moves them exactly as it moves values; arithmetic is checked where it happens (a projection takes
whole input vectors, the query-key product pairs the rows of one head for one sample, the softmax runs over every
key of one query) and records the weights, biases and scales it meets. Anything else raises `NoMatch` with the
reason in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

MOVES = {"Identity", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Flatten", "Gather", "Slice", "Split", "Cast",
         "Dropout"}
ARITHMETIC = {"Add", "Sub", "Mul", "Div", "Where"}
PRODUCTS = {"MatMul", "Gemm"}
MASKED = -1e9  # an additive mask at or below this hides a position (exp underflows to exactly 0 in float32)
_FLOAT_CASTS = {1, 11}  # float, double: a cast to half precision would round the values


class NoMatch(Exception):
    """The region is not (provably) the attention NetBuilder's layer computes; the message says why."""


# -------------------------------------------------------------------------------------------------------------------
# Labels: what each element of a tensor in the region stands for


@dataclass(frozen=True)
class Projection:
    """``scale * (x @ weight.T) + bias`` of the region's input x, row by row (rows: output features)."""

    weight: np.ndarray
    bias: np.ndarray
    scale: float
    entry: str
    length: int  # the entry's sequence length (every position must be attended)


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


def constant_along(array: np.ndarray, axis: int) -> bool:
    return bool(np.all(array == np.take(array, [0], axis=axis)))


def _broadcast(constant: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    try:
        if np.broadcast_shapes(constant.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise NoMatch(f"{what} of shape {list(constant.shape)} does not fit its values {list(shape)}") from None
    return np.broadcast_to(constant, shape)


# ---- data movement ------------------------------------------------------------------------------------------------


def _axes_input(view: Any, args: list[Any]) -> tuple[int, ...] | None:
    if len(args) > 1 and args[1] is not None:
        return tuple(int(a) for a in np.asarray(args[1]).reshape(-1).tolist())
    value = view.attr("axes")
    return tuple(int(a) for a in value) if value is not None else None


def move(view: Any, args: list[Any]) -> list[Any]:
    op = view.op_type
    x = args[0]
    if not isinstance(x, Labeled):
        raise NoMatch(f"{op} takes a constant where its values were expected")
    shape = x.shape
    if op == "Dropout" and len(args) > 2 and args[2] is not None and bool(np.asarray(args[2]).reshape(-1)[0]):
        raise NoMatch("it drops values at random (a Dropout in training mode)")
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


def product(view: Any, args: list[Any]) -> Labeled:
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
    return arithmetic("Add", [result, bias]) if bias is not None else result


def _rows(x: Labeled, key: str, what: str) -> np.ndarray:
    """The labels ``key`` along the last axis, the same in every row (else refuse)."""
    for other in ("n", "t"):
        if not constant_along(x.arrays[other], -1):
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
    return Labeled("proj", arrays, {"proj": Projection(full, np.zeros(rows), 1.0, x.meta["entry"], x.meta["length"])})


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
        if not constant_along(q.arrays[key], -1) or not constant_along(k.arrays[key], -2):
            raise NoMatch("its query-key product mixes samples or positions")
    if not constant_along(q.arrays["f"], -2) or not constant_along(k.arrays["f"], -1):
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
            "queries": q.meta["proj"].length, "keys": k.meta["proj"].length}
    return Labeled("scores", arrays, meta)


def _attend(p: Labeled, v: Labeled) -> Labeled:
    if p.shape[:-2] != v.shape[:-2] or p.shape[-1] != v.shape[-2]:
        raise NoMatch(f"its weights {list(p.shape)} and values {list(v.shape)} do not pair up")
    for key in ("n", "g", "i"):
        if not constant_along(p.arrays[key], -1):
            raise NoMatch("its weights mix rows")
    if not constant_along(p.arrays["g"], -2):
        raise NoMatch("its weights mix heads where they meet the values")
    if not (constant_along(v.arrays["n"], -2) and constant_along(v.arrays["f"], -2)
            and constant_along(v.arrays["t"], -1) and constant_along(p.arrays["j"], -2)):
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


def arithmetic(op: str, args: list[Any]) -> Labeled:
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


def where(args: list[Any]) -> Labeled:
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
    if np.any(~(fill[~keep] <= MASKED)):  # NaN fails this too
        raise NoMatch("it replaces scores by values that do not hide them (above -1e9)")
    mask = np.where(keep, scores.arrays["mask"], -np.inf)
    return Labeled("scores", {**scores.arrays, "mask": mask}, scores.meta)


_KIND_WORDS = {"input": "input", "proj": "projections", "scores": "scores", "probs": "attention weights",
               "attended": "attended values", "out": "output"}


# ---- softmax ------------------------------------------------------------------------------------------------------


def softmax(view: Any, x: Labeled, keys: int) -> Labeled:
    rank = len(x.shape)
    default = -1 if view.opset >= 13 else 1
    if int(view.attr("axis", default)) % rank != rank - 1:
        raise NoMatch("its softmax is not taken over the last axis")
    for key in ("n", "g", "i"):
        if not constant_along(x.arrays[key], -1):
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
