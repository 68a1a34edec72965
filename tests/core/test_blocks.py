"""Blocks: definitions, instances, parameters, group/ungroup/fork/repeat, analysis per instance, nested compile."""

from __future__ import annotations

import json

import pytest
import torch
from block_docs import define_basic_block, residual_document

from netbuilder.analysis import analyze
from netbuilder.analysis.blocks import definition_result
from netbuilder.compile import compile_network, example_inputs
from netbuilder.document import Document, DocumentError, InsertNodes
from netbuilder.document.block_commands import (
    AddBlockNode,
    BindParam,
    GroupIntoBlock,
    MakeUnique,
    RemoveBlock,
    RenameBlock,
    RepeatBlock,
    SetBlockParams,
    Ungroup,
)
from netbuilder.io import LoadError, document_from_dict, dumps_document
from netbuilder.specs import Param, ParamKind


def flat_document() -> Document:
    doc = Document()
    net = doc.network()
    x = net.add("Input", name="image", shape=(3, 8, 8))
    conv = net.add("Conv2d", name="conv1", filters=4, padding="same")
    bn = net.add("BatchNorm2d", name="bn1")
    relu = net.add("ReLU", name="relu1")
    flat = net.add("Flatten", name="flat")
    fc = net.add("Linear", name="fc", units=5)
    net.chain(x, conv, bn, relu, flat, fc, net.add("Output", name="scores"))
    doc.undo_stack.clear()
    return doc


def ids(net, *names):
    return [net.find(name).id for name in names]


def test_group_makes_a_block_with_ports_from_the_crossing_wires_and_keeps_the_model() -> None:
    doc = flat_document()
    net = doc.network()
    before = analyze(net)
    start = dumps_document(doc)
    doc.execute(GroupIntoBlock("model", ids(net, "conv1", "bn1", "relu1"), "ConvBN", node_name="stem"))
    definition = doc.block("ConvBN")
    assert definition.input_ports() == ("x",) and definition.output_ports() == ("y",)
    assert [n.name for n in definition.network.nodes if n.type not in ("Input", "Output")] == \
        ["conv1", "bn1", "relu1"]
    after = analyze(net)
    assert after.ok and after.total_params == before.total_params and after.total_macs == before.total_macs
    stem = net.find("stem")
    assert str(after.nodes[stem.id].outputs["y"]) == "N×4×8×8"
    model = compile_network(net)
    assert "stem.conv1.weight" in model.state_dict() and "stem.bn1.running_mean" in model.state_dict()
    doc.undo_stack.undo()
    assert dumps_document(doc) == start
    doc.undo_stack.redo()
    assert doc.blocks and net.find("stem").block == "ConvBN"


def test_group_then_ungroup_gives_back_the_same_layers_names_and_wires() -> None:
    doc = flat_document()
    net = doc.network()
    names = sorted(n.name for n in net.nodes)
    wires = sorted((net.node(w.src).name, net.node(w.dst).name) for w in net.wires)
    doc.execute(GroupIntoBlock("model", ids(net, "conv1", "bn1"), "ConvBN"))
    doc.execute(Ungroup("model", net.find("convbn1").id))
    assert sorted(n.name for n in net.nodes) == names
    assert sorted((net.node(w.src).name, net.node(w.dst).name) for w in net.wires) == wires
    assert analyze(net).ok


def test_group_refuses_inputs_outputs_and_taken_names_with_a_reason() -> None:
    doc = flat_document()
    net = doc.network()
    with pytest.raises(DocumentError, match="stay outside a block"):
        doc.execute(GroupIntoBlock("model", ids(net, "image", "conv1"), "Stem"))
    with pytest.raises(DocumentError, match="already a network or block"):
        doc.execute(GroupIntoBlock("model", ids(net, "conv1"), "model"))
    with pytest.raises(DocumentError, match="not a usable block name"):
        doc.execute(GroupIntoBlock("model", ids(net, "conv1"), "2bad"))
    assert not doc.blocks and not doc.undo_stack.can_undo()


