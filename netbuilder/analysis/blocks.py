"""Shape inference, parameters and multiply-adds of block nodes, worked out per instance.

A block node's result is its definition walked with the instance's input types and parameter values: every inner
node gets its types, parameter count and multiply-adds as a layer would, nested blocks recursively. Results are
cached by (definition revision, values, input types), so fifty instances of one block on the same shapes cost one
walk, and an edit inside a definition re-walks it once for all of them. A problem inside a block is reported on the
block node with its path: ``layer3.1.conv2: ...``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from netbuilder.document.blocks import BLOCK_TYPE, BlockDefinition, resolve_params, revision
from netbuilder.document.model import Document, DocumentError, Network, Node
from netbuilder.specs import (
    LayerContext,
    LayerSpec,
    ParamError,
    ShapeError,
    TensorType,
    UnknownLayerError,
)

if TYPE_CHECKING:
    from netbuilder.analysis.analyzer import NodeInfo

MAX_DEPTH = 32  # blocks inside blocks; deeper nesting is surely a mistake (and recursion is refused anyway)
_CACHE_LIMIT = 512


@dataclass(frozen=True)
class Problem:
    """A problem inside a block: ``path`` is relative to the block node (``1.conv2``)."""

    path: str
    message: str
    param: str | None = None
    suggestion: str | None = None


@dataclass(eq=False)
class BlockResult:
    """One instance's analysis: output types per output port, totals, problems, and each inner node's result."""

    outputs: dict[str, TensorType]
    params: int
    macs: int
    problems: tuple[Problem, ...]
    inner: dict[str, NodeInfo] = field(default_factory=dict)  # inner node id -> its result in this instance
    resolved: dict[str, dict[str, Any]] = field(default_factory=dict)  # inner node id -> params used
    order: tuple[str, ...] = ()  # inner nodes in the model, in dependency order (what compile walks)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _Walk:
    """What depends only on the definition's graph: order, wiring, the nodes that feed an Output."""

    key: Any
    order: list[str]
    wiring: dict[str, dict[str, Any]]
    used: set[str]
    cycle: bool


_walks: weakref.WeakKeyDictionary[BlockDefinition, _Walk] = weakref.WeakKeyDictionary()
_results: weakref.WeakKeyDictionary[BlockDefinition, dict[Any, BlockResult]] = weakref.WeakKeyDictionary()


def _walk(definition: BlockDefinition) -> _Walk:
    net = definition.network
    key = net.structure_version, id(net)
    cached = _walks.get(definition)
    if cached is not None and cached.key == key:
        return cached
    cycle = False
    try:
        order = list(nx.topological_sort(net.graph))
    except nx.NetworkXUnfeasible:
        order, cycle = [], True
    wiring: dict[str, dict[str, Any]] = {node_id: {} for node_id in net.graph}
    for wire in net.wires:
        wiring[wire.dst][wire.dst_port] = wire
    used: set[str] = set()
    for out in definition.output_nodes():
        used |= nx.ancestors(net.graph, out.id) | {out.id} if not cycle else {out.id}
    walk = _Walk(key, order, wiring, used, cycle)
    _walks[definition] = walk
    return walk


def analyze_instance(doc: Document, block: str, values: Mapping[str, Any],
                     inputs: tuple[TensorType | None, ...], stack: tuple[str, ...] = ()) -> BlockResult:
    """The result of block ``block`` with parameter ``values`` on ``inputs`` (one type per input port)."""
    definition = doc.blocks.get(block)
    if definition is None:
        return BlockResult({}, 0, 0, (Problem("", f"The block {block!r} is not defined in this document.",
                                              suggestion="Import it from the block library."),))
    if block in stack:
        path = " › ".join([*stack[stack.index(block):], block])
        return BlockResult({}, 0, 0, (Problem("", f"A block cannot contain itself: {path}.",
                                              suggestion="Delete the inner block node."),))
    if len(stack) >= MAX_DEPTH:
        return BlockResult({}, 0, 0, (Problem("", f"Blocks nest more than {MAX_DEPTH} levels deep."),))
    key = (revision(doc, block), tuple(values.items()), inputs)
    cache = _results.setdefault(definition, {})
    hit = cache.get(key)
    if hit is not None:
        return hit
    result = _analyze(doc, definition, dict(values), inputs, (*stack, block))
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = result
    return result


