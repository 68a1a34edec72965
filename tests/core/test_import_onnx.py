"""ONNX import, rule by rule: small models written with onnx.helper, random weights (so a transposed matrix or a
wrong padding shows in the parity figure), each imported and run against onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_fixtures import save_graph

from netbuilder.cli import main
from netbuilder.importers import (
    ModelFileError,
    ModelTooLargeError,
    UnsupportedOpsError,
    import_onnx,
    save_import,
)
from netbuilder.specs.interop import onnx_rules

RNG = np.random.default_rng(0)


def weight(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def write_model(path: Path, nodes: list, inputs: list[tuple[str, list]], outputs: list[str],
                inits: dict[str, np.ndarray] | None = None, opset: int = 13) -> Path:
    graph = helper.make_graph(
        nodes, "test",
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in inputs],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
        [numpy_helper.from_array(array, name) for name, array in (inits or {}).items()])
    save_graph(graph, path, opset)
    return path


def imported(tmp_path: Path, nodes: list, inputs: list[tuple[str, list]], outputs: list[str],
             inits: dict[str, np.ndarray] | None = None, opset: int = 13):
    result = import_onnx(write_model(tmp_path / "m.onnx", nodes, inputs, outputs, inits, opset))
    assert result.parity is not None and result.parity.ok, result.parity
    return result


def layer_types(result) -> list[str]:
    return sorted(n.type for n in result.network.nodes if n.type not in ("Input", "Output"))


# ---- convolution and pooling ----------------------------------------------------------------------------------


def test_conv_with_groups_dilation_stride_and_bias_keeps_its_weights(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], strides=[2, 1],
                              dilations=[1, 2], group=2, pads=[1, 2, 1, 2])]
    result = imported(tmp_path, nodes, [("x", ["N", 4, 9, 10])], ["y"], {"w": weight(6, 2, 3, 3), "b": weight(6)})
    assert layer_types(result) == ["Conv2d"]
    node = next(n for n in result.network.nodes if n.type == "Conv2d")
    assert node.params["groups"] == 2 and node.params["stride"] == (2, 1) and node.params["padding_size"] == (1, 2)
    assert result.parity.max_abs_diff > 0 or result.parity.max_rel_diff == 0  # a figure, measured


def test_asymmetric_conv_padding_becomes_a_pad_layer_before_the_conv(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3], pads=[0, 1, 2, 0])]
    result = imported(tmp_path, nodes, [("x", [1, 3, 7, 7])], ["y"], {"w": weight(4, 3, 3, 3)})
    assert layer_types(result) == ["Conv2d", "Pad"]


def test_auto_pad_same_upper(tmp_path):
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[4, 4], strides=[2, 2],
                              auto_pad="SAME_UPPER")]
    imported(tmp_path, nodes, [("x", [1, 2, 9, 9])], ["y"], {"w": weight(3, 2, 4, 4)})


def test_conv_transpose(tmp_path):
    nodes = [helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1], output_padding=[1, 1])]
    result = imported(tmp_path, nodes, [("x", ["N", 4, 5, 5])], ["y"], {"w": weight(4, 3, 3, 3), "b": weight(3)})
    assert layer_types(result) == ["ConvTranspose2d"]


@pytest.mark.parametrize("ceil_mode", [0, 1])
def test_max_pool_with_asymmetric_pads_and_ceil_mode(tmp_path, ceil_mode):
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1],
                              ceil_mode=ceil_mode)]
    result = imported(tmp_path, nodes, [("x", [1, 3, 8, 8])], ["y"])
    node = next(n for n in result.network.nodes if n.type == "MaxPool2d")
    assert node.params["padding"] == (0, 0) and node.params["padding_end"] == (1, 1)
    assert node.params["ceil_mode"] is bool(ceil_mode)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("pads", [[1, 1, 1, 1], [0, 1, 1, 0]])
def test_average_pool_counts_padding_as_onnx_says(tmp_path, count_include_pad, pads):
    """ONNX's default leaves padding out of the average, PyTorch's counts it: an edge value shows the difference."""
    nodes = [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=pads,
                              count_include_pad=count_include_pad)]
    result = imported(tmp_path, nodes, [("x", [1, 2, 7, 7])], ["y"])
    node = next(n for n in result.network.nodes if n.type == "AvgPool2d")
    assert node.params["count_include_pad"] is bool(count_include_pad)


def test_global_pooling_keeps_onnx_shape_and_softmax_of_opset_9_follows(tmp_path):
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]), helper.make_node("Softmax", ["p"], ["y"])]
    result = imported(tmp_path, nodes, [("x", [1, 5, 4, 4])], ["y"], opset=9)
    assert layer_types(result) == ["AdaptiveAvgPool2d", "Softmax"]
    assert next(n for n in result.network.nodes if n.type == "Output").params["role"] == "probabilities"


# ---- normalisation and folding ----------------------------------------------------------------------------------


def test_batch_norm_then_mul_then_add_folds_into_one_batch_norm(tmp_path):
    channels = 4
    inits = {"s": weight(channels), "b": weight(channels), "m": weight(channels),
             "v": np.abs(weight(channels)) + 0.5, "k": weight(channels, 1, 1), "c": weight(1, channels, 1, 1)}
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"], epsilon=1e-3),
             helper.make_node("Mul", ["n", "k"], ["scaled"]), helper.make_node("Add", ["scaled", "c"], ["y"])]
    result = imported(tmp_path, nodes, [("x", [1, channels, 5, 5])], ["y"], inits)
    assert layer_types(result) == ["BatchNorm2d"]
    assert result.op_counts == {"BatchNormalization": 1, "Mul": 1, "Add": 1}


def test_a_constant_added_to_a_branch_used_twice_is_not_folded(tmp_path):
    """Folding into a layer whose output something else also reads would change that reader: refused, listed."""
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]),
             helper.make_node("Add", ["c", "k"], ["a"]), helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Add", ["a", "r"], ["y"])]
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(write_model(tmp_path / "m.onnx", nodes, [("x", [1, 2, 3, 3])], ["y"],
                                {"w": weight(2, 2, 1, 1), "k": weight(1, 2, 1, 1)}))
    assert [(op.op_type, op.count) for op in caught.value.ops] == [("Add", 1)]


def test_lrn_and_dropout(tmp_path):
    nodes = [helper.make_node("LRN", ["x"], ["n"], size=5, alpha=2e-4, beta=0.7, bias=1.5),
             helper.make_node("Dropout", ["n"], ["y"], ratio=0.3)]
    result = imported(tmp_path, nodes, [("x", [1, 8, 4, 4])], ["y"], opset=9)
    lrn = next(n for n in result.network.nodes if n.type == "LocalResponseNorm")
    assert lrn.params == {"size": 5, "alpha": pytest.approx(2e-4), "beta": pytest.approx(0.7), "k": 1.5}


# ---- dense, merges and shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_with_transposes_alpha_and_beta(tmp_path, trans_b):
    b = weight(6, 5) if trans_b else weight(5, 6)
    nodes = [helper.make_node("Gemm", ["x", "b", "c"], ["y"], transB=trans_b, alpha=0.5, beta=2.0)]
    result = imported(tmp_path, nodes, [("x", ["N", 5])], ["y"], {"b": b, "c": weight(6)})
    assert layer_types(result) == ["Linear"]
    assert result.parameter_count == 36


def test_matmul_then_add_is_one_linear_layer(tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])]
    result = imported(tmp_path, nodes, [("x", ["N", 7, 5])], ["y"], {"w": weight(5, 3), "b": weight(3)})
    assert layer_types(result) == ["Linear"]
    assert next(n for n in result.network.nodes if n.type == "Linear").params["bias"] is True


def test_shape_gather_unsqueeze_concat_chain_feeding_reshape_is_folded(tmp_path):
    """``x.view(x.size(0), -1)`` as the TorchScript exporter writes it."""
    inits = {"zero": np.array(0, dtype=np.int64), "minus_one": np.array([-1], dtype=np.int64)}
    nodes = [helper.make_node("Shape", ["x"], ["shape"]), helper.make_node("Gather", ["shape", "zero"], ["n"]),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus_one"], ["target"], axis=0),
             helper.make_node("Reshape", ["x", "target"], ["flat"]), helper.make_node("Gemm", ["flat", "w"], ["y"],
                                                                                        transB=1)]
    inits["axes"] = np.array([0], dtype=np.int64)
    inits["w"] = weight(3, 12)
    result = imported(tmp_path, nodes, [("x", ["N", 3, 2, 2])], ["y"], inits)
    assert layer_types(result) == ["Flatten", "Linear"]


def test_constant_of_shape_weights_and_constant_nodes(tmp_path):
    nodes = [helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(
                 np.array([4, 3], dtype=np.int64))),
             helper.make_node("ConstantOfShape", ["shape"], ["w"], value=numpy_helper.from_array(
                 np.array([0.25], dtype=np.float32))),
             helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)]
    result = imported(tmp_path, nodes, [("x", ["N", 3])], ["y"])
    linear = next(n for n in result.network.nodes if n.type == "Linear")
    assert result.weights[f"{linear.name}.weight"].tolist() == [[0.25] * 3] * 4


def test_variadic_sum_and_a_concat_of_more_inputs_than_a_layer_has_ports(tmp_path):
    names = [f"r{i}" for i in range(10)]
    nodes = [helper.make_node("Relu", ["x"], [names[0]])]
    nodes += [helper.make_node("Sigmoid" if i % 2 else "Tanh", [names[i - 1]], [names[i]]) for i in range(1, 10)]
    nodes += [helper.make_node("Sum", names[:3], ["s"]), helper.make_node("Concat", names, ["c"], axis=1)]
    result = imported(tmp_path, nodes, [("x", ["N", 2, 3])], ["s", "c"])
    types = layer_types(result)
    assert types.count("Add") == 1 and types.count("Concat") == 2  # 8 + the rest


def test_transpose_keeping_the_batch_is_a_permute(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"]), helper.make_node("Transpose", ["r"], ["t"],
                                                                              perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", ["t", "back"], ["y"])]
    inits = {"s": np.array([1, 2, 3, 4, 4], dtype=np.int64), "back": np.array([1, 6, 4, 4], dtype=np.int64)}
    result = imported(tmp_path, nodes, [("x", [1, 6, 4, 4])], ["y"], inits)
    assert layer_types(result) == ["Permute", "Reshape", "Reshape"]


# ---- nothing silent ------------------------------------------------------------------------------------------------


def unsupported_model(tmp_path: Path) -> Path:
    nodes = [helper.make_node("Sin", ["x"], ["a"], name="sin_a"), helper.make_node("Sin", ["a"], ["b"], name="sin_b"),
             helper.make_node("Cos", ["b"], ["c"], name="cos_c"), helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Add", ["c", "r"], ["y"])]
    return write_model(tmp_path / "odd.onnx", nodes, [("x", ["N", 4])], ["y"])


def test_unsupported_operations_are_listed_with_count_and_names(tmp_path):
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(unsupported_model(tmp_path))
    ops = {op.op_type: op for op in caught.value.ops}
    assert set(ops) == {"Sin", "Cos"}
    assert ops["Sin"].count == 2 and ops["Sin"].node_names == ("sin_a", "sin_b")
    assert ops["Cos"].node_names == ("cos_c",)
    assert "Sin × 2" in str(caught.value) and "nothing was written" in str(caught.value)


def test_a_rule_that_refuses_says_why(tmp_path):
    nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="mix_batch")]
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(write_model(tmp_path / "m.onnx", nodes, [("x", [2, 4])], ["y"],
                                {"s": np.array([4, 2], dtype=np.int64)}))
    (op,) = caught.value.ops
    assert op.op_type == "Reshape" and op.node_names == ("mix_batch",) and "batch" in op.reasons[0]


def test_a_model_too_large_for_memory_is_refused_before_allocating(tmp_path, monkeypatch):
    from netbuilder.importers import onnx_import

    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["w"]), helper.make_node("MatMul", ["x", "w"], ["y"])]
    path = write_model(tmp_path / "big.onnx", nodes, [("x", ["N", 50_000])], ["y"],
                       {"shape": np.array([50_000, 50_000], dtype=np.int64)})
    monkeypatch.setattr(onnx_import, "_available_memory", lambda: 2 * 1024**3)
    with pytest.raises(ModelTooLargeError, match="10.0 GB|9.3 GB|GB of weights"):
        import_onnx(path)


def test_a_file_that_is_not_onnx_is_a_file_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a protobuf at all\xff" * 10)
    with pytest.raises(ModelFileError):
        import_onnx(bad)
    with pytest.raises(ModelFileError, match="does not exist"):
        import_onnx(tmp_path / "missing.onnx")


def test_every_zoo_operation_has_a_rule_declared_beside_its_spec():
    rules = onnx_rules()
    for op in ("Conv", "Relu", "BatchNormalization", "Mul", "Add", "Concat", "Reshape", "MaxPool", "Sum",
               "AveragePool", "Transpose", "Gemm", "Softmax", "LRN", "Dropout", "GlobalAveragePool"):
        assert op in rules
        assert rules[op].__module__.startswith("netbuilder.specs.")


# ---- saving and the command line ----------------------------------------------------------------------------------


def small_model(tmp_path: Path) -> Path:
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "fc", "fb"], ["y"], transB=1)]
    return write_model(tmp_path / "small.onnx", nodes, [("x", ["N", 1, 4, 4])], ["y"],
                       {"w": weight(2, 1, 3, 3), "b": weight(2), "fc": weight(3, 32), "fb": weight(3)})


def test_saved_import_opens_and_trains_from_its_weights(tmp_path):
    from netbuilder.io import apply_weights, load_document, load_weights

    result = import_onnx(small_model(tmp_path))
    document_file, weights_file = save_import(result, tmp_path / "small.nbg")
    assert weights_file == tmp_path / "small.safetensors"
    doc = load_document(document_file)
    assert doc.settings["training"]["transfer"]["source"] == "small.safetensors"
    from netbuilder.facade import compile_network, validate

    assert not validate(doc)
    module = compile_network(doc.network())
    report = apply_weights(module, load_weights(weights_file))
    assert report.ok, report.summary()


def test_cli_import_writes_the_document_and_reports_parity_as_json(tmp_path, capsys):
    out = tmp_path / "out.nbg"
    code = main(["import", str(small_model(tmp_path)), "-o", str(out), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and out.is_file() and (tmp_path / "out.safetensors").is_file()
    assert report["ok"] is True and report["parity"]["max_rel_diff"] <= 1e-4 and report["layers"] == 4
    assert main(["import", str(small_model(tmp_path)), "-o", str(out)]) == 2  # exists, no --force
    assert "exists" in capsys.readouterr().err


def test_cli_exit_codes_for_unsupported_and_unreadable_models(tmp_path, capsys):
    out = tmp_path / "odd.nbg"
    assert main(["import", str(unsupported_model(tmp_path)), "-o", str(out), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["error"] == "unsupported_ops" and {u["op_type"] for u in report["unsupported"]} == {"Sin", "Cos"}
    assert not out.exists()
    assert main(["import", str(tmp_path / "nope.onnx"), "-o", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["import", str(tmp_path / "model.h5"), "-o", str(out)]) == 2
    assert main(["import", "net.py:Net", "-o", str(out)]) == 2  # a PyTorch import needs --input-shape
    assert "--input-shape" in capsys.readouterr().err


# ---- recurrent ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_time_major_recurrence_with_gates_reordered(tmp_path, cell):
    """ONNX recurrences read T×N×F and stack their gates in another order than PyTorch: random weights show it."""
    hidden, features, gates = 5, 3, 4 if cell == "LSTM" else 3
    extra = {"linear_before_reset": 1} if cell == "GRU" else {}
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2]),
             helper.make_node(cell, ["t", "w", "r", "b"], ["", "h"], hidden_size=hidden, **extra),
             helper.make_node("Squeeze", ["h", "zero"], ["y"])]
    inits = {"w": weight(1, gates * hidden, features), "r": weight(1, gates * hidden, hidden),
             "b": weight(1, 2 * gates * hidden), "zero": np.array([0], dtype=np.int64)}
    result = imported(tmp_path, nodes, [("x", ["N", "T", features])], ["y"], inits)
    layer = next(n for n in result.network.nodes if n.type == cell)
    assert layer.params["returns"] == "last" and layer.params["hidden_size"] == hidden


def test_token_ids_through_gather_become_an_embedding(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["e"]), helper.make_node("Relu", ["e"], ["y"])], "g",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", "T"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(weight(7, 4), "table")])
    save_graph(graph, tmp_path / "e.onnx", 13)
    result = import_onnx(tmp_path / "e.onnx")
    assert result.parity.ok and layer_types(result) == ["Embedding", "ReLU"]


def test_asymmetric_pools_export_to_onnx_and_pytorch_code(tmp_path):
    """The layer gaps closed for imports work everywhere else too: ONNX export (checked) and code export."""
    from netbuilder.document import Document
    from netbuilder.export import export_onnx, export_pytorch_code

    net = Document().network()
    source = net.add("Input", shape=(2, 7, 7))
    pooled_max = net.add("MaxPool2d", kernel_size=3, stride=2, padding=(0, 0), padding_end=(1, 1), ceil_mode=True)
    pooled_avg = net.add("AvgPool2d", kernel_size=3, stride=2, padding=(1, 0), padding_end=(0, 1),
                         count_include_pad=False)
    net.chain(source, pooled_max, net.add("Output"))
    net.connect(source, pooled_avg)
    net.connect(pooled_avg, net.add("Output"))
    report = export_onnx(net, tmp_path / "pools.onnx")
    assert report.ok and report.output_shapes == [("N", 2, 4, 4), ("N", 2, 3, 3)]
    export_pytorch_code(net, tmp_path / "pools.py")
    assert "class PaddedPool" in (tmp_path / "pools.py").read_text()


# ---- the remaining rules, each against onnxruntime -------------------------------------------------------------------


@pytest.mark.parametrize(("nodes", "inits", "expected"), [
    ([helper.make_node("PRelu", ["x", "slope"], ["y"])], {"slope": weight(3, 1, 1)}, ["PReLU"]),
    ([helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-2, epsilon=1e-3)],
     {"s": weight(4, 5), "b": weight(4, 5)}, ["LayerNorm"]),
    ([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"])], {"s": weight(3), "b": weight(3)},
     ["InstanceNorm2d"]),
    ([helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect")],
     {"pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], dtype=np.int64)}, ["Pad"]),
    ([helper.make_node("Elu", ["x"], ["e"], alpha=0.7), helper.make_node("LeakyRelu", ["e"], ["l"], alpha=0.2),
      helper.make_node("Softplus", ["l"], ["y"])], {}, ["ELU", "LeakyReLU", "Softplus"]),
    ([helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[1, 1]), helper.make_node("Div", ["c", "k"], ["d"]),
      helper.make_node("Sub", ["d", "m"], ["y"])], {"w": weight(2, 3, 1, 1), "k": np.abs(weight(2, 1, 1)) + 0.5,
                                                   "m": weight(2, 1, 1)}, ["Conv2d"]),
    ([helper.make_node("ReduceMean", ["x"], ["y"], axes=[2, 3], keepdims=0)], {}, ["GlobalAvgPool"]),
    ([helper.make_node("Unsqueeze", ["x", "a"], ["u"]), helper.make_node("Squeeze", ["u", "a"], ["y"])],
     {"a": np.array([1, 3], dtype=np.int64)}, ["Squeeze", "Squeeze", "Unsqueeze", "Unsqueeze"]),
], ids=["prelu", "layer-norm", "instance-norm", "pad-reflect", "activations", "div-sub-folded", "reduce-mean",
        "unsqueeze-squeeze"])
def test_rule(tmp_path, nodes, inits, expected):
    result = imported(tmp_path, nodes, [("x", ["N", 3, 4, 5])], ["y"], inits)
    assert layer_types(result) == expected


def test_a_bias_the_graph_builds_as_zeros_is_no_bias_but_a_stored_zero_bias_is_kept(tmp_path):
    """PyTorch's exporter (unoptimised) writes a bias-free convolution's bias as a zero scalar cast like the input
    (CastLike) and expanded to the channels: that is no bias (ResNet-18 would gain 4,800 parameters)."""
    nodes = [
        helper.make_node("Constant", [], ["zero"], value=numpy_helper.from_array(np.array(0.0, np.float32))),
        helper.make_node("Constant", [], ["channels"], value=numpy_helper.from_array(np.array([4], np.int64))),
        helper.make_node("CastLike", ["zero", "x"], ["zero_like"]),
        helper.make_node("Expand", ["zero_like", "channels"], ["b"]),
        helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    ]
    result = imported(tmp_path, nodes, [("x", [1, 2, 5, 5])], ["y"], {"w": weight(4, 2, 3, 3)}, opset=18)
    conv = next(n for n in result.network.nodes if n.type == "Conv2d")
    assert conv.params["bias"] is False and result.parameter_count == 4 * 2 * 3 * 3
    assert result.parity is not None and result.parity.ok

    stored = [helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    kept = imported(tmp_path, stored, [("x", [1, 2, 5, 5])], ["y"],
                    {"w": weight(4, 2, 3, 3), "b": np.zeros(4, np.float32)})
    assert next(n for n in kept.network.nodes if n.type == "Conv2d").params["bias"] is True
