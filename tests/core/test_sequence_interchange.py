"""Networks over variable-length sequences as other tools see them: ONNX files that declare the sequence axis
(not the length the export traced), an export check that compares declared and real output shapes at a second
length, multiply-adds per token in `summary`, and no false warning on a LogSoftmax feeding probabilities."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from netbuilder.analysis import analyze
from netbuilder.analysis.per_token import cost_at_length, fixed_length
from netbuilder.cli import main
from netbuilder.document import Document
from netbuilder.export.onnx import EXPORT_SEQ_LEN, export_onnx
from netbuilder.export.onnx_axes import declare_output_axes, shape_mismatches
from netbuilder.io import save_document

VOCAB = 11


def language_model(cell: str = "GRU") -> Document:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="tokens", shape=("T",), dtype="int64"),
              net.add("Embedding", name="embed", vocab_size=VOCAB, dim=8),
              net.add(cell, name="rnn", hidden_size=12),
              net.add("Linear", name="decoder", units=VOCAB),
              net.add("Output", name="next_token", role="token_logits"))
    return doc


def test_recurrent_onnx_export_declares_a_variable_sequence_axis(tmp_path) -> None:
    doc = Document()
    net = doc.network()
    embed = net.add("Embedding", name="embed", vocab_size=VOCAB, dim=8)
    net.connect(net.add("Input", name="tokens", shape=("T",), dtype="int64"), embed)
    for cell in ("GRU", "LSTM"):  # one export for both: the dynamo export takes seconds
        net.chain(embed, net.add(cell, hidden_size=12), net.add("Linear", units=VOCAB),
                  net.add("Output", name=f"{cell.lower()}_next", role="token_logits"))
    path = tmp_path / "lm.onnx"
    report = export_onnx(net, path)
    assert report.ok and report.input_shapes == [("N", "T")]
    assert report.output_shapes == [("N", "T", VOCAB)] * 2  # was N×8×V: the traced length baked in
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    declared = [tuple(d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim)
                for out in onnx.load(str(path)).graph.output]
    for length in (3, EXPORT_SEQ_LEN + 9):
        results = session.run(None, {"tokens": np.zeros((4, length), dtype=np.int64)})
        assert [r.shape for r in results] == [(4, length, VOCAB)] * 2
        assert shape_mismatches(report.output_names, declared, [r.shape for r in results]) == []


def _graph_with_output_dims(dims: list) -> onnx.ModelProto:
    node = helper.make_node("Identity", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, dims)])
    return helper.make_model(graph)


def test_a_baked_output_length_is_rewritten_from_the_inferred_shape(tmp_path) -> None:
    from netbuilder.specs import TensorType

    path = tmp_path / "baked.onnx"
    onnx.save(_graph_with_output_dims(["N", 8, 3]), str(path))
    notes = declare_output_axes(path, [TensorType(("N", "T", 3))])
    assert notes and "N×T×3" in notes[0] and "N×8×3" in notes[0]
    dims = onnx.load(str(path)).graph.output[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", "T", 3]
    assert declare_output_axes(path, [TensorType(("N", "T", 3))]) == []  # already right: the file is left alone


def test_an_input_whose_sequence_axis_came_out_fixed_is_caught(tmp_path) -> None:
    """The dynamo exporter, on a second export of an LSTM in one process, declares the input N×8: the export
    then falls back to the TorchScript exporter instead of writing a file that refuses other lengths."""
    from netbuilder.export.onnx_axes import fixed_input_axes
    from netbuilder.specs import TensorType

    node = helper.make_node("Identity", ["tokens"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["N", 8])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, ["N", 8])])
    path = tmp_path / "fixed.onnx"
    onnx.save(helper.make_model(graph), str(path))
    problems = fixed_input_axes(path, ["tokens"], [TensorType(("N", "T"), "int64")])
    assert problems == ["input tokens came out N×8 instead of N×T"]
    assert fixed_input_axes(path, ["tokens"], [TensorType(("N", 8), "int64")]) == []


def test_the_export_check_refuses_an_output_shape_that_breaks_its_declaration() -> None:
    problems = shape_mismatches(["logits"], [("N", 8, 3)], [(5, 11, 3)])
    assert len(problems) == 1 and "N×8×3" in problems[0] and "5×11×3" in problems[0]
    assert shape_mismatches(["logits"], [("N", 8, 3)], [(5, 11)])  # another rank
    assert shape_mismatches(["logits"], [("N", "T", 3)], [(5, 11, 3)]) == []


def test_summary_reports_multiply_adds_per_token(tmp_path, capsys) -> None:
    doc = language_model("GRU")
    net = doc.network()
    assert analyze(net).total_macs == 0  # per sample the length is unknown...
    cost = cost_at_length(net, 10)
    gru_per_step = 3 * 12 * (8 + 12)  # gates × hidden × (input + hidden)
    decoder_per_step = 12 * VOCAB
    assert cost is not None and cost.per_token == gru_per_step + decoder_per_step  # ...per token it is exact
    assert cost.total == 10 * cost.per_token
    assert net.find("tokens").params["shape"] == ("T",)  # the user's network is untouched
    assert fixed_length(net, 5).find("tokens").params["shape"] == (5,)

    path = tmp_path / "lm.nbg"
    save_document(doc, path)
    assert main(["summary", str(path), "--json", "--length", "10"]) == 0
    report = json.loads(capsys.readouterr().out)["networks"][0]
    assert report["macs_per_token"] == gru_per_step + decoder_per_step and report["macs_length"] == 10
    assert {row["name"]: row["macs_per_token"] for row in report["nodes"]}["rnn"] == gru_per_step
    assert main(["summary", str(path)]) == 0
    text = capsys.readouterr().out
    assert "multiply-adds per token" in text and "for a sequence of 128" in text and " 0 multiply-adds" not in text


def test_summary_of_a_fixed_size_network_stays_per_sample(tmp_path, capsys) -> None:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", shape=(6,)), net.add("Linear", units=4), net.add("Output"))
    assert cost_at_length(net) is None
    path = tmp_path / "mlp.nbg"
    save_document(doc, path)
    assert main(["summary", str(path)]) == 0
    assert "24 multiply-adds per sample" in capsys.readouterr().out


@pytest.mark.parametrize(("chain", "warned"), [
    (["LogSoftmax"], False),  # training uses NLL on the log-probabilities as they are
    (["Softmax"], False),
    (["LogSoftmax", "Flatten"], True),  # not directly: training would take the logarithm again
    ([], True),
])
def test_log_softmax_feeding_probabilities_is_not_warned(chain: list[str], warned: bool) -> None:
    doc = Document()
    net = doc.network()
    layers = [net.add("Input", shape=(16,)), net.add("Linear", units=5)]
    layers += [net.add(kind) for kind in chain]
    layers.append(net.add("Output", name="classes", role="probabilities"))
    net.chain(*layers)
    flagged = [d for d in analyze(net).warnings if d.node_name == "classes"]
    assert bool(flagged) == warned


def test_predictions_of_a_log_softmax_probabilities_output_are_probabilities(tmp_path) -> None:
    import torch

    from netbuilder.train import TrainConfig, Trainer, predict

    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", shape=(4,)), net.add("Linear", units=3), net.add("LogSoftmax"),
              net.add("Output", name="species", role="probabilities"))
    doc.settings["data"] = {"source": "iris"}
    config = TrainConfig.from_settings(doc.settings)
    config.epochs = 1
    events = list(Trainer(doc, config, run_root=tmp_path).events())
    run_dir = events[-1].run_dir
    result = predict(doc, run_dir, torch.rand(5, 4), device="cpu")
    assert result.probabilities is not None
    torch.testing.assert_close(result.probabilities.sum(dim=1), torch.ones(5))  # not log-probabilities
    assert float(result.probabilities.min()) >= 0.0


def test_per_token_cost_counts_what_runs_inside_blocks() -> None:
    """gpt-mini's decoder layers live in a block: the fixed-length copy must still find its definition."""
    from netbuilder.templates import load_template

    net = load_template("gpt-mini").network()
    cost = cost_at_length(net, 16)
    assert cost is not None and cost.per_token > 100_000
    block = net.find("blocks")
    assert cost.node_per_token(block.id) > 0.9 * cost.per_token  # the attention and feed-forward stack
