"""How layers come in from other formats: each spec module declares, beside its specs, the ONNX operations it
imports, so adding a layer type adds its import rule in the same place.

A rule is a function of one argument, an ``OnnxNode`` view (implemented by `netbuilder.importers.onnx_import`):
it reads the node's attributes, constant inputs and input shapes, and either emits NetBuilder layers (with their
weights) for the node's outputs, or says why this node cannot be imported. The view is duck-typed here so that
the specs stay free of onnx and torch (they are read by everything, and both take seconds to import)::

    @onnx_rule("Relu")
    def _relu(node):
        node.emit("ReLU")

Methods the view offers (see `netbuilder.importers.onnx_import.NodeView` for the details): ``attr(name,
default)``, ``const(i)`` (a numpy array, or None when input i is computed), ``has_input(i)``, ``type(i)`` (a
`TensorType` with the batch as ``N``), ``opset``, ``emit(type_id, params, inputs=(0,), weights=None,
outputs=(0,))``, ``layer(i)`` / ``sole_user(i)`` (the emitted layer behind input i, and whether this node is
its only reader, for folding), ``alias(out, i)`` (output = input i), ``fail(reason)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

OnnxRule = Callable[[Any], None]

# Sizes in a folded shape (from a Shape node) that stand for a tensor's batch or variable length: never real sizes.
BATCH_MARK = -(2**40) - 1
SEQ_MARK = -(2**40) - 2

_ONNX_RULES: dict[str, OnnxRule] = {}


def onnx_rule(*op_types: str) -> Callable[[OnnxRule], OnnxRule]:
    """Register the decorated function as the import rule of each ONNX operation type in ``op_types``."""

    def register(rule: OnnxRule) -> OnnxRule:
        for op_type in op_types:
            if op_type in _ONNX_RULES:
                raise ValueError(f"ONNX operation {op_type!r} has two import rules.")
            _ONNX_RULES[op_type] = rule
        return rule

    return register


def onnx_rules() -> dict[str, OnnxRule]:
    """Every ONNX import rule, by operation type (loads every spec module first)."""
    from netbuilder.specs import all_specs

    all_specs()
    return dict(_ONNX_RULES)


def ints(value: Any) -> tuple[int, ...]:
    """An attribute or constant as a tuple of Python ints."""
    if value is None:
        return ()
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, int):
        return (value,)
    return tuple(int(v) for v in value)


def onnx_pads(node: Any, kernel: tuple[int, ...], strides: tuple[int, ...], dilations: tuple[int, ...]
              ) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Padding at the start and at the end of each spatial axis of a Conv or pooling node, from ``pads`` or from
    ``auto_pad`` (SAME_UPPER / SAME_LOWER need the input size)."""
    d = len(kernel)
    mode = node.attr("auto_pad", "NOTSET") or "NOTSET"
    if mode in ("NOTSET", ""):
        pads = ints(node.attr("pads")) or (0,) * (2 * d)
        return pads[:d], pads[d:]
    if mode == "VALID":
        return (0,) * d, (0,) * d
    spatial = node.type(0).shape[2:]
    start, end = [], []
    for size, k, s, dil in zip(spatial, kernel, strides, dilations, strict=True):
        if not isinstance(size, int):
            raise node.fail(f"auto_pad {mode} needs a fixed input size, but an axis is the variable {size}")
        total = max((-(-size // s) - 1) * s + (k - 1) * dil + 1 - size, 0)
        low = total // 2 if mode == "SAME_UPPER" else total - total // 2
        start.append(low)
        end.append(total - low)
    return tuple(start), tuple(end)


def per_axis(value: Any, rank: int, axis: int, size: int) -> Any:
    """A constant that broadcasts along one axis only (a per-channel scale or shift), as a vector of ``size``;
    None when it varies along any other axis. ``axis`` counts from 0 (the batch) in a tensor of ``rank``."""
    shape = tuple(value.shape)
    if len(shape) > rank:
        return None
    full = (1,) * (rank - len(shape)) + shape
    if any(n != 1 for i, n in enumerate(full) if i != axis) or full[axis] not in (1, size):
        return None
    flat = value.reshape(-1)
    return flat.repeat(size) if flat.size == 1 and size != 1 else flat
