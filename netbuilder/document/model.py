"""The document: named networks, each a networkx graph of layer nodes and wires.

The model is the truth; views only display it. Mutating methods whose names start with ``_`` are the primitive
edits that commands use; everything public either reads, or builds a command and runs it through the document's
undo stack so that scripted edits are undoable like gestures in the app.
"""

from __future__ import annotations

import copy
import functools
import itertools
import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import networkx as nx

from netbuilder.document import events as ev
from netbuilder.specs import LayerSpec, ParamError, get_spec

if TYPE_CHECKING:
    from netbuilder.analysis import Analysis
    from netbuilder.document.commands import Command, UndoStack

NAME_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# Names the compiled module or its generated code use besides the attributes of torch.fx.GraphModule.
_RESERVED_EXTRA = frozenset({"netbuilder", "input", "self", "graph", "code", "meta", "training", "torch", "nn"})


@functools.cache
def reserved_names() -> frozenset[str]:
    """Names a node cannot take: node names become submodule attributes of a torch.fx.GraphModule (and Python
    names in its generated code), so ``load_state_dict``, ``compile`` or ``to`` would clash with the module's own
    methods. The list is kept in `netbuilder.document.reserved` (checked against torch by a test), so that
    checking a name never imports PyTorch."""
    from netbuilder.document.reserved import GRAPH_MODULE_ATTRIBUTES

    return GRAPH_MODULE_ATTRIBUTES | _RESERVED_EXTRA


class DocumentError(ValueError):
    """An edit that cannot be made; the message is written for the user and nothing was changed."""


@dataclass(frozen=True)
class Wire:
    """A connection from an output port of one node to an input port of another."""

    src: str
    src_port: str
    dst: str
    dst_port: str

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.src, self.src_port, self.dst, self.dst_port)


