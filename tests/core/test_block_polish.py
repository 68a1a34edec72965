"""Blocks, finished: renaming a port moves the wires on every instance, free block names avoid reserved ones, and
the expanded state of a block node is saved with the document."""

from __future__ import annotations

import json

import pytest
from block_docs import residual_document

from netbuilder.analysis import analyze
from netbuilder.document import DocumentError, RenameNode
from netbuilder.document.block_commands import RepeatBlock, SetExpanded, check_block_name, free_block_name
from netbuilder.io import LoadError, document_from_dict, dumps_document


def all_networks(doc):
    return [*doc.networks.values(), *(d.network for d in doc.blocks.values())]


def nested_residual():
    """model: image -> layer1 (BasicBlock) -> layer2 (BasicBlockX2: two BasicBlocks inside) -> pool -> fc."""
    doc = residual_document(instances=2)
    doc.execute(RepeatBlock("model", doc.network().find("layer2").id, 2))
    doc.undo_stack.clear()
    return doc


def wire_lists(data: dict) -> dict[str, tuple[list, list]]:
    """Each network's and definition's (nodes, wires) as the file lists them."""
    nets = data["networks"] + data.get("blocks", [])
    return {net["name"]: (net["nodes"], net["wires"]) for net in nets if "wires" in net}


def renamed_ports(lists: dict[str, tuple[list, list]]) -> dict[str, tuple[list, list]]:
    """The wires with BasicBlock's port x called features and y called result (its own nodes renamed too)."""
    result = {}
    for name, (nodes, wires) in lists.items():
        users = {n["id"] for n in nodes if n.get("block") == "BasicBlock"}
        if name == "BasicBlock":
            nodes = [{**n, "name": {"x": "features", "y": "result"}.get(n["name"], n["name"])} for n in nodes]
        moved = [{"from": [w["from"][0], "result" if w["from"][0] in users and w["from"][1] == "y" else w["from"][1]],
                  "to": [w["to"][0], "features" if w["to"][0] in users and w["to"][1] == "x" else w["to"][1]]}
                 for w in wires]
        result[name] = (nodes, moved)
    return result


# ---- renaming a port ------------------------------------------------------------------------------------------

def test_renaming_a_port_moves_the_wires_of_every_instance_in_one_undo_step() -> None:
    doc = nested_residual()
    assert all(analyze(net).ok for net in doc.networks.values())
    start = dumps_document(doc)
    block = doc.network("BasicBlock")
    doc.execute(RenameNode("BasicBlock", block.find("x").id, "features"))
    doc.execute(RenameNode("BasicBlock", block.find("y").id, "result"))
    assert doc.undo_stack.count() == 2
    assert doc.block("BasicBlock").input_ports() == ("features",)
    for net in all_networks(doc):
        for node in net.nodes:
            if node.block == "BasicBlock":
                assert {w.dst_port for w in net.wires_into(node.id)} <= {"features"}
                assert {w.src_port for w in net.wires_out_of(node.id)} <= {"result"}
    # layer1 in model and "0"/"1" inside BasicBlockX2 all follow: nothing is left on the old names.
    ends = sum((w.dst_port == "features") + (w.src_port == "result") for net in all_networks(doc) for w in net.wires)
    assert ends == 2 * 3
    for net in doc.networks.values():
        result = analyze(net)
        assert result.ok, [d.message for d in result.diagnostics]
    renamed = dumps_document(doc)
    # Only the port names changed: every wire keeps its place in the file.
    assert wire_lists(json.loads(renamed)) == renamed_ports(wire_lists(json.loads(start)))
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert dumps_document(doc) == start
    doc.undo_stack.redo()
    doc.undo_stack.redo()
    assert dumps_document(doc) == renamed
    assert dumps_document(document_from_dict(json.loads(renamed))) == renamed


