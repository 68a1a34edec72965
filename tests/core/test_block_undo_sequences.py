"""Undo/redo is exact for every block command mixed with ordinary edits inside and outside definitions.

Each example is a seeded sequence of block commands (every class of `netbuilder.document.block_commands`) and
ordinary commands on networks *and* block definitions, with undos and redos. After every step the document saves; a
refused edit leaves the saved text unchanged; every few dozen steps the text loads back to the same text and every
network analyses without crashing. At the end, undoing everything gives back the starting file byte for byte and
redoing everything the final one.
"""

from __future__ import annotations

import inspect
import json
import random

from block_docs import residual_document
from edit_sequences import EditGenerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from netbuilder.analysis import analyze
from netbuilder.document import Document, DocumentError, Network, Wire, block_commands
from netbuilder.document.block_commands import (
    AddBlockNode,
    BindParam,
    DefineBlock,
    GroupIntoBlock,
    MakeUnique,
    RemoveBlock,
    RenameBlock,
    RepeatBlock,
    SetBlockParams,
    SetExpanded,
    Ungroup,
)
from netbuilder.document.blocks import BLOCK_TYPE, BlockRecord
from netbuilder.document.commands import AddWire, Command, Macro, RenameNode
from netbuilder.io import document_from_dict, dumps_document
from netbuilder.specs import Param, ParamError, ParamKind

EXAMPLES, STEPS, RELOAD_EVERY = 2, 450, 40
PORT_RATE = 0.05  # how often a step renames a port of a definition (its instances' wires must follow)
BLOCK_NAMES = ["Stage", "BasicBlock", "Mlp", "model", "2bad", "", "BasicBlockX2", "Block"]
EXPRESSIONS = ["filters", "filters * 2", "filters + 1", "filters // 2", "width", "1 / 0", "filters - 99", None]
LAYERS = ["Linear", "ReLU", "Add", "Input", "Output", "Conv2d", "BatchNorm2d", "Dropout"]


def block_command_classes() -> set[type[Command]]:
    return {cls for _, cls in inspect.getmembers(block_commands, inspect.isclass)
            if issubclass(cls, Command) and cls is not Command and cls.__module__ == block_commands.__name__}


