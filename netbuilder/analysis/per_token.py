"""Multiply-adds of networks with a variable sequence length, per step and for a stated length.

Per sample, a layer over a sequence of unknown length ``T`` costs an unknown amount, so the analysis counts 0 for
it. A language model's user wants "7.3 M per token": that is the cost at a length L divided by L. It is worked out
on a copy of the network whose Inputs fix ``T`` to L (nothing else changes, and the user's network is untouched),
so every layer's own rule counts it, attention's length-squared terms included at that length.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

from netbuilder.analysis.analyzer import Analysis, analyze
from netbuilder.document.model import Network
from netbuilder.specs import SEQ

DEFAULT_LENGTHS = (128, 64, 32, 16, 8, 4, 2, 1)  # tried in turn when no length is stated; the first that fits wins


@dataclass
class LengthCost:
    """Multiply-adds of a network at one sequence length."""

    length: int
    total: int  # per sample (one sequence of ``length`` steps)
    per_node: dict[str, int] = field(default_factory=dict)  # node id -> per sample at ``length``

    @property
    def per_token(self) -> float:
        return self.total / self.length

    def node_per_token(self, node_id: str) -> float:
        return self.per_node.get(node_id, 0) / self.length


def has_variable_length(network: Network) -> bool:
    """True when an Input has a sequence axis of variable length ``T``."""
    return any(SEQ in node.params.get("shape", ()) for node in network.inputs())


def fixed_length(network: Network, length: int) -> Network:
    """A copy of ``network`` whose Inputs have every ``T`` replaced by ``length``."""
    copy = network.copy()
    copy.document = network.document  # read only: block nodes find their definitions there (not added to it)
    for node in copy.inputs():
        shape = node.params.get("shape", ())
        if SEQ in shape:
            node.params = {**node.params, "shape": tuple(length if d == SEQ else d for d in shape)}
    return copy


def cost_at_length(network: Network, length: int | None = None) -> LengthCost | None:
    """The multiply-adds at ``length`` (or at the longest of `DEFAULT_LENGTHS` the network accepts), or None when
    the network has no variable length or cannot be analysed at any of those lengths (e.g. it has errors)."""
    if not has_variable_length(network):
        return None
    for candidate in (length,) if length is not None else DEFAULT_LENGTHS:
        analysis = analyze(fixed_length(network, candidate))
        if analysis.ok:
            return _cost(analysis, candidate)
    return None


_latest: weakref.WeakKeyDictionary[Network, tuple[int, int | None, LengthCost | None]] = \
    weakref.WeakKeyDictionary()


def latest_cost(network: Network, length: int | None = None) -> LengthCost | None:
    """`cost_at_length`, worked out once per state of the network (the app asks after every edit)."""
    cached = _latest.get(network)
    if cached is not None and cached[:2] == (network.change_position, length):
        return cached[2]
    cost = cost_at_length(network, length)
    _latest[network] = (network.change_position, length, cost)
    return cost


def _cost(analysis: Analysis, length: int) -> LengthCost:
    per_node = {node_id: info.macs for node_id, info in analysis.nodes.items() if analysis.in_model(node_id)}
    return LengthCost(length, analysis.total_macs, per_node)


def human(count: float) -> str:
    """``7_300_000`` as ``7.3 M``."""
    for size, unit in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f}" if count == int(count) else f"{count:.1f}"
