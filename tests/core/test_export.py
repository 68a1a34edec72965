"""ONNX export (checked against onnxruntime, dynamic batch, fallback exporter) and standalone PyTorch code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

import netbuilder.export.onnx as onnx_export
from netbuilder.compile import compile_network, example_inputs
from netbuilder.document import Document, Network
from netbuilder.export import ExportError, export_onnx, export_pytorch_code
from netbuilder.specs import all_specs

# ---------------------------------------------------------------------------------------------------------------
# Test networks, built with the scripting API


def mlp() -> Network:
    net = Document().network()
    x = net.add("Input", name="x", shape=(64,))
    h = net.add("Linear", name="hidden", units=128)
    d = net.add("Dropout", p=0.3)
    r = net.add("ReLU")
    y = net.add("Linear", name="head", units=10)
    net.chain(x, h, d, r, y, net.add("Output", name="logits"))
    return net


def cnn() -> Network:
    net = Document().network()
    x = net.add("Input", name="image", shape=(1, 12, 12))
    c = net.add("Conv2d", filters=8, kernel_size=3, padding="same")
    b = net.add("BatchNorm2d")
    r = net.add("ReLU")
    p = net.add("MaxPool2d", kernel_size=2)
    c2 = net.add("Conv2d", filters=4, kernel_size=3)
    g = net.add("GlobalAvgPool")
    f = net.add("Flatten")
    y = net.add("Linear", name="head", units=5)
    net.chain(x, c, b, r, p, c2, g, f, y, net.add("Output", name="scores"))
    return net


def lstm() -> Network:
    net = Document().network()
    x = net.add("Input", name="series", shape=("T", 6))
    rnn = net.add("LSTM", hidden_size=12, num_layers=2, bidirectional=True, returns="last")
    y = net.add("Linear", units=3)
    net.chain(x, rnn, y, net.add("Output", name="forecast", role="regression"))
    return net


def two_outputs() -> Network:
    net = Document().network()
    x = net.add("Input", name="x", shape=(16,))
    s = net.add("Split", chunks=2, axis=-1)
    a = net.add("Linear", name="left", units=4)
    b = net.add("Linear", name="right", units=4)
    m = net.add("Add", name="total")
    net.connect(x, s)
    net.connect(s, a, src_port="out1")
    net.connect(s, b, src_port="out2")
    net.chain(a, m)
    net.connect(b, m)
    net.connect(a, net.add("Output", name="first", role="features"))
    net.connect(m, net.add("Output", name="sum", role="regression"))
    return net


def token_model() -> Network:
    net = Document(("tiny_gpt",)).network()
    x = net.add("Input", name="tokens", shape=("T",), dtype="int64")
    e = net.add("Embedding", vocab_size=40, dim=16)
    p = net.add("PositionalEncoding")
    t = net.add("TransformerEncoderLayer", nhead=2, dim_feedforward=32, causal=True)
    y = net.add("Linear", units=40)
    net.chain(x, e, p, t, y, net.add("Output", name="next_token", role="token_logits"))
    return net


def as_tuple(value: Any) -> tuple[torch.Tensor, ...]:
    return value if isinstance(value, tuple) else (value,)


def run_onnx(path: Path, names: list[str], inputs: tuple[torch.Tensor, ...]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})


# ---------------------------------------------------------------------------------------------------------------
# ONNX


def test_mlp_exports_with_parity_and_dynamic_batch(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    module = compile_network(mlp())
    module.train()
    module.hidden.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    path = tmp_path / "mlp.onnx"
    report = export_onnx(module, path)

    assert report.ok and report.checked and report.exporter == "dynamo"
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-4 and report.parity_batch == 5
    assert report.input_names == ["x"] and report.output_names == ["logits"]
    assert report.input_shapes == [("N", 64)] and report.output_shapes == [("N", 10)]
    assert report.size_bytes == path.stat().st_size > 64 * 128 * 4 and report.opset >= 17
    assert "matches PyTorch at batch 5" in report.summary()
    # The caller's module is untouched: still training, same device, same weights and gradient flags.
    assert module.training and all(m.training for m in module.modules())
    assert not module.hidden.weight.requires_grad and module.head.weight.requires_grad
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert {p.device.type for p in module.parameters()} == {"cpu"}
    # Dynamic batch, checked independently of the exporter's own parity run.
    module.eval()
    for batch in (1, 5):
        inputs = example_inputs(module, batch=batch)
        (ours,) = run_onnx(path, report.input_names, inputs)
        with torch.no_grad():
            assert np.abs(ours - module(*inputs).numpy()).max() <= 1e-4
    out, err = capfd.readouterr()
    assert "[torch.onnx]" not in out + err and "Warning" not in out + err


def test_cnn_exports_from_a_network_with_parity(tmp_path: Path) -> None:
    report = export_onnx(cnn(), tmp_path / "cnn.onnx")
    assert report.ok and report.max_abs_diff is not None and report.max_abs_diff <= 1e-4
    assert report.input_names == ["image"] and report.input_shapes == [("N", 1, 12, 12)]
    assert report.output_names == ["scores"] and report.output_shapes == [("N", 5)]


def test_token_ids_and_sequence_axis_are_dynamic(tmp_path: Path) -> None:
    module = compile_network(token_model()).eval()
    report = export_onnx(module, tmp_path / "gpt.onnx")
    assert report.ok and report.input_shapes == [("N", "T")] and report.output_shapes[0][0] == "N"
    inputs = (torch.randint(0, 40, (3, 17)),)  # neither the batch (2) nor the length (8) used for export
    (ours,) = run_onnx(tmp_path / "gpt.onnx", ["tokens"], inputs)
    with torch.no_grad():
        assert ours.shape == (3, 17, 40) and np.abs(ours - module(*inputs).numpy()).max() <= 1e-4


def test_falls_back_to_torchscript_when_dynamo_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("unsupported operator aten::frobnicate\nlong traceback here")

    monkeypatch.setattr(onnx_export, "_export_dynamo", broken)
    report = export_onnx(two_outputs(), tmp_path / "two.onnx")
    assert report.exporter == "torchscript" and report.ok and report.max_abs_diff is not None
    assert report.max_abs_diff <= 1e-4 and report.output_names == ["first", "sum"]
    assert report.input_shapes[0][0] == "N" and all(shape[0] == "N" for shape in report.output_shapes)
    assert any("aten::frobnicate" in note and "TorchScript" in note for note in report.notes)


def test_both_exporters_failing_is_one_plain_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("no luck")

    monkeypatch.setattr(onnx_export, "_export_dynamo", broken)
    monkeypatch.setattr(onnx_export, "_export_torchscript", broken)
    with pytest.raises(ExportError) as info:
        export_onnx(mlp(), tmp_path / "m.onnx")
    assert "could not be exported to ONNX" in str(info.value) and "dynamo exporter: no luck" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_parity_mismatch_is_reported_not_hidden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_export, "TOLERANCE", -1.0)  # any difference, even 0, now counts as a mismatch
    report = export_onnx(mlp(), tmp_path / "m.onnx", check=False)
    assert not report.ok and not report.checked and "DOES NOT match" in report.summary()


def test_export_errors_are_plain(tmp_path: Path) -> None:
    broken = mlp()
    broken.remove("hidden")  # the Dropout now has no input
    with pytest.raises(ExportError, match="Cannot export: Network 'model' has") as info:
        export_onnx(broken, tmp_path / "m.onnx")
    assert "dropout1" in str(info.value)
    with pytest.raises(ExportError, match="folder .* does not exist"):
        export_onnx(mlp(), tmp_path / "missing" / "m.onnx")
    with pytest.raises(ExportError, match="not compiled by NetBuilder"):
        export_onnx(nn.Linear(3, 4), tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="not compiled by NetBuilder"):
        export_pytorch_code(nn.Linear(3, 4))
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------------------------
# PyTorch code


def rebuild(code: str, class_name: str) -> nn.Module:
    namespace: dict[str, Any] = {"__name__": "netbuilder_generated_test"}
    exec(compile(code, f"{class_name}.py", "exec"), namespace)
    return namespace[class_name]()


@pytest.mark.parametrize("make", [mlp, cnn, lstm, two_outputs, token_model])
def test_generated_code_reproduces_the_network_exactly(make: Any) -> None:
    net = make()
    if make is mlp:
        net.set_options("hidden", trainable=False)
    module = compile_network(net, seed=3).eval()
    code = export_pytorch_code(net if make is cnn else module)
    assert "netbuilder" not in code.split('"""', 2)[2]  # only the docstring mentions NetBuilder
    name = type(module).__name__
    network_class = code[code.index(f"class {name}(nn.Module):"):code.index('if __name__ == "__main__":')]
    assert "= None" not in network_class and ";" not in network_class  # fx's early frees are gone
    rebuilt = rebuild(code, name)
    rebuilt.load_state_dict(module.state_dict(), strict=True)
    rebuilt.eval()
    inputs = example_inputs(module, batch=3, seq_len=9)
    with torch.no_grad():
        expected, actual = as_tuple(module(*inputs)), as_tuple(rebuilt(*inputs))
    assert len(expected) == len(actual)
    assert all(torch.equal(e, a) for e, a in zip(expected, actual, strict=True))
    if make is mlp:
        assert "self.hidden = nn.Linear(64, 128, bias=True)" in code
        assert "self.hidden.requires_grad_(False)" in code and not rebuilt.hidden.weight.requires_grad