class BlockEditGenerator(EditGenerator):
    """The ordinary edits on networks and definitions alike, plus one builder per block command."""

    def __init__(self, rng: random.Random, port_rng: random.Random | None = None, port_rate: float = 0.0):
        super().__init__(rng, LAYERS)
        # Port renames are drawn from their own stream, so adding them leaves the other draws as they were.
        self.port_rng = port_rng or random.Random(0)
        self.port_rate = port_rate
        self.block_builders = {
            DefineBlock: self.define_block, RemoveBlock: self.remove_block, RenameBlock: self.rename_block,
            AddBlockNode: self.add_block_node, SetBlockParams: self.set_block_params, BindParam: self.bind_param,
            GroupIntoBlock: self.group, Ungroup: self.ungroup, MakeUnique: self.make_unique,
            RepeatBlock: self.repeat, SetExpanded: self.set_expanded,
        }

    def command(self, doc: Document) -> Command:
        if self.port_rng.random() < self.port_rate:
            self.last = self.rename_port(doc)
            return self.last
        if self.rng.random() < 0.45:
            kind = self.rng.choice(list(self.block_builders))
            self.last = self.block_builders[kind](doc)
            return self.last
        return super().command(doc)

    def network(self, doc: Document) -> Network:
        names = [*doc.networks, *doc.blocks]
        return doc.network(self.rng.choice(names)) if names else Network("nowhere")

    def block_name(self, doc: Document) -> str:
        if not doc.blocks or self.rng.random() < 0.1:
            return "Missing"
        return self.rng.choice(list(doc.blocks))

    def block_node(self, doc: Document) -> tuple[str, str]:
        net = self.network(doc)
        found = [n.id for n in net.nodes if n.type == BLOCK_TYPE]
        if not found and self.rng.random() < 0.7:  # look for a network that has one
            for net in [*doc.networks.values(), *(d.network for d in doc.blocks.values())]:
                found = [n.id for n in net.nodes if n.type == BLOCK_TYPE]
                if found:
                    break
        return net.name, (self.rng.choice(found) if found and self.rng.random() < 0.9 else "n1")

    def rename_port(self, doc: Document) -> Command:
        """Rename an Input or Output node of a definition whose instances have wires on it (they must follow),
        sometimes to a name another node of the definition has (refused). When no instance has wires (ungroup and
        delete take them away), place and wire one instead, so that the next renames have wires to move."""
        rng = self.port_rng
        nets = [*doc.networks.values(), *(d.network for d in doc.blocks.values())]
        wired = sorted({node.block for net in nets for node in net.nodes if node.type == BLOCK_TYPE and
                        node.block in doc.blocks and (net.wires_into(node.id) or net.wires_out_of(node.id))})
        if not wired:
            return self.wired_instance(doc)
        net = doc.blocks[rng.choice(wired)].network
        ports = [n for n in net.nodes if n.type in ("Input", "Output")] or net.nodes
        if not ports:
            return RenameNode(net.name, "n1", "x")
        port = rng.choice(ports)
        others = [n.name for n in net.nodes if n.id != port.id]
        new = rng.choice(others) if others and rng.random() < 0.1 else \
            rng.choice(["x", "y", "features", "skip", "out2", "x1", port.name])
        return RenameNode(net.name, port.id, new)

    def wired_instance(self, doc: Document) -> Command:
        """One undo step: an instance of a block with an input port, in a network, fed by that network's first
        node."""
        rng = self.port_rng
        blocks = [name for name, d in doc.blocks.items() if d.input_ports()]
        networks = [net for net in doc.networks.values() if any(n.type == "Input" for n in net.nodes)]
        if not blocks or not networks:
            return RenameNode("model", "n9999", "x")  # refused: nothing to rename
        block, net = rng.choice(blocks), rng.choice(networks)
        source = next(n for n in net.nodes if n.type == "Input")
        node_id = next(f"p{i}" for i in range(1, 10**6) if f"p{i}" not in net)
        port = doc.blocks[block].input_ports()[0]
        return Macro(f"Add a wired {block}", [AddBlockNode(net.name, block, node_id=node_id),
                                                 AddWire(net.name, Wire(source.id, "out", node_id, port))])

    def define_block(self, doc: Document) -> Command:
        name = self.rng.choice(BLOCK_NAMES)
        if doc.blocks and self.rng.random() < 0.6:
            record = doc.blocks[self.rng.choice(list(doc.blocks))].record()
            return DefineBlock(BlockRecord(name, record.nodes, record.wires, record.params))
        return DefineBlock(BlockRecord(name, (), ()))

    def remove_block(self, doc: Document) -> Command:
        return RemoveBlock(self.block_name(doc))

    def rename_block(self, doc: Document) -> Command:
        return RenameBlock(self.block_name(doc), self.rng.choice(BLOCK_NAMES))

    def add_block_node(self, doc: Document) -> Command:
        values = self.rng.choice([{}, {"filters": self.rng.randint(1, 12)}, {"filters": -1}, {"nope": 1}])
        network = self.network(doc).name if self.rng.random() < 0.4 else self.rng.choice(list(doc.networks))
        return AddBlockNode(network, self.block_name(doc), values,
                            name=self.rng.choice([None, None, "layer9", "0", "class"]))

    def set_block_params(self, doc: Document) -> Command:
        rng = self.rng
        params = rng.choice([
            [Param("filters", ParamKind.INT, rng.randint(1, 12), minimum=1)],
            [Param("filters", ParamKind.INT, 8, minimum=1), Param("width", ParamKind.INT, 4, minimum=1)],
            [Param("filters", ParamKind.FLOAT, 2.5)],
        ]) if rng.random() < 0.9 else []
        return SetBlockParams(self.block_name(doc), params)

    def bind_param(self, doc: Document) -> Command:
        name = self.block_name(doc)
        if name not in doc.blocks:
            return BindParam(name, "n1", "units", "filters")
        net = doc.blocks[name].network
        layers = [n for n in net.nodes if n.type not in ("Input", "Output") and n.spec.params]
        node_id = self.rng.choice(layers).id if layers and self.rng.random() < 0.8 else self.node_ids(net, 1)[0]
        param = "units"
        if node_id in net and net.node(node_id).spec.params:
            params = net.node(node_id).spec.params
            whole = [p for p in params if p.kind is ParamKind.INT]
            param = self.rng.choice(whole if whole and self.rng.random() < 0.8 else params).name
        return BindParam(name, node_id, param, self.rng.choice(EXPRESSIONS))

    def group(self, doc: Document) -> Command:
        net = self.network(doc)
        layers = [n.id for n in net.nodes if n.type not in ("Input", "Output")]
        if layers and self.rng.random() < 0.8:
            chosen = list(dict.fromkeys(self.rng.choice(layers) for _ in range(self.rng.randint(1, 3))))
        else:
            chosen = list(dict.fromkeys(self.node_ids(net, self.rng.randint(1, 3))))
        name = self.rng.choice([*BLOCK_NAMES, "Group", "Stem", "Head"])
        return GroupIntoBlock(net.name, chosen, name,
                              node_name=self.rng.choice([None, None, "grouped", "0"]))

    def ungroup(self, doc: Document) -> Command:
        return Ungroup(*self.block_node(doc))

    def make_unique(self, doc: Document) -> Command:
        return MakeUnique(*self.block_node(doc))

    def set_expanded(self, doc: Document) -> Command:
        network, node_id = self.block_node(doc)
        return SetExpanded(network, [node_id], self.rng.random() < 0.6)

    def repeat(self, doc: Document) -> Command:
        network, node_id = self.block_node(doc)
        return RepeatBlock(network, node_id, self.rng.choice([2, 3]))


