"""Document model and commands: every edit is undoable, impossible edits change nothing."""

import pytest

from netbuilder.compile import compile_network
from netbuilder.document import Document, DocumentError, InsertNodes, Macro, RemoveNodes, SetParams, Wire
from netbuilder.document import events as ev
from netbuilder.specs import ParamError, UnknownLayerError


def snapshot(doc: Document) -> dict:
    return {
        name: (
            sorted((n.id, n.type, n.name, tuple(sorted(n.params.items())), n.position, n.trainable, n.lr_mult, n.l1,
                    n.l2) for n in net.nodes),
            sorted(w.key for w in net.wires),
        )
        for name, net in doc.networks.items()
    }


def mlp() -> tuple[Document, dict[str, str]]:
    doc = Document()
    net = doc.network()
    ids = {
        "x": net.add("Input", shape=(64,)),
        "h": net.add("Linear", units=32),
        "a": net.add("ReLU"),
        "y": net.add("Linear", units=10),
        "o": net.add("Output"),
    }
    net.chain(ids["x"], ids["h"], ids["a"], ids["y"], ids["o"])
    return doc, ids


def test_scripted_edits_are_undoable_one_by_one() -> None:
    doc, _ = mlp()
    states = []
    stack = doc.undo_stack
    while stack.can_undo():
        states.append(snapshot(doc))
        stack.undo()
    assert snapshot(doc) == {"model": ([], [])}
    for expected in reversed(states):
        stack.redo()
        assert snapshot(doc) == expected


def test_names_are_unique_identifiers_and_reserved_words_are_refused() -> None:
    doc, ids = mlp()
    net = doc.network()
    assert net.node(ids["h"]).name == "linear1" and net.node(ids["y"]).name == "linear2"
    before = snapshot(doc)
    for bad in ("linear2", "2fast", "for", "forward", "with space", ""):
        with pytest.raises(DocumentError):
            net.rename(ids["h"], bad)
    assert snapshot(doc) == before
    net.rename(ids["h"], "hidden")
    assert net.find("hidden").id == ids["h"]


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda net, ids: net.connect(ids["o"], ids["x"]), "no outputs"),
        (lambda net, ids: net.connect(ids["a"], ids["h"], "out", "in"), "loop"),
        (lambda net, ids: net.connect(ids["x"], ids["y"], "out", "in"), "already fed by relu1"),
        (lambda net, ids: net.connect(ids["x"], ids["y"], "out", "nope"), "no input 'nope'"),
        (lambda net, ids: net.set_param(ids["h"], "units", 0), "at least 1"),
        (lambda net, ids: net.set_param(ids["h"], "units", "many"), "whole number"),
        (lambda net, ids: net.set_param(ids["h"], "colour", 3), "no parameter 'colour'"),
        (lambda net, ids: net.add("Dense2000"), "Dense2000"),
        (lambda net, ids: net.set_options(ids["h"], lr_mult=-1), "between 0"),
    ],
)
def test_impossible_edits_say_why_and_change_nothing(edit, message) -> None:
    doc, ids = mlp()
    before, count = snapshot(doc), doc.undo_stack.count()
    with pytest.raises((DocumentError, ParamError, UnknownLayerError)) as info:
        edit(doc.network(), ids)
    assert message in str(info.value)
    assert snapshot(doc) == before
    assert doc.undo_stack.count() == count


def test_typing_into_one_field_is_one_undo_step() -> None:
    doc, ids = mlp()
    net = doc.network()
    count = doc.undo_stack.count()
    for value in (1, 12, 128):
        net.set_param(ids["h"], "units", value)
    assert doc.undo_stack.count() == count + 1
    doc.undo_stack.undo()
    assert net.node(ids["h"]).params["units"] == 32


def test_remove_restores_wires_and_events_are_plain_python() -> None:
    doc, ids = mlp()
    net = doc.network()
    seen: list[ev.DocumentEvent] = []
    doc.events.subscribe(seen.append)
    before = snapshot(doc)
    net.remove(ids["a"], ids["h"])
    assert ids["a"] not in net and len(net.wires) == 1
    assert sum(isinstance(e, ev.NodeRemoved) for e in seen) == 2
    assert sum(isinstance(e, ev.WireRemoved) for e in seen) == 3
    doc.undo_stack.undo()
    assert snapshot(doc) == before


def test_fewer_merge_inputs_drop_their_wires_undoably() -> None:
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(8,))
    add = net.add("Add", inputs=3)
    for port in ("in1", "in2", "in3"):
        net.connect(x, add, "out", port)
    before = snapshot(doc)
    net.set_param(add, "inputs", 2)
    assert [w.dst_port for w in net.wires_into(add)] == ["in1", "in2"]
    doc.undo_stack.undo()
    assert snapshot(doc) == before


def test_insert_nodes_remaps_ids_and_names_and_keeps_internal_wires() -> None:
    doc, ids = mlp()
    net = doc.network()
    copied = [net.node(ids["h"]), net.node(ids["a"])]
    wires = [w for w in net.wires if w.src in (ids["h"], ids["a"]) and w.dst in (ids["h"], ids["a"])]
    command = InsertNodes("model", copied, wires, offset=(40, 40))
    doc.execute(command)
    new_ids = set(command.id_map.values())
    assert len(net) == 7 and not new_ids & set(ids.values())
    assert len({n.name for n in net.nodes}) == 7
    assert [(w.src, w.dst) for w in net.wires if w.src in new_ids] == [(command.id_map[ids["h"]],
                                                                        command.id_map[ids["a"]])]
    doc.undo_stack.undo()
    assert len(net) == 5


