"""PyTorch import rules for reductions and global pools: ``mean``, ``sum``, ``amax`` and ``max(dim)`` over the
axes after one kept axis, pooling windows sized by the input, adaptive max pooling to size 1. Each becomes a global
pool (with a Permute, a Scale or Unsqueezes around it as needed). Used by `netbuilder.importers.pytorch_layers`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx

from netbuilder.importers.pytorch_lengths import BakedLength
from netbuilder.importers.pytorch_values import (
    Unsupported,
    Value,
    _arg,
    _meta_shape,
    _RecurrentCall,
)

if TYPE_CHECKING:
    from netbuilder.importers.pytorch import _Builder

FunctionRule = Callable[[Any, fx.Node], Any]  # (builder, call) -> value, as in pytorch_layers


def _global_max(b: _Builder, node: fx.Node, x: Value, output_size: Any) -> Value:
    """Adaptive max pooling to size 1 is a global max pool that keeps the N×C×1(×1) shape; other sizes have no
    NetBuilder layer."""
    d = x.type.rank - 2
    sizes = output_size if isinstance(output_size, list | tuple) else (output_size,) * max(d, 1)
    if d not in (1, 2) or any(size != 1 for size in sizes):
        raise Unsupported(f"adaptive max pooling to {output_size} (only to size 1, a global max pool, imports)")
    value = b.emit(node, "GlobalMaxPool", {}, [x], suffix="pool")
    for axis in range(2, 2 + d):
        value = b.emit(node, "Unsqueeze", {"axis": axis}, [value], suffix="" if axis == 1 + d else f"keep{axis}")
    return value


def _reduce(kind: str) -> FunctionRule:
    """``mean``, ``sum``, ``amax`` and ``max(dim)`` over axes that keep one axis besides the batch: the kept axis
    is moved to the channels place (Permute) and every other is pooled (GlobalAvgPool / GlobalMaxPool; a sum is
    the mean times the count); ``keepdim`` puts the pooled axes back as size 1. ``x.mean(dim=1)`` over a sequence
    N×T×D is the mean pool of a Transformer classifier; ``x.mean((2, 3))`` the global average pool of a CNN;
    ``x.max(dim=2)[0]`` the max-over-time pool of a text CNN."""


    def rule(b: _Builder, node: fx.Node) -> Any:
        x = b.tensor(node.args[0])
        dims = _arg(node, 1, "dim")
        if isinstance(dims, fx.Node) and isinstance(b.values.get(dims), Value):
            raise Unsupported("an element-wise maximum of two tensors (no NetBuilder layer for it)")
        dims = b.constant(dims, "axes")
        keepdim = b.constant(_arg(node, 2, "keepdim", False), "keepdim")
        if dims is None or dims == () or dims == []:
            raise Unsupported("a reduction over every axis, the batch included (give dim, e.g. dim=1)")
        if node.kwargs.get("dtype") is not None:
            raise Unsupported("a reduction with a dtype")
        value = _pooled(b, node, x, (dims,) if isinstance(dims, int) else tuple(dims), bool(keepdim), kind)
        if kind == "max" and node.target != "amax" and node.target is not torch.amax:
            return _RecurrentCall(value, node.name, "the indices of the maxima (output[1], .indices); NetBuilder "
                                  "keeps the values")
        return value


    return rule


def _pooled(b: _Builder, node: fx.Node, x: Value, dims: tuple[int, ...], keepdim: bool, kind: str) -> Value:
    rank = x.type.rank
    axes = sorted({d % rank for d in dims})
    reduced = tuple(axes)
    if 0 in axes:
        raise Unsupported("a reduction over the batch axis")
    kept = [axis for axis in range(1, rank) if axis not in axes]
    if len(kept) > 1:
        raise Unsupported(f"a reduction over axes {', '.join(map(str, axes))} of a rank {rank} tensor keeps "
                          f"{len(kept)} axes besides the batch (NetBuilder's global pools keep one, the channels)")
    pool = "GlobalMaxPool" if kind == "max" else "GlobalAvgPool"
    steps: list[tuple[str, dict[str, Any], str]] = []
    if keepdim and kind == "mean" and rank - 2 in (1, 2) and kept == [1]:
        steps.append((f"AdaptiveAvgPool{rank - 2}d", {"output_size": (1,) * (rank - 2)}, "pool"))
        keepdim = False  # the adaptive pool keeps the axes itself
    else:
        if not kept:  # every axis pooled: a channel axis of size 1 first, so the pool keeps N×1
            if not keepdim:
                raise Unsupported("a reduction that leaves only the batch axis (keepdim=True keeps N×1…)")
            steps.append(("Unsqueeze", {"axis": 1}, "channel"))
            axes = list(range(2, rank))  # N×1 after the pool: the other axes come back as size 1
        elif kept != [1]:
            steps.append(("Permute", {"order": (kept[0], *axes)}, "channels_first"))
        steps.append((pool, {}, "pool"))
    if kind == "sum":
        sizes = [x.type.shape[axis] for axis in reduced]
        if not all(isinstance(size, int) for size in sizes):
            raise BakedLength(b.describe(node), "sums over the variable length (NetBuilder has no sum layer: a "
                              "mean times the traced length stands in for it)")
        steps.append(("Scale", {"factor": float(math.prod(sizes))}, "times_count"))
    if keepdim:
        steps.extend(("Unsqueeze", {"axis": axis}, f"keep{axis}") for axis in axes)
    value = x
    for index, (type_id, params, suffix) in enumerate(steps):
        value = b.emit(node, type_id, params, [value], suffix="" if index == len(steps) - 1 else suffix)
    return value


def _sized_by_input(node: fx.Node) -> bool:
    """A pooling window computed from the input's sizes, ``F.max_pool1d(x, x.size(2))``: a global pool."""
    kernel = _arg(node, 1, "kernel_size")
    return isinstance(kernel, fx.Node) or (isinstance(kernel, list | tuple)
                                           and any(isinstance(k, fx.Node) for k in kernel))


def _global_pool_call(b: _Builder, node: fx.Node, x: Value, kind: str) -> Value:
    """A pooling window as large as the input (sized by it, so it follows a variable length): the pool keeps
    N×C×1(×1), as torch's does."""
    shape, other = _meta_shape(node), b.other_shape(node)
    stride = _arg(node, 2, "stride")
    padding = _arg(node, 3, "padding", 0)
    whole = shape is not None and all(size == 1 for size in shape[2:]) and \
        (other is None or all(size == 1 for size in other[2:]))
    if not whole or padding not in (0, (0,), (0, 0), [0], [0, 0]) or (stride is not None and
                                                                       not isinstance(stride, fx.Node)):
        raise Unsupported("a pooling window computed in forward that is not the whole input (NetBuilder needs "
                          "a fixed window, or a global pool)")
    d = x.type.rank - 2
    if kind == "Avg":
        return b.emit(node, f"AdaptiveAvgPool{d}d", {"output_size": (1,) * d}, [x])
    return _global_max(b, node, x, 1)


def _adaptive_max_call(b: _Builder, node: fx.Node) -> Value:
    if b.constant(_arg(node, 2, "return_indices", False), "return_indices"):
        raise Unsupported("return_indices=True")
    return _global_max(b, node, b.tensor(node.args[0]), b.constant(_arg(node, 1, "output_size"), "output size"))
