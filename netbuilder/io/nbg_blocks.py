"""Block definitions in `.nbg` files (format version 3): the ``"blocks"`` list, read and built in stages like
networks, and block library files (a `.nbg` document whose blocks are the library's).

A file's block list::

    "blocks": [{"name": "BasicBlock", "doc": "...", "params": [{"name": "filters", "kind": "int",
                "default": 64, "minimum": 1}], "nodes": [...], "wires": [...]}]

Nodes and wires are written exactly as a network's; a block node adds ``"block": "BasicBlock"`` and a node inside a
block may add ``"bindings": {"filters": "filters"}``. Definitions are built in the order their uses need
(a block used inside another is built first); a block containing itself is reported, never followed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netbuilder.document.blocks import (
    BLOCK_NAME,
    BLOCK_TYPE,
    BlockDefinition,
    BlockError,
    param_from_dict,
    param_to_dict,
)
from netbuilder.document.model import Document, Network
from netbuilder.specs import Param


@dataclass
class BlockFileRecord:
    """Stage 3 of a block definition: plain values and its network's records."""

    name: str
    where: str
    network: Any  # nbg._NetworkRecord
    params: tuple[Param, ...] = ()
    doc: str = ""
    uses: set[str] = field(default_factory=set)


def blocks_to_list(doc: Document, network_to_dict: Callable[[Network], dict[str, Any]]) -> list[dict[str, Any]]:
    result = []
    for definition in doc.blocks.values():
        entry = network_to_dict(definition.network)
        item: dict[str, Any] = {"name": definition.name}
        if definition.doc:
            item["doc"] = definition.doc
        item["params"] = [param_to_dict(p) for p in definition.params]
        item["nodes"], item["wires"] = entry["nodes"], entry["wires"]
        result.append(item)
    return result


def read_blocks(raw: Any, problems: Any, read_network: Callable[..., Any], network_names: set[str]) \
        -> list[BlockFileRecord]:
    """Stage 3 for the ``"blocks"`` list; ``problems`` collects what is wrong, with its place."""
    if not isinstance(raw, list):
        problems.add("field 'blocks'", "must be a list of block definitions.")
        return []
    records: list[BlockFileRecord] = []
    names: set[str] = set()
    for index, item in enumerate(raw):
        where = f"block #{index + 1}"
        if not isinstance(item, dict):
            problems.add(where, "must be an object with a name, params, nodes and wires.")
            continue
        name = item.get("name")
        if isinstance(name, str):
            where = f"block {name!r}"
        if not isinstance(name, str) or not BLOCK_NAME.match(name):
            problems.add(where, "A block needs a name of letters, digits and _, starting with a letter.")
            continue
        if name in names:
            problems.add(where, "Another block already has this name.")
            continue
        net = read_network(index, {"name": name, "nodes": item.get("nodes"), "wires": item.get("wires", [])},
                           problems)
        if net is None:
            continue
        net.where = where
        for node in net.nodes:
            node.net_where = where
        params: list[Param] = []
        raw_params = item.get("params", [])
        if not isinstance(raw_params, list):
            problems.add(f"{where}, field 'params'", "must be a list of parameters.")
            raw_params = []
        for p_index, raw_param in enumerate(raw_params):
            try:
                params.append(param_from_dict(raw_param))
            except BlockError as error:
                problems.add(f"{where}, param #{p_index + 1}", str(error))
        if len({p.name for p in params}) != len(params):
            problems.add(f"{where}, field 'params'", "Two parameters have the same name.")
        doc_text = item.get("doc", "")
        if not isinstance(doc_text, str):
            problems.add(f"{where}, field 'doc'", "must be text.")
            doc_text = ""
        names.add(name)
        uses = {node.block for node in net.nodes if node.type == BLOCK_TYPE}
        records.append(BlockFileRecord(name, where, net, tuple(params), doc_text, uses))
    return records


def _build_order(records: list[BlockFileRecord], problems: Any) -> list[BlockFileRecord]:
    """Definitions ordered so each comes after the ones it uses; a block containing itself is reported."""
    by_name = {r.name: r for r in records}
    order: list[BlockFileRecord] = []
    state: dict[str, int] = {}  # 1: being visited, 2: done

    def visit(record: BlockFileRecord, path: list[str]) -> None:
        stack = [(record, iter(sorted(record.uses)), [*path, record.name])]
        state[record.name] = 1
        while stack:
            current, uses, trail = stack[-1]
            used = next(uses, None)
            if used is None:
                stack.pop()
                state[current.name] = 2
                order.append(current)
                continue
            if used not in by_name:
                continue  # reported when the node is built
            if state.get(used) == 1:
                problems.add(current.where, "A block cannot contain itself: " + " › ".join([*trail[trail.index(
                    used):], used]) + ".")
                current.network.nodes = [n for n in current.network.nodes
                                         if not (n.type == BLOCK_TYPE and n.block == used)]
                continue
            if state.get(used) is None:
                state[used] = 1
                stack.append((by_name[used], iter(sorted(by_name[used].uses)), [*trail, used]))

    for record in records:
        if record.name not in state:
            visit(record, [])
    return order


def build_blocks(doc: Document, records: list[BlockFileRecord], problems: Any,
                 build_network: Callable[[Network, Any, Any], None]) -> None:
    """Stage 5 for block definitions: build each one's network (used blocks first), then put the definitions in
    the document in file order."""
    built: dict[str, BlockDefinition] = {}
    for record in _build_order(records, problems):
        if record.name in doc.networks:
            problems.add(record.where, "A network already has this name.")
            continue
        net = Network(record.name)
        net.is_block = True
        net._block_table = doc.blocks
        definition = BlockDefinition(record.name, net, record.params, record.doc)
        doc.blocks[record.name] = definition  # visible to the blocks built after it
        build_network(net, record.network, problems)
        built[record.name] = definition
    doc.blocks.clear()
    for record in records:
        if record.name in built:
            built[record.name].network.document = doc
            doc.blocks[record.name] = built[record.name]