def test_one_definition_serves_every_instance_and_edits_reach_all_of_them() -> None:
    doc = residual_document(instances=3)
    net = doc.network()
    result = analyze(net)
    assert result.ok, result.diagnostics
    per_block = 2 * (8 * 8 * 9) + 2 * 16
    assert result.total_params == 3 * per_block + 8 * 3 + 3
    assert definition_result(doc, "BasicBlock").params == per_block
    # widen the block through its parameter, on one instance only
    net.set_params(net.find("layer3").id, filters=8)
    # edit the definition: every instance follows
    inner = doc.network("BasicBlock")
    inner.set_params(inner.find("conv1").id, kernel_size=(1, 1))
    result = analyze(net)
    per_block = 8 * 8 * 1 + 8 * 8 * 9 + 2 * 16
    assert result.ok and result.total_params == 3 * per_block + 8 * 3 + 3


def test_block_parameters_reach_inner_layers_through_bindings() -> None:
    doc = Document()
    inner = doc.define_block("Widen", (Param("width", ParamKind.INT, 4, minimum=1),))
    x = inner.add("Input", name="x", shape=(6,))
    fc = inner.add("Linear", name="fc", units=4)
    inner.chain(x, fc, inner.add("Output", name="y", role="features"))
    inner.bind(fc, "units", "width * 2")
    net = doc.network()
    source = net.add("Input", name="x", shape=(6,))
    a = net.add_block("Widen", name="a", width=3)
    b = net.add_block("Widen", name="b", width=5)
    net.chain(source, a, b, net.add("Output", name="out"))
    result = analyze(net)
    assert result.ok, result.diagnostics
    assert str(result.nodes[a].output) == "N×6" and str(result.nodes[b].output) == "N×10"
    assert result.total_params == (6 * 6 + 6) + (6 * 10 + 10)
    model = compile_network(net)
    assert model.a.fc.out_features == 6 and model.b.fc.out_features == 10
    with pytest.raises(DocumentError, match="not a parameter of this block"):
        doc.execute(BindParam("Widen", fc, "units", "height"))
    with pytest.raises(DocumentError, match="only numbers, block parameter names"):
        BindParam("Widen", fc, "units", "__import__('os')")
    # a parameter a binding reads cannot be removed
    with pytest.raises(DocumentError, match="reads width"):
        doc.execute(SetBlockParams("Widen", []))


def test_path_of_a_problem_in_a_repeated_block() -> None:
    doc = residual_document(instances=1)
    net = doc.network()
    layer = net.find("layer1")
    net.rename(layer.id, "layer3")
    doc.execute(RepeatBlock("model", layer.id, 2))
    inner = doc.network("BasicBlock")
    # a bias only on conv2 of every repetition: fine; an impossible kernel: reported once per path
    inner.set_params(inner.find("conv2").id, padding="valid", kernel_size=(7, 7))
    errors = analyze(net).errors
    assert [str(e).split(": ")[0] for e in errors] == ["layer3.0.conv2.kernel_size"]
    assert errors[0].node_id == layer.id and "larger than the input" in errors[0].message


def test_binding_that_does_not_fit_the_defaults_is_refused() -> None:
    doc = residual_document(instances=1)
    inner = doc.network("BasicBlock")
    with pytest.raises(DocumentError, match="With the block's defaults"):
        doc.execute(BindParam("BasicBlock", inner.find("conv2").id, "filters", "filters - 8"))


def test_recursion_is_refused_with_the_path() -> None:
    doc = Document()
    define_basic_block(doc, "A")
    define_basic_block(doc, "B")
    with pytest.raises(DocumentError, match="cannot contain itself: A inside A"):
        doc.execute(AddBlockNode("A", "A"))
    doc.network("B").add_block("A", name="inner")
    with pytest.raises(DocumentError, match="A › B › A"):
        doc.execute(AddBlockNode("A", "B"))
    # pasting a block node into the definition it would contain is refused too
    a_node = doc.network("B").find("inner")
    with pytest.raises(DocumentError, match="cannot contain itself"):
        doc.execute(InsertNodes("A", [a_node], []))


def test_a_file_with_a_block_containing_itself_is_refused_with_a_clear_message() -> None:
    doc = residual_document(instances=1)
    data = json.loads(dumps_document(doc))
    block = data["blocks"][0]
    block["nodes"].append({"id": "n99", "type": "Block", "name": "again", "block": "BasicBlock", "params": {}})
    with pytest.raises(LoadError, match="cannot contain itself: BasicBlock › BasicBlock"):
        document_from_dict(data)


