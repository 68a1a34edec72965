"""Every edit of a document is a command: it validates before it changes anything, and it can be undone.

Commands hold ids and values only, never references to live objects, so a command can be redone after the objects
it touched were removed and re-created. The app wraps these in thin QUndoCommands; scripts and tests use
`UndoStack` here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from netbuilder.document import events as ev
from netbuilder.document.blocks import (
    BlockError,
    PortWireMove,
    is_usable_node_name,
    port_wire_moves,
    swap_wires,
)
from netbuilder.document.model import (
    DocumentError,
    NameAllocator,
    Network,
    Node,
    Wire,
    check_node_options,
    check_params_storable,
    check_position,
    check_setting_value,
    name_is_usable,
    settings_problems,
)
from netbuilder.specs import ParamError, get_spec

if TYPE_CHECKING:
    from netbuilder.document.model import Document


class Command:
    """Base class. ``do`` must raise (DocumentError / ParamError) before changing anything when it cannot apply."""

    text = "Edit"
    merge_id: str | None = None  # commands with the same merge id may fold into one undo step
    view_only = False  # True: changes only how the network is drawn (positions, expanded blocks), not the model

    def do(self, doc: Document) -> None:
        raise NotImplementedError

    def undo(self, doc: Document) -> None:
        raise NotImplementedError

    def merge(self, other: Command) -> bool:
        """Absorb ``other`` (pushed right after self) and return True, or return False to stay separate."""
        return False


class AddNode(Command):
    def __init__(self, network: str, type_id: str, params: dict[str, Any] | None = None, name: str | None = None,
                 position: tuple[float, float] | None = None, node_id: str | None = None,
                 options: dict[str, Any] | None = None):
        self.network = network
        self.spec = get_spec(type_id)  # unknown types fail here, before anything changes
        self.params = self.spec.coerce_params(params or {})
        check_params_storable(self.params)
        self.options = check_node_options(options or {})
        self.name = name
        self.position = check_position(position or (0.0, 0.0))
        self.node_id = node_id or ""
        self.text = f"Add {self.spec.title}"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        if not self.node_id:
            self.node_id = net.new_id()
        if self.name is None:
            self.name = net.unique_name(self.spec.id)
        else:
            net.check_name(self.name)
        if self.node_id in net:
            raise DocumentError(f"Node id {self.node_id} is already used.")
        node = Node(self.node_id, self.spec.id, self.name, dict(self.params), tuple(self.position), **self.options)
        net._insert_node(node)

    def undo(self, doc: Document) -> None:
        doc.network(self.network)._delete_node(self.node_id)


class InsertNodes(Command):
    """Insert copies of nodes and the wires among them (paste, duplicate, templates). Ids and names are made
    unique in the target network; ``id_map`` tells the caller which new id each old one became."""

    def __init__(self, network: str, nodes: Iterable[Node], wires: Iterable[Wire], offset: tuple[float, float] = (0, 0),
                 text: str = "Paste"):
        self.network = network
        self.source_nodes = [n.clone() for n in nodes]
        self.source_wires = list(wires)
        self.offset = check_position(offset)
        self.text = text
        self.id_map: dict[str, str] = {}
        self.nodes: list[Node] = []
        self.wires: list[Wire] = []

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        for old in self.source_nodes:
            net.check_insertable(old)  # a block node: its definition exists here and does not contain this network
        if not self.nodes:
            names = NameAllocator({n.name for n in net.nodes})
            for old in self.source_nodes:
                node = old.clone()
                node.id = net.new_id()
                while node.id in self.id_map.values():
                    node.id = net.new_id()
                if node.name in names.taken or not (name_is_usable(node.name) or
                                                    is_usable_node_name(node.name, net.is_block)):
                    node.name = names.make(node.type)
                names.taken.add(node.name)
                node.position = check_position((old.position[0] + self.offset[0], old.position[1] + self.offset[1]))
                self.id_map[old.id] = node.id
                self.nodes.append(node)
            self.wires = [Wire(self.id_map[w.src], w.src_port, self.id_map[w.dst], w.dst_port)
                          for w in self.source_wires if w.src in self.id_map and w.dst in self.id_map]
        for node in self.nodes:
            net._insert_node(node.clone())
        for wire in self.wires:
            net._insert_wire(wire)

    def undo(self, doc: Document) -> None:
        net = doc.network(self.network)
        for node in reversed(self.nodes):
            net._delete_node(node.id)


class RemoveNodes(Command):
    def __init__(self, network: str, node_ids: Iterable[str]):
        self.network = network
        self.node_ids = list(dict.fromkeys(node_ids))
        self.nodes: list[Node] = []
        self.wires: list[Wire] = []
        self.order: tuple[list[str], list[Wire]] = ([], [])
        self.text = "Delete"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        for node_id in self.node_ids:
            net.node(node_id)  # raises before any change if one is missing
        self.order = net._order()
        wires: dict[tuple, Wire] = {}
        for node_id in self.node_ids:
            for wire in net.wires_into(node_id) + net.wires_out_of(node_id):
                wires[wire.key] = wire
        self.wires = list(wires.values())
        self.nodes = [net.node(i).clone() for i in self.node_ids]
        names = ", ".join(n.name for n in self.nodes[:3]) + ("…" if len(self.nodes) > 3 else "")
        self.text = f"Delete {names}"
        for node_id in self.node_ids:
            net._delete_node(node_id)

    def undo(self, doc: Document) -> None:
        net = doc.network(self.network)
        for node in self.nodes:
            net._insert_node(node.clone())
        for wire in self.wires:
            net._insert_wire(wire)
        net._restore_order(self.order)


class AddWire(Command):
    def __init__(self, network: str, wire: Wire):
        self.network = network
        self.wire = wire
        self.text = "Connect"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        net.check_wire(self.wire)
        self.text = f"Connect {net.node(self.wire.src).name} → {net.node(self.wire.dst).name}"
        net._insert_wire(self.wire)

    def undo(self, doc: Document) -> None:
        doc.network(self.network)._delete_wire(self.wire)


class RemoveWires(Command):
    def __init__(self, network: str, wires: Iterable[Wire]):
        self.network = network
        self.wires = list(dict.fromkeys(wires))
        self.order: dict[str, Any] = {}
        self.text = "Disconnect"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        for wire in self.wires:
            if not net.has_wire(wire):
                raise DocumentError("That wire no longer exists.")
        self.order = net._wire_order(self.wires)
        for wire in self.wires:
            net._delete_wire(wire)

    def undo(self, doc: Document) -> None:
        net = doc.network(self.network)
        for wire in self.wires:
            net._insert_wire(wire)
        net._restore_wire_order(self.order)


class SetParams(Command):
    """Change layer parameters. Wires into ports that a change removes (e.g. fewer Add inputs) go too."""

    def __init__(self, network: str, node_id: str, values: dict[str, Any]):
        self.network = network
        self.node_id = node_id
        self.values = dict(values)
        self.old: dict[str, Any] = {}
        self.dropped: list[Wire] = []
        self.order: dict[str, Any] = {}
        self.text = "Change " + ", ".join(values)
        self.merge_id = f"params:{network}:{node_id}:{','.join(sorted(values))}"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        merged = dict(node.params)
        merged.update(self.values)
        new_params = node.spec.coerce_params(merged)  # raises ParamError before any change
        check_params_storable(new_params)
        self.old = dict(node.params)
        self.text = f"Change {node.name} " + ", ".join(p.replace("_", " ") for p in self.values)
        ports = {p.name for p in node.spec.input_ports(new_params)}
        out_ports = {p.name for p in node.spec.output_ports(new_params)}
        self.dropped = [w for w in net.wires_into(self.node_id) if w.dst_port not in ports]
        self.dropped += [w for w in net.wires_out_of(self.node_id) if w.src_port not in out_ports]
        if self.dropped:
            self.order = net._wire_order(self.dropped)
        for wire in self.dropped:
            net._delete_wire(wire)
        node.params = new_params
        net._emit(ev.NodeChanged(self.network, self.node_id, "params"))

    def undo(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        node.params = dict(self.old)
        net._emit(ev.NodeChanged(self.network, self.node_id, "params"))
        for wire in self.dropped:
            net._insert_wire(wire)
        if self.dropped:
            net._restore_wire_order(self.order)

    def merge(self, other: Command) -> bool:
        # Typing 1, 12, 128 into one field is one undo step, as long as no wire was dropped on the way.
        if isinstance(other, SetParams) and other.merge_id == self.merge_id and not other.dropped \
                and not self.dropped:
            self.values = other.values
            return True
        return False


class SetNodeOptions(Command):
    """Per-node training options: trainable (freeze), learning-rate multiplier, L1 and L2 penalties."""

    def __init__(self, network: str, node_id: str, options: dict[str, Any]):
        self.network = network
        self.node_id = node_id
        self.options = check_node_options(options)
        self.old: dict[str, Any] = {}
        self.text = "Change " + ", ".join(options)

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        self.old = {k: getattr(node, k) for k in self.options}
        for key, value in self.options.items():
            setattr(node, key, value)
        net._emit(ev.NodeChanged(self.network, self.node_id, "options"))

    def undo(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        for key, value in self.old.items():
            setattr(node, key, value)
        net._emit(ev.NodeChanged(self.network, self.node_id, "options"))


class RenameNode(Command):
    """Rename a node. Inside a block definition an Input or Output node is a port of the block: the wires on that
    port of every instance, in every network and definition, follow in the same step."""

    def __init__(self, network: str, node_id: str, new_name: str):
        self.network = network
        self.node_id = node_id
        self.new_name = new_name.strip()
        self.old_name = ""
        self.moves: list[PortWireMove] = []  # the outer wires of a renamed port, per network
        self.text = f"Rename to {self.new_name}"

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        node = net.node(self.node_id)
        net.check_name(self.new_name, self.node_id)
        self.moves = []
        if net.is_block and node.type in ("Input", "Output") and self.new_name != node.name:
            try:
                self.moves = port_wire_moves(doc, self.network, node, self.new_name)
            except BlockError as error:
                raise DocumentError(str(error)) from None
        self.old_name = node.name
        node.name = self.new_name
        net._emit(ev.NodeChanged(self.network, self.node_id, "name"))
        for move in self.moves:
            swap_wires(doc.network(move.network), move.old, move.new)
        if self.moves:
            count = sum(len(m.old) for m in self.moves)
            self.text = f"Rename port {self.old_name} to {self.new_name} ({count} wire{'s' * (count != 1)} follow)"

    def undo(self, doc: Document) -> None:
        for move in reversed(self.moves):
            swap_wires(doc.network(move.network), move.new, move.old)
        net = doc.network(self.network)
        net.node(self.node_id).name = self.old_name
        net._emit(ev.NodeChanged(self.network, self.node_id, "name"))


class MoveNodes(Command):
    view_only = True

    def __init__(self, network: str, positions: dict[str, tuple[float, float]], text: str = "Move"):
        self.network = network
        self.positions = {k: check_position(v) for k, v in positions.items()}
        self.old: dict[str, tuple[float, float]] = {}
        self.text = text

    def do(self, doc: Document) -> None:
        net = doc.network(self.network)
        for node_id in self.positions:
            net.node(node_id)
        self.old = {node_id: net.node(node_id).position for node_id in self.positions}
        self._apply(net, self.positions)

    def undo(self, doc: Document) -> None:
        self._apply(doc.network(self.network), self.old)

    def _apply(self, net: Network, positions: dict[str, tuple[float, float]]) -> None:
        for node_id, position in positions.items():
            net.node(node_id).position = position
            net._emit(ev.NodeMoved(self.network, node_id))


class AddNetwork(Command):
    """Add an empty network, or a copy of ``network`` as it is when the command is made.

    The copy is taken at once, as plain node records and wires: a live reference would make a redo build whatever
    the source network had become by then (nodes and wires that later edits removed)."""

    def __init__(self, name: str, network: Network | None = None):
        self.name = name.strip()
        self.nodes: list[Node] = [node.clone() for node in network.nodes] if network is not None else []
        self.wires: list[Wire] = list(network.wires) if network is not None else []
        self.text = f"Add network {name}"

    def do(self, doc: Document) -> None:
        if not self.name.strip():
            raise DocumentError("A network needs a name.")
        if self.name in doc.networks or self.name in doc.blocks:
            raise DocumentError(f"There is already a network or block named {self.name!r}.")
        for node in self.nodes:  # a copy of a block definition's graph: only what a network may hold
            if node.bindings or not name_is_usable(node.name):
                raise DocumentError(f"{node.name} belongs inside a block (its name or its parameters come from "
                                    "the block); a network cannot hold it. Ungroup the block instead.")
        net = Network(self.name)
        for node in self.nodes:
            net._insert_node(node.clone())
        for wire in self.wires:
            net._insert_wire(wire)
        net.document = doc
        doc.networks[self.name] = net
        doc.events.emit(ev.NetworkAdded(self.name))

    def undo(self, doc: Document) -> None:
        del doc.networks[self.name]
        doc.events.emit(ev.NetworkRemoved(self.name))


class RemoveNetwork(Command):
    def __init__(self, name: str):
        self.name = name
        self.removed: Network | None = None
        self.index = 0
        self.text = f"Remove network {name}"

    def do(self, doc: Document) -> None:
        if self.name not in doc.networks:
            raise DocumentError(f"There is no network named {self.name!r}.")
        if len(doc.networks) == 1:
            raise DocumentError("A document keeps at least one network.")
        self.removed = doc.network(self.name)
        self.index = list(doc.networks).index(self.name)
        del doc.networks[self.name]
        doc.events.emit(ev.NetworkRemoved(self.name))

    def undo(self, doc: Document) -> None:
        assert self.removed is not None
        items = list(doc.networks.items())
        items.insert(self.index, (self.name, self.removed))
        doc.networks = dict(items)
        doc.events.emit(ev.NetworkAdded(self.name))


class RenameNetwork(Command):
    def __init__(self, old: str, new: str):
        self.old, self.new = old, new.strip()
        self.text = f"Rename network to {self.new}"

    def do(self, doc: Document) -> None:
        if not self.new:
            raise DocumentError("A network needs a name.")
        if self.old not in doc.networks:
            raise DocumentError(f"There is no network named {self.old!r}.")
        if self.new in doc.networks or self.new in doc.blocks:
            raise DocumentError(f"There is already a network or block named {self.new!r}.")
        self._rename(doc, self.old, self.new)

    def undo(self, doc: Document) -> None:
        self._rename(doc, self.new, self.old)

    @staticmethod
    def _rename(doc: Document, old: str, new: str) -> None:
        net = doc.network(old)
        net.name = new
        doc.networks = {(new if k == old else k): v for k, v in doc.networks.items()}
        doc.events.emit(ev.NetworkRenamed(new, old))


class SetSetting(Command):
    """Document-wide settings (training recipe, data source, ...), stored as plain JSON-able values.

    Whether the key existed before is kept as a flag, not as a marker value: undoing the first change of a key
    removes the key, and nothing but the user's own values can ever reach the settings (or a saved file)."""

    def __init__(self, key: str, value: Any):
        if not isinstance(key, str) or not key:
            raise DocumentError("A setting needs a name (non-empty text).")
        self.key = key
        self.value = check_setting_value(key, value)  # a copy; raises before anything changes
        for where, message in settings_problems({key: self.value}, key):
            raise DocumentError(f"{where.capitalize()} {message}")
        self.had_old = False
        self.old: Any = None
        self.text = f"Change {key.replace('_', ' ')}"
        self.merge_id = f"setting:{key}"

    def do(self, doc: Document) -> None:
        self.had_old = self.key in doc.settings
        self.old = copy.deepcopy(doc.settings[self.key]) if self.had_old else None
        doc.settings[self.key] = copy.deepcopy(self.value)
        doc.events.emit(ev.SettingsChanged("", self.key))

    def undo(self, doc: Document) -> None:
        if self.had_old:
            doc.settings[self.key] = copy.deepcopy(self.old)
        else:
            doc.settings.pop(self.key, None)
        doc.events.emit(ev.SettingsChanged("", self.key))

    def merge(self, other: Command) -> bool:
        if isinstance(other, SetSetting) and other.key == self.key:
            self.value = other.value
            return True
        return False


