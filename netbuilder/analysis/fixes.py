"""One-click fixes for shape problems: a layer that needs another layout of its input than the one wired in.

A Conv2d after an Input of N×64 needs an image N×C×H×W; a BatchNorm1d after a convolution needs N×C or N×C×L. The
analysis says so in words; a `Fix` says what to do about it as document commands, made into ONE undoable step:

- "Set the Input shape to 1×8×8": when the layer's input comes from an Input (directly, or through layers that
  keep its shape), give the Input the same number of values in the layout the layer needs;
- "Insert Flatten": when the input has more axes than the layer takes, flatten it to N×F;
- "Insert Reshape to 1×8×8": otherwise, reshape the features into the layout the layer needs.

Fixes are found by trial, never by parsing messages: each candidate is applied to a copy of the network and kept
only when the layer's error is gone and no new error appears. The same fixes are offered for a wire the canvas
refuses (`fixes_for_wire`), with the wire itself added in the same step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from netbuilder.analysis.analyzer import Analysis, analyze, analyzer_for
from netbuilder.analysis.causes import ORPHAN_PREFIX
from netbuilder.document import (
    AddNode,
    AddWire,
    Command,
    Document,
    Macro,
    Network,
    Node,
    RemoveWires,
    SetParams,
    Wire,
)
from netbuilder.specs import LayerContext, TensorType
from netbuilder.specs.base import is_known

MAX_FIXES = 2  # offered per problem: the first that work, best first


@dataclass(frozen=True)
class Fix:
    """A way to solve one problem: ``title`` is what the button or menu says; ``commands()`` builds fresh document
    commands each time (commands keep state once done), which `command` wraps into one undoable step."""

    title: str
    network: str
    node_id: str  # the layer whose problem it solves
    commands: Callable[[], list[Command]]
    changes: frozenset[str] = frozenset()  # existing layers whose parameters it changes

    def command(self) -> Macro:
        return Macro(self.title, self.commands())


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def candidate_shapes(sample: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Other layouts of the same number of values per sample, most likely first: an image of one channel
    (1×8×8), three channels, a sequence (8×8 as steps × features, or one step 1×F), a volume, flat features."""
    count = math.prod(sample)
    shapes: list[tuple[int, ...]] = []
    side = math.isqrt(count)
    if side * side == count and side > 1:
        shapes += [(1, side, side), (side, side)]
    if count % 3 == 0 and math.isqrt(count // 3) ** 2 == count // 3 and count > 3:
        shapes.append((3, math.isqrt(count // 3), math.isqrt(count // 3)))
    cube = round(count ** (1 / 3))
    if cube > 1 and cube ** 3 == count:
        shapes.append((1, cube, cube, cube))
    shapes += [(1, count), (count,)]
    return [s for s in dict.fromkeys(shapes) if s != tuple(sample)]


def _copy(network: Network, keep: set[str] | None = None, changed: frozenset[str] = frozenset()
          ) -> tuple[Document, Network]:
    """A trial document holding ``network`` (only the nodes in ``keep``, when given). Only the nodes a fix changes
    (``changed``) are copied; the others are shared, and the trial's analyzer starts from the network's per-node
    results, so the layers a fix does not reach cost a dictionary lookup (a 200-layer network is tried in a few
    milliseconds, not hundreds)."""
    doc = Document()
    trial = Network(network.name)
    for node in network.nodes:
        if keep is None or node.id in keep:
            trial._insert_node(node.clone() if node.id in changed else node)
    for wire in network.wires:
        if trial.graph.has_node(wire.src) and trial.graph.has_node(wire.dst):
            trial._insert_wire(wire)
    trial.document = doc
    doc.networks = {network.name: trial}
    analyzer_for(trial)._cache = dict(analyzer_for(network)._cache)
    return doc, trial


def _errors(analysis: Analysis) -> set[tuple[str | None, str]]:
    """Every problem, as (node, message): errors, and the problems of layers left out of the model (which the
    analysis lowers to warnings); not "not connected to any Output", which a layer added in a cut-off part has."""
    return {(d.node_id, d.message) for d in analysis.diagnostics if not d.message.startswith(ORPHAN_PREFIX)}


def _upstream(network: Network, wire: Wire) -> set[str]:
    """The layers a fix on ``wire`` can affect when it changes nothing upstream: both ends and what feeds them."""
    graph = network.graph
    return nx.ancestors(graph, wire.src) | nx.ancestors(graph, wire.dst) | {wire.src, wire.dst}


def _works(network: Network, fix: Fix, keep: set[str] | None, before: set[tuple[str | None, str]]) -> bool:
    """Whether ``fix`` leaves its layer without errors and adds none (tried on a copy of the ``keep`` layers, or
    of the whole network)."""
    doc, trial = _copy(network, keep, fix.changes)
    try:
        fix.command().do(doc)
    except ValueError:  # DocumentError / ParamError: the edit itself is refused
        return False
    after = _errors(analyze(trial))
    if any(node_id == fix.node_id for node_id, _ in after):
        return False
    return after <= before


# Layers that act on each value alone: an Input's new layout passes through them unchanged and means the same.
# (A Linear also keeps N×64 as N×64, but on another layout it would mix other values.)
ELEMENTWISE = frozenset({"Identity", "Dropout", "ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Sigmoid", "Tanh",
                         "Softplus"})


def _feeding_input(network: Network, analysis: Analysis, source: str) -> str | None:
    """The Input whose shape reaches ``source`` unchanged (through one-input elementwise layers), or None."""
    seen = set()
    while source not in seen:
        seen.add(source)
        node = network.node(source)
        if node.type == "Input":
            return source if node.params.get("dtype") == "float32" else None
        if node.type not in ELEMENTWISE:
            return None
        wires = network.wires_into(source)
        info = analysis.nodes.get(source)
        if len(wires) != 1 or info is None or not info.outputs:
            return None
        upstream = analysis.nodes.get(wires[0].src)
        feeding = upstream.outputs.get(wires[0].src_port) if upstream is not None else None
        if feeding is None or info.output != feeding:
            return None
        source = wires[0].src
    return None


def _between(network: Network, src: str, dst: str) -> tuple[float, float]:
    (ax, ay), (bx, by) = network.node(src).position, network.node(dst).position
    return ((ax + bx) / 2, (ay + by) / 2)


Candidate = tuple[Fix, bool, TensorType]  # (fix, needs the whole network to check it, what the layer then gets)


def _candidates(network: Network, analysis: Analysis, wire: Wire, tensor: TensorType, connect: bool
                ) -> list[Candidate]:
    """The fixes to try for a layer fed ``tensor`` along ``wire`` (which exists, or with ``connect``, is to be made
    by the fix), best first."""
    name = network.name
    sample = tuple(tensor.shape[1:])
    if tensor.dtype != "float32" or not sample or not all(is_known(d) for d in sample):
        return []
    sample_ints = tuple(int(d) for d in sample)  # type: ignore[arg-type]
    suffix = " and connect" if connect else ""
    result: list[Candidate] = []
    source = _feeding_input(network, analysis, wire.src)
    wire_cmds: Callable[[], list[Command]] = (lambda: [AddWire(name, wire)]) if connect else (lambda: [])
    if source is not None:
        for shape in candidate_shapes(sample_ints):
            def commands(shape: tuple[int, ...] = shape) -> list[Command]:
                return [SetParams(name, source, {"shape": shape}), *wire_cmds()]

            result.append((Fix(f"Set the Input shape to {shape_text(shape)}{suffix}", name, wire.dst, commands,
                               frozenset({source})), True, tensor.with_shape((tensor.shape[0], *shape))))

    def insert(type_id: str, params: dict, title: str) -> Fix:
        position = _between(network, wire.src, wire.dst)

        def commands() -> list[Command]:
            new_id = network.new_id()  # unique in the network, so in any copy of part of it
            return [*([] if connect else [RemoveWires(name, [wire])]),
                    AddNode(name, type_id, params, position=position, node_id=new_id),
                    AddWire(name, Wire(wire.src, wire.src_port, new_id, "in")),
                    AddWire(name, Wire(new_id, "out", wire.dst, wire.dst_port))]

        return Fix(title + suffix, name, wire.dst, commands)

    if len(sample_ints) > 1:
        flat = tensor.with_shape((tensor.shape[0], math.prod(sample_ints)))
        result.append((insert("Flatten", {"start_axis": 1}, "Insert Flatten"), False, flat))
    for shape in candidate_shapes(sample_ints):
        if len(shape) > 1:
            result.append((insert("Reshape", {"shape": shape}, f"Insert Reshape to {shape_text(shape)}"), False,
                           tensor.with_shape((tensor.shape[0], *shape))))
    return result


def _shape_problem(analysis: Analysis, node_id: str) -> bool:
    """Whether the layer has an error about its input's layout (rank or size), the kind a fix may solve."""
    info = analysis.nodes.get(node_id)
    if info is None:
        return False
    return any("(rank " in d.message for d in info.diagnostics)


def fixes_for_node(network: Network, node_id: str, analysis: Analysis | None = None) -> list[Fix]:
    """Fixes for the shape error of layer ``node_id`` (fed by one wire), best first; [] when none works."""
    analysis = analysis or analyze(network)
    if node_id not in network.graph or not _shape_problem(analysis, node_id):
        return []
    wires = network.wires_into(node_id)
    if len(wires) != 1:
        return []
    wire = wires[0]
    source = analysis.nodes.get(wire.src)
    tensor = source.outputs.get(wire.src_port) if source is not None else None
    if tensor is None:
        return []
    return _first_working(network, wire, _candidates(network, analysis, wire, tensor, connect=False))


def fixes_for_wire(network: Network, wire: Wire, analysis: Analysis | None = None) -> list[Fix]:
    """Fixes that make the refused ``wire`` possible, each adding the wire in the same step; [] when none works.
    Only for a target input that is free and a source whose output is known."""
    analysis = analysis or analyze(network)
    if wire.src not in network.graph or wire.dst not in network.graph:
        return []
    if any(w.dst_port == wire.dst_port for w in network.wires_into(wire.dst)):
        return []
    source = analysis.nodes.get(wire.src)
    tensor = source.outputs.get(wire.src_port) if source is not None else None
    if tensor is None:
        return []
    return _first_working(network, wire, _candidates(network, analysis, wire, tensor, connect=True))


def _accepts(node: Node, tensor: TensorType) -> bool:
    """Whether a one-input layer's shape rule takes ``tensor``: a quick test before a candidate is tried on a copy
    of the network (most candidates fail here, for the cost of one shape rule)."""
    try:
        spec = node.spec
        if len(spec.input_ports(node.params)) != 1:
            return True  # several inputs: only the trial can tell
        spec.infer(LayerContext(spec.coerce_params(node.params), (tensor,), node.name))
    except Exception:  # noqa: BLE001  ShapeError, ParamError, or a rule that crashed: not accepted
        return False
    return True


def _first_working(network: Network, wire: Wire, candidates: list[Candidate]) -> list[Fix]:
    found: list[Fix] = []
    before: dict[bool, set] = {}
    keeps: dict[bool, set[str] | None] = {True: None, False: _upstream(network, wire)}
    target = network.node(wire.dst)
    for fix, whole, arriving in candidates:
        if not _accepts(target, arriving):
            continue
        if whole not in before:
            before[whole] = _errors(analyze(_copy(network, keeps[whole])[1]))
        if _works(network, fix, keeps[whole], before[whole]):
            found.append(fix)
            if len(found) == MAX_FIXES:
                break
    return found