def single_layer(spec_id: str) -> Network:
    """One layer with its spec's example params, fed by Inputs shaped like its example inputs."""
    spec = next(s for s in all_specs() if s.id == spec_id)
    net = Document().network()
    node = net.add(spec.id, **spec.example_params)
    params = net.node(node).params
    dtypes = spec.example_dtypes or ("float32",) * len(spec.example_inputs)
    ports = spec.input_ports(params)  # optional ports beyond the example inputs stay unwired
    for index, (shape, dtype, port) in enumerate(zip(spec.example_inputs, dtypes, ports, strict=False)):
        net.connect(net.add("Input", name=f"x{index}", shape=tuple(shape[1:]), dtype=dtype), node, dst_port=port.name)
    for port in spec.output_ports(params):
        net.connect(node, net.add("Output", name=f"y_{port.name}"), src_port=port.name)
    return net


@pytest.mark.parametrize("spec_id", [s.id for s in all_specs() if s.id not in ("Input", "Output")])
def test_every_layer_type_writes_as_code(spec_id: str) -> None:
    module = compile_network(single_layer(spec_id), seed=0).eval()
    rebuilt = rebuild(export_pytorch_code(module), type(module).__name__)
    rebuilt.load_state_dict(module.state_dict(), strict=True)
    rebuilt.eval()
    inputs = example_inputs(module, batch=3, seq_len=7)
    with torch.no_grad():
        expected, actual = as_tuple(module(*inputs)), as_tuple(rebuilt(*inputs))
    assert all(torch.equal(e, a) for e, a in zip(expected, actual, strict=True))


