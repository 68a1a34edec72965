"""``netbuilder predict -o``: GAN/VAE samples and autoencoder reconstructions as PNG grids in the data's units,
generated text as a text file, regression predictions in the target's units."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from netbuilder.cli import main
from netbuilder.templates import template_path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def trained(capsys, template_id: str, folder: Path, epochs: int = 1) -> tuple[str, str]:
    nbg = str(template_path(template_id))
    code, out, err = run(capsys, "train", nbg, "--epochs", str(epochs), "--device", "cpu", "--out", str(folder))
    assert code == 0, err or out
    return nbg, str(folder)


def png_pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def test_gan_samples_become_a_png_grid_in_pixel_units(tmp_path: Path, capsys) -> None:
    from netbuilder.document import Document  # noqa: F401 - the API the CLI wraps
    from netbuilder.io import load_document
    from netbuilder.train import predict

    nbg, run_dir = trained(capsys, "dcgan", tmp_path / "run")
    saved = json.loads((Path(run_dir) / "preprocessing.json").read_text())
    assert saved["output_range"] == [-1.0, 1.0] and saved["inputs"]["kind"] == "range"  # the generator's Tanh
    target = tmp_path / "samples.png"
    code, out, err = run(capsys, "predict", nbg, run_dir, "16", "-o", str(target))
    assert code == 0, err
    assert "16 samples" in out and target.is_file()
    grid = png_pixels(target)
    assert grid.shape[0] == grid.shape[1] and grid.shape[0] >= 4 * 9
    # the grid shows the generator's values mapped back from Tanh's [-1, 1] to pixel values [0, 1]
    prediction = predict(load_document(nbg), run_dir, 16, device="cpu")
    fake = prediction.images
    assert fake.shape == (16, 1, 8, 8) and prediction.pixel_range == (0.0, 1.0)
    assert float(fake.min()) >= 0.0 and float(fake.max()) <= 1.0
    factor = grid.shape[0] // (4 * 9 + 1)
    first = grid[factor:factor * 9:factor, factor:factor * 9:factor]  # one pixel per cell of the first image
    expected = np.round(fake[0, 0].numpy() * 255)
    assert np.abs(first.astype(float) - expected).max() <= 1


def test_vae_samples_and_autoencoder_reconstructions_as_png(tmp_path: Path, capsys) -> None:
    nbg, run_dir = trained(capsys, "vae", tmp_path / "vae")
    code, out, err = run(capsys, "predict", nbg, run_dir, "9", "-o", str(tmp_path / "vae.png"))
    assert code == 0, err
    assert "9 samples" in out and (tmp_path / "vae.png").is_file()

    nbg, run_dir = trained(capsys, "autoencoder", tmp_path / "ae")
    last = json.loads((Path(run_dir) / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0 < last["val_mae"] < 0.5  # pixel units (0-1; ~0.32 after one epoch), not standardised (~0.85)
    from netbuilder.data import load_data

    digits = load_data("digits").x[:6].numpy()  # pixel values in [0, 1]
    np.save(tmp_path / "six.npy", digits)
    code, out, err = run(capsys, "predict", nbg, run_dir, str(tmp_path / "six.npy"), "-o", str(tmp_path / "ae.png"))
    assert code == 0, err
    assert "6 inputs (top) and their reconstructions (bottom)" in out
    grid = png_pixels(tmp_path / "ae.png")
    factor = grid.shape[1] // (6 * 9 + 1)
    first_input = grid[factor:factor * 9:factor, factor:factor * 9:factor]
    assert np.abs(first_input.astype(float) - np.round(digits[0].reshape(8, 8) * 255)).max() <= 1
    code, out, err = run(capsys, "predict", nbg, run_dir, str(tmp_path / "six.npy"), "-o", str(tmp_path / "a.txt"))
    assert code == 1 and ".png" in err


def test_generated_text_goes_to_a_file(tmp_path: Path, capsys) -> None:
    nbg, run_dir = trained(capsys, "char-gru", tmp_path / "run")
    target = tmp_path / "tale.txt"
    code, out, err = run(capsys, "predict", nbg, run_dir, "Once upon", "--length", "40", "-o", str(target))
    assert code == 0, err
    text = target.read_text(encoding="utf-8")
    assert text.startswith("Once upon") and len(text.rstrip("\n")) == len("Once upon") + 40
    assert "characters of text" in out


def test_regression_predictions_are_in_the_targets_units(tmp_path: Path, capsys) -> None:
    from netbuilder.document import Document
    from netbuilder.io import save_document

    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(10,))
    h = net.add("Linear", units=32)
    y = net.add("Linear", units=1)
    net.chain(x, h, net.add("ReLU"), y, net.add("Output", role="regression"))
    doc.settings["data"] = {"source": "diabetes", "val_fraction": 0.2, "seed": 0}
    doc.settings["training"] = {"epochs": 30, "lr": 3e-3, "seed": 0}
    nbg = tmp_path / "reg.nbg"
    save_document(doc, nbg)
    code, out, err = run(capsys, "train", str(nbg), "--device", "cpu", "--out", str(tmp_path / "run"), "--json")
    assert code == 0, err
    done = json.loads(out.strip().splitlines()[-1])
    assert 30 < done["metrics"]["val_mae"] < 80  # score units (targets 25-346), not standardised (~0.6)
    from netbuilder.data import load_data

    data = load_data("diabetes")
    np.save(tmp_path / "patients.npy", data.x[:20].numpy())
    target = tmp_path / "scores.npy"
    code, out, err = run(capsys, "predict", str(nbg), str(tmp_path / "run"), str(tmp_path / "patients.npy"),
                         "-o", str(target))
    assert code == 0, err
    scores = np.load(target)
    assert scores.shape == (20, 1) and 60 < float(scores.mean()) < 250
    assert float(np.abs(scores[:, 0] - data.y[:20, 0].numpy()).mean()) < 80
    assert torch.tensor(scores).std() > 10