PORT_RENAME = "RenameNode of a port with outer wires"


def port_ends(doc: Document, command: Command) -> dict[tuple[str, str], int] | None:
    """Before renaming a port of a definition: how many wire ends each instance has on the old name and the new
    one (wires left on a name no port has, from earlier edits), by (network, node)."""
    if not isinstance(command, RenameNode) or command.network not in doc.blocks or \
            command.node_id not in doc.network(command.network):
        return None
    port = doc.network(command.network).node(command.node_id)
    if port.type not in ("Input", "Output"):
        return None
    is_input = port.type == "Input"
    old = instance_port_ends(doc, command.network, is_input, port.name)
    new = instance_port_ends(doc, command.network, is_input, command.new_name.strip())
    return {key: old[key] + new[key] for key in old} if port.name != command.new_name.strip() else old


def instance_port_ends(doc: Document, block: str, is_input: bool, port: str) -> dict[tuple[str, str], int]:
    counts = {}
    for net in [*doc.networks.values(), *(d.network for d in doc.blocks.values())]:
        for node in net.nodes:
            if node.type == BLOCK_TYPE and node.block == block:
                wires = net.wires_into(node.id) if is_input else net.wires_out_of(node.id)
                counts[(net.name, node.id)] = sum((w.dst_port if is_input else w.src_port) == port for w in wires)
    return counts


def check_ports_followed(doc: Document, command: Command, before: dict[tuple[str, str], int]) -> None:
    """After a port rename: every instance has on the new name the wires it had on the old one (and any left on the
    new name before), none on the old."""
    assert isinstance(command, RenameNode)
    if command.old_name == command.new_name:
        return
    is_input = doc.network(command.network).node(command.node_id).type == "Input"
    assert instance_port_ends(doc, command.network, is_input, command.new_name) == before
    assert not any(instance_port_ends(doc, command.network, is_input, command.old_name).values())


def reloads_equal(text: str) -> None:
    again = document_from_dict(json.loads(text), "reload")
    assert dumps_document(again) == text


def run_sequence(seed: int, steps: int, port_rate: float = PORT_RATE) -> dict[str, int]:
    doc = residual_document(instances=2)
    rng = random.Random(seed)
    generator = BlockEditGenerator(rng, random.Random(seed ^ 0x5EED), port_rate)
    start = text = dumps_document(doc)
    applied: dict[str, int] = {}
    for step in range(steps):
        roll = rng.random()
        if roll < 0.08:
            doc.undo_stack.undo()
        elif roll < 0.12:
            doc.undo_stack.redo()
        else:
            try:
                command = generator.command(doc)
                ports_before = port_ends(doc, command)
                doc.execute(command)
                applied[type(command).__name__] = applied.get(type(command).__name__, 0) + 1
                if ports_before is not None:
                    check_ports_followed(doc, command, ports_before)
                    if any(ports_before.values()):
                        applied[PORT_RENAME] = applied.get(PORT_RENAME, 0) + 1
            except (DocumentError, ParamError):
                assert dumps_document(doc) == text, f"seed {seed}, step {step}: a refused edit changed the document"
                continue
        text = dumps_document(doc)
        if step % RELOAD_EVERY == 0:
            reloads_equal(text)
            for net in [*doc.networks.values(), *(d.network for d in doc.blocks.values())]:
                analyze(net)  # never raises, whatever the edits made
    while doc.undo_stack.can_redo():
        doc.undo_stack.redo()
    final = dumps_document(doc)
    reloads_equal(final)
    while doc.undo_stack.can_undo():
        doc.undo_stack.undo()
    assert dumps_document(doc) == start, f"seed {seed}: undoing everything did not give back the start"
    while doc.undo_stack.can_redo():
        doc.undo_stack.redo()
    assert dumps_document(doc) == final, f"seed {seed}: redoing everything did not give back the final document"
    return applied


def test_the_generator_covers_every_block_command_class() -> None:
    generator = BlockEditGenerator(random.Random(0))
    assert set(generator.block_builders) == block_command_classes()
    assert len(block_command_classes()) == 11


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_block_edits_undo_and_redo_exactly(seed: int) -> None:
    applied = run_sequence(seed, STEPS)
    assert {cls.__name__ for cls in block_command_classes()} <= set(applied), applied
    assert applied.get(PORT_RENAME, 0) >= 3, applied  # renamed ports moved wires on instances, undone and redone
