"""Undoable edits of blocks: define, remove, rename, place, declare parameters, bind, group, ungroup, fork, repeat.

Like every command (see `netbuilder.document.commands`), each one checks everything before it changes anything and
keeps plain values (records, ids, names), never live objects it would have to trust on redo. Editing *inside* a
definition needs no command of its own: the ordinary commands take the block's name as their network.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from netbuilder.document import events as ev
from netbuilder.document.blocks import (
    BLOCK_NAME,
    BLOCK_TYPE,
    MAX_REPEAT,
    BlockDefinition,
    BlockError,
    BlockRecord,
    block_cycle,
    check_block_param,
    check_no_recursion,
    definition_from_record,
    evaluate,
    expression_names,
    is_usable_node_name,
    parse_expression,
    resolve_params,
    substitute,
)
from netbuilder.document.commands import Command
from netbuilder.document.model import (
    DocumentError,
    NameAllocator,
    Network,
    Node,
    Wire,
    check_position,
    name_is_usable,
    reserved_names,
)
from netbuilder.specs import Param, ParamError

if TYPE_CHECKING:
    from netbuilder.document.model import Document


def _fail(error: BlockError) -> DocumentError:
    return DocumentError(str(error))


def check_block_name(doc: Document, name: str, allow: str | None = None) -> None:
    """Refuse a block name that is not a class-like identifier or that a network or another block has."""
    if not isinstance(name, str) or not BLOCK_NAME.match(name):
        raise DocumentError(f"{name!r} is not a usable block name: use letters, digits and _, starting with a "
                            "letter (e.g. BasicBlock).")
    if _reserved_block_name(name):
        raise DocumentError(f"{name!r} is reserved; choose another block name.")
    if name != allow and (name in doc.blocks or name in doc.networks):
        raise DocumentError(f"There is already a network or block named {name!r}.")


def _reserved_block_name(name: str) -> bool:
    """Names no block may take: the block node's type, the port types, and names the compiled module reserves."""
    return name in reserved_names() or name in (BLOCK_TYPE, "Input", "Output")


def free_block_name(doc: Document, base: str) -> str:
    """``base``, or ``base2``, ``base3``, ... whichever no network or block has yet. Never a reserved name: a
    reserved ``base`` such as ``Block`` is numbered from 1 (``Block1``)."""

    def taken(name: str) -> bool:
        return name in doc.blocks or name in doc.networks or _reserved_block_name(name)

    if not taken(base):
        return base
    number = 1 if _reserved_block_name(base) else 2
    while taken(f"{base}{number}"):
        number += 1
    return f"{base}{number}"


def block_users(doc: Document, name: str) -> list[tuple[str, Node]]:
    """(network or block name, node) for every block node using the definition ``name``."""
    users = []
    for net in [*doc.networks.values(), *(d.network for d in doc.blocks.values())]:
        users.extend((net.name, node) for node in net.nodes if node.type == BLOCK_TYPE and node.block == name)
    return users


def _add_definition(doc: Document, record: BlockRecord, index: int | None = None) -> BlockDefinition:
    definition = definition_from_record(record, doc)
    items = list(doc.blocks.items())
    items.insert(len(items) if index is None else index, (record.name, definition))
    doc.blocks.clear()
    doc.blocks.update(items)  # the same dict object: networks keep a reference to it
    doc.events.emit(ev.BlockAdded("", record.name))
    return definition


def _remove_definition(doc: Document, name: str) -> None:
    del doc.blocks[name]
    doc.events.emit(ev.BlockRemoved("", name))


def _check_record(doc: Document, record: BlockRecord) -> None:
    names = set()
    for node in record.nodes:
        if node.name in names:
            raise DocumentError(f"Block {record.name}: two nodes are named {node.name!r}.")
        names.add(node.name)
        if node.type == BLOCK_TYPE:
            if node.block == record.name:
                raise DocumentError(f"A block cannot contain itself: {record.name} inside {record.name}.")
            if node.block not in doc.blocks:
                raise DocumentError(f"Block {record.name} uses the block {node.block!r}, which this document does "
                                    "not define; import that one first.")
    for param in record.params:
        check_block_param(param)


