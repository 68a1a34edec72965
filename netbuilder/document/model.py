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
import math
import numbers
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import networkx as nx

from netbuilder.document import events as ev
from netbuilder.document.blocks import BLOCK_TYPE, is_usable_node_name
from netbuilder.specs import LayerSpec, ParamError, get_spec

if TYPE_CHECKING:
    from netbuilder.document.blocks import BlockDefinition
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
    block: str = ""  # for a block node (type "Block"): the name of its definition
    # Inside a block definition: parameter -> expression of the block's parameters (see document.blocks)
    bindings: dict[str, str] = field(default_factory=dict)
    # A block node drawn with its inside shown in place (view state, saved like the position).
    expanded: bool = False

    @property
    def spec(self) -> LayerSpec:
        """The layer type's spec; for a block node, its definition seen as a spec (needs the node to be in a
        network of a document)."""
        if self.type == BLOCK_TYPE:
            owner = getattr(self, "_owner", None)
            network = owner() if owner is not None else None
            if network is None:
                raise DocumentError(f"Block node {self.name} is not in a document, so its block {self.block!r} "
                                    "is unknown.")
            return network.spec_of(self)
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


# Settings nest a few levels (training -> gan -> ...); a file may nest values no deeper than the loader reads.
MAX_SETTING_DEPTH = 32
_MAX_INT_BITS = 14_000  # Python writes and reads integers of up to 4,300 digits as text


def check_position(position: Any) -> tuple[float, float]:
    """A canvas position as two finite floats; anything else (NaN, inf, text) is refused, because a document
    must always be savable and JSON has no NaN."""
    try:
        x, y = position
        result = (float(x), float(y))
    except (TypeError, ValueError, OverflowError):
        raise DocumentError(f"A position must be two numbers (x, y), not {_clip(repr(position))}.") from None
    if isinstance(x, bool) or isinstance(y, bool) or not all(math.isfinite(v) for v in result):
        raise DocumentError(f"A position must be two finite numbers (x, y), not {_clip(repr(position))}.")
    return result


def _writable_int(number: int) -> bool:
    """Whether Python can write the integer as text (it refuses more than 4,300 digits by default)."""
    if number.bit_length() <= _MAX_INT_BITS:
        return True
    try:
        str(number)
    except ValueError:
        return False
    return True


def check_params_storable(params: dict[str, Any]) -> None:
    """Refuse coerced params a file cannot hold: an integer of thousands of digits passes a layer's range check
    (most sizes have no upper bound) but cannot be written as text, so the document could not be saved."""
    for name, value in params.items():
        for item in value if isinstance(value, tuple | list) else (value,):
            if isinstance(item, int) and not isinstance(item, bool) and not _writable_int(item):
                raise ParamError(f"{name.replace('_', ' ').capitalize()} is too large a number.")


def check_setting_value(key: str, value: Any) -> Any:
    """A private copy of a setting's value as plain JSON data (tuples become lists), or DocumentError naming the
    setting and what cannot be stored: objects, NaN and infinities, non-text keys, too deep nesting."""

    def plain(item: Any, depth: int) -> Any:
        if depth > MAX_SETTING_DEPTH:
            raise DocumentError(f"Setting {key!r} nests values more than {MAX_SETTING_DEPTH} levels deep.")
        if item is None or isinstance(item, bool | str):
            return item
        if isinstance(item, numbers.Integral):  # numpy integers too, stored as plain ints
            if not _writable_int(int(item)):
                raise DocumentError(f"Setting {key!r} holds a number too large to store.")
            return int(item)
        if isinstance(item, numbers.Real):
            item = float(item)
            if not math.isfinite(item):
                raise DocumentError(f"Setting {key!r} holds {item}, which is not a finite number.")
            return float(item)
        if isinstance(item, list | tuple):
            return [plain(v, depth + 1) for v in item]
        if isinstance(item, dict):
            result = {}
            for k, v in item.items():
                if not isinstance(k, str):
                    raise DocumentError(f"Setting {key!r} has the key {_clip(repr(k))}, which is not text.")
                result[k] = plain(v, depth + 1)
            return result
        raise DocumentError(f"Setting {key!r} cannot hold a {type(item).__name__} value; use text, numbers, "
                            "true/false, lists and objects.")

    return plain(value, 1)


