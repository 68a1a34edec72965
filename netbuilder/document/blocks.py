"""Blocks: named sub-networks stored once per document and used by any number of block nodes.

API summary (the app builds on this; keep it stable)
----------------------------------------------------
Model (this module, document layer, Qt-free):

* ``doc.blocks: dict[str, BlockDefinition]`` -- every definition of the document, in file order.
* ``BlockDefinition.name`` (a class-like identifier, e.g. ``BasicBlock``), ``.doc``, ``.params`` (a tuple of
  `netbuilder.specs.Param`: the block parameters such as ``filters`` or ``stride``), ``.network`` (a `Network`
  named like the block: its ``Input`` nodes are the block's input ports, its ``Output`` nodes its output ports, in
  document order, named after the nodes). ``input_ports()`` / ``output_ports()`` give the port names,
  ``spec()`` a `LayerSpec` with the block's params and ports (no infer/build: analysis and compile handle blocks).
* ``doc.network(name)`` finds a top-level network *or* a block definition's network, so every ordinary command
  (AddNode, SetParams, AddWire, ...) edits inside a definition when given the block's name as its network: that is
  "edit a definition", and every instance follows.
* A block node is a `Node` with ``type == BLOCK_TYPE`` ("Block") and ``block`` = the definition's name; its
  ``params`` are the block parameter values of this instance. ``node.spec`` (or ``network.spec_of(node)``) is the
  definition's spec, so ports, wires and SetParams work as for layers.
* ``node.bindings: dict[str, str]`` -- inside a definition, a layer (or nested block) parameter may take its value
  from the block parameters: ``{"filters": "filters", "stride": "stride"}``, or a small expression such as
  ``"filters * 4"`` (numbers, block parameter names, + - * / // %, parentheses). `resolve_params` evaluates them.
* Inside a definition node names may also be plain numbers (``0``, ``1``): they become the children of a
  ``Sequential``-like module, as in torchvision (``layer1.0.conv1.weight``).
* Recursion (a block containing itself, directly or through other blocks) is refused by every command;
  `block_cycle` finds it in a loaded file.

Commands: `netbuilder.document.block_commands` (DefineBlock, RemoveBlock, RenameBlock, AddBlockNode,
SetBlockParams, BindParam, GroupIntoBlock, Ungroup, MakeUnique, RepeatBlock, SetExpanded (the view state
``node.expanded``, saved like positions); helpers free_block_name, block_users). Renaming a port (an Input or Output
node of a definition, with the ordinary RenameNode) moves the wires on that port of every instance in the same
step (`port_wire_moves`, `swap_wires`). Scripting: ``doc.define_block(name, params)``, ``net.add_block(block, name, **values)``,
``net.bind(node, param, expression)``.

Analysis (`netbuilder.analysis.blocks`): a block node's `NodeInfo` has outputs per output port, params and
multiply-adds of the whole instance, and ``inner`` -- a `BlockResult` with each inner node's `NodeInfo` in this
instance (``inner.inner[node_id]``: shapes to show when an instance is opened) and ``resolved`` params.
``definition_result(doc, name)`` analyses a definition on its own (its Input shapes, its defaults): the per-definition
totals. ``group_command(network, node_ids, name)`` builds the GroupIntoBlock for Edit > Group with the ports' shapes.
Diagnostics inside a block are reported on the block node, ``node_name`` = the path (``layer3.1.conv2``).

Compile (`netbuilder.compile.blocks`): nested fx modules named by path; export: one class per definition
(`netbuilder.export.pytorch_blocks`); library: `netbuilder.io.block_library` (save_block, list_library,
import_block / import_command) in `netbuilder.fs.userdata.block_library_dir()`.

Events (`netbuilder.document.events`): BlockAdded, BlockRemoved, BlockRenamed, BlockChanged (params declared
or doc changed); edits inside a definition emit the ordinary node/wire events with ``network`` = the block name.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from netbuilder.specs import LayerSpec, Param, ParamError, ParamKind, Port

if TYPE_CHECKING:
    from netbuilder.document.model import Document, Network, Node

BLOCK_TYPE = "Block"
BLOCK_CATEGORY = "Blocks"
BLOCK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
DIGITS = re.compile(r"^[0-9]+$")
MAX_REPEAT = 1000
# Kinds a block parameter may have (what an inner layer parameter can take its value from).
BLOCK_PARAM_KINDS = (ParamKind.INT, ParamKind.FLOAT, ParamKind.BOOL, ParamKind.CHOICE, ParamKind.INTS,
                     ParamKind.TEXT)


class BlockError(ValueError):
    """A block edit or expression that cannot be used; the message is written for the user."""


def _not_here(_: Any) -> Any:
    raise RuntimeError("A block is analysed by netbuilder.analysis.blocks and built by netbuilder.compile.blocks.")


@dataclass(frozen=True)
class BlockRecord:
    """A definition as plain values (commands keep these, never live objects): nodes, wires, params, doc."""

    name: str
    nodes: tuple[Any, ...]  # Node copies
    wires: tuple[Any, ...]  # Wire
    params: tuple[Param, ...] = ()
    doc: str = ""


class BlockDefinition:
    """A named sub-network with ports and parameters, shared by every block node that names it."""

    def __init__(self, name: str, network: Network, params: tuple[Param, ...] = (), doc: str = ""):
        self.name = name
        self.network = network
        self.params = tuple(params)
        self.doc = doc
        self.meta_version = 0  # bumped when params or doc change (the network's journal tracks the rest)
        network.is_block = True

    # ---- ports and spec ----------------------------------------------------------------------------------------
    def input_nodes(self) -> list[Node]:
        return [n for n in self.network.nodes if n.type == "Input"]

    def output_nodes(self) -> list[Node]:
        return [n for n in self.network.nodes if n.type == "Output"]

    def input_ports(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.input_nodes())

    def output_ports(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.output_nodes())

    def param(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}

    def spec(self) -> LayerSpec:
        """The definition seen as a layer type: its params, its ports; a block node's `node.spec`."""
        key = (self.name, self.network.structure_version, self.network.change_position, self.meta_version)
        cached = getattr(self, "_spec_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        spec = LayerSpec(
            id=BLOCK_TYPE, category=BLOCK_CATEGORY, title=self.name,
            doc=self.doc or f"The block {self.name}: a sub-network with its own inputs and outputs.",
            infer=_not_here, build=_not_here, params=self.params,
            inputs=tuple(Port(n) for n in self.input_ports()),
            outputs=tuple(Port(n) for n in self.output_ports()),
            label=lambda p: ", ".join(f"{k}={v}" for k, v in p.items()),
        )
        self._spec_cache = (key, spec)
        return spec

    def record(self) -> BlockRecord:
        return BlockRecord(self.name, tuple(n.clone() for n in self.network.nodes), tuple(self.network.wires),
                           self.params, self.doc)

    def used_blocks(self) -> set[str]:
        """The names of the definitions this one's nodes use directly (cached until the network changes: every
        change of a node's block is in its journal)."""
        key = self.network.change_position
        cached = getattr(self, "_used_cache", None)
        if cached is None or cached[0] != key:
            used = {n.block for n in self.network.nodes if n.type == BLOCK_TYPE}
            cached = self._used_cache = (key, frozenset(used))
        return set(cached[1])