def test_make_unique_forks_the_definition() -> None:
    doc = residual_document(instances=2)
    net = doc.network()
    second = net.find("layer2")
    doc.execute(MakeUnique("model", second.id))
    assert second.block == "BasicBlock2" and set(doc.blocks) == {"BasicBlock", "BasicBlock2"}
    fork = doc.network("BasicBlock2")
    fork.set_params(fork.find("conv1").id, kernel_size=(1, 1))
    result = analyze(net)
    assert result.nodes[net.find("layer1").id].params == 2 * 8 * 8 * 9 + 32
    assert result.nodes[second.id].params == 8 * 8 * 9 + 8 * 8 + 32
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert second.block == "BasicBlock" and set(doc.blocks) == {"BasicBlock"}


def test_repeat_gives_torchvision_style_names() -> None:
    doc = residual_document(instances=1)
    net = doc.network()
    before = analyze(net).total_params
    doc.execute(RepeatBlock("model", net.find("layer1").id, 3))
    result = analyze(net)
    assert result.ok and result.total_params == before + 2 * (2 * 8 * 8 * 9 + 32)
    keys = list(compile_network(net).state_dict())
    assert keys[:3] == ["layer1.0.conv1.weight", "layer1.0.bn1.weight", "layer1.0.bn1.bias"]
    assert "layer1.2.bn2.num_batches_tracked" in keys
    with pytest.raises(DocumentError, match="2 to 1000 times"):
        RepeatBlock("model", "n1", 1)


def test_rename_remove_and_the_blocks_still_in_use() -> None:
    doc = residual_document(instances=1)
    net = doc.network()
    doc.execute(RenameBlock("BasicBlock", "Residual"))
    assert net.find("layer1").block == "Residual" and doc.network("Residual").name == "Residual"
    with pytest.raises(DocumentError, match="still used"):
        doc.execute(RemoveBlock("Residual"))
    net.remove(net.find("layer1").id)
    doc.execute(RemoveBlock("Residual"))
    assert not doc.blocks


def test_blocks_save_and_load_exactly() -> None:
    doc = residual_document(instances=2)
    doc.execute(RepeatBlock("model", doc.network().find("layer2").id, 2))
    text = dumps_document(doc)
    data = json.loads(text)
    assert data["format_version"] == 3 and [b["name"] for b in data["blocks"]] == ["BasicBlock", "BasicBlockX2"]
    again = document_from_dict(data)
    assert dumps_document(again) == text
    assert analyze(again.network()).total_params == analyze(doc.network()).total_params


def test_compiled_block_runs_and_trains_like_the_flat_network() -> None:
    flat = flat_document()
    grouped = flat_document()
    net = grouped.network()
    grouped.execute(GroupIntoBlock("model", ids(net, "conv1", "bn1", "relu1"), "ConvBN", node_name="stem"))
    a = compile_network(flat.network(), seed=3)
    b = compile_network(net, seed=3)
    x = example_inputs(a, seed=1)
    for key, value in a.state_dict().items():
        b.state_dict()[f"stem.{key}" if key.split(".")[0] in ("conv1", "bn1") else key].copy_(value)
    assert torch.allclose(a(*x), b(*x), atol=1e-6)
    b(*x).sum().backward()
    assert b.stem.conv1.weight.grad is not None


def test_weights_saved_before_group_load_after_it_and_after_ungroup(tmp_path) -> None:
    from netbuilder.io import apply_weights, load_weights, save_weights

    doc = flat_document()
    net = doc.network()
    trained = compile_network(net, seed=1)
    save_weights(trained, tmp_path / "flat.safetensors")
    doc.execute(GroupIntoBlock("model", ids(net, "conv1", "bn1", "relu1"), "ConvBN", node_name="stem"))
    grouped = compile_network(net, seed=2)
    report = apply_weights(grouped, load_weights(tmp_path / "flat.safetensors"))
    assert report.ok, report.summary()
    assert ("conv1.weight", "stem.conv1.weight") in report.moved
    x = example_inputs(trained, seed=0)
    trained.eval()
    grouped.eval()
    assert torch.allclose(trained(*x), grouped(*x), atol=1e-6)
    save_weights(grouped, tmp_path / "grouped.safetensors")
    # ungrouped next to a layer already called conv1: the inner one comes back as stem_conv1
    net.rename(net.find("fc").id, "conv1")
    doc.execute(Ungroup("model", net.find("stem").id))
    assert {n.name for n in net.nodes} >= {"stem_conv1", "bn1", "relu1", "conv1"}
    flat_again = compile_network(net, seed=3)
    report = apply_weights(flat_again, load_weights(tmp_path / "grouped.safetensors"))
    assert ("stem.conv1.weight", "stem_conv1.weight") in report.moved and ("stem.bn1.bias", "bn1.bias") in \
        report.moved
    assert sorted(report.missing) == ["conv1.bias", "conv1.weight"]
    assert sorted(report.unexpected) == ["fc.bias", "fc.weight"]


