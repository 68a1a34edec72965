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
from netbuilder.document import Document, DocumentError, Network, block_commands
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
    Ungroup,
)
from netbuilder.document.blocks import BLOCK_TYPE, BlockRecord
from netbuilder.document.commands import Command
from netbuilder.io import document_from_dict, dumps_document
from netbuilder.specs import Param, ParamError, ParamKind

EXAMPLES, STEPS, RELOAD_EVERY = 2, 450, 40
BLOCK_NAMES = ["Stage", "BasicBlock", "Mlp", "model", "2bad", "", "BasicBlockX2", "Block"]
EXPRESSIONS = ["filters", "filters * 2", "filters + 1", "filters // 2", "width", "1 / 0", "filters - 99", None]
LAYERS = ["Linear", "ReLU", "Add", "Input", "Output", "Conv2d", "BatchNorm2d", "Dropout"]


def block_command_classes() -> set[type[Command]]:
    return {cls for _, cls in inspect.getmembers(block_commands, inspect.isclass)
            if issubclass(cls, Command) and cls is not Command and cls.__module__ == block_commands.__name__}


class BlockEditGenerator(EditGenerator):
    """The ordinary edits on networks and definitions alike, plus one builder per block command."""

    def __init__(self, rng: random.Random):
        super().__init__(rng, LAYERS)
        self.block_builders = {
            DefineBlock: self.define_block, RemoveBlock: self.remove_block, RenameBlock: self.rename_block,
            AddBlockNode: self.add_block_node, SetBlockParams: self.set_block_params, BindParam: self.bind_param,
            GroupIntoBlock: self.group, Ungroup: self.ungroup, MakeUnique: self.make_unique,
            RepeatBlock: self.repeat,
        }

    def command(self, doc: Document) -> Command:
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

    def repeat(self, doc: Document) -> Command:
        network, node_id = self.block_node(doc)
        return RepeatBlock(network, node_id, self.rng.choice([2, 3]))


def reloads_equal(text: str) -> None:
    again = document_from_dict(json.loads(text), "reload")
    assert dumps_document(again) == text


def run_sequence(seed: int, steps: int) -> dict[str, int]:
    doc = residual_document(instances=2)
    rng = random.Random(seed)
    generator = BlockEditGenerator(rng)
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
                doc.execute(command)
                applied[type(command).__name__] = applied.get(type(command).__name__, 0) + 1
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
    assert len(block_command_classes()) == 10


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_random_block_edits_undo_and_redo_exactly(seed: int) -> None:
    applied = run_sequence(seed, STEPS)
    assert {cls.__name__ for cls in block_command_classes()} <= set(applied), applied