# The kind of value each settings section holds (the training engine reads them, and fails on another kind):
# path in the settings -> (kinds allowed, an example for the message). null means "not set" everywhere.
SETTINGS_SECTIONS: dict[tuple[str, ...], tuple[tuple[type, ...], str]] = {
    ("training",): ((dict,), '{"epochs": 10}'),
    ("data",): ((dict, str), '{"source": "digits"} or "digits"'),
    ("training", "data"): ((dict, str), '{"source": "digits"}'),
    ("data", "options"): ((dict,), '{"delimiter": ","}'),
    ("data", "augment"): ((dict,), '{"noise": 0.1}'),
    ("training", "losses"): ((list, dict), '[{"output": "y", "loss": "mse"}]'),
    ("training", "metrics"): ((list, str), '["accuracy"]'),
    ("training", "betas"): ((list,), "[0.9, 0.999]"),
    ("training", "early_stopping"): ((dict,), '{"patience": 5}'),
    ("training", "vae"): ((dict,), '{"beta": 1.0}'),
    ("training", "gan"): ((dict,), '{"latent_size": 64}'),
    ("training", "lm"): ((dict,), '{"temperature": 1.0}'),
    ("training", "transfer"): ((dict,), '{"source": "run", "nodes": []}'),
}
_KIND_NAMES = {dict: "an object", list: "a list", str: "text"}


def settings_problems(settings: dict[str, Any], key: str | None = None) -> list[tuple[str, str]]:
    """(where, what is wrong) for each settings section of the wrong kind, e.g. ``"data": 5``; only the sections
    under ``key`` when given. The loader reports these and SetSetting refuses them, so a document that saves
    always loads again."""
    problems = []
    for path, (kinds, example) in SETTINGS_SECTIONS.items():
        if key is not None and path[0] != key:
            continue
        value: Any = settings
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None or isinstance(value, kinds):
            continue
        kind = "a number" if isinstance(value, int | float) and not isinstance(value, bool) else \
            "true/false" if isinstance(value, bool) else _KIND_NAMES.get(type(value), type(value).__name__)
        problems.append(("settings, field " + repr(".".join(path)),
                         f"must be {' or '.join(_KIND_NAMES[k] for k in kinds)} such as {example}, not {kind}."))
    return problems


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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


def name_stem(base: str) -> str:
    """The start of a generated name: ``base`` as a lower-case identifier (``Conv2d`` -> ``conv2d``)."""
    stem = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_").lower() or "node"
    return stem if stem[0].isalpha() else f"n_{stem}"


class NameAllocator:
    """Numbered names (``linear1``, ``linear2``, ...) that avoid a growing set of taken names.

    It remembers per stem the first number that may still be free, so making n names costs O(n), not O(n²):
    a file of 20,000 unnamed nodes, or a paste of thousands, would otherwise try 1, 2, 3, ... for every node.
    Valid because ``taken`` only grows while the allocator is in use."""

    def __init__(self, taken: set[str]):
        self.taken = taken
        self._next: dict[str, int] = {}

    def make(self, base: str, keep: bool = True) -> str:
        """The first free ``<stem><number>``; ``keep`` adds it to the taken names."""
        stem = name_stem(base)
        number = self._next.get(stem, 1)
        reserved = reserved_names()
        while f"{stem}{number}" in self.taken or f"{stem}{number}" in reserved:
            number += 1
        name = f"{stem}{number}"
        if keep:
            self._next[stem] = number + 1
            self.taken.add(name)
        return name