class Macro(Command):
    """Several commands as one undo step; if one fails, those already done are undone."""

    def __init__(self, text: str, commands: Iterable[Command]):
        self.text = text
        self.commands = list(commands)

    def do(self, doc: Document) -> None:
        done: list[Command] = []
        try:
            for command in self.commands:
                command.do(doc)
                done.append(command)
        except Exception:
            for command in reversed(done):
                command.undo(doc)
            raise

    def undo(self, doc: Document) -> None:
        for command in reversed(self.commands):
            command.undo(doc)


class UndoStack:
    """A linear undo history with a clean mark. The app's Qt stack offers the same methods."""

    def __init__(self, doc: Document):
        self.doc = doc
        self._commands: list[Command] = []
        self._index = 0
        self._clean: int | None = 0
        self._listeners: list[Callable[[], None]] = []

    def push(self, command: Command) -> Command:
        command.do(self.doc)  # raises without changes on bad input; nothing is recorded then
        del self._commands[self._index:]
        if self._clean is not None and self._clean > self._index:
            self._clean = None
        top = self._commands[-1] if self._commands else None
        if top is not None and self._index != self._clean and command.merge_id and \
                top.merge_id == command.merge_id and top.merge(command):
            pass
        else:
            self._commands.append(command)
            self._index += 1
        self._changed()
        return command

    def undo(self) -> None:
        if self.can_undo():
            self._index -= 1
            self._commands[self._index].undo(self.doc)
            self._changed()

    def redo(self) -> None:
        if self.can_redo():
            self._commands[self._index].do(self.doc)
            self._index += 1
            self._changed()

    def can_undo(self) -> bool:
        return self._index > 0

    def can_redo(self) -> bool:
        return self._index < len(self._commands)

    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self.can_undo() else ""

    def redo_text(self) -> str:
        return self._commands[self._index].text if self.can_redo() else ""

    def is_clean(self) -> bool:
        return self._clean == self._index

    def set_clean(self) -> None:
        self._clean = self._index
        self._changed()

    def clear(self) -> None:
        self._commands.clear()
        self._index = 0
        self._clean = 0
        self._changed()

    def count(self) -> int:
        return len(self._commands)

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        for listener in list(self._listeners):
            listener()


__all__ = [
    "AddNetwork", "AddNode", "AddWire", "Command", "InsertNodes", "Macro", "MoveNodes", "ParamError",
    "RemoveNetwork", "RemoveNodes", "RemoveWires", "RenameNetwork", "RenameNode", "SetNodeOptions", "SetParams",
    "SetSetting", "UndoStack",
]