class DefineBlock(Command):
    """Add a block definition from plain values (a library import, a template, a copy)."""

    def __init__(self, record: BlockRecord, text: str | None = None):
        self.record = record
        self.text = text or f"Add block {record.name}"

    def do(self, doc: Document) -> None:
        check_block_name(doc, self.record.name)
        try:
            _check_record(doc, self.record)
        except BlockError as error:
            raise _fail(error) from None
        _add_definition(doc, self.record)

    def undo(self, doc: Document) -> None:
        _remove_definition(doc, self.record.name)


class RemoveBlock(Command):
    """Remove a definition no block node uses."""

    def __init__(self, name: str):
        self.name = name
        self.removed: BlockDefinition | None = None
        self.index = 0
        self.text = f"Remove block {name}"

    def do(self, doc: Document) -> None:
        doc.block(self.name)
        users = block_users(doc, self.name)
        if users:
            where = ", ".join(f"{node.name} in {net}" for net, node in users[:3]) + ("…" if len(users) > 3 else "")
            raise DocumentError(f"Block {self.name} is still used ({where}); delete or ungroup those first.")
        self.index = list(doc.blocks).index(self.name)
        self.removed = doc.blocks[self.name]
        _remove_definition(doc, self.name)

    def undo(self, doc: Document) -> None:
        assert self.removed is not None
        items = list(doc.blocks.items())
        items.insert(self.index, (self.name, self.removed))
        doc.blocks.clear()
        doc.blocks.update(items)
        doc.events.emit(ev.BlockAdded("", self.name))


class RenameBlock(Command):
    """Rename a definition; every block node that uses it follows."""

    def __init__(self, old: str, new: str):
        self.old, self.new = old, new.strip() if isinstance(new, str) else new
        self.text = f"Rename block to {self.new}"

    def do(self, doc: Document) -> None:
        doc.block(self.old)
        check_block_name(doc, self.new, allow=self.old)
        self._rename(doc, self.old, self.new)

    def undo(self, doc: Document) -> None:
        self._rename(doc, self.new, self.old)

    @staticmethod
    def _rename(doc: Document, old: str, new: str) -> None:
        users = block_users(doc, old)
        definition = doc.blocks[old]
        definition.name = new
        definition.network.name = new
        items = [((new if k == old else k), v) for k, v in doc.blocks.items()]
        doc.blocks.clear()
        doc.blocks.update(items)
        for net_name, node in users:
            node.block = new
            doc.network(net_name)._emit(ev.NodeChanged(net_name, node.id, "block"))
        doc.events.emit(ev.BlockRenamed("", new, old))


class AddBlockNode(Command):
    """Place a block node (an instance of a definition). Params not given take the block's defaults."""

    def __init__(self, network: str, block: str, params: dict[str, Any] | None = None, name: str | None = None,
                 position: tuple[float, float] | None = None, node_id: str | None = None):
        self.network = network
        self.block = block
        self.values = dict(params or {})
        self.name = name
        self.position = check_position(position or (0.0, 0.0))
        self.node_id = node_id or ""
        self.text = f"Add {block}"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        definition = doc.block(self.block)
        try:
            check_no_recursion(doc, self.network, self.block)
        except BlockError as error:
            raise _fail(error) from None
        params = definition.spec().coerce_params(self.values)  # ParamError before any change
        if not self.node_id:
            self.node_id = net.new_id()
        if self.name is None:
            self.name = net.unique_name(self.block)
        else:
            net.check_name(self.name)
        if self.node_id in net:
            raise DocumentError(f"Node id {self.node_id} is already used.")
        net._insert_node(Node(self.node_id, BLOCK_TYPE, self.name, params, tuple(self.position), block=self.block))

    def undo(self, doc: Document) -> None:
        doc.network(self.network)._delete_node(self.node_id)