@dataclass
class Node:
    """One layer in a network. ``params`` are always complete and valid for the spec."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    position: tuple[float, float] = (0.0, 0.0)
    trainable: bool = True
    lr_mult: float = 1.0
    l1: float = 0.0
    l2: float = 0.0

    @property
    def spec(self) -> LayerSpec:
        return get_spec(self.type)

    def options(self) -> dict[str, Any]:
        return {"trainable": self.trainable, "lr_mult": self.lr_mult, "l1": self.l1, "l2": self.l2}

    def clone(self) -> Node:
        return copy.deepcopy(self)


def check_node_options(options: dict[str, Any]) -> dict[str, Any]:
    """Validate per-node training options (freeze, learning-rate multiplier, L1/L2 penalty)."""
    result = {}
    for key, value in options.items():
        if key == "trainable":
            if not isinstance(value, bool):
                raise ParamError("Trainable must be true or false.")
        elif key in ("lr_mult", "l1", "l2"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ParamError(f"{key} must be a number.")
            value = float(value)
            if not 0.0 <= value <= 1e6:
                raise ParamError(f"{key} must be between 0 and 1e6.")
        else:
            raise ParamError(f"Unknown node option {key!r}.")
        result[key] = value
    return result


def check_name_form(name: str) -> None:
    """Refuse a node name that cannot become a submodule and a Python name (uniqueness is the network's check)."""
    if not NAME_PATTERN.match(name):
        raise DocumentError(f"{name!r} is not a usable name: use letters, digits and _, starting with a letter.")
    if keyword.iskeyword(name) or name in reserved_names():
        raise DocumentError(f"{name!r} is reserved (PyTorch or Python uses it); choose another name.")


def name_is_usable(name: str) -> bool:
    """`check_name_form` as a yes/no answer, for code that picks another name instead of refusing."""
    try:
        check_name_form(name)
    except DocumentError:
        return False
    return True


class Network:
    """A directed graph of nodes. Wires are MultiDiGraph edges keyed by (src_port, dst_port)."""

    def __init__(self, name: str, document: Document | None = None):
        self.name = name
        self.document = document
        self.graph = nx.MultiDiGraph()
        self._ids = itertools.count(1)
        # Bumped by every change of nodes or wires (not params or positions): caches of the graph's structure,
        # such as the analyzer's dependency order, stay valid while it is unchanged.
        self.structure_version = 0

    # ---- reading -------------------------------------------------------------------------------------------
    def __contains__(self, node_id: object) -> bool:
        return node_id in self.graph

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def node(self, node_id: str) -> Node:
        try:
            return self.graph.nodes[node_id]["node"]
        except KeyError:
            raise DocumentError(f"There is no node {node_id!r} in network {self.name!r}.") from None

    @property
    def nodes(self) -> list[Node]:
        return [data["node"] for _, data in self.graph.nodes(data=True)]

    def node_ids(self) -> list[str]:
        return list(self.graph.nodes)

    def find(self, name: str) -> Node:
        """The node with this user-visible name."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise DocumentError(f"There is no node named {name!r} in network {self.name!r}.")

    @property
    def wires(self) -> list[Wire]:
        return [data["wire"] for _, _, data in self.graph.edges(data=True)]

    def wires_into(self, node_id: str) -> list[Wire]:
        return [data["wire"] for _, _, data in self.graph.in_edges(node_id, data=True)]

    def wires_out_of(self, node_id: str) -> list[Wire]:
        return [data["wire"] for _, _, data in self.graph.out_edges(node_id, data=True)]

    def wire_into_port(self, node_id: str, port: str) -> Wire | None:
        for wire in self.wires_into(node_id):
            if wire.dst_port == port:
                return wire
        return None

    def has_wire(self, wire: Wire) -> bool:
        return self.graph.has_edge(wire.src, wire.dst, key=(wire.src_port, wire.dst_port))

    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.type == "Input"]

    def outputs(self) -> list[Node]:
        return [n for n in self.nodes if n.type == "Output"]

    def unique_name(self, base: str, taken: set[str] | None = None) -> str:
        """``base`` made a usable name, numbered from 1: ``linear1``. ``taken``: the names in use (default: this
        network's)."""
        stem = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_").lower() or "node"
        if not stem[0].isalpha():
            stem = f"n_{stem}"
        if taken is None:
            taken = {n.name for n in self.nodes}
        for i in itertools.count(1):
            candidate = f"{stem}{i}"
            if candidate not in taken and candidate not in reserved_names():
                return candidate
        raise AssertionError("unreachable")

    def new_id(self) -> str:
        while True:
            candidate = f"n{next(self._ids)}"
            if candidate not in self.graph:
                return candidate

    def check_name(self, name: str, node_id: str | None = None) -> None:
        """Refuse a name that is not an identifier, is reserved, or another node of this network has."""
        check_name_form(name)
        for node in self.nodes:
            if node.name == name and node.id != node_id:
                raise DocumentError(f"Another node is already named {name!r}.")

    def check_wire(self, wire: Wire) -> None:
        """Refuse wires that can never be valid (cycle, occupied input, unknown port), with the reason."""
        if wire.src not in self.graph or wire.dst not in self.graph:
            raise DocumentError("A wire must join two nodes of the same network.")
        src, dst = self.node(wire.src), self.node(wire.dst)
        if wire.src_port not in [p.name for p in src.spec.output_ports(src.params)]:
            raise DocumentError(f"{src.name} has no output {wire.src_port!r}.")
        if wire.dst_port not in [p.name for p in dst.spec.input_ports(dst.params)]:
            raise DocumentError(f"{dst.name} has no input {wire.dst_port!r}.")
        if wire.src == wire.dst:
            raise DocumentError("A layer cannot feed itself.")
        if nx.has_path(self.graph, wire.dst, wire.src):
            raise DocumentError(f"Wiring {src.name} into {dst.name} would make a loop; networks must flow one way.")
        occupied = self.wire_into_port(wire.dst, wire.dst_port)
        if occupied is not None:
            source = self.node(occupied.src).name
            raise DocumentError(f"Input {wire.dst_port!r} of {dst.name} is already fed by {source}; remove that "
                                "wire first.")

    def topological_order(self) -> list[str]:
        return list(nx.topological_sort(self.graph))

    def copy(self, name: str | None = None) -> Network:
        clone = Network(name or self.name)
        for node in self.nodes:
            clone._insert_node(node.clone())
        for wire in self.wires:
            clone._insert_wire(wire)
        return clone

    # ---- primitive edits (used by commands) -----------------------------------------------------------------
    def _emit(self, event: ev.DocumentEvent) -> None:
        if self.document is not None:
            self.document.events.emit(event)

    def _insert_node(self, node: Node) -> None:
        self.graph.add_node(node.id, node=node)
        self.structure_version += 1
        self._emit(ev.NodeAdded(self.name, node.id))

    def _delete_node(self, node_id: str) -> Node:
        node = self.node(node_id)
        for wire in self.wires_into(node_id) + self.wires_out_of(node_id):
            self._delete_wire(wire)
        self.graph.remove_node(node_id)
        self.structure_version += 1
        self._emit(ev.NodeRemoved(self.name, node_id))
        return node

    def _insert_wire(self, wire: Wire) -> None:
        self.graph.add_edge(wire.src, wire.dst, key=(wire.src_port, wire.dst_port), wire=wire)
        self.structure_version += 1
        self._emit(ev.WireAdded(self.name, wire.key))

    def _delete_wire(self, wire: Wire) -> None:
        self.graph.remove_edge(wire.src, wire.dst, key=(wire.src_port, wire.dst_port))
        self.structure_version += 1
        self._emit(ev.WireRemoved(self.name, wire.key))

    def _order(self) -> tuple[list[str], list[Wire]]:
        """The current order of nodes and wires, for `_restore_order`."""
        return self.node_ids(), self.wires

    def _restore_order(self, order: tuple[list[str], list[Wire]]) -> None:
        """Put nodes and wires back in a recorded order after an undo re-inserted some of them at the end.

        The order is part of the document: it decides the order of a compiled module's inputs, of the nodes in
        the saved file and of the analysis, so an undo must bring it back exactly. Emits nothing: every node and
        wire is already announced; only their sequence changes.
        """
        node_ids, wires = order
        if self.node_ids() == node_ids and self.wires == wires:
            return
        nodes = {node_id: self.graph.nodes[node_id]["node"] for node_id in self.graph}
        present = self.wires
        # Recorded items first, in their recorded order; anything newer keeps its place after them.
        recorded_nodes, recorded_wires, live_wires = set(node_ids), set(wires), set(present)
        node_order = [i for i in node_ids if i in nodes] + [i for i in nodes if i not in recorded_nodes]
        wire_order = [w for w in wires if w in live_wires] + [w for w in present if w not in recorded_wires]
        self.graph.clear()
        for node_id in node_order:
            self.graph.add_node(node_id, node=nodes[node_id])
        for wire in wire_order:
            self.graph.add_edge(wire.src, wire.dst, key=(wire.src_port, wire.dst_port), wire=wire)
        self.structure_version += 1

    # ---- scripting API: each call is one undoable command ------------------------------------------------------
    def _run(self, command: Command) -> Any:
        if self.document is None:
            raise DocumentError("This network is not part of a document.")
        return self.document.execute(command)

    def add(self, type_id: str, name: str | None = None, position: tuple[float, float] | None = None,
            **params: Any) -> str:
        """Add a layer and return its node id. Params not given take the spec's defaults."""
        from netbuilder.document.commands import AddNode

        command = AddNode(self.name, type_id, params, name=name, position=position)
        self._run(command)
        return command.node_id

    def connect(self, src: str, dst: str, src_port: str | None = None, dst_port: str | None = None) -> Wire:
        """Wire ``src`` into ``dst``. Ports default to the first output and the first free input."""
        from netbuilder.document.commands import AddWire

        wire = self.make_wire(src, dst, src_port, dst_port)
        self._run(AddWire(self.name, wire))
        return wire

    def chain(self, *node_ids: str) -> None:
        """Wire each node into the next: ``net.chain(x, h, y)``."""
        for a, b in itertools.pairwise(node_ids):
            self.connect(a, b)

    def make_wire(self, src: str, dst: str, src_port: str | None = None, dst_port: str | None = None) -> Wire:
        src_id, dst_id = self.resolve(src), self.resolve(dst)
        src_node, dst_node = self.node(src_id), self.node(dst_id)
        if src_port is None:
            ports = src_node.spec.output_ports(src_node.params)
            if not ports:
                raise DocumentError(f"{src_node.name} has no outputs.")
            src_port = ports[0].name
        if dst_port is None:
            free = [p.name for p in dst_node.spec.input_ports(dst_node.params)
                    if self.wire_into_port(dst_id, p.name) is None]
            if not free:
                raise DocumentError(f"Every input of {dst_node.name} is already connected.")
            dst_port = free[0]
        return Wire(src_id, src_port, dst_id, dst_port)

    def resolve(self, ref: str) -> str:
        """Accept a node id or a node name."""
        if ref in self.graph:
            return ref
        return self.find(ref).id

    def set_param(self, node: str, name: str, value: Any) -> None:
        from netbuilder.document.commands import SetParams

        self._run(SetParams(self.name, self.resolve(node), {name: value}))

    def set_params(self, node: str, **values: Any) -> None:
        from netbuilder.document.commands import SetParams

        self._run(SetParams(self.name, self.resolve(node), values))

    def set_options(self, node: str, **options: Any) -> None:
        """Per-node training options: trainable, lr_mult, l1, l2."""
        from netbuilder.document.commands import SetNodeOptions

        self._run(SetNodeOptions(self.name, self.resolve(node), options))

    def rename(self, node: str, new_name: str) -> None:
        from netbuilder.document.commands import RenameNode

        self._run(RenameNode(self.name, self.resolve(node), new_name))

    def remove(self, *nodes: str) -> None:
        from netbuilder.document.commands import RemoveNodes

        self._run(RemoveNodes(self.name, [self.resolve(n) for n in nodes]))

    def disconnect(self, wire: Wire) -> None:
        from netbuilder.document.commands import RemoveWires

        self._run(RemoveWires(self.name, [wire]))

    def move(self, node: str, position: tuple[float, float]) -> None:
        from netbuilder.document.commands import MoveNodes

        self._run(MoveNodes(self.name, {self.resolve(node): position}))

    # ---- analysis and compile shortcuts -------------------------------------------------------------------------
    def analyze(self) -> Analysis:
        from netbuilder.analysis import analyze

        return analyze(self)

    def compile(self, **kwargs: Any) -> Any:
        from netbuilder.compile import compile_network

        return compile_network(self, **kwargs)


@dataclass
class DocumentInfo:
    title: str = ""
    description: str = ""


class Document:
    """One or more named networks plus document-wide settings (training recipe, data) and metadata."""

    def __init__(self, network_names: tuple[str, ...] = ("model",)):
        from netbuilder.document.commands import UndoStack

        self.events = ev.EventHub()
        self.networks: dict[str, Network] = {}
        self.settings: dict[str, Any] = {}
        self.info = DocumentInfo()
        self.undo_stack: UndoStack = UndoStack(self)
        for name in network_names:
            self.networks[name] = Network(name, self)

    # ---- reading -----------------------------------------------------------------------------------------------
    def network(self, name: str | None = None) -> Network:
        """The named network, or the only/first one."""
        if name is None:
            if not self.networks:
                raise DocumentError("The document has no network.")
            return next(iter(self.networks.values()))
        try:
            return self.networks[name]
        except KeyError:
            raise DocumentError(f"There is no network named {name!r}.") from None

    def __iter__(self) -> Iterator[Network]:
        return iter(self.networks.values())

    @property
    def modified(self) -> bool:
        return not self.undo_stack.is_clean()

    # ---- editing -------------------------------------------------------------------------------------------------
    def execute(self, command: Command) -> Any:
        """Run a command through the undo stack (the app swaps in a Qt-backed stack with the same interface)."""
        return self.undo_stack.push(command)

    def add_network(self, name: str) -> Network:
        from netbuilder.document.commands import AddNetwork

        command = AddNetwork(name)
        self.execute(command)
        return self.networks[command.name]

    def set_setting(self, key: str, value: Any) -> None:
        from netbuilder.document.commands import SetSetting

        self.execute(SetSetting(key, value))

    # ---- whole-document operations ----------------------------------------------------------------------------
    def validate(self) -> list[Any]:
        """All diagnostics of all networks (empty when the document is valid)."""
        from netbuilder.analysis import analyze

        problems = []
        for network in self:
            problems.extend(analyze(network).diagnostics)
        return problems

    def save(self, path: Any) -> None:
        from netbuilder.io import save_document

        save_document(self, path)
        self.undo_stack.set_clean()

    @staticmethod
    def load(path: Any) -> Document:
        from netbuilder.io import load_document

        return load_document(path)
