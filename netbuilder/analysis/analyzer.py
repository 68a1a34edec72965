"""Validation and shape inference: one walk of the graph in dependency order.

Every node gets its output types, parameter count, multiply-adds and plain-words diagnostics. Results are cached per
node keyed by (type, params, input types), so after a one-node edit only that node and what it changes downstream is
worked out again; the rest are dictionary hits.
"""

from __future__ import annotations

import heapq
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from netbuilder.analysis import blocks as block_analysis
from netbuilder.document.model import DocumentError, Network, Node, Wire
from netbuilder.specs import (
    LayerContext,
    ParamError,
    ShapeError,
    TensorType,
    UnknownLayerError,
    roles,
)

# The most parameters one network may have: 1e9 float32 weights are 4 GB, before gradients and optimizer state.
# A bigger network is almost always a slip (a Linear on unpooled image features), and building it would exhaust
# the memory of a desktop, so analysis reports it and compile refuses it.
MAX_PARAMS = 1_000_000_000


def _weight_bytes(count: int) -> str:
    size = 4.0 * count
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if size < 1000 or unit == "PB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _count(number: int) -> str:
    """A count with thousands separators; a count of thousands of digits (from absurd sizes in a damaged file)
    is described instead, as Python will not write it."""
    if number.bit_length() < 3000:
        return f"{number:,}"
    return f"a number with about {int(number.bit_length() * 0.30103)} digits"


LOGIT_ROLES = roles.roles_where(takes_logits=True)  # Output roles whose loss takes raw scores
SQUASHING = ("Softmax", "Sigmoid")  # what turns scores into probabilities
VALUE_PRESERVING = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Permute")  # values pass unchanged


def _squashed_twice(entry: roles.Role, layer: str) -> tuple[str, str]:
    """(what squashes the scores again, the fix) for a Softmax/Sigmoid before an Output whose role takes logits."""
    if entry.loss == "bce_logits":
        return "its binary cross-entropy with logits loss", f"Delete the {layer}: the GAN loss expects a raw score."
    if entry.trained_by_recipe:
        return "the policy's softmax", f"Delete the {layer}: the agent turns action logits into probabilities itself."
    return "its cross-entropy loss", f"Delete the {layer}, or set the Output's role to probabilities."


@dataclass(frozen=True)
class Diagnostic:
    """A problem with a place: which network, node and parameter, what is wrong and what to do."""

    message: str
    network: str = ""
    node_id: str | None = None
    node_name: str | None = None
    param: str | None = None
    suggestion: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = self.node_name or self.network or "document"
        if self.param:
            where += f".{self.param}"
        text = f"{where}: {self.message}"
        return f"{text} {self.suggestion}" if self.suggestion else text

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class NodeInfo:
    outputs: dict[str, TensorType] = field(default_factory=dict)
    params: int = 0
    macs: int = 0
    diagnostics: list[Diagnostic] = field(default_factory=list)
    blocked: bool = False  # waiting on a problem upstream
    inner: Any = None  # a block node's `netbuilder.analysis.blocks.BlockResult` (types inside this instance)

    @property
    def ok(self) -> bool:
        return not self.blocked and not any(d.severity == "error" for d in self.diagnostics)

    @property
    def output(self) -> TensorType | None:
        return next(iter(self.outputs.values()), None)