class SetBlockParams(Command):
    """Declare a block's parameters (names, kinds, defaults). Instances keep their values for parameters that
    remain (when the value still fits), take the default of new ones and drop removed ones; a parameter an inner
    binding still reads cannot be removed."""

    def __init__(self, block: str, params: Iterable[Param]):
        self.block = block
        try:
            self.params = tuple(check_block_param(p) for p in params)
        except BlockError as error:
            raise _fail(error) from None
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise DocumentError("Two block parameters have the same name.")
        self.old: tuple[Param, ...] = ()
        self.old_values: list[tuple[str, str, dict[str, Any]]] = []
        self.new_values: list[tuple[str, str, dict[str, Any]]] = []
        self.text = f"Change parameters of {block}"

    def do(self, doc: Document) -> None:
        definition = doc.block(self.block)
        names = {p.name for p in self.params}
        for node in definition.network.nodes:
            for param, text in node.bindings.items():
                missing = expression_names(text) - names
                if missing:
                    raise DocumentError(f"{node.name}.{param} = {text} reads {', '.join(sorted(missing))}; change "
                                        "that binding before removing the parameter.")
        new_defaults = {p.name: p.default for p in self.params}
        for node in definition.network.nodes:  # bindings must still give usable values with the new defaults
            try:
                resolve_params(node, definition.network.spec_of(node), new_defaults)
            except ParamError as error:
                raise DocumentError(f"With these defaults, {node.name}: {error}") from None
        self.old = definition.params
        self.old_values, self.new_values = [], []
        for net_name, node in block_users(doc, self.block):
            values = {}
            for param in self.params:
                try:
                    values[param.name] = param.coerce(node.params[param.name]) if param.name in node.params \
                        else param.default
                except ParamError:
                    values[param.name] = param.default
            self.old_values.append((net_name, node.id, dict(node.params)))
            self.new_values.append((net_name, node.id, values))
        self._apply(doc, self.params, self.new_values)

    def undo(self, doc: Document) -> None:
        self._apply(doc, self.old, self.old_values)

    def _apply(self, doc: Document, params: tuple[Param, ...], values: list[tuple[str, str, dict[str, Any]]]) \
            -> None:
        definition = doc.blocks[self.block]
        definition.params = params
        definition.meta_version += 1
        for node in definition.network.nodes:
            if node.bindings:  # their values under the defaults may have changed
                definition.network._emit(ev.NodeChanged(self.block, node.id, "params"))
        for net_name, node_id, node_values in values:
            net = doc.network(net_name)
            net.node(node_id).params = dict(node_values)
            net._emit(ev.NodeChanged(net_name, node_id, "params"))
        doc.events.emit(ev.BlockChanged("", self.block))


class BindParam(Command):
    """Let a parameter of a node inside a block take its value from the block's parameters (``expression``, e.g.
    ``filters`` or ``filters * 4``), or give it back its own value (``expression=None``)."""

    def __init__(self, block: str, node_id: str, param: str, expression: str | None):
        self.block = block
        self.node_id = node_id
        self.param = param
        if expression is not None:
            try:
                parse_expression(expression)
            except BlockError as error:
                raise _fail(error) from None
            expression = expression.strip()
        self.expression = expression
        self.old: dict[str, str] = {}
        self.old_params: dict[str, Any] = {}
        self.text = f"Bind {param}" if expression is not None else f"Unbind {param}"

    def do(self, doc: Document) -> None:
        definition = doc.block(self.block)
        net = definition.network
        node = net.node(self.node_id)
        if node.type in ("Input", "Output"):
            raise DocumentError(f"{node.name} is a port of the block; its shape comes from the wire.")
        spec = net.spec_of(node)
        if self.param not in {p.name for p in spec.params}:
            raise DocumentError(f"{node.name} has no parameter {self.param!r}.")
        bindings = dict(node.bindings)
        if self.expression is None:
            bindings.pop(self.param, None)
        else:
            bindings[self.param] = self.expression
        trial = Node(node.id, node.type, node.name, dict(node.params), block=node.block, bindings=bindings)
        try:
            resolved = resolve_params(trial, spec, definition.defaults())
        except ParamError as error:
            raise DocumentError(f"With the block's defaults, {node.name}: {error}") from None
        self.old, self.old_params = dict(node.bindings), dict(node.params)
        node.bindings = bindings
        node.params = dict(resolved)  # the value under the defaults: what the definition on its own shows
        net._emit(ev.NodeChanged(self.block, self.node_id, "params"))

    def undo(self, doc: Document) -> None:
        net = doc.block(self.block).network
        node = net.node(self.node_id)
        node.bindings = dict(self.old)
        node.params = dict(self.old_params)
        net._emit(ev.NodeChanged(self.block, self.node_id, "params"))