def test_generated_code_is_readable() -> None:
    module = compile_network(two_outputs())
    code = export_pytorch_code(module)
    forward = code[code.index("    def forward(self, x):"):code.index('if __name__ == "__main__":')]
    assert "split1 = self.split1(x)\n" in forward and "return (left, total)" in forward
    assert ";" not in forward and "= None" not in forward
    assert "class Split(nn.Module):" in code and "class Add(nn.Module):" in code  # custom class sources
    assert "self.split1 = Split(2, 1)" in code and "self.left = nn.Linear(8, 4, bias=True)" in code
    assert max(len(line) for line in code.splitlines()) <= 120


def test_generated_file_runs_standalone(tmp_path: Path) -> None:
    path = tmp_path / "tiny_gpt.py"
    code = export_pytorch_code(token_model(), path)
    assert path.read_text(encoding="utf-8") == code
    assert "causal_mask" in code and "class TransformerEncoderBlock" in code
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-I", str(path)], cwd=tmp_path, capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "next_token: (2, 8, 40)"


def test_code_export_write_failure_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        export_pytorch_code(mlp(), tmp_path / "missing" / "model.py")


def test_generated_example_survives_inputs_named_like_its_variables() -> None:
    # The __main__ block binds model, example and outputs; Input nodes named "model" or "print" must not break it.
    net = Document().network()
    a, b = net.add("Input", name="model", shape=(3,)), net.add("Input", name="print", shape=(3,))
    add = net.add("Add")
    net.connect(a, add)
    net.connect(b, add)
    net.chain(add, net.add("Output", name="outputs"))
    code = export_pytorch_code(net)
    printed: list[tuple] = []
    namespace: dict[str, Any] = {"__name__": "__main__", "print": lambda *args: printed.append(args)}
    exec(compile(code, "generated.py", "exec"), namespace)
    assert printed == [("outputs:", (2, 3))]


def positional_model(max_len: int) -> Network:
    net = Document().network()
    net.chain(net.add("Input", name="ids", shape=("T",), dtype="int64"), net.add("Embedding", vocab_size=10, dim=4),
              net.add("PositionalEncoding", kind="learned", max_len=max_len), net.add("Output", name="y"))
    return net


def test_checks_stay_within_the_longest_sequence_a_network_accepts(tmp_path: Path) -> None:
    # Max length 6 is below the lengths the export would otherwise trace (8) and check (11) with.
    net = positional_model(6)
    report = export_onnx(net, tmp_path / "p.onnx")
    assert report.ok and report.input_shapes == [("N", "T")]
    (out,) = run_onnx(tmp_path / "p.onnx", ["ids"], (torch.randint(0, 10, (3, 5)),))
    assert out.shape == (3, 5, 4)
    assert "torch.randint(0, 10, (2, 6))" in export_pytorch_code(net)
    assert example_inputs(compile_network(net))[0].shape == (2, 6)


def test_pytorch_failing_in_the_parity_run_is_an_export_error(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_export, "_sequence_lengths", lambda model: (4, 9))  # 9 > max length 6
    with pytest.raises(ExportError, match="sequence length 9"):
        export_onnx(positional_model(6), tmp_path / "p.onnx", check=False)
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_destination_is_an_export_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno as errnos

    import netbuilder.io.atomic as atomic

    def read_only(folder: Path, name: str) -> tuple[int, Path]:
        raise OSError(errnos.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic, "_open_temp", read_only)
    with pytest.raises(ExportError, match="the disk is read-only"):
        export_onnx(mlp(), tmp_path / "m.onnx", parity=False)
    with pytest.raises(ExportError, match="the disk is read-only"):
        export_pytorch_code(mlp(), tmp_path / "m.py")
    assert list(tmp_path.iterdir()) == []


def test_weights_too_large_for_one_onnx_file_are_refused_before_exporting(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(onnx_export, "ONNX_LIMIT", 1000)  # bytes; the MLP has about 37 kB of weights
    monkeypatch.setattr(onnx_export, "_export", lambda *args: pytest.fail("exported anyway"))
    with pytest.raises(ExportError, match="at most 2 GB"):
        export_onnx(mlp(), tmp_path / "m.onnx")