def _analyze(doc: Document, definition: BlockDefinition, values: dict[str, Any],
             inputs: tuple[TensorType | None, ...], stack: tuple[str, ...]) -> BlockResult:
    from netbuilder.analysis.analyzer import MAX_PARAMS, NodeInfo

    net = definition.network
    walk = _walk(definition)
    if walk.cycle:
        return BlockResult({}, 0, 0, (Problem("", f"The layers inside {definition.name} form a loop.",
                                              suggestion="Open the block and remove one wire of the loop."),))
    if not definition.output_nodes():
        return BlockResult({}, 0, 0, (Problem("", f"Block {definition.name} has no Output node, so it gives "
                                                  "nothing.", suggestion="Open the block and add an Output."),))
    input_ids = {n.id: index for index, n in enumerate(definition.input_nodes())}
    infos: dict[str, NodeInfo] = {}
    resolved: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    order: list[str] = []
    total_params = total_macs = 0
    nodes = net.graph.nodes
    for node_id in walk.order:
        if node_id not in walk.used:
            continue
        node: Node = nodes[node_id]["node"]
        if node_id in input_ids:
            index = input_ids[node_id]
            given = inputs[index] if index < len(inputs) else None
            infos[node_id] = NodeInfo(outputs={"out": given} if given is not None else {}, blocked=given is None)
            order.append(node_id)
            continue
        wires = walk.wiring[node_id]
        try:
            spec = net.spec_of(node)
        except (DocumentError, UnknownLayerError) as error:
            problems.append(Problem(node.name, str(error)))
            infos[node_id] = NodeInfo(blocked=True)
            continue
        ports = spec.input_ports(node.params)
        types: list[TensorType | None] = []
        blocked = False
        for port in ports:
            wire = wires.get(port.name)
            if wire is None:
                if not port.optional:
                    label = f"Input {port.name!r}" if len(ports) > 1 else "The input"
                    problems.append(Problem(node.name, f"{label} is not connected.",
                                            suggestion="Open the block and wire it."))
                    blocked = True
                types.append(None)
                continue
            source = infos.get(wire.src)
            src_type = source.outputs.get(wire.src_port) if source is not None else None
            blocked = blocked or src_type is None
            types.append(src_type)
        if blocked:
            infos[node_id] = NodeInfo(blocked=True)
            continue
        try:
            params = resolve_params(node, spec, values)
        except ParamError as error:
            problems.append(Problem(node.name, str(error)))
            infos[node_id] = NodeInfo(blocked=True)
            continue
        resolved[node_id] = params
        order.append(node_id)
        if node.type == "Output":
            infos[node_id] = NodeInfo(outputs={"out": types[0]})  # type: ignore[dict-item]
            continue
        if node.type == BLOCK_TYPE:
            sub = analyze_instance(doc, node.block, params, tuple(types), stack)
            if sub.problems:
                problems.extend(Problem(f"{node.name}.{p.path}" if p.path else node.name, p.message, p.param,
                                        p.suggestion) for p in sub.problems)
                infos[node_id] = NodeInfo(blocked=True)
                continue
            info = NodeInfo(outputs=dict(sub.outputs), params=sub.params, macs=sub.macs, inner=sub)
        else:
            info_or_problem = _infer(node, spec, params, tuple(types), MAX_PARAMS)
            if isinstance(info_or_problem, Problem):
                problems.append(info_or_problem)
                infos[node_id] = NodeInfo(blocked=True)
                continue
            info = info_or_problem
        infos[node_id] = info
        total_params += info.params
        total_macs += info.macs
    outputs: dict[str, TensorType] = {}
    for out in definition.output_nodes():
        found = infos.get(out.id)
        if found is not None and "out" in found.outputs:
            outputs[out.name] = found.outputs["out"]
    return BlockResult(outputs, total_params, total_macs, tuple(problems), infos, resolved, tuple(order))