# ---------------------------------------------------------------------------------------------------------------
# Group and ungroup


def _port_names(base: str, count: int, taken: set[str]) -> list[str]:
    if count == 1 and base not in taken:
        return [base]
    names, number = [], 1
    while len(names) < count:
        candidate = f"{base}{number}"
        if candidate not in taken:
            names.append(candidate)
        number += 1
    return names


PortTypes = dict[tuple[str, str], tuple[tuple[Any, ...], str]]


def _between(net: Network, selected: set[str]) -> set[str]:
    """Nodes outside the selection on a path from one selected node to another (grouping would make a loop)."""
    succ, pred = net.graph._succ, net.graph._pred

    def reach(table: Any) -> set[str]:
        found: set[str] = set()
        stack = [t for s in selected for t in table[s] if t not in selected]
        while stack:
            current = stack.pop()
            if current not in found:
                found.add(current)
                stack.extend(t for t in table[current] if t not in selected)
        return found

    return reach(succ) & reach(pred)


class GroupIntoBlock(Command):
    """Turn the selected nodes into a new block and put one block node in their place. Wires that cross the
    selection become the block's ports (one input per distinct source, one output per distinct inner source);
    inner nodes keep their names, so a weight ``conv1.weight`` becomes ``<node>.conv1.weight``.

    ``port_types`` (source id, source port) -> (shape without batch, dtype) gives the example shape of each input
    port (what the block shows when opened on its own); `netbuilder.analysis.blocks.group_command` fills it in.
    ``vertical``: the document is drawn top to bottom, so the port nodes go above and below the layers instead of
    to their left and right."""

    def __init__(self, network: str, node_ids: Iterable[str], block_name: str, node_name: str | None = None,
                 port_types: PortTypes | None = None, vertical: bool = False):
        self.network = network
        self.vertical = vertical
        self.node_ids = list(dict.fromkeys(node_ids))
        self.block_name = block_name.strip() if isinstance(block_name, str) else block_name
        self.node_name = node_name
        self.port_types = dict(port_types or {})
        self.text = f"Group into {self.block_name}"
        self.record: BlockRecord | None = None
        self.instance: Node | None = None
        self.new_wires: list[Wire] = []
        self.old_nodes: list[Node] = []
        self.old_wires: list[Wire] = []
        self.order: tuple[list[str], list[Wire]] = ([], [])

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        check_block_name(doc, self.block_name)
        if not self.node_ids:
            raise DocumentError("Select the layers to group first.")
        chosen = [net.node(node_id) for node_id in self.node_ids]  # raises for a missing node
        for node in chosen:
            if node.type in ("Input", "Output"):
                raise DocumentError(f"{node.name} is an {node.type}; Inputs and Outputs stay outside a block. "
                                    "Leave it out of the selection.")
        if self.record is None:
            self._plan(doc, net, chosen)
        assert self.record is not None and self.instance is not None
        self.order = net._order()
        self.old_nodes = [n.clone() for n in chosen]
        wires: dict[tuple, Wire] = {}
        for node in chosen:
            for wire in net.wires_into(node.id) + net.wires_out_of(node.id):
                wires[wire.key] = wire
        self.old_wires = list(wires.values())
        _add_definition(doc, self.record)
        for node in chosen:
            net._delete_node(node.id)
        net._insert_node(self.instance.clone())
        for wire in self.new_wires:
            net._insert_wire(wire)

    def _plan(self, doc: Document, net: Network, chosen: list[Node]) -> None:
        selected = {n.id for n in chosen}
        between = _between(net, selected)
        if between:
            names = ", ".join(sorted(net.node(i).name for i in between)[:3])
            raise DocumentError(f"{names} lies between the selected layers; select it too, or the block would feed "
                                "itself.")
        incoming: dict[tuple[str, str], list[Wire]] = {}
        outgoing: dict[tuple[str, str], list[Wire]] = {}
        inner_wires: list[Wire] = []
        for wire in net.wires:
            inside_src, inside_dst = wire.src in selected, wire.dst in selected
            if inside_src and inside_dst:
                inner_wires.append(wire)
            elif inside_dst:
                incoming.setdefault((wire.src, wire.src_port), []).append(wire)
            elif inside_src:
                outgoing.setdefault((wire.src, wire.src_port), []).append(wire)
        taken = {n.name for n in chosen}
        in_names = _port_names("x", len(incoming), taken)
        out_names = _port_names("y", len(outgoing), taken | set(in_names))
        ids = {n.id for n in chosen}
        counter = iter(range(1, 10**9))

        def fresh_id() -> str:
            while True:
                candidate = f"p{next(counter)}"
                if candidate not in ids:
                    ids.add(candidate)
                    return candidate

        xs = [n.position[0] for n in chosen]
        ys = [n.position[1] for n in chosen]
        left, right, middle = min(xs) - 200.0, max(xs) + 200.0, sum(ys) / len(ys)
        top, bottom, centre = min(ys) - 160.0, max(ys) + 160.0, sum(xs) / len(xs)

        def place(is_input: bool, index: int) -> tuple[float, float]:
            if self.vertical:  # inputs above the layers, outputs below, side by side
                return (centre + 240.0 * index, top if is_input else bottom)
            return (left if is_input else right, middle + 120.0 * index)

        nodes = [n.clone() for n in chosen]
        wires = list(inner_wires)
        for index, ((src, src_port), into) in enumerate(incoming.items()):
            shape, dtype = self.port_types.get((src, src_port), ((64,), "float32"))
            port = Node(fresh_id(), "Input", in_names[index], {"shape": tuple(shape), "dtype": dtype},
                        place(True, index))
            nodes.insert(index, port)
            wires += [Wire(port.id, "out", w.dst, w.dst_port) for w in into]
        for index, (src, src_port) in enumerate(outgoing):
            port = Node(fresh_id(), "Output", out_names[index], {"role": "features"}, place(False, index))
            nodes.append(port)
            wires.append(Wire(src, src_port, port.id, "in"))
        # Parameters the selection reads from an enclosing block become parameters of the new block too.
        read: set[str] = set()
        for node in chosen:
            for text in node.bindings.values():
                read |= expression_names(text)
        outer = doc.blocks.get(net.name) if net.is_block else None
        params = tuple(outer.param(name) for name in sorted(read)) if outer is not None else ()
        self.record = BlockRecord(self.block_name, tuple(nodes), tuple(wires), params)
        node_id = net.new_id()
        name = self.node_name if self.node_name is not None else NameAllocator(
            {n.name for n in net.nodes if n.id not in selected}).make(self.block_name, keep=False)
        if self.node_name is not None:
            remaining = Network("check")
            remaining.is_block = net.is_block
            remaining.check_name(name)
            if any(n.name == name and n.id not in selected for n in net.nodes):
                raise DocumentError(f"Another node is already named {name!r}.")
        self.instance = Node(node_id, BLOCK_TYPE, name, {p.name: p.default for p in params},
                             (sum(xs) / len(xs), middle), block=self.block_name,
                             bindings={p.name: p.name for p in params})
        self.new_wires = [Wire(src, src_port, node_id, in_names[i]) for i, (src, src_port) in enumerate(incoming)]
        for index, into in enumerate(outgoing.values()):
            self.new_wires += [Wire(node_id, out_names[index], w.dst, w.dst_port) for w in into]

    def undo(self, doc: Document) -> None:
        net = doc.network(self.network)
        assert self.instance is not None
        net._delete_node(self.instance.id)
        for node in self.old_nodes:
            net._insert_node(node.clone())
        for wire in self.old_wires:
            net._insert_wire(wire)
        net._restore_order(self.order)
        _remove_definition(doc, self.block_name)


