"""Each recipe trains a real network on bundled data and clears a real bar (CPU, a few seconds each)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pytest
import torch

from netbuilder.data import ArrayDataset, load_data
from netbuilder.document import Document
from netbuilder.train import TrainConfig, Trainer
from netbuilder.train import events as ev

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def train(doc: Document, root: Path, training: dict[str, Any], data: dict[str, Any] | None = None,
          dataset: Any = None) -> list[ev.Event]:
    config = TrainConfig.from_dict({"seed": 0, "device": "cpu", **training}, data)
    events = list(Trainer(doc, config, run_root=root, data=dataset).events())
    errors = [e for e in events if isinstance(e, ev.Error)]
    assert not errors, str(errors[0])
    assert isinstance(events[-1], ev.Done)
    return events


def epochs(events: list[ev.Event]) -> list[dict[str, float]]:
    return [e.metrics for e in events if isinstance(e, ev.EpochEnd)]


def digit_rows() -> ArrayDataset:
    """The digits as sequences: each 8×8 image is 8 steps of 8 features."""
    base = load_data("digits")
    info = dataclasses.replace(base.info, id="digits-rows", title="Digits as rows", sample_shape=(8, 8))
    return ArrayDataset(info, base.x.reshape(-1, 8, 8), base.y)


def majority_share(dataset: ArrayDataset) -> float:
    return torch.bincount(dataset.y).max().item() / len(dataset)


# ---- supervised ----------------------------------------------------------------------------------------------


def test_mlp_on_digits_reaches_90_percent(tmp_path: Path) -> None:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="pixels", shape=(64,)), net.add("Linear", name="hidden", units=64),
              net.add("ReLU"), net.add("Linear", name="classes", units=10), net.add("Output", name="digit"))
    events = train(doc, tmp_path, {"epochs": 5, "lr": 3e-3}, {"source": "digits"})
    final = epochs(events)[-1]
    assert final["val_accuracy"] >= 0.90
    assert final["val_f1"] >= 0.88
    validation = [e for e in events if isinstance(e, ev.ValidationEnd)][-1]
    assert len(validation.confusion) == 10 and sum(map(sum, validation.confusion)) == 270


def test_cnn_on_digit_images_reaches_93_percent(tmp_path: Path) -> None:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="image", shape=(1, 8, 8)),
              net.add("Conv2d", name="conv1", filters=16, kernel_size=3, padding="same"), net.add("ReLU"),
              net.add("MaxPool2d", kernel_size=2),
              net.add("Conv2d", name="conv2", filters=32, kernel_size=3, padding="same"), net.add("ReLU"),
              net.add("MaxPool2d", kernel_size=2), net.add("Flatten"), net.add("Linear", name="classes", units=10),
              net.add("Output", name="digit"))
    events = train(doc, tmp_path, {"epochs": 6, "lr": 3e-3}, {"source": "digits-images"})
    assert epochs(events)[-1]["val_accuracy"] >= 0.93


def test_lstm_sequence_classifier_beats_the_majority_class_by_20_points(tmp_path: Path) -> None:
    data = digit_rows()
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="rows", shape=(8, 8)),
              net.add("LSTM", name="lstm", hidden_size=64, returns="last"), net.add("Linear", units=10),
              net.add("Output", name="digit"))
    events = train(doc, tmp_path, {"epochs": 3, "lr": 5e-3}, dataset=data)
    assert next(e for e in events if isinstance(e, ev.RunStarted)).recipe == "sequence_classification"
    assert epochs(events)[-1]["val_accuracy"] >= majority_share(data) + 0.20


def test_transformer_sequence_classifier_beats_the_majority_class_by_20_points(tmp_path: Path) -> None:
    data = digit_rows()
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="rows", shape=(8, 8)), net.add("Linear", name="embed", units=32),
              net.add("PositionalEncoding", kind="learned", max_len=16),
              net.add("TransformerEncoderLayer", name="encoder", nhead=4, dim_feedforward=64, dropout=0.0),
              net.add("Permute", order=(2, 1)), net.add("GlobalAvgPool"), net.add("Linear", units=10),
              net.add("Output", name="digit"))
    events = train(doc, tmp_path, {"epochs": 4, "lr": 3e-3}, dataset=data)
    assert epochs(events)[-1]["val_accuracy"] >= majority_share(data) + 0.20


def test_regression_on_diabetes_reports_mae_and_r2(tmp_path: Path) -> None:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="x", shape=(10,)), net.add("Linear", units=32), net.add("ReLU"),
              net.add("Linear", units=1), net.add("Output", name="progression", role="regression"))
    events = train(doc, tmp_path, {"epochs": 10, "lr": 3e-3, "batch_size": 32}, {"source": "diabetes"})
    final = epochs(events)[-1]
    assert final["val_r2"] > 0.3
    # MAE in score units (std 77): predicting the mean gives about 0.8 × 77; standardised it would be below 1
    assert 5 < final["val_mae"] < 0.8 * 77


# ---- autoencoders ----------------------------------------------------------------------------------------------


def test_autoencoder_halves_its_reconstruction_loss(tmp_path: Path) -> None:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="pixels", shape=(64,)), net.add("Linear", units=32), net.add("ReLU"),
              net.add("Linear", name="bottleneck", units=16), net.add("ReLU"), net.add("Linear", units=32),
              net.add("ReLU"), net.add("Linear", units=64), net.add("Output", name="recon", role="reconstruction"))
    # The split this bar was set on (no test part): per-pixel standardisation makes the validation loss depend
    # on which samples hold a near-constant pixel (issue 10, preprocessing), so another split moves it.
    events = train(doc, tmp_path, {"epochs": 10, "lr": 5e-3, "log_every": 1, "log_interval": 0},
                   {"source": "digits", "test_fraction": 0.0})
    assert next(e for e in events if isinstance(e, ev.RunStarted)).recipe == "autoencoder"
    first = next(e for e in events if isinstance(e, ev.BatchEnd))
    assert first.batch == 1  # the loss of the untrained network
    assert epochs(events)[-1]["val_loss"] <= first.loss / 2


def vae_document() -> Document:
    doc = Document()
    net = doc.network()
    hidden = net.add("Linear", name="enc", units=64)
    net.chain(net.add("Input", name="image", shape=(1, 8, 8)), net.add("Flatten"), hidden)
    act = net.add("ReLU", name="enc_relu")
    net.connect(hidden, act)
    mean, log_var = net.add("Linear", name="mean", units=8), net.add("Linear", name="log_var", units=8)
    net.connect(act, mean)
    net.connect(act, log_var)
    z = net.add("Reparameterize", name="z")
    net.connect(mean, z, "out", "mean")
    net.connect(log_var, z, "out", "log_var")
    net.chain(z, net.add("Linear", name="dec", units=64), net.add("ReLU"), net.add("Linear", name="dec_out", units=64),
              net.add("Reshape", shape=(1, 8, 8)), net.add("Output", name="recon", role="reconstruction"))
    return doc


def test_vae_loss_falls_and_samples_decode_to_images(tmp_path: Path) -> None:
    events = train(vae_document(), tmp_path, {"epochs": 4, "lr": 3e-3, "vae": {"beta": 0.5, "samples": 12}},
                   {"source": "digits-images"})
    assert next(e for e in events if isinstance(e, ev.RunStarted)).recipe == "vae"
    history = epochs(events)
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert history[-1]["val_loss"] == pytest.approx(history[-1]["val_reconstruction"] + 0.5 * history[-1]["val_kl"])
    assert all(math.isfinite(m["train_kl"]) and m["train_kl"] >= 0 for m in history)
    # The latent code carries information: a collapsed VAE (every input decoded to the same average digit, which
    # the reconstruction averaged over values instead of summed made it do) keeps KL near 0 (0.002 nats) and
    # its reconstruction error near the data's variance (0.65 -> 0.58 per value); this one halves it.
    assert history[-1]["val_kl"] > 1.0
    assert history[-1]["val_reconstruction"] < 0.6 * history[0]["val_reconstruction"]
    decoded = [e for e in events if isinstance(e, ev.Samples) and "N(0, 1)" in e.caption]
    assert len(decoded) == 4
    images = decoded[-1].payload
    assert images.shape == (12, 1, 8, 8)
    assert images.min() >= 0.0 and images.max() <= 1.0


# ---- GAN and language model ------------------------------------------------------------------------------------


def gan_document() -> Document:
    doc = Document(("generator", "discriminator"))
    g = doc.network("generator")
    g.chain(g.add("Input", name="latent", shape=(16,)), g.add("Linear", units=128),
            g.add("Reshape", shape=(32, 2, 2)), g.add("BatchNorm2d"), g.add("ReLU"),
            g.add("ConvTranspose2d", name="up1", filters=16, kernel_size=4, stride=2, padding=1), g.add("ReLU"),
            g.add("ConvTranspose2d", name="up2", filters=1, kernel_size=4, stride=2, padding=1), g.add("Tanh"),
            g.add("Output", name="fake", role="generated"))
    d = doc.network("discriminator")
    d.chain(d.add("Input", name="image", shape=(1, 8, 8)),
            d.add("Conv2d", name="down", filters=16, kernel_size=4, stride=2, padding="explicit", padding_size=1),
            d.add("LeakyReLU", negative_slope=0.2), d.add("Flatten"), d.add("Linear", units=1),
            d.add("Output", name="score", role="score"))
    return doc


def test_gan_runs_two_epochs_with_finite_losses_and_a_sample_grid(tmp_path: Path) -> None:
    events = train(gan_document(), tmp_path, {"epochs": 2, "lr": 2e-4, "gan": {"label_smoothing": 0.1}},
                   {"source": "digits-images"})
    assert next(e for e in events if isinstance(e, ev.RunStarted)).recipe == "gan"
    history = epochs(events)
    assert len(history) == 2
    for metrics in history:
        assert math.isfinite(metrics["train_d_loss"]) and math.isfinite(metrics["train_g_loss"])
    batch = next(e for e in events if isinstance(e, ev.BatchEnd))
    assert set(batch.losses) == {"d_loss", "g_loss"}
    grids = [e for e in events if isinstance(e, ev.Samples)]
    assert len(grids) == 2 and grids[-1].payload.shape == (16, 1, 8, 8)
    assert grids[-1].payload.min() >= 0.0 and grids[-1].payload.max() <= 1.0
    assert {grid.key for grid in grids} == {"samples"}  # views keep grids by this id, not by the caption
    run = Path(events[-1].run_dir)
    assert (run / "weights" / "generator.safetensors").is_file()
    assert (run / "weights" / "discriminator.safetensors").is_file()


def test_character_model_perplexity_falls_and_it_writes_text(tmp_path: Path) -> None:
    vocab = load_data("text").info.num_classes
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="chars", shape=("T",), dtype="int64"),
              net.add("Embedding", vocab_size=vocab, dim=24), net.add("GRU", hidden_size=64, returns="sequence"),
              net.add("Linear", units=vocab), net.add("Output", name="next_char", role="token_logits"))
    events = train(doc, tmp_path, {"epochs": 2, "lr": 5e-3, "lm": {"sample_length": 40, "prompt": "The "}},
                   {"source": "text", "options": {"seq_len": 32}})
    assert next(e for e in events if isinstance(e, ev.RunStarted)).recipe == "language_model"
    history = epochs(events)
    assert history[-1]["val_perplexity"] < history[0]["val_perplexity"] < vocab
    assert history[-1]["val_perplexity"] == pytest.approx(math.exp(history[-1]["val_loss"]))
    texts = [e.payload[0] for e in events if isinstance(e, ev.Samples) and e.sample_kind == "text"]
    assert len(texts) == 2 and texts[-1].startswith("The ") and len(texts[-1]) == 44


# ---- transfer learning ---------------------------------------------------------------------------------------


def cnn(frozen: bool) -> Document:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="image", shape=(1, 8, 8)),
              net.add("Conv2d", name="conv1", filters=16, kernel_size=3, padding="same"), net.add("ReLU"),
              net.add("MaxPool2d", kernel_size=2),
              net.add("Conv2d", name="conv2", filters=32, kernel_size=3, padding="same"), net.add("ReLU"),
              net.add("MaxPool2d", kernel_size=2), net.add("Flatten"), net.add("Linear", name="head", units=10),
              net.add("Output", name="digit"))
    if frozen:
        net.set_options("conv1", trainable=False)
        net.set_options("conv2", trainable=False)
    return doc


def test_transfer_learning_beats_the_same_head_trained_from_scratch(tmp_path: Path) -> None:
    """Pre-train on digits 0-4, then train only the head on a small slice of digits 5-9 (about 45 images) on top
    of the frozen pre-trained convolutions; the same head on top of the same, but untrained, frozen convolutions
    is the baseline. Both runs train exactly the same parameters for the same steps."""
    digits = load_data("digits-images")
    small_slice = {"source": "digits-images", "classes": [5, 6, 7, 8, 9], "val_fraction": 0.95}
    settings = {"epochs": 10, "lr": 3e-3, "batch_size": 8}
    transfer = train(cnn(frozen=True), tmp_path, {**settings, "transfer": {
        "pretrain": {"classes": [0, 1, 2, 3, 4], "epochs": 5}, "nodes": ["conv1", "conv2"]}}, small_slice, digits)
    stages = [e.name for e in transfer if isinstance(e, ev.Stage)]
    assert stages == ["pretrain", "train"]
    loaded = next(e for e in transfer if isinstance(e, ev.WeightsLoaded))
    assert sorted(loaded.matched) == ["conv1.bias", "conv1.weight", "conv2.bias", "conv2.weight"]
    started = [e for e in transfer if isinstance(e, ev.RunStarted)]
    assert started[-1].parameters == 32 * 2 * 2 * 10 + 10  # only the head trains
    scratch = train(cnn(frozen=True), tmp_path, settings, small_slice, digits)
    assert next(e for e in scratch if isinstance(e, ev.RunStarted)).data["samples"] == 896  # digits 5-9
    tuned, fresh = epochs(transfer)[-1]["val_accuracy"], epochs(scratch)[-1]["val_accuracy"]
    assert tuned > fresh + 0.15, (tuned, fresh)
