"""Layers that exporters for older opsets write out as short chains of operations, imported as one layer each.

- GELU as x · ½ · (1 + erf(x / √2)): ONNX has Gelu only from opset 20; older exports (PyTorch's TorchScript
  exporter, most converters) write Div (or Mul by 1/√2), Erf, Add 1 and two Muls, the halving in any of the three
  places the product allows.
- LayerNorm as (x − mean) / √(mean((x − mean)²) + ε) · γ + β over the last axes: ONNX has LayerNormalization only
  from opset 17.

A chain is found before the walk (every intermediate value read only by the next step, every constant the exact
one within float32 rounding) and imported at its last operation; anything else is left to the per-operation rules
(which report Erf, Pow, Sqrt… as unsupported), and so is a chain whose input turns out not to fit the layer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_TOLERANCE = 1e-6


@dataclass
class Chain:
    """Operations that are one layer: what it reads, what it gives, and how it is built."""

    source: str  # the value the layer is applied to
    output: str
    nodes: set[int]
    anchor: int  # the node that names the layer
    type_id: str
    settings: dict[str, Any] = field(default_factory=dict)  # what `build` needs beyond the input type


@dataclass
class ChainPlan:
    chains: dict[int, Chain] = field(default_factory=dict)  # by the index of their last node
    skip: set[int] = field(default_factory=set)

    def handles(self, index: int) -> bool:
        return index in self.skip

    def add(self, chain: Chain | None) -> None:
        if chain is not None and not (chain.nodes & self.skip):
            self.chains[max(chain.nodes)] = chain
            self.skip |= chain.nodes


class _View:
    def __init__(self, graph: Any):
        self.nodes = list(graph.node)
        self.producer = {name: i for i, node in enumerate(self.nodes) for name in node.output if name}
        self.readers: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            for name in node.input:
                if name:
                    self.readers.setdefault(name, []).append(i)
        self.outputs = {value.name for value in graph.output}
        self.constants = {init.name: init for init in graph.initializer}
        for node in self.nodes:
            if node.op_type == "Constant" and node.attribute:
                self.constants[node.output[0]] = node.attribute[0]

    def array(self, name: str) -> np.ndarray | None:
        from onnx import helper, numpy_helper

        found = self.constants.get(name)
        if found is None:
            return None
        value = numpy_helper.to_array(found) if hasattr(found, "dims") else helper.get_attribute_value(found)
        if hasattr(value, "dims"):
            value = numpy_helper.to_array(value)
        try:
            return np.asarray(value)
        except (TypeError, ValueError):
            return None

    def scalar(self, name: str) -> float | None:
        array = self.array(name)
        if array is None or array.size != 1 or array.dtype.kind not in "fiu":
            return None
        return float(array.reshape(-1)[0])

    def only_reader(self, name: str) -> int | None:
        readers = self.readers.get(name, [])
        return readers[0] if len(readers) == 1 and name not in self.outputs else None

    def other_input(self, index: int, name: str) -> str | None:
        node = self.nodes[index]
        if len(node.input) != 2 or name not in node.input or node.input[0] == node.input[1]:
            return None
        return node.input[1] if node.input[0] == name else node.input[0]


def _close(value: float | None, wanted: float) -> bool:
    return value is not None and math.isclose(value, wanted, rel_tol=_TOLERANCE)


def _gelu_at(view: _View, erf: int) -> Chain | None:
    node = view.nodes[erf]
    scaled = view.producer.get(node.input[0])
    if scaled is None or view.only_reader(node.input[0]) != erf:
        return None
    first = view.nodes[scaled]
    if first.op_type == "Div" and len(first.input) == 2 and _close(view.scalar(first.input[1]), math.sqrt(2)):
        x = first.input[0]
    elif first.op_type == "Mul" and len(first.input) == 2:
        x = next((name for name, other in (first.input, first.input[::-1])
                  if _close(view.scalar(other), 1 / math.sqrt(2))), None)
    else:
        return None
    if x is None or view.scalar(x) is not None:
        return None
    add = view.only_reader(node.output[0])
    if add is None or view.nodes[add].op_type != "Add" or \
            not _close(view.scalar(view.other_input(add, node.output[0]) or ""), 1.0):
        return None
    plus = view.nodes[add].output[0]
    product = view.only_reader(plus)
    if product is None or view.nodes[product].op_type != "Mul":
        return None
    nodes = {scaled, erf, add, product}
    other = view.other_input(product, plus)
    out = view.nodes[product].output[0]
    if other == x:  # x·(1+erf), then ·½
        last = view.only_reader(out)
        if last is None or view.nodes[last].op_type != "Mul" or \
                not _close(view.scalar(view.other_input(last, out) or ""), 0.5):
            return None
    elif _close(view.scalar(other or ""), 0.5):  # ½·(1+erf), then ·x
        last = view.only_reader(out)
        if last is None or view.nodes[last].op_type != "Mul" or view.other_input(last, out) != x:
            return None
    else:  # (x·½)·(1+erf)
        half = view.producer.get(other or "")
        if half is None or view.only_reader(other or "") != product or view.nodes[half].op_type != "Mul" or \
                view.other_input(half, x) is None or not _close(view.scalar(view.other_input(half, x) or ""), 0.5):
            return None
        nodes.add(half)
        last = product
    nodes.add(last)
    return Chain(x, view.nodes[last].output[0], nodes, erf, "GELU")


def _reduced_axes(view: _View, index: int) -> tuple[int, ...] | None:
    """The axes a ReduceMean keeping its dims averages over (None when they are computed or not kept)."""
    node = view.nodes[index]
    if node.op_type != "ReduceMean":
        return None
    keep = next((a.i for a in node.attribute if a.name == "keepdims"), 1)
    if not keep:
        return None
    if len(node.input) > 1 and node.input[1]:
        axes = view.array(node.input[1])
        return tuple(int(a) for a in axes.reshape(-1)) if axes is not None and axes.size else None
    found = next((list(a.ints) for a in node.attribute if a.name == "axes"), None)
    return tuple(found) if found else None


def _layer_norm_at(view: _View, mean: int) -> Chain | None:
    """(x − m) / √(mean((x − m)²) + ε) [· γ] [+ β], with m = mean(x) over the same axes, from its first mean."""
    axes = _reduced_axes(view, mean)
    x = view.nodes[mean].input[0]
    if axes is None or view.array(x) is not None:
        return None
    m = view.nodes[mean].output[0]
    sub = view.only_reader(m)
    if sub is None or view.nodes[sub].op_type != "Sub" or list(view.nodes[sub].input) != [x, m]:
        return None
    d = view.nodes[sub].output[0]
    readers = sorted(set(view.readers.get(d, [])))  # Mul(d, d) reads it twice
    square = next((i for i in readers if view.nodes[i].op_type in ("Pow", "Mul")), None)
    divide = next((i for i in readers if view.nodes[i].op_type == "Div"), None)
    if len(readers) != 2 or square is None or divide is None or d in view.outputs:
        return None
    if not (view.nodes[square].op_type == "Mul" and list(view.nodes[square].input) == [d, d] or
            view.nodes[square].op_type == "Pow" and view.nodes[square].input[0] == d and
            _close(view.scalar(view.nodes[square].input[1]), 2.0)):
        return None
    variance = view.only_reader(view.nodes[square].output[0])
    if variance is None or _reduced_axes(view, variance) != axes:
        return None
    add = view.only_reader(view.nodes[variance].output[0])
    eps = view.scalar(view.other_input(add, view.nodes[variance].output[0]) or "") if add is not None else None
    if add is None or view.nodes[add].op_type != "Add" or eps is None or not 0 <= eps < 1:
        return None
    root = view.only_reader(view.nodes[add].output[0])
    if root is None or view.nodes[root].op_type != "Sqrt" or view.only_reader(view.nodes[root].output[0]) != divide:
        return None
    if list(view.nodes[divide].input) != [d, view.nodes[root].output[0]]:
        return None
    nodes = {mean, sub, square, variance, add, root, divide}
    out, settings = view.nodes[divide].output[0], {"axes": axes, "eps": eps}
    for op, key in (("Mul", "weight"), ("Add", "bias")):
        following = view.only_reader(out)
        constant = view.array(view.other_input(following, out) or "") if following is not None else None
        if following is None or view.nodes[following].op_type != op or constant is None or \
                constant.dtype.kind != "f":
            continue
        settings[key] = constant
        nodes.add(following)
        out = view.nodes[following].output[0]
    return Chain(x, out, nodes, mean, "LayerNorm", settings)


def plan_chains(graph: Any) -> ChainPlan:
    """Find every GELU written out with Erf and every LayerNorm written out in full in ``graph`` (an ONNX
    GraphProto), before the walk."""
    plan = ChainPlan()
    ops = {node.op_type for node in graph.node}
    if "Erf" not in ops and "ReduceMean" not in ops:
        return plan
    view = _View(graph)
    for index, node in enumerate(view.nodes):
        if node.domain:
            continue
        if node.op_type == "Erf":
            plan.add(_gelu_at(view, index))
        elif node.op_type == "ReduceMean":
            plan.add(_layer_norm_at(view, index))
    return plan


def _layer_norm_layer(x: Any, settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, np.ndarray]] | None:
    """LayerNorm settings and weights for input type ``x``, or None when the axes or γ/β do not fit one."""
    rank = x.rank
    axes = sorted(a % rank for a in settings["axes"])
    count = len(axes)
    if axes != list(range(rank - count, rank)) or count >= rank:
        return None
    shape = x.shape[rank - count:]
    if not all(isinstance(d, int) for d in shape):
        return None
    weights = {}
    for key, default in (("weight", 1.0), ("bias", 0.0)):
        constant = settings.get(key)
        if constant is None:
            weights[key] = np.full(shape, default, np.float32)
            continue
        if constant.ndim > rank or any(d != 1 for d in constant.shape[:max(constant.ndim - count, 0)]):
            return None
        try:
            weights[key] = np.broadcast_to(constant.reshape(constant.shape[-count:]), shape).astype(np.float32)
        except ValueError:
            return None
    affine = "weight" in settings or "bias" in settings
    return {"axes": count, "eps": float(settings["eps"]), "affine": affine}, weights if affine else {}


def import_chain(importer: Any, plan: ChainPlan, index: int) -> None:
    """The walk reached node ``index`` of a chain: at its last node, one layer; when its input does not fit the
    layer, the chain's operations go through the normal rules instead."""
    from netbuilder.importers.onnx_import import RuleRefused, Tensor

    chain = plan.chains.get(index)
    if chain is None:
        return
    nodes = importer.graph.node
    x = importer.values.get(chain.source)
    built: tuple[dict[str, Any], dict[str, np.ndarray]] | None = None
    if isinstance(x, Tensor) and x.axes is None and x.type.dtype == "float32":
        built = ({}, {}) if chain.type_id == "GELU" else _layer_norm_layer(x.type, chain.settings)
    if built is None:
        for other in sorted(chain.nodes):
            importer._visit(nodes[other])
        return
    params, weights = built
    try:
        layer = importer.add_layer(chain.type_id, params, [x.source], (x.type,), weights,
                                   importer.name_for(nodes[chain.anchor], chain.type_id))
    except RuleRefused:
        for other in sorted(chain.nodes):
            importer._visit(nodes[other])
        return
    importer.values[chain.output] = Tensor(layer.out(), layer.outputs[0], importer.readers[chain.output] == 1)
