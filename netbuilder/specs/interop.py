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