class Analysis:
    """The result of analysing one network: per-node infos, diagnostics, and which nodes are in the model.

    ``order`` (the dependency order compile and export walk) is worked out when first read, from the network as
    it is then: a re-analysis after an edit need not sort the whole graph when nothing reads it.
    """

    def __init__(self, network: str, nodes: dict[str, NodeInfo], diagnostics: list[Diagnostic],
                 order: list[str] | Callable[[], list[str]], used: set[str] | None = None,
                 totals: tuple[int, int] | None = None):
        self.network = network
        self.nodes = nodes
        self.diagnostics = diagnostics
        self._order = order
        self.used = used  # the nodes in the model (feeding an Output); None when there is no Output
        self._totals = totals

    @property
    def order(self) -> list[str]:
        if callable(self._order):
            # Read after further edits, it still lists exactly the nodes this analysis knows.
            order = [node_id for node_id in self._order() if node_id in self.nodes]
            if len(order) != len(self.nodes):
                listed = set(order)
                order += [node_id for node_id in self.nodes if node_id not in listed]
            self._order = order
        return self._order

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]

    def in_model(self, node_id: str) -> bool:
        """True when the node feeds an Output (is compiled), or when there is no Output yet to tell."""
        return self.used is None or node_id in self.used

    @property
    def total_params(self) -> int:
        """Parameters of the model as compiled: layers that feed no Output are left out, as compile leaves them."""
        if self._totals is not None:
            return self._totals[0]
        return sum(info.params for node_id, info in self.nodes.items() if self.in_model(node_id))

    @property
    def total_macs(self) -> int:
        if self._totals is not None:
            return self._totals[1]
        return sum(info.macs for node_id, info in self.nodes.items() if self.in_model(node_id))

    def wire_type(self, src: str, src_port: str) -> TensorType | None:
        info = self.nodes.get(src)
        return info.outputs.get(src_port) if info else None


@dataclass
class _Structure:
    """What depends only on nodes and wires: dependency order, wiring per node, nodes feeding an Output."""

    version: int
    order: list[str]
    cycle_nodes: set[str]
    wiring: dict[str, dict[str, Wire]]  # node id -> {input port: wire}
    used: set[str] | None  # None when the network has no Output


class _State:
    """What the analyzer knows about a network between analyses, kept up to date from the change journal: the
    wiring (a mirror of the graph as the journal tells it), each node's result, which nodes feed an Output (as
    counts of wires into nodes that do, so a wire edit updates only the nodes whose standing changes), the totals,
    and the document order of the nodes with something to report."""

    def __init__(self, position: int):
        self.position = position
        self.into: dict[str, list[Wire]] = {}
        self.out: dict[str, list[Wire]] = {}
        self.types: dict[str, str] = {}
        self.inputs: set[str] = set()
        self.outputs: set[str] = set()
        self.support: dict[str, int] = {}  # wires from the node into nodes in the model
        self.used: set[str] = set()  # in the model: an Output, or feeding one
        self.unused: set[str] = set()
        self.raw: dict[str, NodeInfo] = {}  # each node's own result
        self.final: dict[str, NodeInfo] = {}  # as reported: problems of nodes left out of the model are warnings
        self.with_diagnostics: set[str] = set()
        self.counted: dict[str, tuple[int, int]] = {}  # what each node adds to the totals
        self.params = 0
        self.macs = 0
        self.huge: set[str] = set()  # nodes over MAX_PARAMS on their own (they report it themselves)
        self.doc_order: dict[str, int] = {}
        self.next_doc = 0

    def add_node(self, node: Node) -> None:
        node_id = node.id
        self.into[node_id], self.out[node_id] = [], []
        self.types[node_id] = node.type
        self.support[node_id] = 0
        self.doc_order[node_id] = self.next_doc
        self.next_doc += 1
        if node.type == "Input":
            self.inputs.add(node_id)
        if node.type == "Output":
            self.outputs.add(node_id)
            self.used.add(node_id)
        else:
            self.unused.add(node_id)

    def remove_node(self, node_id: str) -> None:
        for table in (self.into, self.out, self.types, self.support, self.raw, self.final, self.doc_order):
            table.pop(node_id, None)
        for group in (self.inputs, self.outputs, self.used, self.unused, self.with_diagnostics, self.huge):
            group.discard(node_id)
        params, macs = self.counted.pop(node_id, (0, 0))
        self.params -= params
        self.macs -= macs

    def support_up(self, node_id: str, changed: set[str]) -> None:
        """One more wire from ``node_id`` into the model; nodes that join the model pass it on upstream."""
        stack = [node_id]
        while stack:
            current = stack.pop()
            self.support[current] += 1
            if self.support[current] == 1 and current not in self.outputs:
                self.used.add(current)
                self.unused.discard(current)
                changed.add(current)
                stack.extend(wire.src for wire in self.into[current])

    def support_down(self, node_id: str, changed: set[str]) -> None:
        """One wire fewer from ``node_id`` into the model; nodes that leave it pass that on upstream."""
        stack = [node_id]
        while stack:
            current = stack.pop()
            self.support[current] -= 1
            if self.support[current] == 0 and current not in self.outputs:
                self.used.discard(current)
                self.unused.add(current)
                changed.add(current)
                stack.extend(wire.src for wire in self.into[current])

    def settle(self, node_id: str) -> None:
        """Work out what the node reports and adds to the totals from its result and its place in the model."""
        info = self.raw.get(node_id)
        if info is None:
            return
        in_model = not self.outputs or node_id in self.used
        if not in_model and info.diagnostics:
            # Left out of the model: its problems are worth a look but must not block compiling.
            info = NodeInfo(info.outputs, info.params, info.macs,
                            [replace(d, severity="warning") for d in info.diagnostics], info.blocked)
        self.final[node_id] = info
        if info.diagnostics:
            self.with_diagnostics.add(node_id)
        else:
            self.with_diagnostics.discard(node_id)
        if info.params > MAX_PARAMS:
            self.huge.add(node_id)
        else:
            self.huge.discard(node_id)
        params, macs = self.counted.pop(node_id, (0, 0))
        self.params -= params
        self.macs -= macs
        if in_model:
            self.counted[node_id] = (info.params, info.macs)
            self.params += info.params
            self.macs += info.macs


