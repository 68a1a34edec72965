"""One-click fixes for shape problems: every kind clears the problem as one command, undo restores the document
exactly, and a fix that would break another layer is never offered."""

from __future__ import annotations

import pytest

from netbuilder.analysis import analyze
from netbuilder.analysis.fixes import candidate_shapes, fixes_for_node, fixes_for_wire
from netbuilder.document import Document, Network, Wire


def snapshot(doc: Document) -> tuple:
    """Everything an edit could change, in order."""
    return tuple((name, tuple((n.id, n.type, n.name, tuple(sorted(n.params.items())), n.position)
                              for n in net.nodes), tuple(net.wires)) for name, net in doc.networks.items())


def problems_of(net: Network, node_id: str) -> list[str]:
    return [d.message for d in analyze(net).diagnostics if d.node_id == node_id
            and not d.message.startswith("Not connected to any Output")]


def build(*types: str, shape: tuple[int, ...] = (64,), wired: bool = True) -> tuple[Document, Network, list[str]]:
    """Input(shape) then ``types`` in a chain (the last wire left out unless ``wired``), then an Output."""
    doc = Document()
    net = doc.network()
    ids = [net.add("Input", shape=shape)]
    for type_id in types:
        ids.append(net.add(type_id))
    ids.append(net.add("Output"))
    for a, b in zip(ids, ids[1:], strict=False):
        if wired or b != ids[-2]:
            net.connect(a, b)
    doc.undo_stack.clear()
    return doc, net, ids


def check_fix(doc: Document, net: Network, fix, node_id: str, wire: Wire | None = None) -> None:  # noqa: ANN001
    before = snapshot(doc)
    steps = doc.undo_stack.count()
    doc.execute(fix.command())
    assert doc.undo_stack.count() == steps + 1  # one undoable step
    assert problems_of(net, node_id) == [], problems_of(net, node_id)
    assert not analyze(net).errors
    if wire is not None:
        assert any(w.dst == wire.dst and w.dst_port == wire.dst_port for w in net.wires)
    after = snapshot(doc)
    doc.undo_stack.undo()
    assert snapshot(doc) == before  # exactly as it was
    doc.undo_stack.redo()
    assert snapshot(doc) == after


def test_a_convolution_after_flat_input_gets_the_input_set_to_an_image():
    doc, net, ids = build("Conv2d", "Flatten")
    conv = ids[1]
    assert any("(rank " in m for m in problems_of(net, conv))
    fixes = fixes_for_node(net, conv)
    assert fixes[0].title == "Set the Input shape to 1×8×8"
    check_fix(doc, net, fixes[0], conv)  # leaves the fix made (redone)
    assert net.node(ids[0]).params["shape"] == (1, 8, 8)


def test_the_input_is_reached_through_layers_that_keep_its_shape():
    doc, net, ids = build("ReLU", "Dropout", "Conv2d", "Flatten", shape=(48,))
    fixes = fixes_for_node(net, ids[3])
    assert fixes[0].title == "Set the Input shape to 3×4×4"
    check_fix(doc, net, fixes[0], ids[3])


def test_a_recurrent_layer_after_flat_input_gets_a_sequence():
    doc, net, ids = build("LSTM", "SelectStep", shape=(64,))
    fixes = fixes_for_node(net, ids[1])
    assert fixes and fixes[0].title == "Set the Input shape to 8×8"
    check_fix(doc, net, fixes[0], ids[1])


def test_a_layer_that_takes_features_after_a_convolution_gets_a_flatten():
    doc, net, ids = build("Conv2d", "BatchNorm1d", shape=(1, 8, 8))
    norm = ids[2]
    fixes = fixes_for_node(net, norm)
    assert fixes[0].title == "Insert Flatten"
    check_fix(doc, net, fixes[0], norm)  # leaves the fix made (redone)
    flatten = next(n for n in net.nodes if n.type == "Flatten")
    assert [w.src for w in net.wires_into(norm)] == [flatten.id]


def test_features_from_a_layer_are_reshaped_into_an_image():
    doc, net, ids = build("Linear", "Conv2d", "Flatten")
    conv = ids[2]
    fixes = fixes_for_node(net, conv)
    assert fixes[0].title == "Insert Reshape to 1×8×8"
    check_fix(doc, net, fixes[0], conv)


def test_an_input_change_that_would_break_another_branch_is_not_offered():
    doc, net, ids = build("Conv2d", "Flatten")
    norm = net.add("BatchNorm1d")  # also fed by the Input: it takes N×64, not an image
    net.connect(ids[0], norm)
    doc.undo_stack.clear()
    titles = [f.title for f in fixes_for_node(net, ids[1])]
    assert titles and not any(t.startswith("Set the Input") for t in titles)
    assert titles[0] == "Insert Reshape to 1×8×8"
    check_fix(doc, net, fixes_for_node(net, ids[1])[0], ids[1])


@pytest.mark.parametrize("types,shape,title", [
    (("Conv2d",), (64,), "Set the Input shape to 1×8×8 and connect"),
    (("Linear", "Conv2d"), (16,), "Insert Reshape to 1×8×8 and connect"),
    (("Conv2d", "BatchNorm1d"), (1, 8, 8), "Insert Flatten and connect"),
])
def test_a_refused_wire_comes_with_a_fix_that_makes_it(types, shape, title):
    doc, net, ids = build(*types, shape=shape, wired=False)
    wire = Wire(ids[-3], "out", ids[-2], "in")
    from netbuilder.wiring import connection_problem

    assert connection_problem(net, wire) is not None  # the canvas refuses it
    fixes = fixes_for_wire(net, wire)
    assert fixes and fixes[0].title == title
    check_fix(doc, net, fixes[0], ids[-2], wire)


def test_no_fix_when_nothing_works_or_nothing_is_wrong():
    doc, net, ids = build("Conv2d", "Flatten", shape=(7,))  # 7 values make no image
    assert fixes_for_node(net, ids[1]) == []
    doc, net, ids = build("Linear")
    assert fixes_for_node(net, ids[1]) == []  # a valid layer
    assert fixes_for_wire(net, Wire(ids[0], "out", ids[1], "in")) == []  # its input is taken


def test_candidate_shapes_keep_the_number_of_values():
    for count in (7, 12, 27, 48, 64, 100, 192):
        shapes = candidate_shapes((count,))
        assert shapes and all(len(s) > 0 and __import__("math").prod(s) == count for s in shapes)
        assert (count,) not in shapes
    assert candidate_shapes((64,))[0] == (1, 8, 8)
