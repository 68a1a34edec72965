"""Multi-head attention written out as many ONNX operations imports as one MultiheadAttention layer, only when the
operations provably compute it; anything else (another scale, a mask the layer has not, a value used elsewhere)
is refused with the reason in words and nothing is imported.

Two kinds of graphs: NetBuilder's own dynamo export of a small causal model (stored, see `attention_fixture`), and
attention written with onnx.helper the way hand-written PyTorch models export it (separate q/k/v projections, a
scale on the scores, a constant mask), where one thing at a time is changed.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from netbuilder.analysis import analyze
from netbuilder.importers import UnsupportedOpsError, import_onnx
from netbuilder.specs.attention import sinusoidal_table
from tests.core.attention_fixture import (
    CROSS_FIXTURE,
    FIXTURE,
    NANOGPT_FIXTURE,
    tiny_causal_network,
    tiny_cross_network,
)

E, HEADS, T = 8, 2, 6
HEAD = E // HEADS
RNG = np.random.default_rng(7)


def weight(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.5).astype(np.float32)


def causal_mask(hidden: float = float(np.finfo(np.float32).min)) -> np.ndarray:
    return np.where(np.tril(np.ones((T, T), dtype=bool)), 0.0, hidden).astype(np.float32)


def attention_graph(path: Path, *, scale: float = 1 / math.sqrt(HEAD), mask: np.ndarray | None = None,
                    where_mask: np.ndarray | None = None, interleaved: bool = False, merge: tuple[int, ...] | None = None,
                    probs_output: bool = False, memory: int | None = None, batch: int = 0) -> Path:
    """Self-attention on x: N×T×E as `torch` code writes it by hand: q, k, v = x@Wq+bq, …; heads split by Reshape
    and Transpose; softmax(q·kᵀ·scale + mask)·v; heads merged; @Wo + bo."""
    inits = {f"w{p}": weight(memory if memory and p in "kv" else E, E) for p in "qkvo"}
    inits |= {f"b{p}": weight(E) for p in "qkvo"}
    split = [batch, 0, HEAD, HEADS] if interleaved else [batch, 0, HEADS, HEAD]  # batch 0: the input's
    inits |= {"split": np.array(split, np.int64), "merged": np.array([0, -1, E], np.int64),
              "scale": np.array(scale, np.float32)}
    head_first = [0, 3, 1, 2] if interleaved else [0, 2, 1, 3]  # N×H×T×d
    keys_first = [0, 3, 2, 1] if interleaved else [0, 2, 3, 1]  # N×H×d×T
    nodes = []
    for p in "qkv":
        source = "m" if memory and p in "kv" else "x"
        nodes += [helper.make_node("MatMul", [source, f"w{p}"], [f"{p}0"]),
                  helper.make_node("Add", [f"{p}0", f"b{p}"], [f"{p}1"]),
                  helper.make_node("Reshape", [f"{p}1", "split"], [f"{p}2"]),
                  helper.make_node("Transpose", [f"{p}2"], [f"{p}3"], perm=keys_first if p == "k" else head_first)]
    nodes += [helper.make_node("MatMul", ["q3", "k3"], ["s0"]), helper.make_node("Mul", ["s0", "scale"], ["s1"])]
    scores = "s1"
    if mask is not None:
        inits["mask"] = mask
        nodes.append(helper.make_node("Add", [scores, "mask"], ["s2"]))
        scores = "s2"
    if where_mask is not None:
        inits |= {"keep": where_mask, "hidden": np.array(-np.inf, np.float32)}
        nodes.append(helper.make_node("Where", ["keep", scores, "hidden"], ["s3"]))
        scores = "s3"
    back = merge or ([0, 2, 3, 1] if interleaved else [0, 2, 1, 3])
    nodes += [helper.make_node("Softmax", [scores], ["probs"], axis=-1),
              helper.make_node("MatMul", ["probs", "v3"], ["o0"]),
              helper.make_node("Transpose", ["o0"], ["o1"], perm=back),
              helper.make_node("Reshape", ["o1", "merged"], ["o2"]),
              helper.make_node("MatMul", ["o2", "wo"], ["o3"]),
              helper.make_node("Add", ["o3", "bo"], ["y"])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, E])]
    if memory:
        inputs.append(helper.make_tensor_value_info("m", TensorProto.FLOAT, ["N", T - 2, memory]))
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)]
    if probs_output:
        outputs.append(helper.make_tensor_value_info("probs", TensorProto.FLOAT, None))
    graph = helper.make_graph(nodes, "attention", inputs, outputs,
                              [numpy_helper.from_array(array, name) for name, array in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def the_attention(result):
    (node,) = [n for n in result.network.nodes if n.type == "MultiheadAttention"]
    return node


def refusal(error: UnsupportedOpsError) -> str:
    """The reasons given for the Softmax (where the attention pattern is judged)."""
    (softmax,) = [op for op in error.ops if op.op_type == "Softmax"]
    return " ".join(softmax.reasons)


# ---- what is proved equal is imported ------------------------------------------------------------------------------


def test_netbuilder_export_of_causal_attention_comes_back_as_the_same_layers():
    original = tiny_causal_network()
    result = import_onnx(FIXTURE)
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    types = Counter(n.type for n in result.network.nodes)
    assert types == Counter(n.type for n in original.nodes)
    assert result.parameter_count == analyze(original).total_params
    attention = the_attention(result)
    assert attention.name == "attn"
    assert attention.params["num_heads"] == 2 and attention.params["causal"] is True
    position = next(n for n in result.network.nodes if n.type == "PositionalEncoding")
    assert position.params == {"kind": "learned", "max_len": 12}


def test_netbuilder_export_of_cross_attention_to_a_narrower_memory_comes_back_the_same():
    original = tiny_cross_network()
    result = import_onnx(CROSS_FIXTURE)
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert Counter(n.type for n in result.network.nodes) == Counter(n.type for n in original.nodes)
    assert result.parameter_count == analyze(original).total_params
    attention = the_attention(result)
    assert attention.params == {"num_heads": 2, "mode": "cross", "causal": False, "dropout": 0.0}
    assert {w.dst_port: result.network.node(w.src).name for w in result.network.wires_into(attention.id)} == \
        {"in": "queries", "memory": "memory"}


def test_attention_written_by_hand_as_nanogpt_does_is_one_causal_layer():
    """Packed c_attn split in three, a tril buffer sliced to the length and masked_fill: PyTorch's dynamo export."""
    result = import_onnx(NANOGPT_FIXTURE)
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert [n.type for n in result.network.nodes] == ["Input", "MultiheadAttention", "Output"]
    assert the_attention(result).params == {"num_heads": 4, "mode": "self", "causal": True, "dropout": 0.0}
    assert result.parameter_count == 4 * 16 * 16 + 4 * 16  # c_attn and c_proj; the mask buffer is no parameter