def definition_from_record(record: BlockRecord, doc: Document | None) -> BlockDefinition:
    """A new definition (its own network, joined to ``doc``) built from plain values."""
    from netbuilder.document.model import Network

    net = Network(record.name)
    net.is_block = True
    for node in record.nodes:
        net._insert_node(node.clone())
    for wire in record.wires:
        net._insert_wire(wire)
    net.document = doc
    return BlockDefinition(record.name, net, record.params, record.doc)


# ---------------------------------------------------------------------------------------------------------------
# Block parameters


def check_block_param(param: Param) -> Param:
    """A block parameter as stored: a usable name, a supported kind and a default its own check accepts."""
    if not isinstance(param, Param):
        raise BlockError("A block parameter must be a Param.")
    if not BLOCK_NAME.match(param.name) or param.name in ("block", "self"):
        raise BlockError(f"{param.name!r} is not a usable parameter name: use letters, digits and _, starting "
                         "with a letter.")
    if param.kind not in BLOCK_PARAM_KINDS:
        raise BlockError(f"A block parameter cannot be of kind {param.kind}; use "
                         f"{', '.join(k.value for k in BLOCK_PARAM_KINDS)}.")
    try:
        default = param.coerce(param.default)
    except ParamError as error:
        raise BlockError(f"The default of block parameter {param.name!r} is not usable: {error}") from None
    return Param(param.name, param.kind, default, param.doc, param.minimum, param.maximum, tuple(param.choices),
                 param.length, param.label, param.allow_none)


def param_to_dict(param: Param) -> dict[str, Any]:
    """A block parameter as JSON values (for the file)."""
    entry: dict[str, Any] = {"name": param.name, "kind": param.kind.value,
                             "default": list(param.default) if isinstance(param.default, tuple) else param.default}
    if param.doc:
        entry["doc"] = param.doc
    if param.minimum is not None:
        entry["minimum"] = param.minimum
    if param.maximum is not None:
        entry["maximum"] = param.maximum
    if param.choices:
        entry["choices"] = list(param.choices)
    return entry


