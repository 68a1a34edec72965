"""Which connections a dragged wire may make, and why a connection is refused. Pure model logic, no Qt.

A refused wire never touches the document: structural problems (loop, occupied input, unknown port) come from
`Network.check_wire`, and shape problems from analysing a small trial copy (the new wire's target and everything
upstream of it) with the wire added.
"""

from __future__ import annotations

import networkx as nx

from netbuilder.analysis import Analysis, analyze, analyzer_for
from netbuilder.document import DocumentError, Network, Node, Wire

PortKey = tuple[str, str, bool]  # (node id, port name, is_input)


def compatible_ports(network: Network, node_id: str, port: str, from_input: bool,
                     replacing: Wire | None = None) -> set[PortKey]:
    """Ports a wire dragged from (node_id, port) may end on without a loop or an occupied input.

    From an output: free inputs of nodes that do not feed this node. From an input: outputs of nodes this node does
    not feed. ``replacing`` is the wire being re-plugged, whose input counts as free.
    """
    graph = network.graph
    result: set[PortKey] = set()
    if from_input:
        excluded = nx.descendants(graph, node_id) | {node_id}
        for node in network.nodes:
            if node.id in excluded:
                continue
            for p in node.spec.output_ports(node.params) if _known(node.type) else ():
                result.add((node.id, p.name, False))
        return result
    excluded = nx.ancestors(graph, node_id) | {node_id}
    occupied = {(w.dst, w.dst_port) for w in network.wires}
    if replacing is not None:
        occupied.discard((replacing.dst, replacing.dst_port))
    for node in network.nodes:
        if node.id in excluded or not _known(node.type):
            continue
        for p in node.spec.input_ports(node.params):
            if (node.id, p.name) not in occupied:
                result.add((node.id, p.name, True))
    return result


def _trial(network: Network, keep: set[str], skip: Wire | set[Wire] | None = None) -> Network:
    """A trial network with the layers ``keep`` and the wires among them (but ``skip``), to try an edit on.

    It shares the Node objects (a trial only adds and removes nodes and wires, never changes one), and its
    analyzer starts from the network's per-node results, keyed by (type, name, params, input types): the layers
    the edit does not reach are dictionary hits instead of shape inference. Checking a layer dropped onto a wire
    mid-way into a 200-layer network no longer copies and re-infers the layers above it."""
    trial = Network(network.name)  # the same name: the reused results' diagnostics carry it
    for node_id in keep:
        trial._insert_node(network.node(node_id))
    skipped = skip if isinstance(skip, set) else {skip} if skip is not None else set()
    for existing in network.wires:
        if existing.src in keep and existing.dst in keep and existing not in skipped:
            trial._insert_wire(existing)
    analyzer_for(trial)._cache = dict(analyzer_for(network)._cache)
    return trial


def _known(type_id: str) -> bool:
    from netbuilder.specs import has_spec

    return has_spec(type_id)


def connection_problem(network: Network, wire: Wire, analysis: Analysis | None = None,
                       replacing: Wire | None = None) -> str | None:
    """Why ``wire`` cannot be made (a sentence for the user), or None when it can.

    ``analysis`` is the network's current analysis (to tell new shape problems from ones the target already had);
    ``replacing`` is a wire that goes away in the same gesture (dragging a wire's end to another port).
    """
    graph = network.graph
    if wire.src not in graph or wire.dst not in graph:
        return "A wire must join two layers of this network."
    keep = nx.ancestors(graph, wire.src) | nx.ancestors(graph, wire.dst) | {wire.src, wire.dst}
    trial = _trial(network, keep, replacing)
    try:
        trial.check_wire(wire)
    except DocumentError as error:
        return str(error)
    trial._insert_wire(wire)
    if analysis is None:
        analysis = analyze(network)
    # Problems the target already had (e.g. its other input still unwired) are not this wire's fault.
    before = {d.message for d in analysis.diagnostics if d.node_id == wire.dst}
    info = analyze(trial).nodes.get(wire.dst)
    if info is None:
        return None
    for diagnostic in info.diagnostics:
        if diagnostic.severity == "error" and diagnostic.message not in before:
            text = diagnostic.message
            return f"{text} {diagnostic.suggestion}" if diagnostic.suggestion else text
    return None


def edit_problem(network: Network, new_nodes: list[Node], remove: list[Wire], add: list[Wire],
                 analysis: Analysis | None = None) -> str | None:
    """Why adding ``new_nodes``, removing the wires ``remove`` and adding the wires ``add`` would break the
    network's shapes (a sentence), or None when it would not. Used before wiring a new layer in (after the selected
    one, or onto a wire it was dropped on) and before reconnecting around a deleted layer: the edit is only made
    when it is sound. Nothing in ``network`` changes; a trial copy of the layers upstream is analysed.
    ``analysis`` is the network's current analysis when the caller has it (saves analysing it again)."""
    graph = network.graph
    ends = {w.dst for w in add if w.dst in graph} | {w.src for w in add if w.src in graph}
    keep: set[str] = set(ends)
    for node_id in ends:
        keep |= nx.ancestors(graph, node_id)
    trial = _trial(network, keep, set(remove))
    for node in new_nodes:
        trial._insert_node(node.clone())
    before = {(d.node_id, d.message) for d in (analysis or analyze(network)).diagnostics}
    for wire in add:
        try:
            trial.check_wire(wire)
        except DocumentError as error:
            return str(error)
        trial._insert_wire(wire)
    checked = {w.dst for w in add} | {n.id for n in new_nodes}
    for diagnostic in analyze(trial).diagnostics:
        if diagnostic.severity == "error" and diagnostic.node_id in checked and \
                (diagnostic.node_id, diagnostic.message) not in before:
            if diagnostic.message.endswith("is not connected."):
                continue  # an input the edit leaves open is the user's next step, not a refusal
            text = diagnostic.message
            return f"{text} {diagnostic.suggestion}" if diagnostic.suggestion else text
    return None