@pytest.mark.parametrize("layout", ["heads first", "heads interleaved"])
def test_hand_written_attention_with_separate_projections_is_one_layer(tmp_path, layout):
    result = import_onnx(attention_graph(tmp_path / "a.onnx", interleaved=layout == "heads interleaved"))
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert [n.type for n in result.network.nodes] == ["Input", "MultiheadAttention", "Output"]
    assert the_attention(result).params["num_heads"] == HEADS
    assert the_attention(result).params["causal"] is False
    assert result.parameter_count == 4 * E * E + 4 * E


@pytest.mark.parametrize("how", ["additive float minimum", "additive -inf", "where"])
def test_a_causal_mask_is_the_causal_setting(tmp_path, how):
    if how == "where":
        path = attention_graph(tmp_path / "a.onnx", where_mask=np.tril(np.ones((T, T), dtype=bool)))
    else:
        path = attention_graph(tmp_path / "a.onnx", mask=causal_mask(-np.inf if how == "additive -inf" else
                                                                      float(np.finfo(np.float32).min)))
    result = import_onnx(path)
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    assert the_attention(result).params["causal"] is True


# ---- what is not, is refused in words, and nothing is imported -----------------------------------------------------


def test_another_scale_is_refused(tmp_path):
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(attention_graph(tmp_path / "a.onnx", scale=0.2))
    assert "scaled by 0.2, not by 1/√4 = 0.5" in refusal(caught.value)
    assert any(op.op_type == "MatMul" for op in caught.value.ops)  # its products stay refused: nothing half-built