def test_the_undo_text_says_how_many_wires_followed() -> None:
    doc = nested_residual()
    doc.execute(RenameNode("BasicBlock", doc.network("BasicBlock").find("x").id, "features"))
    assert doc.undo_stack.undo_text() == "Rename port x to features (3 wires follow)"


def test_renaming_a_port_onto_a_name_with_left_over_wires_is_refused_and_changes_nothing() -> None:
    doc = residual_document(instances=1)
    net, block = doc.network(), doc.network("BasicBlock")
    block.rename(block.find("y").id, "old")  # layer1 -> pool now reads port "old"
    block.remove(block.find("old").id)  # the outer wire stays on "old" (flagged), as the user left it
    out = block.add("Output", name="y2", role="features")
    block.connect(block.find("relu").id, out)
    layer1 = net.find("layer1").id
    net.connect(layer1, net.add("Output", name="extra"), src_port="y2")  # a second wire, on the new port
    text = dumps_document(doc)
    with pytest.raises(DocumentError, match="has wires on both 'y2' and 'old'"):
        doc.execute(RenameNode("BasicBlock", out, "old"))
    assert dumps_document(doc) == text


def test_renaming_a_port_of_an_unused_block_or_a_top_level_input_moves_no_wire() -> None:
    doc = nested_residual()
    doc.execute(RenameNode("model", doc.network().find("image").id, "picture"))
    assert doc.undo_stack.undo_text() == "Rename to picture"
    block = doc.network("BasicBlockX2")  # used once, in model
    doc.execute(RenameNode("BasicBlockX2", block.find("y").id, "y"))  # the same name: nothing to move
    assert doc.undo_stack.undo_text() == "Rename to y"


# ---- free block names -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("base", ["Block", "Input", "Output", "to"])
def test_free_block_name_never_gives_a_reserved_name(base: str) -> None:
    doc = residual_document(instances=1)
    name = free_block_name(doc, base)
    assert name == f"{base}1"
    check_block_name(doc, name)  # usable as it is


def test_free_block_name_skips_taken_names_after_a_reserved_one() -> None:
    doc = residual_document(instances=1)
    doc.define_block("Block1")
    assert free_block_name(doc, "Block") == "Block2"
    assert free_block_name(doc, "BasicBlock") == "BasicBlock2"
    assert free_block_name(doc, "Stage") == "Stage"


# ---- expanded block nodes are saved ---------------------------------------------------------------------------

def test_expanded_state_is_saved_loaded_and_undone_exactly() -> None:
    doc = nested_residual()
    net = doc.network()
    start = dumps_document(doc)
    layer1, layer2 = net.find("layer1").id, net.find("layer2").id
    doc.execute(SetExpanded("model", [layer1, layer2], True))
    inner = doc.network("BasicBlockX2")
    doc.execute(SetExpanded("BasicBlockX2", [inner.find("0").id], True))  # inside a definition too
    assert doc.undo_stack.undo_text() == "Expand 0"
    text = dumps_document(doc)
    data = json.loads(text)
    assert data["format_version"] == 3
    assert [n.get("expanded") for n in data["networks"][0]["nodes"]] == [None, True, True, None, None, None]
    again = document_from_dict(data)
    assert again.network().node(layer1).expanded and again.network("BasicBlockX2").find("0").expanded
    assert not again.network("BasicBlockX2").find("1").expanded
    assert dumps_document(again) == text
    doc.execute(SetExpanded("model", [layer2], False))
    assert doc.undo_stack.undo_text() == "Collapse layer2"
    for _ in range(3):
        doc.undo_stack.undo()
    assert dumps_document(doc) == start and not net.node(layer1).expanded


