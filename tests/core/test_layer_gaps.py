"""Layers real models need (issue 13, item 6), beyond the per-spec checks of test_specs.py: Scale, recurrent
state in and out (a stateful language model generating one token at a time), and weight tying."""

from __future__ import annotations

import pytest
import torch

from netbuilder.analysis import analyze
from netbuilder.compile import CompileError, compile_network
from netbuilder.document import Document
from netbuilder.export.pytorch_code import export_pytorch_code
from netbuilder.io import load_document, save_document
from netbuilder.specs import LayerContext, ShapeError, TensorType, get_spec

VOCAB, DIM, HIDDEN = 13, 8, 6


# ---------------------------------------------------------------------------------------------------------------
# Scale


def test_scale_multiplies_embeddings_by_the_root_of_their_size() -> None:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="tokens", shape=("T",), dtype="int64"),
              net.add("Embedding", name="embed", vocab_size=VOCAB, dim=16),
              net.add("Scale", name="scale", times_sqrt_features=True),
              net.add("Output", role="features"))
    module = compile_network(net, seed=0)
    tokens = torch.tensor([[1, 2, 3]])
    expected = module.embed(tokens) * 4.0  # √16
    torch.testing.assert_close(module(tokens), expected)
    assert analyze(net).nodes[net.find("scale").id].params == 0


def test_scale_by_root_needs_a_fixed_last_axis() -> None:
    spec = get_spec("Scale")
    with pytest.raises(ShapeError, match="last axis"):
        spec.infer(LayerContext(spec.coerce_params({"times_sqrt_features": True}), (TensorType(("N", 4, "T")),)))
    plain = spec.infer(LayerContext(spec.coerce_params({"factor": 2}), (TensorType(("N", 4, "T")),)))
    assert plain[0].shape == ("N", 4, "T")  # a plain factor needs no size


def test_scale_labels() -> None:
    spec = get_spec("Scale")
    assert spec.summary(spec.coerce_params({"factor": 2})) == "×2"
    assert spec.summary(spec.coerce_params({"times_sqrt_features": True})) == "×√D"


# ---------------------------------------------------------------------------------------------------------------
# Recurrent state in and out


def stateful_lm(cell: str, doc: Document | None = None) -> Document:
    """One step of a stateful language model: a token and the state in, next-token logits and the state out."""
    doc = doc or Document()
    net = doc.network()
    rnn = net.add(cell, name="rnn", hidden_size=HIDDEN, num_layers=2, initial_state=True, final_state=True)
    net.chain(net.add("Input", name="tokens", shape=("T",), dtype="int64"),
              net.add("Embedding", name="embed", vocab_size=VOCAB, dim=DIM), rnn)
    states = ["h"] + (["c"] if cell == "LSTM" else [])
    for kind in states:
        net.connect(net.add("Input", name=f"{kind}_in", shape=(2, HIDDEN)), rnn, dst_port=f"{kind}0")
        net.connect(rnn, net.add("Output", name=f"{kind}_out", role="features"), src_port=f"{kind}_n")
    net.chain(rnn, net.add("Linear", name="decoder", units=VOCAB),
              net.add("Output", name="next_token", role="token_logits"))
    return doc


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_one_step_generation_carries_the_state(cell: str) -> None:
    net = stateful_lm(cell).network()
    result = analyze(net)
    assert result.ok, result.diagnostics
    assert result.nodes[net.find("rnn").id].outputs["h_n"].shape == ("N", 2, HIDDEN)
    module = compile_network(net, seed=0).eval()
    sequence = torch.tensor([[3, 1, 4, 1, 5]])
    zeros = [torch.zeros(1, 2, HIDDEN)] * (2 if cell == "LSTM" else 1)
    with torch.no_grad():
        whole = module(sequence, *zeros)
        state, logits = zeros, None
        for step in range(sequence.shape[1]):  # one token at a time, the state handed on
            *state, logits = module(sequence[:, step:step + 1], *state)  # outputs in document order
    # Token by token with the state carried equals the whole sequence at once.
    torch.testing.assert_close(logits[:, -1], whole[-1][:, -1])
    for carried, at_once in zip(state, whole[:-1], strict=True):
        torch.testing.assert_close(carried, at_once)


def test_a_state_of_the_wrong_size_is_refused_in_words() -> None:
    doc = Document()
    net = doc.network()
    rnn = net.add("GRU", name="rnn", hidden_size=HIDDEN, initial_state=True)
    net.chain(net.add("Input", shape=("T", 4)), rnn, net.add("Output"))
    net.connect(net.add("Input", name="h_in", shape=(2, HIDDEN)), rnn, dst_port="h0")
    errors = analyze(net).errors
    assert len(errors) == 1 and errors[0].node_name == "rnn" and errors[0].param == "initial_state"
    assert "N×1×6" in errors[0].message and "N×2×6" in errors[0].message


def test_state_ports_follow_the_params() -> None:
    spec = get_spec("LSTM")
    assert [p.name for p in spec.input_ports({})] == ["in"]
    assert [p.name for p in spec.input_ports({"initial_state": True})] == ["in", "h0", "c0"]
    assert [p.name for p in spec.output_ports({"final_state": True})] == ["out", "h_n", "c_n"]
    assert [p.name for p in get_spec("GRU").output_ports({"final_state": True})] == ["out", "h_n"]


