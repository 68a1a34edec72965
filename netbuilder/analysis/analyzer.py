"""Validation and shape inference: one walk of the graph in dependency order.

Every node gets its output types, parameter count, multiply-adds and plain-words diagnostics. Results are cached per
node keyed by (type, params, input types), so after a one-node edit only that node and what it changes downstream is
worked out again; the rest are dictionary hits.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx

from netbuilder.document.model import Network, Node, Wire
from netbuilder.specs import LayerContext, ParamError, ShapeError, TensorType, UnknownLayerError, get_spec

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


LOGIT_ROLES = ("logits", "token_logits", "score")  # Output roles whose loss takes raw scores
SQUASHING = ("Softmax", "Sigmoid")  # what turns scores into probabilities
VALUE_PRESERVING = ("Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Permute")  # values pass unchanged


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

    @property
    def ok(self) -> bool:
        return not self.blocked and not any(d.severity == "error" for d in self.diagnostics)

    @property
    def output(self) -> TensorType | None:
        return next(iter(self.outputs.values()), None)


@dataclass
class Analysis:
    network: str
    nodes: dict[str, NodeInfo]
    diagnostics: list[Diagnostic]
    order: list[str]
    used: set[str] | None = None  # the nodes in the model (feeding an Output); None when there is no Output

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
        return sum(info.params for node_id, info in self.nodes.items() if self.in_model(node_id))

    @property
    def total_macs(self) -> int:
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


class Analyzer:
    """Analyses one network, remembering per-node results and the graph structure between calls."""

    def __init__(self, network: Network):
        self.network = network
        self._cache: dict[str, tuple[Any, NodeInfo]] = {}
        self._structure: _Structure | None = None
        self._name = network.name  # cached diagnostics carry the network's name

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
        net = self.network
        if net.name != self._name:
            self._cache.clear()
            self._name = net.name
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
        analysis = Analysis(net.name, infos, diagnostics, list(structure.order), used)
        total = analysis.total_params
        if total > MAX_PARAMS and not any(info.params > MAX_PARAMS for info in infos.values()):
            analysis.diagnostics.append(Diagnostic(
                f"The model would have {total:,} parameters ({_weight_bytes(total)} of weights), more than the "
                f"{MAX_PARAMS:,} NetBuilder builds.", net.name,
                suggestion="Use fewer units or filters, or pool the features before the large Linear layers."))
        return analysis

    def _analyze_node(self, node: Node, wires: dict[str, Wire], infos: dict[str, NodeInfo]) -> NodeInfo:
        net = self.network
        try:
            spec = get_spec(node.type)
        except UnknownLayerError as error:
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
            if src_type is None:
                blocked = True
            inputs.append(src_type)
        for port_name in wires.keys() - {p.name for p in ports}:
            problems.append(Diagnostic(f"A wire goes into {port_name!r}, which this layer does not have.",
                                       net.name, node.id, node.name, suggestion="Delete that wire."))
        if problems or blocked:
            return NodeInfo(diagnostics=problems, blocked=blocked and not problems)

        key = (node.type, node.name, tuple(node.params.items()), tuple(inputs))
        cached = self._cache.get(node.id)
        if cached is not None and cached[0] == key:
            return cached[1]
        info = self._infer(node, spec, tuple(inputs))
        self._cache[node.id] = (key, info)
        return info

    def _infer(self, node: Node, spec: Any, inputs: tuple[TensorType | None, ...]) -> NodeInfo:
        net = self.network
        try:
            params = spec.coerce_params(node.params)
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
                    loss = "binary cross-entropy with logits" if role == "score" else "cross-entropy"
                    fix = (f"Delete the {source.type}: the GAN loss expects a raw score." if role == "score" else
                           f"Delete the {source.type}, or set the Output's role to probabilities.")
                    problems.append(Diagnostic(
                        f"{source.type} before Output '{output.name}' ({role}): its {loss} loss squashes the "
                        "values again.", net.name, source.id, source.name, severity="warning", suggestion=fix))
                elif role == "probabilities":
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