class Ungroup(Command):
    """Put a block node's layers in its place (inline it); the definition stays for other instances. Inner names
    are kept where they are free (a group followed by an ungroup gives back the same names), else prefixed with the
    block node's name (``layer1_conv1``). Bound parameters take the instance's values."""

    def __init__(self, network: str, node_id: str):
        self.network = network
        self.node_id = node_id
        self.removed: Node | None = None
        self.removed_wires: list[Wire] = []
        self.nodes: list[Node] = []
        self.wires: list[Wire] = []
        self.order: tuple[list[str], list[Wire]] = ([], [])
        self.text = "Ungroup"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        if node.type != BLOCK_TYPE:
            raise DocumentError(f"{node.name} is a layer, not a block; only a block can be ungrouped.")
        definition = doc.block(node.block)
        self.text = f"Ungroup {node.name}"
        if not self.nodes:
            self._plan(doc, net, node, definition)
        self.order = net._order()
        self.removed = node.clone()
        self.removed_wires = net.wires_into(node.id) + net.wires_out_of(node.id)
        net._delete_node(node.id)
        for new in self.nodes:
            net._insert_node(new.clone())
        for wire in self.wires:
            net._insert_wire(wire)

    def _plan(self, doc: Document, net: Network, node: Node, definition: BlockDefinition) -> None:
        inner = definition.network
        values = dict(node.params)
        names = NameAllocator({n.name for n in net.nodes if n.id != node.id})
        used_ids = set(net.node_ids())
        mapping: dict[str, str] = {}
        ports = {n.id: n for n in inner.nodes if n.type in ("Input", "Output")}
        dx = node.position[0] - sum(n.position[0] for n in inner.nodes) / max(len(inner), 1)
        dy = node.position[1] - sum(n.position[1] for n in inner.nodes) / max(len(inner), 1)
        for old in inner.nodes:
            if old.id in ports:
                continue
            new = old.clone()
            new.id = net.new_id()
            while new.id in used_ids:
                new.id = net.new_id()
            used_ids.add(new.id)
            usable = name_is_usable(old.name) or is_usable_node_name(old.name, net.is_block)
            if not usable or old.name in names.taken:
                prefixed = f"{node.name}_{old.name}"
                free = name_is_usable(prefixed) and prefixed not in names.taken
                new.name = prefixed if free else names.make(prefixed)
            names.taken.add(new.name)
            new.position = check_position((old.position[0] + dx, old.position[1] + dy))
            try:
                new.params = dict(resolve_params(old, inner.spec_of(old), values))
            except ParamError as error:
                raise DocumentError(f"{node.name}.{old.name}: {error}") from None
            new.bindings = {}
            if node.bindings:  # inlined into a definition: keep reading its parameters
                replacements = {name: node.bindings.get(name, repr(value)) for name, value in values.items()}
                for param, text in old.bindings.items():
                    rewritten = substitute(text, replacements)
                    if expression_names(rewritten):
                        new.bindings[param] = rewritten
            if new.type == BLOCK_TYPE and net.is_block:
                try:
                    check_no_recursion(doc, net.name, new.block)
                except BlockError as error:
                    raise _fail(error) from None
            mapping[old.id] = new.id
            self.nodes.append(new)
        into = {w.dst_port: w for w in net.wires_into(node.id)}
        out_of: dict[str, list[Wire]] = {}
        for wire in net.wires_out_of(node.id):
            out_of.setdefault(wire.src_port, []).append(wire)
        wires: list[Wire] = []
        for wire in inner.wires:
            src, dst = ports.get(wire.src), ports.get(wire.dst)
            if src is None and dst is None:
                wires.append(Wire(mapping[wire.src], wire.src_port, mapping[wire.dst], wire.dst_port))
                continue
            if src is not None:  # from an input port: whatever feeds the block's port
                outer = into.get(src.name)
                if outer is None:
                    continue
                source = (outer.src, outer.src_port)
            else:
                source = (mapping[wire.src], wire.src_port)
            if dst is not None:  # into an output port: to whatever the block's port feeds
                wires += [Wire(*source, w.dst, w.dst_port) for w in out_of.get(dst.name, [])]
            else:
                wires.append(Wire(*source, mapping[wire.dst], wire.dst_port))
        self.wires = wires

    def undo(self, doc: Document) -> None:
        net = doc.network(self.network)
        assert self.removed is not None
        for new in reversed(self.nodes):
            net._delete_node(new.id)
        net._insert_node(self.removed.clone())
        for wire in self.removed_wires:
            net._insert_wire(wire)
        net._restore_order(self.order)


