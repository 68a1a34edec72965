"""The analyzer re-works only what an edit reaches, and its results equal a fresh analysis after any edits.

Random sequences over every command (the generator of the undo tests), with undos and redos in between; after
each step the long-lived analyzer of each network is compared with a new `Analyzer` on the same network: the same
per-node results, diagnostics in the same order, the same nodes in the model, totals and dependency order.
"""

from __future__ import annotations

import random

import pytest
from edit_sequences import EditGenerator, start_document
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from netbuilder.analysis import Analysis, Analyzer, analyze
from netbuilder.document import Document, DocumentError, Wire
from netbuilder.specs import ParamError

# Layer types that connect to each other in many ways, so that random wires make long valid chains.
LAYERS = ["Input", "Output", "Linear", "ReLU", "Dropout", "Add", "Concat", "Flatten", "Softmax", "Sigmoid",
          "Identity", "LayerNorm", "Split", "Reshape"]


def same(incremental: Analysis, fresh: Analysis) -> None:
    assert incremental.nodes == fresh.nodes
    assert incremental.diagnostics == fresh.diagnostics
    assert incremental.used == fresh.used
    assert (incremental.total_params, incremental.total_macs) == (fresh.total_params, fresh.total_macs)
    assert incremental.order == fresh.order


def run(seed: int, steps: int) -> int:
    doc = start_document()
    rng = random.Random(seed)
    generator = EditGenerator(rng, LAYERS)
    analyzers: dict[int, Analyzer] = {}
    compared = 0
    for _ in range(steps):
        roll = rng.random()
        if roll < 0.1:
            doc.undo_stack.undo()
        elif roll < 0.15:
            doc.undo_stack.redo()
        else:
            try:
                doc.execute(generator.command(doc))
            except (DocumentError, ParamError):
                continue
        for net in doc:
            analyzer = analyzers.setdefault(id(net), Analyzer(net))
            if analyzer.network is not net:
                analyzer = analyzers[id(net)] = Analyzer(net)
            same(analyzer.analyze(), Analyzer(net).analyze())
            compared += 1
    return compared


@settings(max_examples=4, deadline=None, derandomize=True, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1))
def test_incremental_analysis_equals_a_fresh_one_after_random_edits(seed: int) -> None:
    assert run(seed, 300) > 100  # analyses compared (steps times networks, refused edits left out)


def chain(count: int) -> tuple[Document, list[str]]:
    doc = Document()
    net = doc.network()
    ids = [net.add("Input", shape=(8,))] + [net.add("ReLU") for _ in range(count - 2)] + [net.add("Output")]
    net.chain(*ids)
    return doc, ids


def test_a_wire_edit_reworks_only_the_nodes_it_reaches(monkeypatch: pytest.MonkeyPatch) -> None:
    doc, ids = chain(400)
    net = doc.network()
    probe = net.add("Linear", units=4)
    analyzer = Analyzer(net)
    analyzer.analyze()
    worked: list[str] = []
    original = Analyzer._analyze_node

    def counting(self, node, wires, infos):  # type: ignore[no-untyped-def]
        worked.append(node.id)
        return original(self, node, wires, infos)

    monkeypatch.setattr(Analyzer, "_analyze_node", counting)
    wire = net.connect(ids[200], probe)
    result = analyzer.analyze()
    assert worked == [probe]
    assert result.nodes[probe].output is not None and not result.in_model(probe)  # it feeds no Output
    assert [d.node_id for d in result.warnings] == [probe]
    worked.clear()
    net.disconnect(wire)
    analyzer.analyze()
    assert worked == [probe]


def test_a_change_that_keeps_the_output_type_stops_there(monkeypatch: pytest.MonkeyPatch) -> None:
    doc, ids = chain(300)
    net = doc.network()
    analyzer = Analyzer(net)
    analyzer.analyze()
    worked: list[str] = []
    original = Analyzer._analyze_node
    monkeypatch.setattr(Analyzer, "_analyze_node",
                        lambda self, node, wires, infos: worked.append(node.id) or original(self, node, wires,
                                                                                          infos))
    net.rename(ids[5], "renamed")
    analyzer.analyze()
    assert worked == [ids[5]]


def test_cutting_a_chain_blocks_what_follows_and_rejoining_restores_it() -> None:
    doc, ids = chain(200)
    net = doc.network()
    before = analyze(net)
    [wire] = net.wires_into(ids[100])
    net.disconnect(wire)
    cut = analyze(net)
    same(cut, Analyzer(net).analyze())
    assert cut.nodes[ids[150]].blocked and not cut.in_model(ids[50])
    net.connect(wire.src, wire.dst)
    again = analyze(net)
    same(again, Analyzer(net).analyze())
    assert again.nodes == before.nodes and again.ok


def test_a_loop_made_by_primitive_edits_is_reported_and_undone_cleanly() -> None:
    doc, ids = chain(6)
    net = doc.network()
    analyze(net)
    loop = Wire(ids[3], "out", ids[2], "in")
    [old] = net.wires_into(ids[2])
    net._delete_wire(old)
    net._insert_wire(loop)  # a damaged file can hold loops; the editor never makes one
    result = analyze(net)
    assert any("loop" in d.message for d in result.errors)
    net._delete_wire(loop)
    net._insert_wire(old)
    same(analyze(net), Analyzer(net).analyze())