def param_from_dict(raw: Any) -> Param:
    """The inverse of `param_to_dict`; BlockError names what is wrong."""
    if not isinstance(raw, dict):
        raise BlockError("A block parameter must be an object with a name, a kind and a default.")
    name, kind = raw.get("name"), raw.get("kind")
    if not isinstance(name, str):
        raise BlockError("A block parameter needs a name.")
    try:
        param_kind = ParamKind(kind)
    except ValueError:
        raise BlockError(f"Block parameter {name!r} has an unknown kind {kind!r}.") from None
    limits = {}
    for key in ("minimum", "maximum"):
        value = raw.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise BlockError(f"The {key} of block parameter {name!r} must be a number.")
        limits[key] = value
    choices = raw.get("choices", [])
    if not isinstance(choices, list):
        raise BlockError(f"The choices of block parameter {name!r} must be a list.")
    doc = raw.get("doc", "")
    if not isinstance(doc, str):
        raise BlockError(f"The doc of block parameter {name!r} must be text.")
    return check_block_param(Param(name, param_kind, raw.get("default"), doc, limits["minimum"],
                                   limits["maximum"], tuple(choices)))


# ---------------------------------------------------------------------------------------------------------------
# Bindings: inner parameter values taken from block parameters


_BINARY = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}
MAX_EXPRESSION = 200


def parse_expression(text: str) -> ast.expr:
    """Parse a binding: numbers, names, + - * / // %, unary minus, parentheses, tuples. BlockError otherwise."""
    if not isinstance(text, str) or not text.strip():
        raise BlockError("A binding needs an expression, e.g. filters or filters * 4.")
    if len(text) > MAX_EXPRESSION:
        raise BlockError(f"A binding may be at most {MAX_EXPRESSION} characters long.")
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError:
        raise BlockError(f"{text!r} is not an expression; use numbers, block parameter names and + - * / // %.") \
            from None
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY or isinstance(node, ast.UnaryOp) and \
                isinstance(node.op, ast.USub | ast.UAdd):
            continue
        if isinstance(node, ast.Name | ast.Tuple | ast.Load | ast.operator | ast.unaryop):
            continue
        if isinstance(node, ast.Constant) and type(node.value) in (int, float, bool, str):
            continue
        raise BlockError(f"{text!r} uses something a binding cannot: only numbers, block parameter names, "
                         "+ - * / // % and parentheses.")
    return tree


def expression_names(text: str) -> set[str]:
    """The block parameter names a binding reads."""
    return {node.id for node in ast.walk(parse_expression(text)) if isinstance(node, ast.Name)}


