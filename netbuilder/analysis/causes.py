"""Problems grouped by root cause: what the Problems list shows and the status bar counts.

One deleted wire makes one error (the layer after it has nothing coming in) and leaves every layer before it cut
off from the Output, each with its own warning. Listing those as seven problems buries the one thing to fix, so
the warnings of layers that no longer reach an Output are folded under the error that explains them:

- under an error of a layer in the same cut-off part (it is the reason the part is cut off, or in it);
- else under the nearest "input is not connected" error of a layer still in the model (the open end the part
  most likely fed: where a wire was deleted);
- else the part is one warning of its own, "N layers do not reach an Output", rooted at its last layer.
Any other warning of a layer that also has an error is folded under that error. Everything else is its own row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import networkx as nx

from netbuilder.analysis.analyzer import Analysis, Diagnostic
from netbuilder.document import Network

ORPHAN_PREFIX = "Not connected to any Output"
UNCONNECTED_SUFFIX = "is not connected."


@dataclass
class ProblemGroup:
    """One row of the Problems list: a root cause and the problems it causes (shown folded inside it)."""

    root: Diagnostic
    consequences: list[Diagnostic] = field(default_factory=list)
    summary: str = ""  # e.g. "6 layers no longer reach an Output"; "" without cut-off layers

    @property
    def severity(self) -> str:
        return self.root.severity


def _layers(count: int) -> str:
    return f"{count} layer{'s' * (count != 1)}"


def group_by_cause(network: Network, analysis: Analysis) -> list[ProblemGroup]:
    """The diagnostics of ``analysis`` as root causes with their consequences, errors first, in network order."""
    diagnostics = analysis.diagnostics
    orphan = [d for d in diagnostics if d.severity == "warning" and d.node_id is not None
              and d.message.startswith(ORPHAN_PREFIX)]
    orphan_ids = {d.node_id for d in orphan}
    groups: list[ProblemGroup] = []
    error_of: dict[str, ProblemGroup] = {}
    for diagnostic in diagnostics:
        if diagnostic.severity == "error":
            group = ProblemGroup(diagnostic)
            groups.append(group)
            if diagnostic.node_id is not None:
                error_of.setdefault(diagnostic.node_id, group)
    open_ends = [g for g in groups if g.root.node_id is not None and g.root.node_id not in orphan_ids
                 and g.root.message.endswith(UNCONNECTED_SUFFIX)]

    graph = network.graph
    parts = list(nx.weakly_connected_components(graph.subgraph(orphan_ids))) if orphan_ids else []
    folded: set[int] = set()
    for part in parts:
        nodes = _in_order(network, part)
        members = [d for n in nodes for d in diagnostics if d.node_id == n and d.severity != "error"]
        folded.update(id(d) for d in members)
        count = len(nodes)
        host = next((error_of[n] for n in nodes if n in error_of), None)
        whole = all(d.message.startswith(ORPHAN_PREFIX) for d in members)  # fully wired up to its open end
        if host is None and whole and open_ends:
            end = _dead_end(network, part)
            host = min(open_ends, key=lambda g: _gap(network, end, g.root.node_id))  # type: ignore[arg-type]
            host.consequences.extend(members)
            host.summary = f"{_layers(count)} no longer reach{'es' * (count == 1)} an Output"
            continue
        if host is None:  # the part is its own problem, rooted at its last layer's most useful message
            end = _dead_end(network, part)
            own = [d for d in members if d.node_id == end]
            root = next((d for d in own if not d.message.startswith(ORPHAN_PREFIX)), own[0])
            groups.append(ProblemGroup(root, [d for d in members if d is not root]))
            host = groups[-1]
        else:
            host.consequences.extend(members)
        if count > 1:
            host.summary = f"{_layers(count)} do not reach an Output"
    for diagnostic in diagnostics:
        if diagnostic.severity == "error" or id(diagnostic) in folded:
            continue
        host = error_of.get(diagnostic.node_id or "")
        if host is not None:
            host.consequences.append(diagnostic)
        else:
            groups.append(ProblemGroup(diagnostic))
    order = {node_id: i for i, node_id in enumerate(analysis.order)}
    groups.sort(key=lambda g: (0 if g.severity == "error" else 1, order.get(g.root.node_id or "", -1)))
    return groups


def _in_order(network: Network, part: set[str]) -> list[str]:
    return [n.id for n in network.nodes if n.id in part]


def _dead_end(network: Network, part: set[str]) -> str:
    """The last layer of a cut-off part: one whose output goes nowhere (the latest such, in network order)."""
    ends = [n for n in _in_order(network, part) if not network.wires_out_of(n)]
    return (ends or _in_order(network, part))[-1]


def _gap(network: Network, src: str, dst: str) -> float:
    (ax, ay), (bx, by) = network.node(src).position, network.node(dst).position
    return math.hypot(bx - ax, by - ay)