def _retarget_back(doc: Document, network: str, node_id: str, old_block: str, new_block: str) -> None:
    """Undo of MakeUnique and RepeatBlock: point the node back at its old block, drop the one made for it."""
    net = doc.network(network)
    net.node(node_id).block = old_block
    net._emit(ev.NodeChanged(network, node_id, "block"))
    _remove_definition(doc, new_block)


class MakeUnique(Command):
    """Give one block node its own copy of its definition (fork it), so that editing it leaves the others."""

    def __init__(self, network: str, node_id: str, new_name: str | None = None):
        self.network = network
        self.node_id = node_id
        self.new_name = new_name
        self.old_block = ""
        self.text = "Make unique"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        if node.type != BLOCK_TYPE:
            raise DocumentError(f"{node.name} is a layer, not a block.")
        definition = doc.block(node.block)
        name = self.new_name if self.new_name is not None else free_block_name(doc, definition.name)
        check_block_name(doc, name)
        self.new_name = name
        self.old_block = node.block
        self.text = f"Make {node.name} unique ({name})"
        _add_definition(doc, replace(definition.record(), name=name))
        node.block = name
        net._emit(ev.NodeChanged(self.network, self.node_id, "block"))

    def undo(self, doc: Document) -> None:
        assert self.new_name is not None
        _retarget_back(doc, self.network, self.node_id, self.old_block, self.new_name)