def test_expanding_a_layer_or_what_is_already_expanded_is_refused() -> None:
    doc = nested_residual()
    net = doc.network()
    with pytest.raises(DocumentError, match="pool is a layer, not a block"):
        doc.execute(SetExpanded("model", [net.find("pool").id], True))
    with pytest.raises(DocumentError, match="layer1 is already collapsed"):
        doc.execute(SetExpanded("model", [net.find("layer1").id], False))
    with pytest.raises(DocumentError, match="Select a block node"):
        doc.execute(SetExpanded("model", [], True))
    with pytest.raises(DocumentError, match="true or false"):
        SetExpanded("model", [net.find("layer1").id], "yes")  # type: ignore[arg-type]
    assert doc.undo_stack.count() == 0


def test_expanding_changes_nothing_the_analysis_or_compile_reads() -> None:
    doc = nested_residual()
    net = doc.network()
    block = doc.network("BasicBlock")
    position, version = block.change_position, net.structure_version
    doc.execute(SetExpanded("model", [net.find("layer1").id], True))
    assert block.change_position == position and net.structure_version == version
    assert SetExpanded.view_only  # allowed while training, like moving nodes


def test_files_without_the_expanded_field_load_collapsed_and_bad_values_are_named() -> None:
    doc = nested_residual()
    doc.execute(SetExpanded("model", [doc.network().find("layer1").id], True))
    data = json.loads(dumps_document(doc))
    older = json.loads(json.dumps(data))
    for node in older["networks"][0]["nodes"]:
        node.pop("expanded", None)  # a format 3 file from before expanded blocks were saved
    assert not any(n.expanded for n in document_from_dict(older).network().nodes)
    layer = json.loads(json.dumps(data))
    layer["networks"][0]["nodes"][3]["expanded"] = True  # on a layer it means nothing: dropped
    assert "expanded" not in json.dumps(json.loads(dumps_document(document_from_dict(layer)))["networks"][0]["nodes"][3])
    bad = json.loads(json.dumps(data))
    bad["networks"][0]["nodes"][1]["expanded"] = "yes"
    with pytest.raises(LoadError) as caught:
        document_from_dict(bad)
    assert "field 'expanded'" in str(caught.value) and "must be true or false" in str(caught.value)


def test_a_format_2_file_still_loads() -> None:
    v2 = {"format": "netbuilder", "format_version": 2, "info": {"title": "", "description": ""},
          "networks": [{"name": "model", "nodes": [
              {"id": "n1", "type": "Input", "version": 1, "name": "x", "params": {"shape": [4]}, "position": [0, 0]},
              {"id": "n2", "type": "Output", "version": 1, "name": "y", "params": {}, "position": [200, 0]}],
              "wires": [{"from": ["n1", "out"], "to": ["n2", "in"]}]}], "settings": {}}
    doc = document_from_dict(v2)
    assert [n.expanded for n in doc.network().nodes] == [False, False]
    assert json.loads(dumps_document(doc))["format_version"] == 3


# ---- grouping top to bottom -----------------------------------------------------------------------------------

def test_grouping_top_to_bottom_puts_the_ports_above_and_below_the_layers() -> None:
    from netbuilder.document import Document
    from netbuilder.document.block_commands import GroupIntoBlock

    doc = Document()
    net = doc.network()
    x = net.add("Input", name="x", shape=(8,), position=(0, 0))
    a = net.add("Linear", name="a", units=8, position=(0, 120))
    b = net.add("ReLU", name="b", position=(0, 240))
    net.chain(x, a, b, net.add("Output", name="y", position=(0, 360)))
    doc.execute(GroupIntoBlock("model", [a, b], "Pair", node_name="pair", vertical=True))
    inner = doc.network("Pair")
    port_in, port_out = inner.find("x"), inner.find("y")
    layers = [inner.find("a").position, inner.find("b").position]
    assert port_in.position[1] < min(p[1] for p in layers) and port_out.position[1] > max(p[1] for p in layers)
    assert port_in.position[0] == port_out.position[0] == 0.0
    text = dumps_document(doc)
    doc.undo_stack.undo()
    doc.undo_stack.redo()
    assert dumps_document(doc) == text
