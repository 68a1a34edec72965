"""An imported network's repeated units become block definitions and block nodes, with their weights renamed.

`group_repeats` runs after an importer has built the flat network and before it is laid out and checked for
parity: the units `netbuilder.importers.repeats` finds become one definition each (instances whose numeric values
differ, such as the channels of each ResNet stage, share one definition with block parameters, bound per instance;
``filters * 4`` where one value is a multiple of another), and each instance becomes a block node. Each instance
keeps its own weights: a layer's weights move from ``<layer>.weight`` to ``<block node>.<inner layer>.weight``,
as compile names nested modules.

Names come from what the importer knew: the PyTorch module an instance was (``Bottleneck`` for the definition,
``layer1_0`` for the node, ``conv1`` inside), else the common prefix of the layers' names, else the structure
(``ResidualBlock``, ``DenseLayer``, ``BranchBlock``, ``Block1``) and the layer types (``conv1``, ``bn1``).

The result is checked before it is kept: the blocked network must analyse without errors, with the same parameter
count and output types as the flat one; otherwise the flat network stays as it was.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from netbuilder.document import Document
from netbuilder.document.block_commands import DefineBlock, check_block_name, free_block_name
from netbuilder.document.blocks import BLOCK_NAME, BLOCK_TYPE, BlockError, BlockRecord, check_block_param
from netbuilder.document.model import (
    DocumentError,
    NameAllocator,
    Network,
    Node,
    Wire,
    name_is_usable,
    name_stem,
)
from netbuilder.importers.repeats import VARYING_KINDS, Segment, Unit, find_units, segment_network
from netbuilder.specs import Param, ParamError, get_spec

MAX_BLOCK_PARAMS = 8  # more values that differ than this and the instances are not one block
# Where a layer came from in the source model: module path and class name, outermost first, e.g.
# (("layer1", "Sequential"), ("layer1.0", "Bottleneck"), ("layer1.0.conv1", "Conv2d")).
Scopes = dict[str, tuple[tuple[str, str], ...]]
CONTAINERS = {"Sequential", "ModuleList", "ModuleDict"}
SHORT = {"Conv1d": "conv", "Conv2d": "conv", "Conv3d": "conv", "ConvTranspose2d": "deconv", "BatchNorm1d": "bn",
         "BatchNorm2d": "bn", "LayerNorm": "norm", "GroupNorm": "norm", "Linear": "fc", "MaxPool2d": "pool",
         "AvgPool2d": "pool", "Concat": "cat", "LocalResponseNorm": "lrn"}


class _Revert(Exception):
    """The blocked network would not be the same network: keep the flat one."""


@dataclass
class _Instance:
    nodes: list[str]  # in dependency order
    entry: str  # the node before the region (its output is the block's input)
    exit: str  # the region's last node (its output is the block's output)
    values: tuple[tuple[Any, ...], ...]  # per node, its varying parameter values
    prefix: str = ""  # the common start of its layers' names (``layer1_0_``), or ""
    module: str = ""  # the path of the source module it is (``layer1.0``), when known
    name: str = ""  # the block node's name


@dataclass
class _Binding:
    param: int  # index into the plan's params
    factor: int = 1  # value = param * factor (or // divisor)
    divisor: int = 1


@dataclass
class _Plan:
    instances: list[_Instance]
    params: list[tuple[int, str, Param]] = field(default_factory=list)  # (node index, inner param, its spec param)
    bindings: dict[tuple[int, str], _Binding] = field(default_factory=dict)
    vectors: list[tuple[Any, ...]] = field(default_factory=list)  # per block param, the value of each instance
    block_name: str = ""


def group_repeats(doc: Document, weights: dict[str, Any], scopes: Scopes | None = None,
                  recorded: dict[str, str] | None = None) -> dict[str, Any]:
    """Turn repeated units of ``doc``'s (single, flat) network into blocks in place; return the weights renamed
    to match. A document that already has blocks, or a network with no repeats, is left as it is.

    ``recorded``: block instances the source file names (module path -> definition name, as NetBuilder's ONNX
    export records them); a definition whose every instance is exactly one recorded instance of one name takes
    that name. It only names: which units are found never depends on it."""
    from netbuilder.analysis import analyze

    net = doc.network()
    if doc.blocks or any(n.type == BLOCK_TYPE for n in net.nodes):
        return weights
    segments = segment_network(net)
    units = find_units(segments) if segments else []
    if not units:
        return weights
    before = analyze(net)
    if not before.ok:
        return weights
    plans = [plan for unit in units for plan in _plans(net, segments, unit)]
    if not plans:
        return weights
    nodes, wires = net.nodes, list(net.wires)  # the layers are moved, never changed: these restore the network
    outputs = {w.dst: before.wire_type(w.src, w.src_port) for w in wires if net.node(w.dst).type == "Output"}
    try:
        renames = _apply(doc, net, plans, scopes or {}, before, recorded or {})
        after = analyze(net)
        same_outputs = all(after.wire_type(*_source(net, node_id)) == found for node_id, found in outputs.items())
        if not after.ok or after.total_params != before.total_params or not same_outputs:
            raise _Revert
    except (_Revert, DocumentError, BlockError, ParamError):
        _restore(doc, net, nodes, wires)
        return weights
    return {_renamed(key, renames): value for key, value in weights.items()}


def onnx_scopes(model: Any, network: Network) -> Scopes:
    """Module paths and classes of an ONNX model's nodes as the PyTorch dynamo exporter records them
    (``pkg.torch.onnx.name_scopes`` and ``pkg.torch.onnx.class_hierarchy``), keyed by the names of the layers the
    ONNX importer made of them; empty for files from other exporters.

    The importer names a layer after its node's scope (``layer1``, then ``layer11``, ``layer12`` ... when several
    nodes share it, ``conv1_pad`` for an extra layer) and adds layers in file order, so each layer is matched to
    the next node whose scope gives its name (nodes that only compute constants make no layer and are skipped; an
    extra layer, ``conv1_pad``, leaves its node to the layer it was made for)."""
    constants = {init.name for init in model.graph.initializer}
    entries: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []  # (name, numbered stem, stack) per node
    for node in model.graph.node:
        if node.op_type in ("Constant", "Shape") or all(name in constants for name in node.input if name):
            constants.update(node.output)
            continue
        props = {p.key: p.value for p in node.metadata_props}
        text = _layer_text(node)
        paths, classes = props.get("pkg.torch.onnx.name_scopes"), props.get("pkg.torch.onnx.class_hierarchy")
        if not text or not paths or not classes:
            entries.append((text, name_stem(text) if text else "", ()))
            continue
        path_list = [p.strip(" '\"") for p in paths.strip("[]").split(",")]
        class_list = [c.strip(" '\"").rsplit(".", 1)[-1] for c in classes.strip("[]").split(",")]
        stack: list[tuple[str, str]] = []
        for part, cls in list(zip(path_list, class_list, strict=False))[1:-1]:  # not the root, not the aten op
            path = part if "." in part or not stack else f"{stack[-1][0]}.{part}"
            stack.append((path, cls))
        entries.append((text, name_stem(text), tuple(stack)))
    scopes: Scopes = {}
    position = 0
    for layer in network.nodes:
        if layer.type in ("Input", "Output"):
            continue
        for index in range(position, len(entries)):
            text, stem, stack = entries[index]
            extra = layer.name.startswith(text + "_")
            if text and (extra or layer.name == text or layer.name.startswith(stem)
                         and layer.name[len(stem):].isdigit()):
                position = index if extra else index + 1
                if stack:
                    scopes[layer.name] = stack
                break
    return scopes


def _layer_text(node: Any) -> str:
    """What the ONNX importer names a layer after (`OnnxImporter.name_for`, before it makes the name unique)."""
    import re

    from netbuilder.importers.onnx_import import _scope_name

    text = re.sub(r"[^A-Za-z0-9_]", "_", _scope_name(node) or node.name or "").strip("_")
    if text and not text[0].isalpha():
        text = f"n_{text}"
    return text[:60]


# ---------------------------------------------------------------------------------------------------------------
# Planning: which instances share a definition, and which values become block parameters


def _varying_names(node: Node) -> list[str]:
    return [p.name for p in get_spec(node.type).params
            if p.kind in VARYING_KINDS and node.params.get(p.name) is not None
            and not isinstance(node.params.get(p.name), bool)]


def _plans(net: Network, segments: list[Segment], unit: Unit) -> list[_Plan]:
    instances = []
    for start in unit.starts:
        parts = [segments[i] for i in unit.segments(start)]
        nodes = [node_id for part in parts for node_id in part.nodes]
        values = tuple(v for part in parts for v in part.values)
        instances.append(_Instance(nodes, parts[0].entry, parts[-1].nodes[-1], values))
    plan = _parametrise(net, instances)
    if plan is not None:
        return [plan]
    groups: dict[Any, list[_Instance]] = {}
    for instance in instances:  # too many differences for one definition: exact repeats only
        groups.setdefault(instance.values, []).append(instance)
    return [_Plan(group) for group in groups.values() if len(group) >= 2]


def _parametrise(net: Network, instances: list[_Instance]) -> _Plan | None:
    """One plan for all ``instances``: each value that differs becomes a block parameter (or an expression of one:
    equal values share it, a constant integer multiple or divisor is written ``filters * 4``). None when more than
    `MAX_BLOCK_PARAMS` would be needed, or a value cannot be a block parameter."""
    plan = _Plan(instances)
    first = instances[0]
    for index, node_id in enumerate(first.nodes):
        node = net.node(node_id)
        spec_params = {p.name: p for p in get_spec(node.type).params}
        for slot, param_name in enumerate(_varying_names(node)):
            vector = tuple(instance.values[index][slot] for instance in instances)
            if len(set(vector)) == 1:
                continue
            binding = _existing(plan, vector)
            if binding is None:
                if len(plan.params) == MAX_BLOCK_PARAMS:
                    return None
                param = spec_params[param_name]
                try:
                    check_block_param(Param(param_name, param.kind, vector[0], param.doc, param.minimum,
                                            param.maximum, tuple(param.choices), param.length, param.label))
                except BlockError:
                    return None
                plan.params.append((index, param_name, param))
                plan.vectors.append(vector)
                binding = _Binding(len(plan.params) - 1)
            plan.bindings[(index, param_name)] = binding
    return plan


def _existing(plan: _Plan, vector: tuple[Any, ...]) -> _Binding | None:
    """A binding to a block parameter already planned that gives ``vector`` for every instance."""
    for index, known in enumerate(plan.vectors):
        if known == vector:
            return _Binding(index)
        if not all(type(v) is int for v in (*known, *vector)):
            continue
        if all(k != 0 and v % k == 0 for k, v in zip(known, vector, strict=True)):
            factors = {v // k for k, v in zip(known, vector, strict=True)}
            if len(factors) == 1 and (factor := factors.pop()) >= 2:
                return _Binding(index, factor=factor)
        if all(v != 0 and k % v == 0 for k, v in zip(known, vector, strict=True)):
            divisors = {k // v for k, v in zip(known, vector, strict=True)}
            if len(divisors) == 1 and (divisor := divisors.pop()) >= 2:
                return _Binding(index, divisor=divisor)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Building: definitions, block nodes, wires


def _apply(doc: Document, net: Network, plans: list[_Plan], scopes: Scopes, before: Any,
           recorded: dict[str, str]) -> dict[str, str]:
    """Define the blocks and put block nodes in place of their instances; return old layer name -> new path."""
    region: dict[str, tuple[int, int]] = {}
    for p, plan in enumerate(plans):
        for i, instance in enumerate(plan.instances):
            for node_id in instance.nodes:
                region[node_id] = (p, i)
    outside = {n.name for n in net.nodes if n.id not in region}
    names = NameAllocator(set(outside))
    renames: dict[str, str] = {}
    ports: list[tuple[dict[str, str], dict[str, str]]] = []  # per plan: entry port -> input, exit port -> output
    for plan in plans:
        block_name = plan.block_name = _definition_name(net, plan, scopes, doc, recorded)
        _name_instances(net, plan, scopes, names, block_name)
        record, port_names, inner = _record(net, plan, block_name, before, scopes)
        DefineBlock(record).do(doc)
        ports.append(port_names)
        for instance in plan.instances:
            for node_id, inner_name in zip(instance.nodes, inner, strict=True):
                renames[net.node(node_id).name] = f"{instance.name}.{inner_name}"
    new_nodes: list[Node] = []
    block_ids: dict[tuple[int, int], str] = {}
    used_ids = set(net.node_ids())
    counter = 0
    for node in net.nodes:
        where = region.get(node.id)
        if where is None:
            new_nodes.append(node)
            continue
        plan = plans[where[0]]
        instance = plan.instances[where[1]]
        if node.id != instance.nodes[0]:
            continue
        counter += 1
        while f"b{counter}" in used_ids:
            counter += 1
        block_ids[where] = f"b{counter}"
        values = {param.name: vector[where[1]]
                  for param, vector in zip(doc.blocks[plan.block_name].params, plan.vectors, strict=True)}
        new_nodes.append(Node(block_ids[where], BLOCK_TYPE, instance.name, values, block=plan.block_name))
    new_wires: dict[tuple[str, str, str, str], Wire] = {}
    for wire in net.wires:
        src_in, dst_in = region.get(wire.src), region.get(wire.dst)
        if src_in is not None and src_in == dst_in:
            continue
        src, src_port = wire.src, wire.src_port
        if src_in is not None:
            if wire.src != plans[src_in[0]].instances[src_in[1]].exit:
                raise _Revert
            src, src_port = block_ids[src_in], ports[src_in[0]][1][wire.src_port]
        dst, dst_port = wire.dst, wire.dst_port
        if dst_in is not None:
            if wire.src != plans[dst_in[0]].instances[dst_in[1]].entry:
                raise _Revert
            dst, dst_port = block_ids[dst_in], ports[dst_in[0]][0][wire.src_port]
        made = Wire(src, src_port, dst, dst_port)
        new_wires[made.key] = made
    for node_id in net.node_ids():
        net._delete_node(node_id)
    for node in new_nodes:
        net._insert_node(node)
    for made in new_wires.values():
        net._insert_wire(made)
    from netbuilder.importers.layout import lay_out

    for definition in doc.blocks.values():
        lay_out(definition.network)
    return renames


def _record(net: Network, plan: _Plan, block_name: str, before: Any, scopes: Scopes) \
        -> tuple[BlockRecord, tuple[dict[str, str], dict[str, str]], list[str]]:
    """The definition of ``plan`` (from its first instance), the names of its ports by the entry's and the exit's
    output ports, and the inner layer names."""
    first = plan.instances[0]
    members = set(first.nodes)
    entry_ports = list(dict.fromkeys(w.src_port for node_id in first.nodes for w in net.wires_into(node_id)
                                     if w.src == first.entry))
    exit_ports = list(dict.fromkeys(w.src_port for instance in plan.instances for w in net.wires_out_of(instance.exit)
                                    if w.dst not in set(instance.nodes)))
    in_names = {port: "x" if len(entry_ports) == 1 else f"x_{port}" for port in entry_ports}
    out_names = {port: "y" if len(exit_ports) == 1 else f"y_{port}" for port in exit_ports}
    inner = _inner_names(net, first, set(in_names.values()) | set(out_names.values()), scopes)
    param_names = _param_names(plan, inner)
    nodes: list[Node] = []
    ids = set(first.nodes)
    for port, name in in_names.items():
        found = before.wire_type(first.entry, port)
        if found is None or not all(isinstance(d, int) or d == "T" for d in found.features):
            raise _Revert
        params = get_spec("Input").coerce_params({"shape": tuple(found.features), "dtype": found.dtype})
        node_id = _fresh(ids, "in")
        nodes.append(Node(node_id, "Input", name, params))
    input_ids = {port: node.id for port, node in zip(in_names, nodes, strict=True)}
    for index, (node_id, name) in enumerate(zip(first.nodes, inner, strict=True)):
        node = net.node(node_id).clone()
        node.name = name
        node.position = (0.0, 0.0)
        node.bindings = {}
        for (bound_index, param_name), binding in plan.bindings.items():
            if bound_index == index:
                text = param_names[binding.param]
                if binding.factor != 1:
                    text = f"{text} * {binding.factor}"
                elif binding.divisor != 1:
                    text = f"{text} // {binding.divisor}"
                node.bindings[param_name] = text
        nodes.append(node)
    wires = []
    for node_id in first.nodes:
        for wire in net.wires_into(node_id):
            if wire.src in members:
                wires.append(wire)
            elif wire.src == first.entry:
                wires.append(Wire(input_ids[wire.src_port], "out", wire.dst, wire.dst_port))
            else:
                raise _Revert
    for port, name in out_names.items():
        node_id = _fresh(ids, "out")
        nodes.append(Node(node_id, "Output", name, {"role": "features"}))
        wires.append(Wire(first.exit, port, node_id, "in"))
    params = tuple(
        Param(param_names[k], spec.kind, plan.vectors[k][0], f"{spec.title} of {inner[index]}"
              + (" and others" if sum(b.param == k for b in plan.bindings.values()) > 1 else "")
              + " (differs between the instances found).", spec.minimum, spec.maximum, tuple(spec.choices),
              spec.length, spec.label if param_names[k] == spec.name else None)
        for k, (index, _name, spec) in enumerate(plan.params))
    count = len(plan.instances)
    text = f"Found {count} times in the imported model" + (
        f"; {', '.join(p.name for p in params)} differ between them (block parameters)." if params else ".")
    return BlockRecord(block_name, tuple(nodes), tuple(wires), params, text), (in_names, out_names), inner


def _fresh(ids: set[str], stem: str) -> str:
    number = 1
    while f"{stem}{number}" in ids:
        number += 1
    ids.add(f"{stem}{number}")
    return f"{stem}{number}"


def _param_names(plan: _Plan, inner: list[str]) -> list[str]:
    counts = Counter(name for _index, name, _spec in plan.params)
    names: list[str] = []
    for index, name, _spec in plan.params:
        candidate = name if counts[name] == 1 else f"{inner[index]}_{name}"
        if not BLOCK_NAME.match(candidate) or candidate in ("block", "self") or candidate in names:
            number = 2
            while f"{name}{number}" in names:
                number += 1
            candidate = f"{name}{number}"
        names.append(candidate)
    return names


# ---------------------------------------------------------------------------------------------------------------
# Names


def _module_of(net: Network, instance: _Instance, scopes: Scopes) -> tuple[str, str] | None:
    """The source module (path, class) the instance is exactly: the deepest module all its layers share, when
    no layer outside the instance came from it too."""
    stacks = [scopes.get(net.node(node_id).name) for node_id in instance.nodes]
    if not stacks or any(stack is None for stack in stacks):
        return None
    common: list[tuple[str, str]] = []
    for level in zip(*stacks, strict=False):  # type: ignore[misc]
        if any(item != level[0] for item in level):
            break
        common.append(level[0])
    if not common:
        return None
    path, cls = common[-1]
    members = {net.node(node_id).name for node_id in instance.nodes}
    for node in net.nodes:
        if node.name not in members and any(p == path for p, _c in scopes.get(node.name, ())):
            return None
    return path, cls


def _definition_name(net: Network, plan: _Plan, scopes: Scopes, doc: Document, recorded: dict[str, str]) -> str:
    module = _module_of(net, plan.instances[0], scopes)
    base = _recorded_name(net, plan, scopes, recorded)
    if not base and module is not None and module[1] not in CONTAINERS and BLOCK_NAME.match(module[1]):
        base = module[1]
    name = free_block_name(doc, base or _structural_name(net, plan.instances[0]))
    check_block_name(doc, name)  # DocumentError: the import stays flat
    return name


def _recorded_name(net: Network, plan: _Plan, scopes: Scopes, recorded: dict[str, str]) -> str:
    """The definition name the source file records for ``plan``, when each instance is exactly one recorded block
    instance (all its layers come from under that instance's module path, no other layer does) and all of them
    are instances of the same definition; else ""."""
    if not recorded:
        return ""
    paths = {node.name: stack[-1][0] for node in net.nodes if (stack := scopes.get(node.name))}
    names = set()
    for instance in plan.instances:
        path = _recorded_instance(net, instance, paths, recorded)
        if path is None:
            return ""
        names.add(recorded[path])
    return names.pop() if len(names) == 1 and BLOCK_NAME.fullmatch(next(iter(names))) else ""


def _recorded_instance(net: Network, instance: _Instance, paths: dict[str, str],
                       recorded: dict[str, str]) -> str | None:
    """The recorded block path that ``instance``'s layers (``paths``: layer name -> module path) are exactly."""
    inside = {net.node(node_id).name for node_id in instance.nodes}
    mine = [paths.get(name) for name in inside]
    if not mine or any(p is None for p in mine):
        return None
    common: list[str] = []
    for level in zip(*(p.split(".") for p in mine if p is not None), strict=False):
        if any(item != level[0] for item in level):
            break
        common.append(level[0])
    while common and ".".join(common) not in recorded:  # the deepest recorded block holding every layer
        common.pop()
    if not common:
        return None
    path = ".".join(common)
    for name, where in paths.items():
        if name not in inside and (where == path or where.startswith(path + ".")):
            return None  # the recorded block holds more than the instance: not the same unit
    return path


def _structural_name(net: Network, instance: _Instance) -> str:
    types = {net.node(node_id).type: node_id for node_id in instance.nodes}
    members = set(instance.nodes)
    for merge, direct, other in (("Concat", "DenseLayer", "BranchBlock"), ("Add", "ResidualBlock", "ProjectionBlock")):
        merges = [node_id for node_id in instance.nodes if net.node(node_id).type == merge]
        if merges:
            feeds = [w.src for node_id in merges for w in net.wires_into(node_id)]
            if any(src == instance.entry for src in feeds):
                return direct
            if all(src in members for src in feeds):
                return other
    if "MultiheadAttention" in types or "Attention" in types:
        return "AttentionBlock"
    return "Block"


def _name_instances(net: Network, plan: _Plan, scopes: Scopes, names: NameAllocator, block_name: str) -> None:
    """Each instance's prefix (what its layers' names start with) and block node name."""
    for instance in plan.instances:
        module = _module_of(net, instance, scopes)
        layer_names = [net.node(node_id).name for node_id in instance.nodes]
        instance.module = module[0] if module is not None else ""
        if module is not None:
            prefix = module[0].replace(".", "_") + "_"
        else:
            prefix = os.path.commonprefix(layer_names)
            prefix = prefix[:prefix.rfind("_") + 1] if "_" in prefix else ""
            if any(name == prefix for name in layer_names):
                prefix = ""
        instance.prefix = prefix
        candidate = prefix[:-1]
        if candidate and name_is_usable(candidate) and candidate not in names.taken:
            names.taken.add(candidate)
            instance.name = candidate
        else:
            stem = name_stem(block_name)
            separator = "_" if stem[-1].isdigit() else ""  # branchblock2_1, not branchblock21
            number = 1
            while not name_is_usable(f"{stem}{separator}{number}") or f"{stem}{separator}{number}" in names.taken:
                number += 1
            instance.name = f"{stem}{separator}{number}"
            names.taken.add(instance.name)


def _inner_names(net: Network, instance: _Instance, ports: set[str], scopes: Scopes) -> list[str]:
    """Names inside the definition: where each layer sits in the instance's source module (``conv1``,
    ``downsample_0``), else its name without the instance's prefix; numbered by layer type (``conv1``, ``bn1``,
    ``add``) where neither gives a usable, distinct name."""
    candidates: list[str | None] = []
    for node_id in instance.nodes:
        name = net.node(node_id).name
        candidate = None
        if instance.module:
            stack = scopes.get(name) or ()
            deepest = stack[-1][0] if stack else ""
            if deepest.startswith(instance.module + "."):
                candidate = deepest[len(instance.module) + 1:].replace(".", "_")
        elif instance.prefix and name.startswith(instance.prefix):
            candidate = name[len(instance.prefix):]
        candidates.append(candidate)
    counts = Counter(candidates)
    for index, candidate in enumerate(candidates):
        if candidate is not None and (counts[candidate] > 1 or candidate in ports or not (
                name_is_usable(candidate) or (candidate.isdigit() and len(candidate) <= 6))):
            candidates[index] = None
    allocator = NameAllocator(set(ports) | {c for c in candidates if c is not None})
    stems = [SHORT.get(net.node(node_id).type) or name_stem(net.node(node_id).type) for node_id in instance.nodes]
    alone = Counter(stem for stem, candidate in zip(stems, candidates, strict=True) if candidate is None)
    result = []
    for stem, candidate in zip(stems, candidates, strict=True):
        if candidate is not None:
            result.append(candidate)
        elif alone[stem] == 1 and name_is_usable(stem) and stem not in allocator.taken:
            allocator.taken.add(stem)
            result.append(stem)
        else:
            result.append(allocator.make(stem))
    return result


# ---------------------------------------------------------------------------------------------------------------


def _source(net: Network, output_id: str) -> tuple[str, str]:
    found = net.wire_into_port(output_id, "in")
    return (found.src, found.src_port) if found is not None else ("", "")


def _restore(doc: Document, net: Network, nodes: list[Node], wires: list[Wire]) -> None:
    for node_id in net.node_ids():
        net._delete_node(node_id)
    for node in nodes:
        net._insert_node(node)
    for wire in wires:
        net._insert_wire(wire)
    doc.blocks.clear()


def _renamed(key: str, renames: dict[str, str]) -> str:
    name, dot, rest = key.partition(".")
    new = renames.get(name)
    return f"{new}{dot}{rest}" if new is not None else key


__all__ = ["MAX_BLOCK_PARAMS", "Scopes", "group_repeats", "onnx_scopes"]