class RepeatBlock(Command):
    """Repeat a block node ``times`` times in sequence: the node becomes an instance of a new block whose nodes
    ``0`` .. ``times-1`` are the original block chained, each reading the same parameters (torchvision's
    ``layer1 = nn.Sequential(BasicBlock(...), BasicBlock(...))``; weights ``layer1.0.conv1.weight``)."""

    def __init__(self, network: str, node_id: str, times: int, block_name: str | None = None):
        if isinstance(times, bool) or not isinstance(times, int) or not 2 <= times <= MAX_REPEAT:
            raise DocumentError(f"Repeat a block 2 to {MAX_REPEAT} times, not {times!r}.")
        self.network = network
        self.node_id = node_id
        self.times = times
        self.block_name = block_name
        self.old_block = ""
        self.text = f"Repeat {times} times"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        if node.type != BLOCK_TYPE:
            raise DocumentError(f"{node.name} is a layer; group it into a block first, then repeat the block.")
        definition = doc.block(node.block)
        inputs, outputs = definition.input_nodes(), definition.output_nodes()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DocumentError(f"Block {definition.name} has {len(inputs)} inputs and {len(outputs)} outputs; "
                                "only a block with one input and one output can be repeated in sequence.")
        name = self.block_name if self.block_name is not None else \
            free_block_name(doc, f"{definition.name}X{self.times}")
        check_block_name(doc, name)
        self.block_name = name
        params = tuple(replace(p, default=node.params.get(p.name, p.default)) for p in definition.params)
        x, y = inputs[0], outputs[0]
        nodes = [Node("n1", "Input", x.name, dict(x.params), (0.0, 0.0))]
        wires: list[Wire] = []
        previous = ("n1", "out")
        for index in range(self.times):
            node_id = f"n{index + 2}"
            nodes.append(Node(node_id, BLOCK_TYPE, str(index), dict(node.params), (220.0 * (index + 1), 0.0),
                              block=definition.name, bindings={p.name: p.name for p in params}))
            wires.append(Wire(*previous, node_id, x.name))
            previous = (node_id, y.name)
        out_id = f"n{self.times + 2}"
        nodes.append(Node(out_id, "Output", y.name, dict(y.params), (220.0 * (self.times + 1), 0.0)))
        wires.append(Wire(*previous, out_id, "in"))
        _add_definition(doc, BlockRecord(name, tuple(nodes), tuple(wires), params,
                                         f"{definition.name} repeated {self.times} times in sequence."))
        self.old_block = node.block
        node.block = name
        net._emit(ev.NodeChanged(self.network, self.node_id, "block"))
        self.text = f"Repeat {node.name} {self.times} times"

    def undo(self, doc: Document) -> None:
        assert self.block_name is not None
        _retarget_back(doc, self.network, self.node_id, self.old_block, self.block_name)


