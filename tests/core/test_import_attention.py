"""Multi-head attention written out as many ONNX operations imports as one MultiheadAttention layer, only when the
operations provably compute it; anything else (another scale, a mask the layer has not, a value used elsewhere)
is refused with the reason in words and nothing is imported.

Two kinds of graphs: NetBuilder's own dynamo export of a small causal model (stored, see `onnx_fixtures`), and
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
from onnx_fixtures import (
    CROSS_FIXTURE,
    FIXTURE,
    NANOGPT_FIXTURE,
    save_graph,
    tiny_causal_network,
    tiny_cross_network,
)

from netbuilder.analysis import analyze
from netbuilder.importers import UnsupportedOpsError, import_onnx

E, HEADS, T = 8, 2, 6
HEAD = E // HEADS
RNG = np.random.default_rng(7)


def weight(*shape: int) -> np.ndarray:
    return (RNG.standard_normal(shape) * 0.5).astype(np.float32)


def causal_mask(hidden: float = float(np.finfo(np.float32).min)) -> np.ndarray:
    return np.where(np.tril(np.ones((T, T), dtype=bool)), 0.0, hidden).astype(np.float32)


def attention_graph(path: Path, *, scale: float = 1 / math.sqrt(HEAD), mask: np.ndarray | None = None,
                    where_mask: np.ndarray | None = None, interleaved: bool = False, merge: tuple[int, ...] | None = None,
                    probs_output: bool = False, memory: int | None = None, batch: int = 0,
                    q_scale: float = 1.0, k_scale: float = 1.0) -> Path:
    """Self-attention on x: N×T×E as `torch` code writes it by hand: q, k, v = x@Wq+bq, …; heads split by Reshape
    and Transpose; softmax(q·kᵀ·scale + mask)·v; heads merged; @Wo + bo."""
    inits = {f"w{p}": weight(memory if memory and p in "kv" else E, E) for p in "qkvo"}
    inits |= {f"b{p}": weight(E) for p in "qkvo"}
    split = [batch, 0, HEAD, HEADS] if interleaved else [batch, 0, HEADS, HEAD]  # batch 0: the input's
    inits |= {"split": np.array(split, np.int64), "merged": np.array([0, -1, E], np.int64),
              "scale": np.array(scale, np.float32), "q_scale": np.array(q_scale, np.float32),
              "k_scale": np.array(k_scale, np.float32)}
    head_first = [0, 3, 1, 2] if interleaved else [0, 2, 1, 3]  # N×H×T×d
    keys_first = [0, 3, 2, 1] if interleaved else [0, 2, 3, 1]  # N×H×d×T
    nodes = []
    for p in "qkv":
        source = "m" if memory and p in "kv" else "x"
        nodes += [helper.make_node("MatMul", [source, f"w{p}"], [f"{p}0"]),
                  helper.make_node("Add", [f"{p}0", f"b{p}"], [f"{p}1"]),
                  helper.make_node("Reshape", [f"{p}1", "split"], [f"{p}2"]),
                  helper.make_node("Transpose", [f"{p}2"], [f"{p}3"], perm=keys_first if p == "k" else head_first)]
    nodes += [helper.make_node("Mul", ["q3", "q_scale"], ["q4"]), helper.make_node("Mul", ["k_scale", "k3"], ["k4"]),
              helper.make_node("MatMul", ["q4", "k4"], ["s0"]), helper.make_node("Mul", ["s0", "scale"], ["s1"])]
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
    save_graph(graph, path, 17)
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


def test_a_padding_mask_from_an_input_is_refused(tmp_path):
    path = attention_graph(tmp_path / "a.onnx")
    model = onnx.load(str(path))
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    model.graph.node.insert(list(model.graph.node).index(softmax),
                            helper.make_node("Add", [softmax.input[0], "padding"], ["padded"]))
    softmax.input[0] = "padded"
    model.graph.input.append(helper.make_tensor_value_info("padding", TensorProto.FLOAT, ["N", 1, 1, T]))
    onnx.save(model, str(path))
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(path)
    assert "padding mask" in refusal(caught.value)


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


def test_keys_of_only_some_positions_are_refused(tmp_path):
    """Every query must see every (earlier) key: keys sliced to the first positions are not the layer's attention."""
    def drop_last_key(graph):
        keys = next(n for n in graph.node if n.output[0] == "k4")  # keys N×H×d×T, scaled
        graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), "from"),
                                  numpy_helper.from_array(np.array([T - 1], np.int64), "to"),
                                  numpy_helper.from_array(np.array([3], np.int64), "axis")])
        graph.node.insert(list(graph.node).index(keys) + 1,
                          helper.make_node("Slice", ["k4", "from", "to", "axis"], ["k4_sliced"]))
        next(n for n in graph.node if n.output[0] == "s0").input[1] = "k4_sliced"

    path = attention_graph(tmp_path / "a.onnx")
    model = onnx.load(str(path))
    drop_last_key(model.graph)
    onnx.save(model, str(path))
    with pytest.raises(UnsupportedOpsError) as caught:
        import_onnx(path)
    assert "does not run over every key position once" in refusal(caught.value)


@pytest.mark.parametrize("seed", range(16))
def test_random_attention_variants_are_imported_exactly_when_they_are_the_layer(tmp_path, seed):
    """Where the scale sits and how the heads are laid out, drawn at random; on odd seeds one thing is also made
    wrong (the scale, the mask, the head merge). A variant that is the layer imports with parity; any other is
    refused with the reason, never imported."""
    rng = np.random.default_rng(seed)
    right = 1 / math.sqrt(HEAD)
    q_scale, k_scale = [(1.0, 1.0), (right, 1.0), (math.sqrt(right), math.sqrt(right)), (2.0, right / 4)][
        rng.integers(4)]
    settings = {"q_scale": q_scale, "k_scale": k_scale, "scale": right / (q_scale * k_scale),
                "interleaved": bool(rng.integers(2)), "mask": causal_mask() if rng.integers(2) else None}
    wrong = str(rng.choice(["scale", "window mask", "bias mask", "merge"])) if seed % 2 else ""
    if wrong == "scale":
        settings["scale"] *= float(rng.choice([0.5, 1.1, 2.0]))
    elif wrong == "window mask":
        window = np.abs(np.subtract.outer(np.arange(T), np.arange(T))) <= 2
        settings["mask"] = np.where(window, 0.0, -np.inf).astype(np.float32)
    elif wrong == "bias mask":
        settings["mask"] = weight(T, T)
    elif wrong == "merge":
        settings["merge"] = (0, 1, 2, 3)
    path = attention_graph(tmp_path / "a.onnx", **settings)
    if not wrong:
        result = import_onnx(path)
        assert result.parity is not None and result.parity.ok, result.parity.summary()
        assert the_attention(result).params["causal"] is (settings["mask"] is not None)
    else:
        with pytest.raises(UnsupportedOpsError) as caught:
            import_onnx(path)
        assert refusal(caught.value).startswith("it looks like multi-head attention, but"), wrong