def evaluate(text: str, values: dict[str, Any]) -> Any:
    """The value of a binding given block parameter values; BlockError names an unknown name or a bad sum."""
    tree = parse_expression(text)

    def value(node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in values:
                known = ", ".join(sorted(values)) or "none"
                raise BlockError(f"{node.id!r} is not a parameter of this block (it has: {known}).")
            return values[node.id]
        if isinstance(node, ast.Tuple):
            return tuple(value(e) for e in node.elts)
        if isinstance(node, ast.UnaryOp):
            operand = value(node.operand)
            return -operand if isinstance(node.op, ast.USub) else +operand
        assert isinstance(node, ast.BinOp)
        left, right = value(node.left), value(node.right)
        try:
            result = _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise BlockError(f"{text!r} divides by zero.") from None
        except TypeError:
            raise BlockError(f"{text!r} cannot combine {left!r} and {right!r}.") from None
        if isinstance(result, int) and not isinstance(result, bool) and result.bit_length() > 64:
            raise BlockError(f"{text!r} gives a number too large to use.")
        if isinstance(result, str | tuple) and len(result) > 10_000:
            raise BlockError(f"{text!r} gives a value too long to use.")
        return result

    return value(tree)


def substitute(text: str, replacements: dict[str, str]) -> str:
    """The binding with each name replaced by an expression (in parentheses): used when a block is inlined into a
    definition whose own parameters feed it."""
    tree = parse_expression(text)

    class Swap(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            if node.id in replacements:
                return ast.parse(f"({replacements[node.id]})", mode="eval").body
            return node

    return ast.unparse(Swap().visit(tree))


def resolve_params(node: Node, spec: LayerSpec, values: dict[str, Any]) -> dict[str, Any]:
    """The node's params with its bindings evaluated against block parameter ``values``, coerced by its spec.
    Raises ParamError naming the parameter when a bound value does not fit it."""
    if not node.bindings:
        return node.params
    merged = dict(node.params)
    for name, text in node.bindings.items():
        try:
            merged[name] = evaluate(text, values)
        except BlockError as error:
            raise ParamError(f"{name} = {text}: {error}") from None
    try:
        return spec.coerce_params(merged)
    except ParamError as error:
        bound = ", ".join(f"{k} = {v}" for k, v in node.bindings.items())
        raise ParamError(f"{error} (bound: {bound})") from None


# ---------------------------------------------------------------------------------------------------------------
# Recursion


def block_cycle(doc: Document, start: str, extra: tuple[str, str] | None = None) -> list[str] | None:
    """A path of block names from ``start`` back to itself (``[A, B, A]``), or None. ``extra`` adds one more use
    (container, used) to check an edit before making it."""
    def uses(name: str) -> set[str]:
        definition = doc.blocks.get(name)
        found = definition.used_blocks() if definition is not None else set()
        if extra is not None and extra[0] == name:
            found = found | {extra[1]}
        return found

    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, path = stack.pop()
        for used in sorted(uses(name)):
            if used == start:
                return [*path, start]
            if used not in seen:
                seen.add(used)
                stack.append((used, [*path, used]))
    return None


def check_no_recursion(doc: Document, container: str, used: str) -> None:
    """Refuse putting an instance of block ``used`` into the network ``container`` when that is (or would make)
    a block containing itself."""
    if container not in doc.blocks:
        return
    if container == used:
        raise BlockError(f"A block cannot contain itself: {used} inside {used}.")
    cycle = block_cycle(doc, container, (container, used))
    if cycle is not None:
        raise BlockError(f"A block cannot contain itself: {' › '.join(cycle)}.")


def revision(doc: Document, name: str, _seen: frozenset[str] = frozenset()) -> tuple[Any, ...]:
    """A value that changes whenever the definition (or one it uses) changes: cache keys of analysis and
    compile include it."""
    definition = doc.blocks.get(name)
    if definition is None or name in _seen:
        return (name, None)
    seen = _seen | {name}
    nested = tuple(revision(doc, used, seen) for used in sorted(definition.used_blocks()))
    return (name, id(definition), definition.network.change_position, definition.meta_version, nested)


# ---------------------------------------------------------------------------------------------------------------
# Renaming a port: the wires on every instance follow


@dataclass(frozen=True)
class PortWireMove:
    """The wires of one network that name a renamed port of a block, before and after the rename."""

    network: str
    old: tuple[Any, ...]  # Wire
    new: tuple[Any, ...]


def port_wire_moves(doc: Document, block: str, port_node: Node, new_name: str) -> list[PortWireMove]:
    """The wires into (an Input port) or out of (an Output port) every instance of ``block``, in every network
    and definition of ``doc``, that name ``port_node``'s port, renamed to ``new_name``. BlockError when an
    instance already has wires on a port named ``new_name`` (left from an earlier edit): the two would merge."""
    from netbuilder.document.model import Wire

    is_input = port_node.type == "Input"
    old_name = port_node.name
    moves = []
    for net in [*doc.networks.values(), *(d.network for d in doc.blocks.values())]:
        old: list[Wire] = []
        new: list[Wire] = []
        for node in net.nodes:
            if node.type != BLOCK_TYPE or node.block != block:
                continue
            wires = net.wires_into(node.id) if is_input else net.wires_out_of(node.id)
            on_old = [w for w in wires if (w.dst_port if is_input else w.src_port) == old_name]
            if on_old and any((w.dst_port if is_input else w.src_port) == new_name for w in wires):
                raise BlockError(f"{node.name} in {net.name} has wires on both {old_name!r} and {new_name!r}; "
                                 f"remove the wire on {new_name!r} first.")
            old += on_old
            new += [Wire(w.src, w.src_port, w.dst, new_name) if is_input else Wire(w.src, new_name, w.dst, w.dst_port)
                    for w in on_old]
        if old:
            moves.append(PortWireMove(net.name, tuple(old), tuple(new)))
    return moves


def swap_wires(net: Network, old: tuple[Any, ...], new: tuple[Any, ...]) -> None:
    """Replace each wire of ``old`` by the wire at the same index of ``new``, each keeping its place in the
    network's order (so the saved file only changes the port names)."""
    node_ids, wires = net._order()
    replacement = dict(zip(old, new, strict=True))
    for wire in old:
        net._delete_wire(wire)
    for wire in new:
        net._insert_wire(wire)
    net._restore_order((node_ids, [replacement.get(w, w) for w in wires]))


def is_usable_node_name(name: str, in_block: bool) -> bool:
    """Inside a definition a plain number is a usable node name too (torchvision's ``layer1.0``)."""
    return bool(in_block and DIGITS.match(name) and len(name) <= 6)