def _infer(node: Node, spec: LayerSpec, params: dict[str, Any], inputs: tuple[TensorType | None, ...],
           limit: int) -> NodeInfo | Problem:
    """One inner layer, as the analyzer works out a top-level one (same rules, same words)."""
    from netbuilder.analysis.analyzer import NodeInfo

    try:
        ctx = LayerContext(params, inputs, node.name)
        outputs = spec.infer(ctx)
        ports = spec.output_ports(params)
        out_map = {port.name: t for port, t in zip(ports, outputs, strict=False)}
        count, macs = int(spec.count_params(ctx)), int(spec.macs(ctx))
        if count > limit:
            raise ShapeError(f"This layer would have {count:,} parameters, more than the {limit:,} NetBuilder "
                             "builds for a whole model.", suggestion="Use fewer units or filters.")
    except ShapeError as error:
        return Problem(node.name, error.message, error.param, error.suggestion)
    except ParamError as error:
        return Problem(node.name, str(error))
    except Exception as error:  # a rule that crashed: words, never a traceback
        return Problem(node.name, f"Could not work out this layer's output for inputs "
                                  f"{', '.join(map(str, inputs))} ({type(error).__name__}).",
                       suggestion="Check its parameters against the incoming shape.")
    for t in out_map.values():
        if any(isinstance(d, int) and d < 1 for d in t.shape):
            return Problem(node.name, f"The output would be {t}, which has an empty dimension.",
                           suggestion="Use a smaller kernel or stride, more padding, or a larger input.")
    return NodeInfo(outputs=out_map, params=count, macs=macs)


# ---------------------------------------------------------------------------------------------------------------
# Hooks the analyzer calls


def node_params(network: Network, node: Node, spec: LayerSpec) -> dict[str, Any]:
    """The params a node is analysed with: inside a definition opened on its own, bindings take the block's
    defaults."""
    if not node.bindings or not network.is_block:
        return node.params
    definition = network.block_table.get(network.name)
    defaults = definition.defaults() if definition is not None else {}
    return resolve_params(node, spec, defaults)


def block_key(network: Network, node: Node) -> Any:
    """What a block node's result depends on besides its params and inputs (its definition's revision)."""
    doc = network.document
    if node.type != BLOCK_TYPE or doc is None:
        return None
    return revision(doc, node.block)


def instance_info(network: Network, node: Node, params: dict[str, Any],
                  inputs: tuple[TensorType | None, ...]) -> NodeInfo:
    """A block node's result as the analyzer reports it: problems inside carry the path."""
    from netbuilder.analysis.analyzer import Diagnostic, NodeInfo

    doc = network.document
    if doc is None:
        return NodeInfo(diagnostics=[Diagnostic(f"The block {node.block!r} is unknown outside a document.",
                                                network.name, node.id, node.name)])
    stack = (network.name,) if network.is_block else ()
    result = analyze_instance(doc, node.block, params, inputs, stack)
    if result.problems:
        return NodeInfo(diagnostics=[
            Diagnostic(p.message, network.name, node.id, f"{node.name}.{p.path}" if p.path else node.name,
                       p.param, p.suggestion) for p in result.problems])
    return NodeInfo(outputs=dict(result.outputs), params=result.params, macs=result.macs, inner=result)


def definition_result(doc: Document, block: str) -> BlockResult:
    """A definition analysed on its own: its Input nodes' shapes, its parameters' defaults (per definition
    totals, as the block palette and the opened block show them)."""
    definition = doc.block(block)
    inputs = tuple(TensorType(("N", *n.params["shape"]), n.params["dtype"]) for n in definition.input_nodes())
    return analyze_instance(doc, block, definition.defaults(), inputs)


def clear_caches() -> None:
    """Forget every cached block result (benchmarks measure a cold analysis with it)."""
    _walks.clear()
    _results.clear()


def group_command(network: Network, node_ids: list[str], block_name: str, node_name: str | None = None,
                  vertical: bool = False) -> Any:
    """A `GroupIntoBlock` for the selection whose input ports get the shapes the wires carry now (so the block
    opened on its own shows the same shapes): what Edit > Group runs. ``vertical``: ports above and below."""
    from netbuilder.analysis.analyzer import analyze
    from netbuilder.document.block_commands import GroupIntoBlock

    result = analyze(network)
    selected = set(node_ids)
    port_types: dict[tuple[str, str], tuple[tuple[Any, ...], str]] = {}
    for node_id in node_ids:
        if node_id not in network:
            continue
        for wire in network.wires_into(node_id):
            if wire.src in selected:
                continue
            found = result.wire_type(wire.src, wire.src_port)
            if found is not None and all(isinstance(d, int) or d == "T" for d in found.features):
                port_types[(wire.src, wire.src_port)] = (tuple(found.features), found.dtype)
    return GroupIntoBlock(network.name, node_ids, block_name, node_name, port_types, vertical)