# ---------------------------------------------------------------------------------------------------------------
# Weight tying


def tied_lm(units: int = VOCAB, target: str = "embed") -> Document:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="tokens", shape=("T",), dtype="int64"),
              net.add("Embedding", name="embed", vocab_size=VOCAB, dim=DIM),
              net.add("GRU", name="rnn", hidden_size=DIM),
              net.add("Linear", name="decoder", units=units, tie_weight_to=target),
              net.add("Output", name="next_token", role="token_logits"))
    return doc


def test_a_tied_decoder_shares_the_embedding_weight() -> None:
    net = tied_lm().network()
    result = analyze(net)
    assert result.ok
    module = compile_network(net, seed=0)
    assert module.decoder.weight is module.embed.weight  # one Parameter, not a copy
    # Counted once: the analysis (as summary shows it) agrees with the compiled module.
    assert result.total_params == sum(p.numel() for p in module.parameters())
    assert result.nodes[net.find("decoder").id].params == VOCAB  # the bias only
    # Training the decoder moves the embedding.
    before = module.embed.weight.detach().clone()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module(torch.tensor([[1, 2, 3]])).sum().backward()
    optimizer.step()
    assert not torch.equal(before, module.embed.weight)


def test_the_tie_survives_saving_and_pytorch_code_export(tmp_path) -> None:
    path = tmp_path / "tied.nbg"
    save_document(tied_lm(), path)
    net = load_document(path).network()
    assert net.find("decoder").params["tie_weight_to"] == "embed"
    module = compile_network(net, seed=0).eval()
    code = export_pytorch_code(module)
    assert "self.decoder.weight = self.embed.weight" in code
    namespace: dict = {}
    exec(compile(code, "tied.py", "exec"), namespace)  # noqa: S102 - our own generated file
    written = namespace["Model"]()
    written.load_state_dict(module.state_dict())
    assert written.decoder.weight is written.embed.weight
    tokens = torch.tensor([[1, 5, 2]])
    with torch.no_grad():
        torch.testing.assert_close(written.eval()(tokens), module(tokens))


@pytest.mark.parametrize(("units", "target", "words"), [
    (VOCAB + 1, "embed", ["equal shapes", f"{VOCAB + 1}×{DIM}", f"{VOCAB}×{DIM}", f"Set units to {VOCAB}"]),
    (VOCAB, "nowhere", ["no layer", "'nowhere'"]),
    (VOCAB, "rnn", ["(GRU)", "only an Embedding"]),
])
def test_a_tie_that_cannot_be_made_is_an_error_on_the_linear(units: int, target: str, words: list[str]) -> None:
    net = tied_lm(units, target).network()
    errors = analyze(net).errors
    assert len(errors) == 1 and errors[0].node_name == "decoder" and errors[0].param == "tie_weight_to"
    for word in words:
        assert word in str(errors[0])
    with pytest.raises(CompileError):
        compile_network(net)


def test_renaming_the_embedding_breaks_the_tie_visibly_and_fixing_it_clears_it() -> None:
    net = tied_lm().network()
    net.rename("embed", "table")
    assert any("no layer" in d.message for d in analyze(net).errors)
    net.set_params("decoder", tie_weight_to="table")
    assert analyze(net).ok


def test_tied_weights_train_in_one_optimiser_group() -> None:
    from netbuilder.train.optim import node_params

    net = tied_lm().network()
    module = compile_network(net, seed=0)
    params = [p for item in node_params(module, net) for p in item.params]
    assert len(params) == len({id(p) for p in params})
    assert sum(p.numel() for p in params) == sum(p.numel() for p in module.parameters())


def test_a_stateful_tied_language_model_exports_to_onnx(tmp_path) -> None:
    from netbuilder.export.onnx import export_onnx

    doc = stateful_lm("LSTM")
    net = doc.network()
    net.set_params("embed", dim=HIDDEN)
    net.set_params("decoder", tie_weight_to="embed")
    report = export_onnx(net, tmp_path / "lm.onnx")  # one export: it takes seconds
    assert report.ok and report.max_abs_diff is not None and report.max_abs_diff <= 1e-4
    assert report.input_names == ["tokens", "h_in", "c_in"]
    assert dict(zip(report.output_names, report.output_shapes, strict=True)) == {
        "h_out": ("N", 2, HIDDEN), "c_out": ("N", 2, HIDDEN), "next_token": ("N", "T", VOCAB)}


def test_an_onnx_multiplication_by_one_number_imports_as_scale(tmp_path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from netbuilder.importers import import_onnx

    nodes = [helper.make_node("Mul", ["x", "root"], ["scaled"]), helper.make_node("Relu", ["scaled"], ["r"]),
             helper.make_node("Div", ["r", "two"], ["y"])]
    graph = helper.make_graph(nodes, "scales", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 16])],
                              [numpy_helper.from_array(np.array(4.0, dtype=np.float32), "root"),
                               numpy_helper.from_array(np.array([2.0], dtype=np.float32), "two")])
    path = tmp_path / "scales.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    result = import_onnx(path)
    scales = [n.params["factor"] for n in result.network.nodes if n.type == "Scale"]
    assert scales == [4.0, 0.5]
    assert result.parity is not None and result.parity.ok
