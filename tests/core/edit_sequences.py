"""Random edit sequences over every document command, for the undo/redo property tests (core and Qt).

A sequence is driven by one seed, so a failure is reproduced by its seed alone, and it can run for thousands of
steps (a hypothesis example of thousands of draws would overrun its buffer). Each command class of
`netbuilder.document.commands` has a builder here; `command_classes()` finds the classes by walking the module, and
the tests assert that every one of them has a builder, so a new command cannot be left out.

Builders make valid edits most of the time and refused ones on purpose (bad names, wires that loop or join a
missing node, NaN values, objects in settings), because a refused edit must change nothing.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from typing import Any

from netbuilder.document import Document, Network, Wire, commands
from netbuilder.document.commands import (
    AddNetwork,
    AddNode,
    AddWire,
    Command,
    InsertNodes,
    Macro,
    MoveNodes,
    RemoveNetwork,
    RemoveNodes,
    RemoveWires,
    RenameNetwork,
    RenameNode,
    SetNodeOptions,
    SetParams,
    SetSetting,
)
from netbuilder.specs import ParamKind, all_specs

NAMES = ["a", "b", "hidden", "x_1", "1bad", "class", "", "forward", "dense1", "to", "linear1", "relu1"]
NETWORK_NAMES = ["model", "generator", "critic", "extra", "  ", "model copy", "encoder"]
SETTING_KEYS = ["training", "data", "notes", "results"]
UNSAVABLE = [float("nan"), float("inf"), object(), {1: "x"}, {"a": {"b": float("-inf")}}]


def command_classes() -> set[type[Command]]:
    """Every concrete command class the commands module defines (found by inspection, not listed by hand)."""
    return {cls for _, cls in inspect.getmembers(commands, inspect.isclass)
            if issubclass(cls, Command) and cls is not Command and cls.__module__ == commands.__name__}


def start_document() -> Document:
    """Two small networks and some settings, with an empty undo history."""
    doc = Document(("generator", "critic"))
    for net in doc:
        x = net.add("Input", name="x", shape=(16,))
        h = net.add("Linear", name="h", units=8)
        r = net.add("ReLU", name="r")
        y = net.add("Output", name="y")
        net.chain(x, h, r, y)
    doc.set_setting("training", {"epochs": 3, "optimizer": "adam", "gan": {"latent_size": 8}})
    doc.undo_stack.clear()
    return doc


def _param_value(rng: random.Random, kind: ParamKind, choices: tuple[Any, ...], default: Any) -> Any:
    if rng.random() < 0.15:
        return rng.choice([None, "x", float("nan"), float("inf"), [], {}, -1, 10**30, True])
    if kind is ParamKind.INT:
        return rng.choice([rng.randint(-3, 300), str(rng.randint(1, 64)), 2.0, 2.5])
    if kind is ParamKind.FLOAT:
        return rng.choice([rng.uniform(-1, 2), rng.random(), "0.5", "abc"])
    if kind is ParamKind.BOOL:
        return rng.choice([True, False, "true", "maybe"])
    if kind is ParamKind.CHOICE:
        return rng.choice([*choices, "bogus"])
    if kind in (ParamKind.INTS, ParamKind.SHAPE):
        return rng.choice([tuple(rng.randint(-1, 9) for _ in range(rng.randint(0, 4))), "3, 3", "T, 8", "a",
                           default])
    return rng.choice(["", "ab", "x y", "é", default])


def _json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return rng.choice([None, True, False, rng.randint(-5, 100), round(rng.uniform(-1, 1), 3), "digits", "",
                           "sgd", 1e-3])
    if roll < 0.75:
        return [_json_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice(["source", "epochs", "lr", "options", "beta", "x"]): _json_value(rng, depth + 1)
            for _ in range(rng.randint(0, 3))}


class EditGenerator:
    """Builds one random command (or refusal) at a time against the document as it is now."""

    def __init__(self, rng: random.Random, layer_types: list[str] | None = None):
        self.rng = rng
        self.layer_types = layer_types or sorted(spec.id for spec in all_specs())
        self.last: Command | None = None
        self.builders: dict[type[Command], Callable[[Document], Command]] = {
            AddNode: self.add_node, InsertNodes: self.insert_nodes, RemoveNodes: self.remove_nodes,
            AddWire: self.add_wire, RemoveWires: self.remove_wires, SetParams: self.set_params,
            SetNodeOptions: self.set_options, RenameNode: self.rename_node, MoveNodes: self.move_nodes,
            AddNetwork: self.add_network, RemoveNetwork: self.remove_network, RenameNetwork: self.rename_network,
            SetSetting: self.set_setting, Macro: self.macro,
        }

    # ---- choosing ---------------------------------------------------------------------------------------------
    def command(self, doc: Document) -> Command:
        """A random command; raises DocumentError/ParamError when its constructor refuses the values."""
        rng = self.rng
        if isinstance(self.last, SetParams | SetSetting) and rng.random() < 0.3:
            # the same field edited again: the stacks merge these into one undo step
            command = self.again(doc, self.last)
        else:
            kind = rng.choice(list(self.builders))
            command = self.builders[kind](doc)
        self.last = command
        return command

    def again(self, doc: Document, last: Command) -> Command:
        if isinstance(last, SetSetting):
            return SetSetting(last.key, _json_value(self.rng))
        assert isinstance(last, SetParams)
        if last.network in doc.networks and last.node_id in doc.networks[last.network]:
            node = doc.networks[last.network].node(last.node_id)
            param = next((p for p in node.spec.params if p.name in last.values), None)
            if param is not None:
                value = _param_value(self.rng, param.kind, param.choices, param.default)
                return SetParams(last.network, last.node_id, {param.name: value})
        return self.set_params(doc)

    def network(self, doc: Document) -> Network:
        if not doc.networks:
            return Network("nowhere")  # commands on it are refused: it is not in the document
        return doc.networks[self.rng.choice(list(doc.networks))]

    def node_ids(self, net: Network, count: int) -> list[str]:
        ids = net.node_ids()
        picked = [self.rng.choice(ids) for _ in range(count)] if ids else []
        if self.rng.random() < 0.05:
            picked.append("n9999")  # a node that does not exist
        return picked or ["n9999"]

    # ---- one builder per command class ------------------------------------------------------------------------
    def add_node(self, doc: Document) -> Command:
        rng = self.rng
        net = self.network(doc)
        type_id = rng.choice(self.layer_types)
        name = rng.choice([None, None, *NAMES])
        position = rng.choice([(rng.randint(-500, 500), rng.randint(-500, 500)), (float("nan"), 0)]
                              if rng.random() < 0.05 else [(rng.randint(-500, 500), rng.randint(-500, 500))])
        return AddNode(net.name, type_id, name=name, position=position)

    def insert_nodes(self, doc: Document) -> Command:
        net = self.network(doc)
        chosen = [i for i in dict.fromkeys(self.node_ids(net, self.rng.randint(0, 4))) if i in net]
        nodes = [net.node(i) for i in chosen]
        inner = [w for w in net.wires if w.src in chosen and w.dst in chosen]
        target = self.network(doc)  # paste into the same or another network
        return InsertNodes(target.name, nodes, inner, offset=(30, 30))

    def remove_nodes(self, doc: Document) -> Command:
        net = self.network(doc)
        return RemoveNodes(net.name, self.node_ids(net, self.rng.randint(1, 3)))

    def add_wire(self, doc: Document) -> Command:
        rng = self.rng
        net = self.network(doc)
        src, dst = self.node_ids(net, 2)[:2] if len(net) else ("n9999", "n9999")
        outs, ins = ["out"], ["in"]
        if src in net:
            node = net.node(src)
            outs = [p.name for p in node.spec.output_ports(node.params)] or ["out"]
        if dst in net:
            node = net.node(dst)
            ins = [p.name for p in node.spec.input_ports(node.params)] or ["in"]
        return AddWire(net.name, Wire(src, rng.choice(outs), dst, rng.choice(ins)))

    def remove_wires(self, doc: Document) -> Command:
        net = self.network(doc)
        wires = net.wires
        picked = [self.rng.choice(wires) for _ in range(self.rng.randint(1, 2))] if wires else []
        if not picked or self.rng.random() < 0.05:
            picked.append(Wire("n9999", "out", "n9998", "in"))
        return RemoveWires(net.name, picked)

    def set_params(self, doc: Document) -> Command:
        net = self.network(doc)
        node_id = self.node_ids(net, 1)[0]
        if node_id not in net:
            return SetParams(net.name, node_id, {"units": 3})
        node = net.node(node_id)
        if not node.spec.params:
            return SetParams(net.name, node_id, {"nothing": 1})  # refused: no such parameter
        param = self.rng.choice(node.spec.params)
        return SetParams(net.name, node_id, {param.name: _param_value(self.rng, param.kind, param.choices,
                                                                      param.default)})

    def set_options(self, doc: Document) -> Command:
        rng = self.rng
        net = self.network(doc)
        keys = rng.sample(["trainable", "lr_mult", "l1", "l2"], rng.randint(1, 2))
        options = {key: rng.choice([True, False]) if key == "trainable" else
                   rng.choice([round(rng.uniform(0, 5), 2), 0.0, 1.0]) for key in keys}
        if rng.random() < 0.1:
            options[keys[0]] = rng.choice(["x", float("nan"), -1.0, 1e9])
        return SetNodeOptions(net.name, self.node_ids(net, 1)[0], options)

    def rename_node(self, doc: Document) -> Command:
        net = self.network(doc)
        return RenameNode(net.name, self.node_ids(net, 1)[0], self.rng.choice(NAMES))

    def move_nodes(self, doc: Document) -> Command:
        rng = self.rng
        net = self.network(doc)
        positions: dict[str, Any] = {i: (rng.randint(-900, 900), rng.uniform(-50, 50))
                                     for i in self.node_ids(net, rng.randint(1, 3))}
        if rng.random() < 0.05:
            positions[next(iter(positions))] = rng.choice([(float("inf"), 0), ("a", 1), (1,)])
        return MoveNodes(net.name, positions)

    def add_network(self, doc: Document) -> Command:
        template = self.network(doc) if doc.networks and self.rng.random() < 0.6 else None
        return AddNetwork(self.rng.choice(NETWORK_NAMES), template)

    def remove_network(self, doc: Document) -> Command:
        names = [*doc.networks, "missing"]
        return RemoveNetwork(self.rng.choice(names))

    def rename_network(self, doc: Document) -> Command:
        names = [*doc.networks, "missing"]
        return RenameNetwork(self.rng.choice(names), self.rng.choice(NETWORK_NAMES))

    def set_setting(self, doc: Document) -> Command:
        rng = self.rng
        key = rng.choice(SETTING_KEYS)
        if rng.random() < 0.05:
            return SetSetting(key, rng.choice(UNSAVABLE))
        current = doc.settings.get(key)
        if isinstance(current, dict) and rng.random() < 0.5:  # what the panels do: change one entry
            return SetSetting(key, {**current, rng.choice(["epochs", "lr", "source", "seed"]): _json_value(rng)})
        return SetSetting(key, _json_value(rng))

    def macro(self, doc: Document) -> Command:
        kinds = [k for k in self.builders if k is not Macro]
        parts = [self.builders[self.rng.choice(kinds)](doc) for _ in range(self.rng.randint(1, 3))]
        return Macro("Several edits", parts)
