"""Export with a run: its weights, and its preprocessing baked into the graph by default (or not, when asked),
with the report saying which. The baked ONNX file and PyTorch code take data in its own units and give regression
outputs in the target's units, exactly as ``predict`` does."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

from netbuilder.cli import main
from netbuilder.data import load_data
from netbuilder.document import Document
from netbuilder.io import load_document, save_document
from netbuilder.train import predict


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("export")
    doc = Document()
    net = doc.network()
    x = net.add("Input", "patient", shape=(10,))
    h = net.add("Linear", units=16)
    y = net.add("Linear", units=1)
    net.chain(x, h, net.add("ReLU"), y, net.add("Output", "score", role="regression"))
    doc.settings["data"] = {"source": "diabetes", "val_fraction": 0.2, "seed": 0}
    doc.settings["training"] = {"epochs": 3, "lr": 3e-3, "seed": 0, "device": "cpu"}
    nbg = folder / "reg.nbg"
    save_document(doc, nbg)
    assert main(["train", str(nbg), "--out", str(folder / "run")]) == 0
    return nbg, folder / "run"


def onnx_outputs(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_baked_onnx_takes_raw_features_and_gives_scores(regression_run, tmp_path: Path, capsys) -> None:
    nbg, run_dir = regression_run
    raw = load_data("diabetes").x[:8].numpy()
    expected = predict(load_document(nbg), run_dir, torch.from_numpy(raw), device="cpu").outputs["score"].numpy()
    assert float(np.abs(expected).mean()) > 20  # score units, not standardised
    target = tmp_path / "baked.onnx"
    assert main(["export", str(nbg), "--onnx", str(target), "--run", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "Preprocessing baked in" in out and "the data's own values" in out
    assert np.allclose(onnx_outputs(target, raw), expected, atol=1e-3)


def test_export_without_baking_says_so_and_takes_standardised_inputs(regression_run, tmp_path: Path,
                                                                      capsys) -> None:
    nbg, run_dir = regression_run
    target = tmp_path / "bare.onnx"
    assert main(["export", str(nbg), "--onnx", str(target), "--run", str(run_dir), "--no-bake-preprocessing",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report[0]["preprocessing"].startswith("Preprocessing NOT baked in")
    saved = json.loads((run_dir / "preprocessing.json").read_text())
    shift = np.array(saved["inputs"]["shift"], dtype=np.float32)
    scale = np.array(saved["inputs"]["scale"], dtype=np.float32)
    raw = load_data("diabetes").x[:8].numpy()
    expected = predict(load_document(nbg), run_dir, torch.from_numpy(raw), device="cpu").outputs["score"].numpy()
    standardised = onnx_outputs(target, (raw - shift) / scale)
    t_shift, t_scale = saved["targets"]["shift"][0], saved["targets"]["scale"][0]
    assert np.allclose(standardised * t_scale + t_shift, expected, atol=1e-3)


def test_baked_pytorch_code_matches_predict(regression_run, tmp_path: Path, capsys) -> None:
    nbg, run_dir = regression_run
    target = tmp_path / "model.py"
    assert main(["export", str(nbg), "--pytorch", str(target), "--run", str(run_dir)]) == 0
    assert "Preprocessing baked in" in capsys.readouterr().out
    namespace = runpy.run_path(str(target))
    wrapper = next(v for k, v in namespace.items() if k.endswith("WithPreprocessing"))
    model = wrapper().eval()
    from safetensors.torch import load_file

    model.network.load_state_dict(load_file(str(run_dir / "weights" / "model.safetensors")))
    raw = load_data("diabetes").x[:8]
    expected = predict(load_document(nbg), run_dir, raw, device="cpu").outputs["score"]
    with torch.no_grad():
        assert torch.allclose(model(raw), expected, atol=1e-4)
