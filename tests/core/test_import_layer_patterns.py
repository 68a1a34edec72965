"""ONNX import of layers that exporters write as several operations or as a shared tensor: a position table added
to a sequence (PositionalEncoding), a decoder reading the embedding's table (a tied Linear), GELU written out with
Erf. Each is imported only in its exact form; anything else goes through the per-operation rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_fixtures import TIED_FIXTURE, save_graph, tiny_tied_network

from netbuilder.analysis import analyze
from netbuilder.importers import UnsupportedOpsError, import_onnx
from netbuilder.specs.attention import sinusoidal_table

E, T = 8, 6
RNG = np.random.default_rng(11)


def weight(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.5).astype(np.float32)


# ---- position tables -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("table", "kind", "params"), [
    (sinusoidal_table(T, E), "sinusoidal", 0),
    (weight(T, E), "learned", T * E),
], ids=["sinusoidal", "learned"])
def test_a_table_added_to_a_sequence_is_a_positional_encoding(tmp_path, table, kind, params):
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "table"], ["y"])], "positions",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, E])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(table, "table")])
    save_graph(graph, tmp_path / "p.onnx", 17)
    result = import_onnx(tmp_path / "p.onnx")
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    (node,) = [n for n in result.network.nodes if n.type == "PositionalEncoding"]
    assert node.params == {"kind": kind, "max_len": T}
    assert result.parameter_count == params


# ---- weight tying --------------------------------------------------------------------------------------------------


def tied_language_model(path: Path, decoder_scale: float | None = None) -> Path:
    """Token ids → embedding table lookup → … → logits from the same table (read transposed) plus a bias: what
    PyTorch exports for ``decoder.weight = embed.weight``."""
    vocab, dim = 13, 6
    nodes = [helper.make_node("Gather", ["table", "ids"], ["embedded"]),
             helper.make_node("Tanh", ["embedded"], ["h"]),
             helper.make_node("Transpose", ["table"], ["table_t"], perm=[1, 0]),
             helper.make_node("MatMul", ["h", "table_t"], ["raw"]),
             helper.make_node("Add", ["raw", "bias"], ["logits" if decoder_scale is None else "unscaled"])]
    inits = {"table": weight(vocab, dim), "bias": weight(vocab)}
    if decoder_scale is not None:
        inits["scale"] = np.full(vocab, decoder_scale, np.float32)
        nodes.append(helper.make_node("Mul", ["unscaled", "scale"], ["logits"]))
    graph = helper.make_graph(nodes, "tied", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", "T"])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(array, name) for name, array in inits.items()])
    save_graph(graph, path, 17)
    return path


def test_a_decoder_reading_the_embedding_table_is_tied_to_it_and_counted_once(tmp_path):
    from netbuilder.importers import save_import

    result = import_onnx(tied_language_model(tmp_path / "lm.onnx"))
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    embedding = next(n for n in result.network.nodes if n.type == "Embedding")
    decoder = next(n for n in result.network.nodes if n.type == "Linear")
    assert decoder.params["tie_weight_to"] == embedding.name
    assert result.parameter_count == 13 * 6 + 13 == analyze(result.network).total_params
    module = result.compile()
    assert getattr(module, decoder.name).weight is getattr(module, embedding.name).weight
    document, weights = save_import(result, tmp_path / "lm.nbg")  # safetensors takes the shared table
    assert weights.stat().st_size > 0


def test_netbuilder_export_of_a_tied_decoder_comes_back_tied_and_counted_once():
    original = tiny_tied_network()
    result = import_onnx(TIED_FIXTURE)
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert result.network.find("decoder").params["tie_weight_to"] == "embed"
    assert result.parameter_count == analyze(original).total_params == 20 * 8 + 20


def test_a_decoder_that_rescales_the_table_is_not_tied(tmp_path):
    result = import_onnx(tied_language_model(tmp_path / "lm.onnx", decoder_scale=0.5))
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    decoder = next(n for n in result.network.nodes if n.type == "Linear")
    assert decoder.params["tie_weight_to"] == ""
    assert result.parameter_count == 2 * 13 * 6 + 13 == analyze(result.network).total_params


def test_a_table_sliced_to_the_variable_length_is_a_learned_positional_encoding(tmp_path):
    """x + table[:x.shape[1]] with a variable length: the Slice ends at the length itself (a constant table, not
    an initializer, here)."""
    table = weight(10, E)
    nodes = [helper.make_node("Constant", [], ["table"], value=numpy_helper.from_array(table)),
             helper.make_node("Shape", ["x"], ["shape"], start=1, end=2),
             helper.make_node("Slice", ["table", "zero", "shape", "zero"], ["rows"]),
             helper.make_node("Add", ["x", "rows"], ["y"])]
    graph = helper.make_graph(nodes, "positions", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", E])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(np.zeros(1, np.int64), "zero")])
    save_graph(graph, tmp_path / "p.onnx", 17)
    result = import_onnx(tmp_path / "p.onnx")
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    (node,) = [n for n in result.network.nodes if n.type == "PositionalEncoding"]
    assert node.params == {"kind": "learned", "max_len": 10}
    assert result.parameter_count == 10 * E


def test_a_slice_up_to_the_variable_length_used_otherwise_is_refused_not_emptied(tmp_path):
    nodes = [helper.make_node("Shape", ["x"], ["shape"], start=1, end=2),
             helper.make_node("Slice", ["table", "zero", "shape", "one"], ["columns"]),
             helper.make_node("MatMul", ["x", "columns"], ["y"])]
    graph = helper.make_graph(nodes, "slice", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(weight(4, 9), "table"),
                               numpy_helper.from_array(np.zeros(1, np.int64), "zero"),
                               numpy_helper.from_array(np.ones(1, np.int64), "one")])
    save_graph(graph, tmp_path / "s.onnx", 17)
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(tmp_path / "s.onnx")
    assert any(op.op_type == "Slice" and "sequence length" in " ".join(op.reasons) for op in caught.value.ops)


# ---- GELU written out with Erf (opsets before 20) ------------------------------------------------------------------


def gelu_graph(path: Path, form: str, half: float = 0.5) -> Path:
    """y = GELU(x @ W) with GELU as x·½·(1 + erf(x/√2)), in the forms exporters write."""
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"])]
    if form == "div":
        nodes.append(helper.make_node("Div", ["h", "root2"], ["a"]))
    else:
        nodes.append(helper.make_node("Mul", ["inv_root2", "h"], ["a"]))
    nodes += [helper.make_node("Erf", ["a"], ["b"]), helper.make_node("Add", ["b", "one"], ["c"])]
    if form == "div":  # TorchScript: (x · (1+erf)) · ½
        nodes += [helper.make_node("Mul", ["h", "c"], ["d"]), helper.make_node("Mul", ["d", "half"], ["y"])]
    elif form == "half first":  # (x · ½) · (1+erf)
        nodes += [helper.make_node("Mul", ["h", "half"], ["e"]), helper.make_node("Mul", ["e", "c"], ["y"])]
    else:  # (½ · (1+erf)) · x
        nodes += [helper.make_node("Mul", ["c", "half"], ["e"]), helper.make_node("Mul", ["e", "h"], ["y"])]
    inits = {"w": weight(E, E), "root2": np.array(math.sqrt(2), np.float32),
             "inv_root2": np.array(1 / math.sqrt(2), np.float32), "one": np.array(1.0, np.float32),
             "half": np.array(half, np.float32)}
    graph = helper.make_graph(nodes, "gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", E])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(array, name) for name, array in inits.items()])
    save_graph(graph, path, 13)
    return path


@pytest.mark.parametrize("form", ["div", "half first", "half last"])
def test_gelu_written_with_erf_is_one_gelu_layer(tmp_path, form):
    result = import_onnx(gelu_graph(tmp_path / "g.onnx", form))
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert [n.type for n in result.network.nodes] == ["Input", "Linear", "GELU", "Output"]


def test_an_erf_chain_with_another_constant_is_not_gelu(tmp_path):
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(gelu_graph(tmp_path / "g.onnx", "div", half=0.6))
    assert [op.op_type for op in caught.value.ops] == ["Erf"]


# ---- LayerNorm written out (opsets before 17) ----------------------------------------------------------------------


def layer_norm_graph(path: Path, square: str = "pow", affine: bool = True, variance_axes: list[int] | None = None,
                     opset: int = 13) -> Path:
    """y = LayerNorm over the last axis of x: N×T×E, as (x − m) / √(mean((x − m)²) + ε) · γ + β."""
    axes = [-1]
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=axes),
             helper.make_node("Sub", ["x", "m"], ["d"]),
             helper.make_node("Pow", ["d", "two"], ["p"]) if square == "pow" else
             helper.make_node("Mul", ["d", "d"], ["p"]),
             helper.make_node("ReduceMean", ["p"], ["v"], axes=variance_axes or axes),
             helper.make_node("Add", ["v", "eps"], ["a"]), helper.make_node("Sqrt", ["a"], ["s"]),
             helper.make_node("Div", ["d", "s"], ["n" if affine else "y"])]
    inits = {"two": np.array(2.0, np.float32), "eps": np.array(1e-5, np.float32)}
    if affine:
        nodes += [helper.make_node("Mul", ["n", "gamma"], ["g"]), helper.make_node("Add", ["g", "beta"], ["y"])]
        inits |= {"gamma": weight(E), "beta": weight(E)}
    graph = helper.make_graph(nodes, "ln", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, E])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(array, name) for name, array in inits.items()])
    save_graph(graph, path, opset)
    return path


@pytest.mark.parametrize(("square", "affine"), [("pow", True), ("mul", True), ("pow", False)])
def test_layer_norm_written_out_is_one_layer_norm(tmp_path, square, affine):
    result = import_onnx(layer_norm_graph(tmp_path / "ln.onnx", square, affine))
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    (node,) = [n for n in result.network.nodes if n.type not in ("Input", "Output")]
    assert node.type == "LayerNorm" and node.params["axes"] == 1 and node.params["affine"] is affine
    assert math.isclose(node.params["eps"], 1e-5, rel_tol=1e-6)
    assert result.parameter_count == (2 * E if affine else 0)


def test_a_variance_over_other_axes_is_not_a_layer_norm(tmp_path):
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(layer_norm_graph(tmp_path / "ln.onnx", variance_axes=[-2]))
    assert "Pow" in {op.op_type for op in caught.value.ops}  # left to the per-operation rules, which refuse it