@pytest.mark.parametrize(("mask", "words"), [
    (np.where(np.abs(np.subtract.outer(np.arange(T), np.arange(T))) <= 1, 0.0, -np.inf).astype(np.float32),
     "neither none nor causal"),
    (np.where(np.tril(np.ones((T, T))), 0.0, -np.inf).T.astype(np.float32), "neither none nor causal"),
    (weight(T, T), "values other than 0 and -inf"),
], ids=["sliding window", "anti-causal", "position bias"])
def test_a_mask_the_layer_cannot_express_is_refused(tmp_path, mask, words):
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(attention_graph(tmp_path / "a.onnx", mask=mask))
    assert words in refusal(caught.value)


def test_heads_merged_without_the_transpose_are_refused(tmp_path):
    """A classic bug: the heads' outputs reshaped back without moving the head axis mixes positions."""
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(attention_graph(tmp_path / "a.onnx", merge=(0, 1, 2, 3)))
    assert "mixes positions" in refusal(caught.value)


def test_attention_that_only_works_at_its_export_batch_size_is_refused(tmp_path):
    """The batch written into a Reshape (TorchScript exports often do this) while the input declares it free."""
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(attention_graph(tmp_path / "a.onnx", batch=2))
    assert "only works at the sizes it was exported with (with batch 3" in refusal(caught.value)


def test_attention_weights_used_outside_are_refused(tmp_path):
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(attention_graph(tmp_path / "a.onnx", probs_output=True))
    assert "attention weights 'probs' are an output of the network" in refusal(caught.value)


@pytest.mark.parametrize("width", [E, 5], ids=["memory as wide", "memory narrower"])
def test_keys_and_values_from_a_second_sequence_are_cross_attention(tmp_path, width):
    result = import_onnx(attention_graph(tmp_path / "a.onnx", memory=width))
    assert result.parity is not None and result.parity.ok, result.parity.summary()
    attention = the_attention(result)
    assert attention.params["mode"] == "cross" and attention.params["num_heads"] == HEADS
    assert result.parameter_count == 2 * E * E + 2 * width * E + 4 * E == analyze(result.network).total_params
    wires = {w.dst_port: result.network.node(w.src).name for w in result.network.wires_into(attention.id)}
    assert wires == {"in": "x", "memory": "m"}


def test_cross_attention_with_a_causal_mask_is_refused(tmp_path):
    keep = np.tril(np.ones((T, T - 2), dtype=bool))
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(attention_graph(tmp_path / "a.onnx", memory=E, where_mask=keep))
    assert "masks cross-attention" in refusal(caught.value)


def edited_fixture(tmp_path: Path, edit) -> Path:
    model = onnx.load(str(FIXTURE))
    edit(model.graph)
    path = tmp_path / "edited.onnx"
    onnx.save(model, str(path))
    return path


def test_the_exported_pattern_with_its_scores_rescaled_is_refused(tmp_path):
    def rescale(graph):
        softmax = next(n for n in graph.node if n.op_type == "Softmax")
        graph.initializer.append(numpy_helper.from_array(np.array(1.25, np.float32), "extra_scale"))
        rescaled = helper.make_node("Mul", [softmax.input[0], "extra_scale"], ["rescaled"])
        softmax.input[0] = "rescaled"
        graph.node.insert(list(graph.node).index(softmax), rescaled)

    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(edited_fixture(tmp_path, rescale))
    assert "scaled by 0.625, not by 1/√4 = 0.5" in refusal(caught.value)


def test_the_exported_causal_mask_shifted_by_one_step_is_refused(tmp_path):
    def shift(graph):
        trilu = next(n for n in graph.node if n.op_type == "Trilu")
        graph.initializer.append(numpy_helper.from_array(np.array(1, np.int64), "one_step"))
        trilu.input.append("one_step")  # each step also sees the next one

    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(edited_fixture(tmp_path, shift))
    assert "neither none nor causal" in refusal(caught.value)


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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "p.onnx"))
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "p.onnx"))
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "s.onnx"))
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
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
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