class Network:
    """A directed graph of nodes. Wires are MultiDiGraph edges keyed by (src_port, dst_port)."""

    def __init__(self, name: str, document: Document | None = None):
        self.name = name
        self.document = document
        self.is_block = False  # the network of a block definition (see netbuilder.document.blocks)
        self._block_table: dict[str, Any] | None = None  # the definitions while the network has no document
        self.graph = nx.MultiDiGraph()
        self._ids = itertools.count(1)
        # Bumped by every change of nodes or wires (not params or positions): caches of the graph's structure,
        # such as the analyzer's dependency order, stay valid while it is unchanged.
        self.structure_version = 0
        # What changed, in order, for readers that update themselves instead of starting over (the analyzer):
        # ("node+", Node), ("node-", id), ("wire+", Wire), ("wire-", Wire), ("node~", id), ("order", None).
        self._journal: list[tuple[str, Any]] = []
        self._journal_start = 0  # the position of _journal[0]; older entries were dropped
        # A topological numbering (rank of a wire's source < rank of its target), kept up to date wire by wire
        # (Pearce & Kelly's dynamic topological order), so that a new wire's loop check and the analyzer's
        # re-walk only look at the nodes between its two ends. None: not worked out yet, or the wires loop.
        self._rank: dict[str, int] | None = None
        self._next_rank = 0

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
        # Straight through the adjacency dicts: this runs for every wire a file or an edit makes.
        for edges in self.graph._pred[node_id].values():
            for data in edges.values():
                if data["wire"].dst_port == port:
                    return data["wire"]
        return None

    def has_wire(self, wire: Wire) -> bool:
        return self.graph.has_edge(wire.src, wire.dst, key=(wire.src_port, wire.dst_port))

    def inputs(self) -> list[Node]:
        return [n for n in self.nodes if n.type == "Input"]

    def outputs(self) -> list[Node]:
        return [n for n in self.nodes if n.type == "Output"]

    @property
    def block_table(self) -> dict[str, Any]:
        """The block definitions this network's block nodes refer to (its document's)."""
        if self.document is not None:
            return self.document.blocks
        return self._block_table if self._block_table is not None else {}

    def spec_of(self, node: Node) -> LayerSpec:
        """The spec of a node of this network: its layer type's, or for a block node its definition's."""
        if node.type == BLOCK_TYPE:
            definition = self.block_table.get(node.block)
            if definition is None:
                raise DocumentError(f"{node.name} uses the block {node.block!r}, which this document does not "
                                    "define.")
            return definition.spec()
        return get_spec(node.type)

    def unique_name(self, base: str, taken: set[str] | None = None) -> str:
        """``base`` made a usable name, numbered from 1: ``linear1``. ``taken``: the names in use (default: this
        network's)."""
        return NameAllocator({n.name for n in self.nodes} if taken is None else taken).make(base, keep=False)

    def new_id(self) -> str:
        while True:
            candidate = f"n{next(self._ids)}"
            if candidate not in self.graph:
                return candidate

    def check_name(self, name: str, node_id: str | None = None) -> None:
        """Refuse a name that is not an identifier, is reserved, or another node of this network has. Inside a
        block definition a plain number (``0``, ``1``) is a usable name too."""
        if not is_usable_node_name(name, self.is_block):
            check_name_form(name)
        for node in self.nodes:
            if node.name == name and node.id != node_id:
                raise DocumentError(f"Another node is already named {name!r}.")

    def check_insertable(self, node: Node) -> None:
        """Refuse a block node whose definition this document lacks, or that would make a block contain itself;
        and bindings outside a block definition."""
        if node.type == BLOCK_TYPE:
            from netbuilder.document.blocks import BlockError, check_no_recursion

            if node.block not in self.block_table:
                raise DocumentError(f"This document has no block named {node.block!r}; import it first.")
            if self.document is not None:
                try:
                    check_no_recursion(self.document, self.name, node.block)
                except BlockError as error:
                    raise DocumentError(str(error)) from None
        if node.bindings and not self.is_block:
            raise DocumentError(f"{node.name} takes parameters from a block ({', '.join(node.bindings)}); it can "
                                "only go inside a block definition.")

    def check_wire(self, wire: Wire, check_loop: bool = True, block_ports: bool = True) -> None:
        """Refuse wires that can never be valid (cycle, occupied input, unknown port), with the reason.
        ``check_loop=False`` leaves out the loop search, for a loader that looks for loops once at the end;
        ``block_ports=False`` lets a wire name a port a block's definition no longer has (a file saved after the
        port was renamed inside the block loads, and analysis says which wire to delete)."""
        nodes = self.graph._node
        if wire.src not in nodes or wire.dst not in nodes:
            raise DocumentError("A wire must join two nodes of the same network.")
        src, dst = nodes[wire.src]["node"], nodes[wire.dst]["node"]
        if (block_ports or src.type != BLOCK_TYPE) and \
                wire.src_port not in [p.name for p in src.spec.output_ports(src.params)]:
            raise DocumentError(f"{src.name} has no output {wire.src_port!r}.")
        if (block_ports or dst.type != BLOCK_TYPE) and \
                wire.dst_port not in [p.name for p in dst.spec.input_ports(dst.params)]:
            raise DocumentError(f"{dst.name} has no input {wire.dst_port!r}.")
        if wire.src == wire.dst:
            raise DocumentError("A layer cannot feed itself.")
        if check_loop and self._loops(wire):
            raise DocumentError(f"Wiring {src.name} into {dst.name} would make a loop; networks must flow one way.")
        occupied = self.wire_into_port(wire.dst, wire.dst_port)
        if occupied is not None:
            source = self.node(occupied.src).name
            raise DocumentError(f"Input {wire.dst_port!r} of {dst.name} is already fed by {source}; remove that "
                                "wire first.")

    def _loops(self, wire: Wire) -> bool:
        """Whether ``wire`` would close a loop: a path already leads from its target back to its source."""
        rank = self.ranks()
        if rank is None:
            return nx.has_path(self.graph, wire.dst, wire.src)
        return self._reaches(wire.dst, wire.src, rank)

    def topological_order(self) -> list[str]:
        return list(nx.topological_sort(self.graph))

    def copy(self, name: str | None = None) -> Network:
        clone = Network(name or self.name)
        for node in self.nodes:
            clone._insert_node(node.clone())
        for wire in self.wires:
            clone._insert_wire(wire)
        return clone

    # ---- change journal and topological ranks ----------------------------------------------------------------
    JOURNAL_LIMIT = 20_000

    @property
    def change_position(self) -> int:
        """Where the change journal ends now; `changes_since` of this position will list what comes next."""
        return self._journal_start + len(self._journal)

    def changes_since(self, position: int) -> list[tuple[str, Any]] | None:
        """The changes after ``position`` (see ``_journal``), or None when they are no longer kept."""
        if position < self._journal_start:
            return None
        return self._journal[position - self._journal_start:]

    def _note(self, kind: str, item: Any) -> None:
        if len(self._journal) >= self.JOURNAL_LIMIT:
            self._journal_start += len(self._journal)
            self._journal = []
        self._journal.append((kind, item))

    def ranks(self) -> dict[str, int] | None:
        """A topological numbering of the nodes (every wire goes from a lower to a higher rank), or None when
        wires form a loop (only a damaged file or a direct primitive edit can make one). Do not modify it."""
        if self._rank is None:
            order = self._kahn_order()
            if order is None:
                return None
            self._rank = {node_id: index for index, node_id in enumerate(order)}
            self._next_rank = len(order)
        return self._rank

    def _kahn_order(self) -> list[str] | None:
        pred, succ = self.graph._pred, self.graph._succ
        waiting = {node: len(sources) for node, sources in pred.items() if sources}
        ready = [node for node in succ if node not in waiting]
        order: list[str] = []
        while ready:
            node = ready.pop()
            order.append(node)
            for target in succ[node]:
                waiting[target] -= 1
                if not waiting[target]:
                    ready.append(target)
        return order if len(order) == len(succ) else None

    def is_acyclic(self) -> bool:
        """True when no wires form a loop."""
        return self._kahn_order() is not None

    def _reaches(self, start: str, goal: str, rank: dict[str, int]) -> bool:
        """Whether a path of wires leads from ``start`` to ``goal``, searching only nodes ranked up to the goal
        (no path can climb past it and come back down)."""
        if start == goal:
            return True
        limit = rank[goal]
        if rank[start] > limit:
            return False
        succ = self.graph._succ
        stack, seen = [start], {start}
        while stack:
            for target in succ[stack.pop()]:
                if target == goal:
                    return True
                if target not in seen and rank[target] < limit:
                    seen.add(target)
                    stack.append(target)
        return False

    def _rank_new_wire(self, src: str, dst: str) -> None:
        """Keep the ranks topological after a wire src -> dst was added (Pearce & Kelly): when src ranks below
        dst nothing moves; otherwise only the nodes ranked between them that the wire orders are renumbered."""
        rank = self._rank
        if rank is None:
            return
        low, high = rank[dst], rank[src]
        if low > high:
            return
        succ, pred = self.graph._succ, self.graph._pred
        forward, stack = {dst}, [dst]
        while stack:
            for target in succ[stack.pop()]:
                if target == src:
                    self._rank = None  # a loop: worked out again (and refused) when next asked
                    return
                if target not in forward and rank[target] < high:
                    forward.add(target)
                    stack.append(target)
        backward, stack = {src}, [src]
        while stack:
            for source in pred[stack.pop()]:
                if source not in backward and rank[source] > low:
                    backward.add(source)
                    stack.append(source)
        moved = sorted(backward, key=rank.__getitem__) + sorted(forward, key=rank.__getitem__)
        for node_id, number in zip(moved, sorted(rank[n] for n in moved), strict=True):
            rank[node_id] = number

    # ---- primitive edits (used by commands) -----------------------------------------------------------------
    def _emit(self, event: ev.DocumentEvent) -> None:
        if isinstance(event, ev.NodeChanged):
            self._note("node~", event.node_id)
        if self.document is not None:
            self.document.events.emit(event)

    def _insert_node(self, node: Node) -> None:
        node._owner = weakref.ref(self)  # type: ignore[attr-defined]  # lets node.spec find a block's definition
        self.graph.add_node(node.id, node=node)
        self.structure_version += 1
        if self._rank is not None:
            self._rank[node.id] = self._next_rank
            self._next_rank += 1
        self._note("node+", node)
        if self.document is not None:  # a network being built (a file loading) has no listeners
            self.document.events.emit(ev.NodeAdded(self.name, node.id))

    def _delete_node(self, node_id: str) -> Node:
        node = self.node(node_id)
        for wire in self.wires_into(node_id) + self.wires_out_of(node_id):
            self._delete_wire(wire)
        self.graph.remove_node(node_id)
        self.structure_version += 1
        if self._rank is not None:
            del self._rank[node_id]
        self._note("node-", node_id)
        if self.document is not None:  # a network being built (a file loading) has no listeners
            self.document.events.emit(ev.NodeRemoved(self.name, node_id))
        return node

    def _insert_wire(self, wire: Wire) -> None:
        self.graph.add_edge(wire.src, wire.dst, key=(wire.src_port, wire.dst_port), wire=wire)
        self.structure_version += 1
        self._rank_new_wire(wire.src, wire.dst)
        self._note("wire+", wire)
        if self.document is not None:  # a network being built (a file loading) has no listeners
            self.document.events.emit(ev.WireAdded(self.name, wire.key))

    def _delete_wire(self, wire: Wire) -> None:
        self.graph.remove_edge(wire.src, wire.dst, key=(wire.src_port, wire.dst_port))
        self.structure_version += 1
        self._note("wire-", wire)
        if self.document is not None:  # a network being built (a file loading) has no listeners
            self.document.events.emit(ev.WireRemoved(self.name, wire.key))

    def _wire_order(self, wires: list[Wire]) -> dict[str, Any]:
        """The order of the wires around the ends of ``wires``, for `_restore_wire_order`: a wire removed and
        put back goes to the end of its source's list, and the saved file lists wires in that order. Only these
        nodes are recorded, so removing one wire costs nothing like the size of the network."""
        succ, pred = self.graph._succ, self.graph._pred
        return {
            "succ": {w.src: [(t, list(keys)) for t, keys in succ[w.src].items()] for w in wires},
            "pred": {w.dst: [(s, list(keys)) for s, keys in pred[w.dst].items()] for w in wires},
        }

    def _restore_wire_order(self, record: dict[str, Any]) -> None:
        """Put the wires around the recorded nodes back in their recorded order (newer ones keep their place
        after them). Emits nothing: only the sequence changes."""
        for table, side in ((self.graph._succ, "succ"), (self.graph._pred, "pred")):
            for node_id, entries in record[side].items():
                if node_id not in table:
                    continue
                adjacent = table[node_id]
                order = [other for other, _ in entries if other in adjacent]
                order += [other for other in adjacent if other not in set(order)]
                reordered = {other: adjacent[other] for other in order}
                adjacent.clear()
                adjacent.update(reordered)
                for other, keys in entries:
                    if other in adjacent:
                        keydict = adjacent[other]
                        ordered = [k for k in keys if k in keydict] + [k for k in keydict if k not in keys]
                        items = {k: keydict[k] for k in ordered}
                        keydict.clear()
                        keydict.update(items)

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
        self._note("order", None)  # the same nodes and wires: the ranks stay valid

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

    def add_block(self, block: str, name: str | None = None, position: tuple[float, float] | None = None,
                  **params: Any) -> str:
        """Add a block node (an instance of the document's block ``block``) and return its node id."""
        from netbuilder.document.block_commands import AddBlockNode

        command = AddBlockNode(self.name, block, params, name=name, position=position)
        self._run(command)
        return command.node_id

    def bind(self, node: str, param: str, expression: str | None) -> None:
        """Inside a block definition: let ``param`` of ``node`` take its value from the block's parameters
        (``"filters"``, ``"filters * 4"``), or give it back its own value (None)."""
        from netbuilder.document.block_commands import BindParam

        self._run(BindParam(self.name, self.resolve(node), param, expression))

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
        # The file this document was opened from or last saved to (None: new). Paths in its settings (data,
        # transfer weights) resolve against this file's folder; see netbuilder.fs.paths. Not saved in the file.
        self.path: str | None = None
        self.undo_stack: UndoStack = UndoStack(self)
        # Block definitions by name (see netbuilder.document.blocks). The dict object is never replaced, so
        # networks may keep a reference to it.
        self.blocks: dict[str, BlockDefinition] = {}
        for name in network_names:
            self.networks[name] = Network(name, self)

    # ---- reading -----------------------------------------------------------------------------------------------
    def network(self, name: str | None = None) -> Network:
        """The named network, or the only/first one."""
        if name is None:
            if not self.networks:
                raise DocumentError("The document has no network.")
            return next(iter(self.networks.values()))
        network = self.networks.get(name)
        if network is None:
            definition = self.blocks.get(name)
            if definition is None:
                raise DocumentError(f"There is no network or block named {name!r}.")
            network = definition.network
        return network

    def block(self, name: str) -> BlockDefinition:
        """The block definition with this name."""
        try:
            return self.blocks[name]
        except KeyError:
            raise DocumentError(f"There is no block named {name!r}.") from None

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

    def define_block(self, name: str, params: tuple[Any, ...] = (), doc: str = "") -> Network:
        """Add an empty block definition with these parameters (`netbuilder.specs.Param`) and return its network,
        to be filled like any network (its Input and Output nodes are the block's ports)."""
        from netbuilder.document.block_commands import DefineBlock
        from netbuilder.document.blocks import BlockRecord

        self.execute(DefineBlock(BlockRecord(name, (), (), tuple(params), doc)))
        return self.blocks[name].network

    def set_setting(self, key: str, value: Any) -> None:
        from netbuilder.document.commands import SetSetting

        self.execute(SetSetting(key, value))