class SetExpanded(Command):
    """Show block nodes' insides in place on the canvas, or hide them. A view state, saved with the document like
    positions (so a file opens as it was left), undoable like a move; it changes nothing the analysis reads."""

    view_only = True

    def __init__(self, network: str, node_ids: Iterable[str], expanded: bool):
        if not isinstance(expanded, bool):
            raise DocumentError("Expanded must be true or false.")
        self.network = network
        self.node_ids = list(dict.fromkeys(node_ids))
        self.expanded = expanded
        self.changed: list[str] = []
        self.text = "Expand" if expanded else "Collapse"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        if not self.node_ids:
            raise DocumentError("Select a block node to expand or collapse it.")
        nodes = [net.node(node_id) for node_id in self.node_ids]
        layers = [n.name for n in nodes if n.type != BLOCK_TYPE]
        if layers:
            raise DocumentError(f"{layers[0]} is a layer, not a block: only a block node expands in place.")
        changed = [n for n in nodes if n.expanded != self.expanded]
        if not changed:
            state = "expanded" if self.expanded else "collapsed"
            raise DocumentError(f"{nodes[0].name if len(nodes) == 1 else 'These blocks'} "
                                f"{'is' if len(nodes) == 1 else 'are'} already {state}.")
        self.changed = [n.id for n in changed]
        verb = "Expand" if self.expanded else "Collapse"
        self.text = f"{verb} {changed[0].name}" if len(changed) == 1 else f"{verb} {len(changed)} blocks"
        self._apply(doc, self.expanded)

    def undo(self, doc: Document) -> None:
        self._apply(doc, not self.expanded)

    def _apply(self, doc: Document, expanded: bool) -> None:
        net = doc.network(self.network)
        for node_id in self.changed:
            net.node(node_id).expanded = expanded
            # Announced without a journal entry: nothing the analysis or a compiled module reads has changed.
            doc.events.emit(ev.NodeChanged(self.network, node_id, "expanded"))


def evaluate_binding(doc: Document, block: str, text: str) -> Any:
    """A binding's value under the block's defaults (for an editor's preview); BlockError when unusable."""
    return evaluate(text, doc.block(block).defaults())


__all__ = [
    "AddBlockNode", "BindParam", "DefineBlock", "GroupIntoBlock", "MakeUnique", "RemoveBlock", "RenameBlock",
    "RepeatBlock", "SetBlockParams", "SetExpanded", "Ungroup", "block_cycle", "block_users", "check_block_name",
    "evaluate_binding", "free_block_name",
]