class Analyzer:
    """Analyses one network, remembering per-node results and the graph structure between calls."""

    def __init__(self, network: Network):
        self.network = network
        self._cache: dict[str, tuple[Any, NodeInfo]] = {}
        self._structure: _Structure | None = None
        self._name = network.name  # cached diagnostics carry the network's name
        self._state: _State | None = None  # what the last analysis found, updated from the change journal
        self._order_cache: tuple[int, list[str]] | None = None  # (journal position, dependency order)
        self._block_revisions: dict[str, Any] = {}  # block node id -> its definition's revision when analysed

    def _stale_blocks(self) -> list[str]:
        """Block nodes whose definition changed since they were analysed (edits inside a definition are not in
        this network's journal)."""
        nodes = self.network.graph.nodes
        stale = []
        for node_id, seen in list(self._block_revisions.items()):
            if node_id not in nodes:
                del self._block_revisions[node_id]
                continue
            if block_analysis.block_key(self.network, nodes[node_id]["node"]) != seen:
                stale.append(node_id)
        return stale

    def _structure_now(self) -> _Structure:
        net = self.network
        if self._structure is not None and self._structure.version == net.structure_version:
            return self._structure
        cycle_nodes: set[str] = set()
        try:
            order = list(nx.topological_sort(net.graph))
        except nx.NetworkXUnfeasible:
            # Every node on any loop (there may be several); the rest are ordered, and what a loop feeds waits.
            cycle_nodes = {node_id for part in nx.strongly_connected_components(net.graph) if len(part) > 1
                           for node_id in part} | {u for u, _ in nx.selfloop_edges(net.graph)}
            order = list(nx.topological_sort(net.graph.subgraph(set(net.graph) - cycle_nodes)))
        wiring: dict[str, dict[str, Wire]] = {node_id: {} for node_id in net.graph}
        for _, dst, data in net.graph.edges(data=True):
            wire = data["wire"]
            wiring[dst][wire.dst_port] = wire
        outputs = net.outputs()
        used: set[str] | None = None
        if outputs:
            used = set()
            for out in outputs:
                used |= nx.ancestors(net.graph, out.id) | {out.id}
        self._structure = _Structure(net.structure_version, order, cycle_nodes, wiring, used)
        live = set(net.graph)
        for node_id in list(self._cache):
            if node_id not in live:
                del self._cache[node_id]
        return self._structure

    def analyze(self) -> Analysis:
        """The analysis of the network as it is now. After an edit only the nodes the edit reaches are worked
        out again: the nodes it changed, and downstream of them only as far as an output type changed; the
        results are identical to a fresh analysis (a property test holds them to it)."""
        net = self.network
        if net.name != self._name:
            self._cache.clear()
            self._name = net.name
            self._state = None
        rank = net.ranks()
        if rank is None:  # wires form a loop: the whole-graph walk reports it
            self._state = None
            return self._analyze_whole()
        state = self._state
        changes = None if state is None else net.changes_since(state.position)
        if changes is not None and self._block_revisions:
            changes = changes + [("node~", node_id) for node_id in self._stale_blocks()]
        if state is None or changes is None or not self._update(state, changes):
            state = self._state = self._fresh_state()
        return self._assemble(state)

    # ---- incremental analysis -------------------------------------------------------------------------------
    def _fresh_state(self) -> _State:
        """Everything worked out from scratch, through the same steps an update takes."""
        net = self.network
        state = _State(net.change_position)
        changes: list[tuple[str, Any]] = [("node+", data["node"]) for _, data in net.graph.nodes(data=True)]
        changes += [("wire+", data["wire"]) for _, _, data in net.graph.edges(data=True)]
        state.position = -1  # nothing to compare with: every node counts as changed
        self._update(state, changes)
        return state

    def _update(self, state: _State, changes: list[tuple[str, Any]]) -> bool:
        """Bring ``state`` up to date with ``changes``; False when only a fresh start can (the network gained
        or lost its first Output, which changes every node's standing)."""
        net = self.network
        had_outputs = bool(state.outputs)
        dirty: set[str] = set()
        restanding: set[str] = set()  # nodes whose place in or out of the model may have changed
        reordered = False
        for kind, item in changes:
            if kind == "wire+":
                state.into[item.dst].append(item)
                state.out[item.src].append(item)
                if item.dst in state.used:
                    state.support_up(item.src, restanding)
                dirty.add(item.dst)
            elif kind == "wire-":
                state.into[item.dst].remove(item)
                state.out[item.src].remove(item)
                if item.dst in state.used:
                    state.support_down(item.src, restanding)
                dirty.add(item.dst)
            elif kind == "node+":
                state.add_node(item)
                dirty.add(item.id)
                restanding.add(item.id)
            elif kind == "node-":
                state.remove_node(item)
                self._cache.pop(item, None)
                dirty.discard(item)
                restanding.discard(item)
            elif kind == "node~":
                dirty.add(item)
            elif kind == "order":
                reordered = True
        if state.position >= 0 and bool(state.outputs) != had_outputs:
            return False
        state.position = net.change_position
        if reordered:
            state.doc_order = {node_id: index for index, node_id in enumerate(net.graph)}
            state.next_doc = len(state.doc_order)
        self._reinfer(state, dirty, restanding)
        return True

    def _reinfer(self, state: _State, dirty: set[str], restanding: set[str]) -> None:
        """Work out the changed nodes again in dependency order, going downstream only from a node whose result
        changed (a heap keyed by topological rank visits each node at most once)."""
        rank = self.network.ranks()
        assert rank is not None
        nodes = self.network.graph.nodes
        heap = [(rank[node_id], node_id) for node_id in dirty]
        heapq.heapify(heap)
        queued = set(dirty)
        raw = state.raw
        while heap:
            _, node_id = heapq.heappop(heap)
            wires = {wire.dst_port: wire for wire in state.into[node_id]}
            info = self._analyze_node(nodes[node_id]["node"], wires, raw)
            old = raw.get(node_id)
            if old is info or (old is not None and old == info):
                continue
            raw[node_id] = info
            restanding.add(node_id)
            for wire in state.out[node_id]:
                if wire.dst not in queued:
                    queued.add(wire.dst)
                    heapq.heappush(heap, (rank[wire.dst], wire.dst))
        for node_id in restanding:
            state.settle(node_id)

    def _assemble(self, state: _State) -> Analysis:
        """The analysis from the state: per-node diagnostics in document order, then the network's checks."""
        net = self.network
        doc_order = state.doc_order.__getitem__
        diagnostics: list[Diagnostic] = []
        for node_id in sorted(state.with_diagnostics, key=doc_order):
            diagnostics.extend(state.final[node_id].diagnostics)
        has_outputs = bool(state.outputs)
        if not state.final:
            diagnostics.append(Diagnostic("The network is empty; drag an Input, some layers and an Output onto "
                                          "the canvas.", net.name, severity="warning"))
        else:
            if not state.inputs:
                diagnostics.append(Diagnostic("The network has no Input node.", net.name,
                                              suggestion="Add an Input and set its shape to one sample of your "
                                                         "data."))
            if not has_outputs:
                diagnostics.append(Diagnostic("The network has no Output node.", net.name,
                                              suggestion="Add an Output after the last layer so training knows "
                                                         "what to predict."))
            else:
                nodes = net.graph.nodes
                for node_id in sorted(state.unused, key=doc_order):
                    node = nodes[node_id]["node"]
                    diagnostics.append(Diagnostic("Not connected to any Output, so it is left out of the model.",
                                                  net.name, node_id, node.name, severity="warning",
                                                  suggestion="Wire it towards an Output or delete it."))
                outputs = [nodes[node_id]["node"] for node_id in sorted(state.outputs, key=doc_order)]
                diagnostics.extend(self._final_activation_checks(outputs))
            diagnostics.extend(self._tying_checks([i for i, t in state.types.items() if t == "Linear"], state.final,
                                                  lambda i: not has_outputs or i in state.used))
        totals = (state.params, state.macs)
        if state.params > MAX_PARAMS and not state.huge:
            diagnostics.append(Diagnostic(
                f"The model would have {_count(state.params)} parameters ({_weight_bytes(state.params)} of "
                f"weights), more than the {MAX_PARAMS:,} NetBuilder builds.", net.name,
                suggestion="Use fewer units or filters, or pool the features before the large Linear layers."))
        return Analysis(net.name, dict(state.final), diagnostics, self._order,
                        set(state.used) if has_outputs else None, totals)

    def _order(self) -> list[str]:
        """The dependency order of the network (networkx's topological sort, as compile has always walked it),
        sorted once per state of the network however many analyses read it."""
        net = self.network
        cached = self._order_cache
        if cached is not None and cached[0] == net.change_position:
            return list(cached[1])
        order = list(nx.topological_sort(net.graph))
        self._order_cache = (net.change_position, order)
        return list(order)

    # ---- whole-graph analysis (networks with loops) -------------------------------------------------------------
    def _analyze_whole(self) -> Analysis:
        net = self.network
        structure = self._structure_now()
        infos: dict[str, NodeInfo] = {}
        diagnostics: list[Diagnostic] = []
        for node_id in structure.cycle_nodes:
            node = net.node(node_id)
            infos[node_id] = NodeInfo(blocked=True)
            diagnostics.append(Diagnostic("This layer is part of a loop; networks must flow one way.",
                                          net.name, node_id, node.name,
                                          suggestion="Remove one of the wires in the loop."))
        nodes = net.graph.nodes
        for node_id in structure.order:
            infos[node_id] = self._analyze_node(nodes[node_id]["node"], structure.wiring[node_id], infos)

        used = structure.used
        for node_id, info in infos.items():
            if used is not None and node_id not in used and info.diagnostics:
                # Left out of the model: its problems are worth a look but must not block compiling.
                info = infos[node_id] = NodeInfo(info.outputs, info.params, info.macs,
                                                 [replace(d, severity="warning") for d in info.diagnostics],
                                                 info.blocked)
            diagnostics.extend(info.diagnostics)
        diagnostics.extend(self._network_checks(used))
        diagnostics.extend(self._tying_checks([n.id for n in net.nodes if n.type == "Linear"], infos,
                                              lambda i: used is None or i in used))
        analysis = Analysis(net.name, infos, diagnostics, list(structure.order), used)
        total = analysis.total_params
        if total > MAX_PARAMS and not any(info.params > MAX_PARAMS for info in infos.values()):
            analysis.diagnostics.append(Diagnostic(
                f"The model would have {_count(total)} parameters ({_weight_bytes(total)} of weights), more "
                f"than the {MAX_PARAMS:,} NetBuilder builds.", net.name,
                suggestion="Use fewer units or filters, or pool the features before the large Linear layers."))
        return analysis

    def _analyze_node(self, node: Node, wires: dict[str, Wire], infos: dict[str, NodeInfo]) -> NodeInfo:
        net = self.network
        try:
            spec = net.spec_of(node)
        except (UnknownLayerError, DocumentError) as error:
            return NodeInfo(diagnostics=[Diagnostic(str(error), net.name, node.id, node.name)])
        ports = spec.input_ports(node.params)
        inputs: list[TensorType | None] = []
        problems: list[Diagnostic] = []
        blocked = False
        for port in ports:
            wire = wires.get(port.name)
            if wire is None:
                if not port.optional:
                    label = f"Input {port.name!r}" if len(ports) > 1 else "The input"
                    problems.append(Diagnostic(f"{label} is not connected.", net.name, node.id, node.name,
                                               suggestion="Drag a wire into it from a layer above."))
                inputs.append(None)
                continue
            src_info = infos.get(wire.src)
            src_type = src_info.outputs.get(wire.src_port) if src_info else None
            if src_type is None and src_info is not None and src_info.ok and src_info.outputs:
                source = net.node(wire.src)  # a block whose definition lost this output port
                problems.append(Diagnostic(f"Its input comes from output {wire.src_port!r} of {source.name}, "
                                           "which that block no longer has.", net.name, node.id, node.name,
                                           suggestion="Delete that wire and connect another output."))
            elif src_type is None:
                blocked = True
            inputs.append(src_type)
        for port_name in wires.keys() - {p.name for p in ports}:
            problems.append(Diagnostic(f"A wire goes into {port_name!r}, which this layer does not have.",
                                       net.name, node.id, node.name, suggestion="Delete that wire."))
        if problems or blocked:
            return NodeInfo(diagnostics=problems, blocked=blocked and not problems)

        try:
            params = block_analysis.node_params(net, node, spec)
        except ParamError as error:
            return NodeInfo(diagnostics=[Diagnostic(str(error), net.name, node.id, node.name)])
        block = block_analysis.block_key(net, node)
        if block is not None:
            self._block_revisions[node.id] = block
        key = (node.type, node.name, tuple(params.items()), tuple(inputs), block)
        cached = self._cache.get(node.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        if block is not None:
            info = block_analysis.instance_info(net, node, params, tuple(inputs))
        else:
            info = self._infer(node, spec, tuple(inputs), params)
        self._cache[node.id] = (key, info)
        return info

    def _infer(self, node: Node, spec: Any, inputs: tuple[TensorType | None, ...],
               node_params: dict[str, Any] | None = None) -> NodeInfo:
        net = self.network
        try:
            params = spec.coerce_params(node.params if node_params is None else node_params)
            ctx = LayerContext(params, inputs, node.name)
            outputs = spec.infer(ctx)
            ports = spec.output_ports(params)
            out_map = {port.name: t for port, t in zip(ports, outputs, strict=False)}
            if spec.id == "Output":
                out_map = {"out": outputs[0]}
            count = int(spec.count_params(ctx))
            macs = int(spec.macs(ctx))
            if count > MAX_PARAMS:
                raise ShapeError(
                    f"On {', '.join(map(str, inputs))} this layer would have {count:,} parameters "
                    f"({_weight_bytes(count)} of weights), more than the {MAX_PARAMS:,} NetBuilder builds for a "
                    "whole model.",
                    suggestion="Use fewer units or filters, or reduce the input first (pooling, a smaller "
                    "Input, or a Linear with fewer units before it).")
        except ShapeError as error:
            return NodeInfo(diagnostics=[Diagnostic(error.message, net.name, node.id, node.name, error.param,
                                                    error.suggestion)])
        except ParamError as error:
            return NodeInfo(diagnostics=[Diagnostic(str(error), net.name, node.id, node.name)])
        except Exception as error:  # a rule that crashed: report it in words, never a traceback
            return NodeInfo(diagnostics=[Diagnostic(
                f"Could not work out this layer's output for inputs {', '.join(map(str, inputs))} "
                f"({type(error).__name__}).", net.name, node.id, node.name,
                suggestion="Check its parameters against the incoming shape.")])
        for t in out_map.values():
            bad = [d for d in t.shape if isinstance(d, int) and d < 1]
            if bad:
                return NodeInfo(diagnostics=[Diagnostic(
                    f"The output would be {t}, which has an empty dimension.", net.name, node.id, node.name,
                    suggestion="Use a smaller kernel or stride, more padding, or a larger input.")])
        return NodeInfo(outputs=out_map, params=count, macs=macs)

    def _network_checks(self, used: set[str] | None) -> list[Diagnostic]:
        net = self.network
        problems: list[Diagnostic] = []
        if len(net) == 0:
            return [Diagnostic("The network is empty; drag an Input, some layers and an Output onto the canvas.",
                               net.name, severity="warning")]
        inputs, outputs = net.inputs(), net.outputs()
        if not inputs:
            problems.append(Diagnostic("The network has no Input node.", net.name,
                                       suggestion="Add an Input and set its shape to one sample of your data."))
        if not outputs:
            problems.append(Diagnostic("The network has no Output node.", net.name,
                                       suggestion="Add an Output after the last layer so training knows what "
                                                  "to predict."))
            return problems
        assert used is not None
        for node in net.nodes:
            if node.id not in used:
                problems.append(Diagnostic("Not connected to any Output, so it is left out of the model.",
                                           net.name, node.id, node.name, severity="warning",
                                           suggestion="Wire it towards an Output or delete it."))
        problems.extend(self._final_activation_checks(outputs))
        return problems

    def _tying_checks(self, linear_ids: list[str], infos: dict[str, NodeInfo],
                      in_model: Callable[[str], bool]) -> list[Diagnostic]:
        """Linear layers whose weight is tied to an Embedding that is missing or has another shape."""
        from netbuilder.analysis.tying import tying_problems

        return tying_problems(self.network, linear_ids, infos, in_model)

    def _final_activation_checks(self, outputs: list[Any]) -> list[Diagnostic]:
        """Beginners' classics at the end of a network, which train but badly: a Softmax or Sigmoid right before
        an Output whose loss applies it again (cross-entropy on logits, BCE-with-logits on a GAN score), and an
        Output of probabilities fed by values that are not (the loss takes their logarithm)."""
        net = self.network
        problems: list[Diagnostic] = []
        for output in outputs:
            role = output.params.get("role")
            for wire in net.wires_into(output.id):
                source = net.node(wire.src)
                if role in LOGIT_ROLES and source.type in SQUASHING:
                    loss, fix = _squashed_twice(roles.role(role), source.type)
                    problems.append(Diagnostic(
                        f"{source.type} before Output '{output.name}' ({role}): {loss} squashes the "
                        "values again.", net.name, source.id, source.name, severity="warning", suggestion=fix))
                elif (roles.get(role) is not None and roles.role(role).is_probability
                      and source.type != "LogSoftmax"):
                    # A LogSoftmax feeding the Output directly gives log-probabilities; training sees it and uses
                    # the NLL loss on them as they are (train/losses.py), so nothing is wrong.
                    last = source
                    while last.type in VALUE_PRESERVING and (feeding := net.wires_into(last.id)):
                        last = net.node(feeding[0].src)
                    if last.type not in SQUASHING:
                        problems.append(Diagnostic(
                            f"Output '{output.name}' is set to probabilities, but its values come from "
                            f"{last.name} ({last.type}), which can give any number; the loss takes their "
                            "logarithm.", net.name, output.id, output.name, "role", severity="warning",
                            suggestion="Add a Softmax (or Sigmoid for one unit) before it, or set the role to "
                                       "logits."))
        return problems


_analyzers: weakref.WeakKeyDictionary[Network, Analyzer] = weakref.WeakKeyDictionary()


def analyzer_for(network: Network) -> Analyzer:
    analyzer = _analyzers.get(network)
    if analyzer is None:
        analyzer = _analyzers[network] = Analyzer(network)
    return analyzer


def analyze(network: Network) -> Analysis:
    """Analyse a network, reusing earlier per-node results where nothing they depend on changed."""
    return analyzer_for(network).analyze()
