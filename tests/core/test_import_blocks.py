"""Repeated structure in an imported model becomes blocks: found, parametrised, named, with the weights following.

The finder works on the flat network an importer builds (`netbuilder.importers.repeats`), the builder turns what it
finds into definitions and block nodes (`netbuilder.importers.repeat_blocks`); both importers call it by default
and ``netbuilder import --flat`` turns it off. The zoo graphs are in test_import_zoo.py, the round trip of the
block templates in test_import_roundtrip.py.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import onnx
import pytest
import torch
import torch.nn as nn

from netbuilder.analysis import analyze
from netbuilder.cli import main
from netbuilder.compile import compile_network
from netbuilder.document import Document
from netbuilder.importers import import_onnx, save_import
from netbuilder.importers.pytorch import import_pytorch
from netbuilder.importers.repeat_blocks import group_repeats
from netbuilder.io import load_document, load_weights

ZOO = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"


class Bottleneck(nn.Module):
    def __init__(self, channels: int, middle: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, middle, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(middle)
        self.conv2 = nn.Conv2d(middle, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + x)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.layer1 = nn.Sequential(Bottleneck(16, 4), Bottleneck(16, 4), Bottleneck(16, 8))
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(torch.mean(self.layer1(torch.relu(self.stem(x))), dim=(2, 3)), 1))


def flat_types(document: Document, network=None) -> Counter:
    network = network or document.network()
    types: Counter = Counter()
    for node in network.nodes:
        if node.type == "Block":
            types.update(flat_types(document, document.blocks[node.block].network))
        elif node.type not in ("Input", "Output") or network is document.network():
            types[node.type] += 1
    return types


def uses(network) -> Counter:
    return Counter(node.block for node in network.nodes if node.type == "Block")


@pytest.fixture(scope="module")
def pytorch_import():
    torch.manual_seed(0)
    model = Net().eval()
    return model, import_pytorch(model, torch.randn(2, 3, 8, 8)), import_pytorch(model, torch.randn(2, 3, 8, 8),
                                                                                  blocks=False)


def test_a_repeated_module_class_becomes_one_block_named_after_it(pytorch_import):
    _model, result, flat = pytorch_import
    net = result.network
    assert list(result.document.blocks) == ["Bottleneck"]
    assert [(n.name, n.params) for n in net.nodes if n.type == "Block"] == [
        ("layer1_0", {"filters": 4}), ("layer1_1", {"filters": 4}), ("layer1_2", {"filters": 8})]
    inner = result.document.blocks["Bottleneck"].network
    assert {n.name: n.bindings for n in inner.nodes if n.bindings} == {"conv1": {"filters": "filters"}}
    assert {"conv1", "bn1", "conv2", "bn2"} <= {n.name for n in inner.nodes}
    assert flat_types(result.document) == flat_types(flat.document)
    assert result.layer_count == flat.layer_count and result.parameter_count == flat.parameter_count
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert "layer1_2.conv1.weight" in result.weights and "layer1_2_conv1.weight" in flat.weights
    assert torch.equal(result.weights["layer1_2.conv1.weight"], flat.weights["layer1_2_conv1.weight"])
    assert "Bottleneck × 3" in result.summary() and result.to_dict()["blocks"] == {"Bottleneck": 3}


def test_a_blocked_import_saves_and_reopens_with_its_weights(pytorch_import, tmp_path):
    model, result, _flat = pytorch_import
    document_file, weights_file = save_import(result, tmp_path / "net.nbg")
    reopened = load_document(document_file)
    assert uses(reopened.network()) == {"Bottleneck": 3}
    module = compile_network(reopened.network())
    module.load_state_dict(load_weights(weights_file), strict=True)
    x = torch.randn(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(module.eval()(x), model(x), atol=1e-5)


def test_resnet50_comes_back_as_sixteen_bottlenecks_in_two_definitions():
    result = import_onnx(ZOO / "light_resnet50.onnx", parity=False)
    net = result.network
    assert uses(net) == {"ResidualBlock": 12, "ProjectionBlock": 4}
    assert len(net.nodes) == 26 and result.layer_count == 176
    identity = result.document.blocks["ResidualBlock"]
    assert [p.name for p in identity.params] == ["filters"]
    assert [n.params["filters"] for n in net.nodes if n.block == "ResidualBlock"] == [64] * 2 + [128] * 3 + \
        [256] * 5 + [512] * 2
    bindings = [n.bindings for n in identity.network.nodes if n.type == "Conv2d"]
    assert bindings == [{"filters": "filters"}, {"filters": "filters"}, {"filters": "filters * 4"}]
    projection = result.document.blocks["ProjectionBlock"]
    assert [p.name for p in projection.params] == ["filters", "stride"]
    assert [n.params["stride"] for n in net.nodes if n.block == "ProjectionBlock"] == [(1, 1)] + [(2, 2)] * 3
    result.compile()  # the renamed weights load strictly into the nested modules
    assert all(node.position != (0.0, 0.0) for node in net.nodes[1:]), "laid out"


def test_cli_import_makes_blocks_unless_flat(tmp_path, capsys):
    source = str(ZOO / "light_squeezenet.onnx")
    assert main(["import", source, "-o", str(tmp_path / "blocked.nbg"), "--no-parity"]) == 0
    assert main(["import", source, "-o", str(tmp_path / "flat.nbg"), "--no-parity", "--flat"]) == 0
    blocked, flat = load_document(tmp_path / "blocked.nbg"), load_document(tmp_path / "flat.nbg")
    assert uses(blocked.network()) == {"BranchBlock": 8} and not flat.blocks
    assert flat_types(blocked) == flat_types(flat)
    assert analyze(blocked.network()).total_params == analyze(flat.network()).total_params
    assert "BranchBlock × 8" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------------
# The finder's rules on small hand-built networks


def residual(net, source: str, filters: int, project: bool = False) -> str:
    """A basic block (conv-bn-relu-conv-bn + skip, relu); ``project``: a 1x1 conv on the skip, stride 2."""
    stride = 2 if project else 1
    conv1 = net.add("Conv2d", filters=filters, kernel_size=3, stride=stride, padding="explicit", padding_size=1)
    bn1, relu1 = net.add("BatchNorm2d"), net.add("ReLU")
    conv2, bn2 = net.add("Conv2d", filters=filters, kernel_size=3, padding="same"), net.add("BatchNorm2d")
    add, out = net.add("Add"), net.add("ReLU")
    net.chain(source, conv1, bn1, relu1, conv2, bn2)
    net.connect(bn2, add, dst_port="in1")
    if project:
        skip, skip_bn = net.add("Conv2d", filters=filters, kernel_size=1, stride=2), net.add("BatchNorm2d")
        net.chain(source, skip, skip_bn)
        net.connect(skip_bn, add, dst_port="in2")
    else:
        net.connect(source, add, dst_port="in2")
    net.connect(add, out)
    return out


def small_resnet(stages: list[list[bool]]) -> Document:
    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(3, 16, 16))
    previous = net.add("Conv2d", filters=8, kernel_size=3, padding="same")
    net.connect(x, previous)
    filters = 8
    for stage in stages:
        for project in stage:
            filters = filters * 2 if project else filters
            previous = residual(net, previous, filters, project)
    pool, fc, output = net.add("GlobalAvgPool"), net.add("Linear", units=3), net.add("Output")
    net.chain(previous, pool, fc, output)
    doc.undo_stack.clear()
    return doc


def test_a_stage_that_glues_two_blocks_is_not_a_block_when_one_also_occurs_alone():
    # ResNet-18's shape: two basic blocks, then three stages of (projection block, basic block). The stage repeats
    # three times, but the basic block also occurs on its own: the blocks are the basic and the projection block.
    doc = small_resnet([[False, False], [True, False], [True, False], [True, False]])
    flat_params = analyze(doc.network()).total_params
    group_repeats(doc, {})
    net = doc.network()
    assert uses(net) == {"ResidualBlock": 5, "ProjectionBlock": 3}
    assert analyze(net).ok and analyze(net).total_params == flat_params


def test_plain_chains_stay_flat_and_existing_blocks_are_left_alone():
    doc = Document()
    net = doc.network()
    nodes = [net.add("Input", shape=(3, 16, 16))]
    for _ in range(4):
        nodes += [net.add("Conv2d", filters=8, kernel_size=3, padding="same"), net.add("ReLU")]
    nodes += [net.add("Flatten"), net.add("Linear", units=2), net.add("Output")]
    net.chain(*nodes)
    before = [n.id for n in net.nodes]
    assert group_repeats(doc, {"a.weight": 1}) == {"a.weight": 1}
    assert [n.id for n in net.nodes] == before and not doc.blocks
    blocked = small_resnet([[False, False, False]])
    group_repeats(blocked, {})
    again = [n.id for n in blocked.network().nodes]
    group_repeats(blocked, {})
    assert [n.id for n in blocked.network().nodes] == again and list(blocked.blocks) == ["ResidualBlock"]


def test_a_unit_with_no_known_structure_is_named_block1_never_the_reserved_block():
    doc = Document()
    net = doc.network()
    previous = net.add("Input", shape=(16,))
    for _ in range(3):  # a gate: x * sigmoid(linear(x)), three times
        linear, sigmoid, gate = net.add("Linear", units=16), net.add("Sigmoid"), net.add("Multiply")
        net.chain(previous, linear, sigmoid)
        net.connect(sigmoid, gate, dst_port="in1")
        net.connect(previous, gate, dst_port="in2")
        previous = gate
    net.connect(previous, net.add("Output"))
    group_repeats(doc, {})
    assert list(doc.blocks) == ["Block1"]
    assert [n.name for n in net.nodes if n.type == "Block"] == ["block1_1", "block1_2", "block1_3"]


def test_a_blocked_network_that_does_not_check_out_stays_flat(monkeypatch):
    import netbuilder.analysis as analysis

    doc = small_resnet([[False, False, False]])
    before = [(n.id, n.name) for n in doc.network().nodes]
    real = analysis.analyze
    calls = []

    def analyze_then_differ(network):
        calls.append(network)
        found = real(network)
        if len(calls) > 1:  # the check after blocking: pretend a parameter went missing
            found._totals = (found.total_params - 1, found.total_macs)
        return found

    monkeypatch.setattr(analysis, "analyze", analyze_then_differ)
    weights = {"conv2d2.weight": 1}
    assert group_repeats(doc, weights) == weights
    assert [(n.id, n.name) for n in doc.network().nodes] == before and not doc.blocks


def nested_export(path: Path, blocks: int = 2) -> None:
    """An ONNX file as PyTorch's dynamo exporter writes ``layer1 = Sequential(Bottleneck(), Bottleneck())``: each
    node records its module scopes and classes, outermost first."""
    from onnx import TensorProto, helper, numpy_helper

    rng = torch.Generator().manual_seed(0)
    nodes, inits = [], []

    def node(op, inputs, output, scopes, classes, **attrs):
        made = helper.make_node(op, inputs, [output], name=f"node_{output}", **attrs)
        for key, values in (("pkg.torch.onnx.name_scopes", ["", *scopes]),
                            ("pkg.torch.onnx.class_hierarchy", ["Net", *classes])):
            entry = made.metadata_props.add()
            entry.key, entry.value = key, repr(values)
        nodes.append(made)

    previous = "x"
    for index in range(blocks):
        module = f"layer1.{index}"
        scopes, classes = ["layer1", module], ["torch.nn.modules.container.Sequential", "__main__.Bottleneck"]
        for conv in ("conv1", "conv2"):
            weight = f"{module}.{conv}.weight"
            inits.append(numpy_helper.from_array((torch.randn(4, 4, 3, 3, generator=rng) * 0.2).numpy(), weight))
            source = previous if conv == "conv1" else f"{module}_relu"
            node("Conv", [source, weight], f"{module}_{conv}", [*scopes, f"{module}.{conv}", "convolution"],
                 [*classes, "torch.nn.modules.conv.Conv2d", "aten.convolution.default"], pads=[1, 1, 1, 1],
                 kernel_shape=[3, 3])
            if conv == "conv1":
                node("Relu", [f"{module}_conv1"], f"{module}_relu", [*scopes, "relu"], [*classes, "aten.relu.default"])
        node("Add", [f"{module}_conv2", previous], f"{module}_add", [*scopes, "add"], [*classes, "aten.add.Tensor"])
        node("Relu", [f"{module}_add"], f"{module}_out", [*scopes, "relu_1"], [*classes, "aten.relu.default"])
        previous = f"{module}_out"
    graph = helper.make_graph(nodes, "main_graph", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                                   ["batch", 4, 6, 6])],
                              [helper.make_tensor_value_info(previous, TensorProto.FLOAT, ["batch", 4, 6, 6])],
                              inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def test_an_onnx_export_with_module_scopes_names_blocks_after_the_modules(tmp_path):
    nested_export(tmp_path / "nested.onnx", blocks=3)
    result = import_onnx(tmp_path / "nested.onnx")
    assert result.block_uses == {"Bottleneck": 3}
    assert [n.name for n in result.network.nodes if n.type == "Block"] == ["layer1_0", "layer1_1", "layer1_2"]
    inner = [n.name for n in result.document.blocks["Bottleneck"].network.nodes]
    assert {"conv1", "conv2"} <= set(inner) and len(set(inner)) == len(inner)
    assert "layer1_2.conv2.weight" in result.weights
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    flat = import_onnx(tmp_path / "nested.onnx", parity=False, blocks=False)
    assert not flat.document.blocks and flat.layer_count == result.layer_count == 15


def test_free_block_name_never_gives_a_reserved_name():
    from netbuilder.document.block_commands import check_block_name, free_block_name

    doc = Document()
    for base in ("Block", "Input", "Output", "model", "ResidualBlock"):
        name = free_block_name(doc, base)
        check_block_name(doc, name)  # raises for a reserved or taken name
    assert free_block_name(doc, "Block") == "Block1" and free_block_name(doc, "model") == "model2"


class EncoderLayer(nn.Module):
    """A pre-norm transformer layer: two residual branches, so one unit spans two branched segments."""

    def __init__(self, width: int):
        super().__init__()
        self.norm1, self.attn = nn.LayerNorm(width), nn.MultiheadAttention(width, 2, batch_first=True)
        self.norm2, self.fc1, self.act, self.fc2 = nn.LayerNorm(width), nn.Linear(width, 4 * width), nn.GELU(), \
            nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.layers = nn.ModuleList([EncoderLayer(16) for _ in range(3)])
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.head(x[:, 0])


def test_transformer_layers_come_back_whole_not_as_their_two_residual_halves():
    torch.manual_seed(0)
    result = import_pytorch(Encoder().eval(), torch.randn(2, 5, 8))
    assert result.block_uses == {"EncoderLayer": 3}
    assert [n.name for n in result.network.nodes if n.type == "Block"] == ["layers_0", "layers_1", "layers_2"]
    inner = Counter(n.type for n in result.document.blocks["EncoderLayer"].network.nodes)
    assert inner == {"Input": 1, "LayerNorm": 2, "MultiheadAttention": 1, "Add": 2, "Linear": 2, "GELU": 1,
                     "Output": 1}
    assert result.parity is not None and result.parity.ok, result.parity.summary()
