"""Problems grouped by root cause: a deleted wire is one error with the cut-off layers folded inside it; unwired
layers are one problem each."""

from __future__ import annotations

from netbuilder.analysis import analyze, group_by_cause
from netbuilder.document import Document


def chain_network():
    net = Document().network()
    ids = [net.add("Input", shape=(8,), position=(0, 0))]
    for i in range(6):
        position = (300.0 * (i + 1), 0.0)
        ids.append(net.add("Linear", units=8, position=position) if i % 2 == 0 else net.add("ReLU", position=position))
    last = net.add("Linear", units=4, position=(2100, 0))
    out = net.add("Output", position=(2400, 0))
    net.chain(*ids, last, out)
    return net, ids, last


def test_a_deleted_wire_is_one_error_with_the_cut_off_layers_inside():
    net, ids, last = chain_network()
    wire = net.wires_into(last)[0]
    net.disconnect(wire)
    analysis = analyze(net)
    assert len(analysis.diagnostics) == 1 + len(ids)  # the error, and one warning per cut-off layer
    groups = group_by_cause(net, analysis)
    assert len(groups) == 1
    group = groups[0]
    assert group.severity == "error" and group.root.node_id == last
    assert group.summary == f"{len(ids)} layers no longer reach an Output"
    assert {d.node_id for d in group.consequences} == set(ids)


def test_unwired_layers_are_one_problem_each():
    net, _, _ = chain_network()
    loose = [net.add("ReLU", position=(300 * i, 400)) for i in range(6)]
    groups = group_by_cause(net, analyze(net))
    assert len(groups) == 6
    assert [g.root.node_id for g in groups] == loose
    assert all(g.summary == "" and "not connected" in g.root.message for g in groups)
    assert all(d.node_id == g.root.node_id for g in groups for d in g.consequences)


def test_a_cut_off_branch_without_an_error_is_one_warning():
    net, ids, _ = chain_network()
    a = net.add("Linear", units=3, position=(300, 300))
    b = net.add("ReLU", position=(600, 300))
    net.chain(ids[0], a, b)
    groups = group_by_cause(net, analyze(net))
    assert len(groups) == 1
    assert groups[0].severity == "warning" and groups[0].root.node_id == b
    assert groups[0].summary == "2 layers do not reach an Output"
    assert [d.node_id for d in groups[0].consequences] == [a]


def test_a_valid_network_has_no_groups():
    net, _, _ = chain_network()
    assert group_by_cause(net, analyze(net)) == []