def test_pytorch_code_has_one_class_per_definition_and_loads_the_weights() -> None:
    from netbuilder.export.pytorch_code import export_pytorch_code

    doc = Document()
    inner = doc.define_block("Widen", (Param("width", ParamKind.INT, 4, minimum=1),))
    x = inner.add("Input", name="x", shape=(6,))
    fc = inner.add("Linear", name="fc", units=4)
    inner.chain(x, fc, inner.add("ReLU", name="act"), inner.add("Output", name="y", role="features"))
    inner.bind(fc, "units", "width * 2")
    net = doc.network()
    source = net.add("Input", name="x", shape=(6,))
    a = net.add_block("Widen", name="a", width=3)
    b = net.add_block("Widen", name="b", width=5)
    net.chain(source, a, b, net.add("Output", name="out"))
    doc.execute(RepeatBlock("model", b, 2))
    code = export_pytorch_code(net)
    assert code.count("class Widen(nn.Module):") == 1 and "class WidenX2(nn.Module):" in code
    assert "self.a = Widen(fc_in_features=6, fc_out_features=6)" in code
    assert 'self.add_module("0", Widen(' in code
    namespace: dict = {}
    exec(compile(code.replace('if __name__ == "__main__":', "if False:"), "exported.py", "exec"), namespace)
    model = compile_network(net).eval()
    exported = namespace["Model"]().eval()
    exported.load_state_dict(model.state_dict())  # strict: the same keys and shapes
    inputs = torch.randn(4, 6)
    assert torch.equal(model(inputs), exported(inputs))


def test_onnx_export_of_nested_blocks_matches_onnxruntime(tmp_path) -> None:
    from netbuilder.export import export_onnx

    doc = flat_document()
    net = doc.network()
    doc.execute(GroupIntoBlock("model", ids(net, "conv1", "bn1", "relu1"), "ConvBN", node_name="stem"))
    doc.execute(GroupIntoBlock("model", ids(net, "stem"), "Stage", node_name="layer1"))  # a block in a block
    report = export_onnx(net, tmp_path / "blocks.onnx")
    assert report.ok and report.max_abs_diff is not None and report.max_abs_diff < 1e-4


def test_group_command_gives_the_ports_the_shapes_of_their_wires() -> None:
    from netbuilder.analysis.blocks import group_command

    doc = flat_document()
    net = doc.network()
    doc.execute(group_command(net, ids(net, "bn1", "relu1"), "Tail"))
    port = doc.block("Tail").input_nodes()[0]
    assert port.params["shape"] == (4, 8, 8) and port.params["dtype"] == "float32"
    assert definition_result(doc, "Tail").outputs["y"].shape == ("N", 4, 8, 8)
    assert definition_result(doc, "Tail").params == 8


def test_a_version_2_file_loads_through_the_migration_and_saves_as_version_3() -> None:
    data = json.loads(dumps_document(flat_document()))
    data["format_version"] = 2
    doc = document_from_dict(data)
    assert not doc.blocks and json.loads(dumps_document(doc))["format_version"] == 3
    assert analyze(doc.network()).ok


def test_an_edit_inside_a_block_changes_the_graph_hash_of_runs() -> None:
    from netbuilder.train.runs import graph_hash

    doc = residual_document(instances=1)
    before = graph_hash(doc)
    inner = doc.network("BasicBlock")
    inner.set_params(inner.find("conv1").id, kernel_size=(1, 1))
    assert graph_hash(doc) != before
    doc.undo_stack.undo()
    assert graph_hash(doc) == before
