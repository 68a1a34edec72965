"""GELU written out as x · ½ · (1 + erf(x / √2)), imported as one GELU layer.

ONNX has a Gelu operation only from opset 20; exporters targeting an older opset (PyTorch's TorchScript exporter,
most converters) write the formula with Div (or Mul by 1/√2), Erf, Add 1 and two Muls, the halving in any of the
three places the product allows. The chain is found before the walk (every intermediate value read only by the
next step, every constant the exact one within float32 rounding) and imported at its last operation; anything else
is left to the per-operation rules, which report Erf as unsupported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

_TOLERANCE = 1e-6


@dataclass
class GeluChain:
    source: str  # the value GELU is taken of
    output: str
    nodes: set[int]
    erf: int  # the Erf node (names the layer)


@dataclass
class GeluPlan:
    chains: dict[int, GeluChain] = field(default_factory=dict)  # by the index of their last node
    skip: set[int] = field(default_factory=set)

    def handles(self, index: int) -> bool:
        return index in self.skip


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

    def scalar(self, name: str) -> float | None:
        from onnx import helper, numpy_helper

        found = self.constants.get(name)
        if found is None:
            return None
        value = numpy_helper.to_array(found) if hasattr(found, "dims") else helper.get_attribute_value(found)
        if not isinstance(value, float | int):
            if hasattr(value, "dims"):
                value = numpy_helper.to_array(value)
            array = np.asarray(value, dtype=np.float64).reshape(-1)
            if array.size != 1:
                return None
            value = array[0]
        return float(value)

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


def _chain_at(view: _View, erf: int) -> GeluChain | None:
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
    return GeluChain(x, view.nodes[last].output[0], nodes, erf)


def plan_gelu(graph: Any) -> GeluPlan:
    """Find every GELU written out with Erf in ``graph`` (an ONNX GraphProto) before the walk."""
    plan = GeluPlan()
    if not any(node.op_type == "Erf" for node in graph.node):
        return plan
    view = _View(graph)
    for index, node in enumerate(view.nodes):
        if node.op_type == "Erf" and not node.domain:
            chain = _chain_at(view, index)
            if chain is not None and not (chain.nodes & plan.skip):
                plan.chains[max(chain.nodes)] = chain
                plan.skip |= chain.nodes
    return plan


def import_gelu(importer: Any, plan: GeluPlan, index: int) -> None:
    """The walk reached node ``index`` of a GELU chain: at its last node, one GELU layer; when its input is not a
    computed tensor the chain's operations go through the normal rules instead."""
    from netbuilder.importers.onnx_import import Tensor

    chain = plan.chains.get(index)
    if chain is None:
        return
    nodes = importer.graph.node
    x = importer.values.get(chain.source)
    if not isinstance(x, Tensor) or x.axes is not None:
        for other in sorted(chain.nodes):
            importer._visit(nodes[other])
        return
    layer = importer.add_layer("GELU", {}, [x.source], (x.type,), {}, importer.name_for(nodes[chain.erf], "GELU"))
    importer.values[chain.output] = Tensor(layer.out(), layer.outputs[0], importer.readers[chain.output] == 1)