def test_failing_macro_rolls_back_what_it_did() -> None:
    doc, ids = mlp()
    before = snapshot(doc)
    macro = Macro("Bad", [RemoveNodes("model", [ids["a"]]), SetParams("model", ids["h"], {"units": -5})])
    with pytest.raises(ParamError):
        doc.execute(macro)
    assert snapshot(doc) == before


def test_networks_add_rename_remove_are_undoable() -> None:
    doc = Document()
    doc.add_network("discriminator")
    from netbuilder.document import RemoveNetwork, RenameNetwork

    doc.execute(RenameNetwork("model", "generator"))
    assert list(doc.networks) == ["generator", "discriminator"]
    doc.execute(RemoveNetwork("discriminator"))
    with pytest.raises(DocumentError):
        doc.execute(RemoveNetwork("generator"))
    for _ in range(3):
        doc.undo_stack.undo()
    assert list(doc.networks) == ["model"]


def test_clean_state_tracks_saves() -> None:
    doc, ids = mlp()
    assert doc.modified
    doc.undo_stack.set_clean()
    assert not doc.modified
    doc.network().move(ids["h"], (10, 20))
    assert doc.modified
    doc.undo_stack.undo()
    assert not doc.modified


def test_wire_ports_default_to_first_free_input() -> None:
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(8,))
    cat = net.add("Concat", inputs=2)
    assert net.connect(x, cat) == Wire(x, "out", cat, "in1")
    assert net.connect(x, cat) == Wire(x, "out", cat, "in2")


def two_inputs() -> tuple[Document, dict[str, str]]:
    doc = Document()
    net = doc.network()
    ids = {"a": net.add("Input", name="a", shape=(4,)), "b": net.add("Input", name="b", shape=(4,)),
           "add": net.add("Add"), "h": net.add("Linear", units=3), "o": net.add("Output"),
           "skip": net.add("Output", name="skip")}
    net.connect(ids["a"], ids["add"])
    net.connect(ids["b"], ids["add"])
    net.chain(ids["add"], ids["h"], ids["o"])
    net.connect(ids["a"], ids["skip"])  # "a" feeds two layers: the order of its wires is part of the file
    return doc, ids


@pytest.mark.parametrize("edit", [
    lambda net, ids: net.remove(ids["a"]),
    lambda net, ids: net.remove(ids["add"], ids["a"]),
    lambda net, ids: net.disconnect(net.wires_into(ids["add"])[0]),
    lambda net, ids: net.set_param(ids["add"], "inputs", 3) or net.disconnect(net.wires_into(ids["add"])[0]),
])
def test_undo_restores_the_order_of_nodes_and_wires(edit) -> None:
    # The order decides the compiled module's input order and the saved file; undo must bring it back exactly.
    from netbuilder.io import dumps_document

    doc, ids = two_inputs()
    net = doc.network()
    saved = dumps_document(doc)
    count = doc.undo_stack.count()
    edit(net, ids)
    for _ in range(doc.undo_stack.count() - count):
        doc.undo_stack.undo()
    assert dumps_document(doc) == saved
    assert [n.name for n in net.inputs()] == ["a", "b"]
    assert compile_network(net).netbuilder.input_names == ["a", "b"]


def test_undo_of_fewer_ports_restores_wire_order() -> None:
    from netbuilder.io import dumps_document

    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(8,))
    add = net.add("Add", inputs=3)
    for port in ("in3", "in1", "in2"):
        net.connect(x, add, "out", port)
    net.chain(add, net.add("Output"))
    saved = dumps_document(doc)
    net.set_param(add, "inputs", 2)
    doc.undo_stack.undo()
    assert dumps_document(doc) == saved


@pytest.mark.parametrize("name", ["load_state_dict", "compile", "add_module", "to_empty", "T_destination",
                                  "_modules", "__class__", "torch", "nn"])
def test_names_a_compiled_module_uses_are_refused(name: str) -> None:
    # A node's name becomes a submodule attribute: these would clash with torch.nn.Module's own methods.
    doc, ids = mlp()
    with pytest.raises(DocumentError, match="reserved|usable"):
        doc.network().rename(ids["h"], name)


def test_network_names_are_trimmed() -> None:
    doc = Document()
    net = doc.add_network("  critic ")
    assert net.name == "critic" and list(doc.networks) == ["model", "critic"]


def test_pasted_nodes_get_fresh_usable_names() -> None:
    from netbuilder.document.model import Node

    doc, ids = mlp()
    net = doc.network()
    # Twice the same layer, and a node from an older file whose name is now reserved.
    pasted = [net.node(ids["h"]), net.node(ids["h"]).clone(), Node("z", "ReLU", "compile", {})]
    pasted[1].id = "copy"
    command = InsertNodes("model", pasted, [])
    doc.execute(command)
    names = [net.node(command.id_map[i]).name for i in (ids["h"], "copy", "z")]
    assert names == ["linear3", "linear4", "relu2"]
