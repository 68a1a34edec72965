"""Results you can trust: an honest test split, "best" picked and used as summary.json says, runs that stop with a
clear message when the loss explodes, and data, labels and memory checked before any model is built."""

from __future__ import annotations

import json
import resource
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from netbuilder.cli_train import main as cli
from netbuilder.data import ArrayDataset, DataInfo, load_data
from netbuilder.document import Document
from netbuilder.io import save_document
from netbuilder.train import (
    Checkpoint,
    Done,
    EpochEnd,
    Error,
    RunError,
    TestEnd,
    TrainConfig,
    Trainer,
    Warning,
    evaluate,
    load_run,
    predict,
    preflight,
)
from netbuilder.train.optim import LRSchedule
from netbuilder.train.plateau import PlateauTracker
from netbuilder.train.recipes import base as recipe_base

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mlp(head: int = 10, inputs: int = 64, hidden: int = 32) -> Document:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="pixels", shape=(inputs,)), net.add("Linear", name="hidden", units=hidden),
              net.add("ReLU"), net.add("Linear", name="classes", units=head), net.add("Output", name="digit"))
    return doc


def config(data: dict[str, Any] | None = None, **training: Any) -> TrainConfig:
    return TrainConfig.from_dict({"seed": 0, "device": "cpu", "epochs": 2, "lr": 3e-3, **training},
                                 {"source": "digits", **(data or {})})


def run(doc: Document, cfg: TrainConfig, **kwargs: Any) -> list[Any]:
    return list(Trainer(doc, cfg, **kwargs).events())


@pytest.fixture
def no_model_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a model fails the test: the checks under test must come before it."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a model was built before the checks refused the run")

    monkeypatch.setattr(recipe_base, "compile_network", refuse)


# ---- test split --------------------------------------------------------------------------------------------------


def test_bundled_data_keeps_a_test_split_reported_once_at_the_end_with_the_best_weights(tmp_path: Path) -> None:
    events = run(mlp(), config(epochs=3), run_root=tmp_path)
    done = events[-1]
    assert isinstance(done, Done)
    tests = [e for e in events if isinstance(e, TestEnd)]
    assert len(tests) == 1 and events[-2] is tests[0]  # once, after every epoch, right before Done
    for event in events:
        if isinstance(event, EpochEnd):
            assert not any(key.startswith("test_") for key in event.metrics)
    test = tests[0]
    assert test.weights == "best" and test.epoch == done.best_epoch
    assert 0.0 < test.metrics["test_accuracy"] <= 1.0 and done.test_metrics == test.metrics
    run_dir = Path(done.run_dir)
    record = json.loads((run_dir / "config.json").read_text())
    assert record["config"]["data"]["test_fraction"] == pytest.approx(0.1)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["test_metrics"] == pytest.approx(test.metrics) and summary["test_epoch"] == test.epoch
    samples = len(load_data("digits"))
    assert record["data_options"]["test_fraction"] == pytest.approx(0.1)
    assert test.confusion is not None and sum(map(sum, test.confusion)) == round(samples * 0.1)


def test_evaluate_split_test_gives_the_reported_test_figures(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = mlp()
    path = tmp_path / "mlp.nbg"
    save_document(doc, path)
    events = run(doc, config(epochs=2), run_root=tmp_path / "runs")
    done = events[-1]
    result = evaluate(doc, done.run_dir, split="test")
    assert result["split"] == "test" and result["test_accuracy"] == pytest.approx(done.test_metrics["test_accuracy"])
    assert result["weights"] == f"best checkpoint (epoch {done.best_epoch})"
    assert result["weights_epoch"] == done.best_epoch
    capsys.readouterr()
    assert cli(["evaluate", str(path), done.run_dir, "--split", "test"]) == 0
    printed = capsys.readouterr().out
    assert "test split" in printed and f"epoch {done.best_epoch}" in printed and "test_accuracy" in printed


def test_own_files_get_no_test_split_unless_asked(tmp_path: Path) -> None:
    digits = load_data("digits")
    file = tmp_path / "digits.npz"
    np.savez(file, x=digits.x.numpy(), y=digits.y.numpy())
    events = run(mlp(), config({"source": str(file)}, epochs=1), run_root=tmp_path)
    assert isinstance(events[-1], Done) and not any(isinstance(e, TestEnd) for e in events)
    record = json.loads((Path(events[-1].run_dir) / "config.json").read_text())
    assert record["config"]["data"]["test_fraction"] == 0.0
    asked = run(mlp(), config({"source": str(file), "test_fraction": 0.2}, epochs=1), run_root=tmp_path)
    assert sum(isinstance(e, TestEnd) for e in asked) == 1


def test_explicit_test_fraction_zero_turns_the_test_split_off_for_bundled_data(tmp_path: Path) -> None:
    events = run(mlp(), config({"test_fraction": 0.0}, epochs=1), run_root=tmp_path)
    assert isinstance(events[-1], Done) and not any(isinstance(e, TestEnd) for e in events)
    assert events[-1].test_metrics == {}


# ---- "best" is what summary.json says ----------------------------------------------------------------------------


def gan_document() -> Document:
    doc = Document(("generator", "discriminator"))
    g = doc.network("generator")
    g.chain(g.add("Input", name="latent", shape=(8,)), g.add("Linear", units=64), g.add("Tanh"),
            g.add("Output", name="fake", role="generated"))
    d = doc.network("discriminator")
    d.chain(d.add("Input", name="pixels", shape=(64,)), d.add("Linear", units=32), d.add("LeakyReLU"),
            d.add("Linear", units=1), d.add("Output", name="score", role="score"))
    return doc


def test_a_gan_names_the_metric_its_best_epoch_is_picked_on(tmp_path: Path) -> None:
    """A GAN has no held-out data and its losses do not measure its samples: its best epoch is its latest, and
    summary.json says so (it said val_loss while the best was picked on the training loss)."""
    events = run(gan_document(), config(epochs=3, lr=2e-4, recipe="gan"), run_root=tmp_path)
    done = events[-1]
    assert isinstance(done, Done), str(done)
    summary = json.loads((Path(done.run_dir) / "summary.json").read_text())
    assert summary["monitor"] == "epoch" and summary["best_epoch"] == 3
    assert done.monitor == "epoch" and done.best_epoch == 3
    assert [e.best for e in events if isinstance(e, EpochEnd)] == [True, True, True]
    assert not any(isinstance(e, TestEnd) for e in events)  # nothing held out to test on
    best = [e for e in events if isinstance(e, Checkpoint) and e.best]
    assert best and best[-1].epoch == 3
    assert load_run(done.run_dir).recorded_best() == (3, 3.0, "epoch")
    assert predict(gan_document(), done.run_dir, 4).weights == "best checkpoint (epoch 3)"


def test_best_is_picked_on_train_loss_where_no_validation_is_reported(tmp_path: Path) -> None:
    events = run(mlp(), config({"val_fraction": 0.0, "test_fraction": 0.0}, epochs=2, lr=1e-2), run_root=tmp_path)
    done = events[-1]
    losses = {e.epoch: e.metrics["train_loss"] for e in events if isinstance(e, EpochEnd)}
    summary = json.loads((Path(done.run_dir) / "summary.json").read_text())
    assert summary["monitor"] == "train_loss" and summary["best_epoch"] == min(losses, key=losses.get)


def test_the_summary_names_val_loss_when_the_run_reports_it(tmp_path: Path) -> None:
    done = run(mlp(), config(epochs=1), run_root=tmp_path)[-1]
    assert json.loads((Path(done.run_dir) / "summary.json").read_text())["monitor"] == "val_loss"


# ---- evaluate and predict say which weights they use, and refuse stale ones -------------------------------------


def interrupted_run(tmp_path: Path) -> Path:
    """A run stopped by a crash after epoch 3 whose last checkpoint on disk is epoch 1's: epochs 2 and 3 were
    better, but their checkpoints were not due yet (checkpoint_interval) when the process died."""
    cfg = config(epochs=6, checkpoint_interval=0)
    trainer = Trainer(mlp(), cfg, run_root=tmp_path)
    events = trainer.events()
    for event in events:
        if isinstance(event, Checkpoint) and event.epoch == 1:
            trainer.config.checkpoint_interval = 1e9  # from now on checkpoints are held back, as on a fast machine
        if isinstance(event, EpochEnd) and event.epoch == 3:
            assert event.best
            break
    events.close()  # the process dies: no final weights, no summary
    assert trainer.run_dir is not None
    return trainer.run_dir


def test_an_interrupted_run_is_not_evaluated_silently_on_an_older_checkpoint(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = interrupted_run(tmp_path)
    assert not (run_dir / "weights").exists() and len(load_run(run_dir).metrics) == 3
    doc = mlp()
    with pytest.raises(RunError) as caught:
        evaluate(doc, run_dir)
    message = str(caught.value)
    assert "best epoch 3" in message and "epoch 1" in message and "--resume" in message
    with pytest.raises(RunError):
        predict(doc, run_dir, load_data("digits").x[:2])
    anyway = evaluate(doc, run_dir, weights="latest")
    assert anyway["weights_epoch"] == 1 and "epoch 1" in anyway["weights"] and "epoch 3" in anyway["note"]
    path = tmp_path / "mlp.nbg"
    save_document(doc, path)
    capsys.readouterr()
    assert cli(["evaluate", str(path), str(run_dir)]) == 1
    assert "best epoch 3" in capsys.readouterr().err
    with pytest.raises(RunError, match="no final weights"):
        evaluate(doc, run_dir, weights="final")


def test_a_finished_run_is_evaluated_and_predicted_with_its_best_checkpoint_by_default(tmp_path: Path) -> None:
    doc = mlp()
    done = run(doc, config(epochs=2, lr=1e-2), run_root=tmp_path)[-1]
    result = evaluate(doc, done.run_dir)
    assert result["weights"] == f"best checkpoint (epoch {done.best_epoch})" and "note" not in result
    final = evaluate(doc, done.run_dir, weights="final")
    assert final["weights"] == f"final weights (epoch {done.epochs_completed})"
    prediction = predict(doc, done.run_dir, load_data("digits").x[:3])
    assert prediction.weights == f"best checkpoint (epoch {done.best_epoch})" and len(prediction.labels) == 3
    assert prediction.to_dict()["weights"] == prediction.weights


# ---- divergence --------------------------------------------------------------------------------------------------


def test_an_exploding_loss_stops_the_run_with_a_learning_rate_to_try(tmp_path: Path) -> None:
    events = run(mlp(), config(epochs=3, lr=1e6), run_root=tmp_path)
    error = events[-1]
    assert isinstance(error, Error), "lr=1e6 with Adam must not end in Done"
    assert "exploded" in error.message and "starting value" in error.message
    assert "learning rate" in error.suggestion and "0.001" in error.suggestion
    assert error.epoch == 1 and not any(isinstance(e, EpochEnd) for e in events)
    summary = json.loads((Path(error.run_dir) / "summary.json").read_text())
    assert summary["status"] == "error"


def test_divergence_after_a_checkpoint_keeps_it(tmp_path: Path) -> None:
    first = run(mlp(), config(epochs=1, checkpoint_interval=0), run_root=tmp_path)[-1]
    assert isinstance(first, Done)
    checkpoint = Path(first.run_dir) / "checkpoints" / "epoch-0001.safetensors"
    events = run(mlp(), config(epochs=3, lr=1e6), resume_from=first.run_dir)
    error = events[-1]
    assert isinstance(error, Error) and "exploded" in error.message and error.epoch == 2
    assert str(checkpoint) in error.message and checkpoint.is_file()


# ---- data against the network, before the model is built ---------------------------------------------------------


def test_decimal_targets_on_a_classifier_are_refused_before_building(tmp_path: Path, no_model_built: None) -> None:
    rng = np.random.default_rng(0)
    file = tmp_path / "measurements.npz"
    np.savez(file, x=rng.normal(size=(200, 64)).astype(np.float32), y=rng.normal(size=200).astype(np.float32))
    events = run(mlp(), config({"source": str(file)}, recipe="classification", epochs=1), run_root=tmp_path)
    error = events[-1]
    assert isinstance(error, Error)
    assert "decimal targets" in error.message and "IndexError" not in error.message
    assert "regression" in error.suggestion


def test_a_csv_read_as_regression_on_a_classifier_names_the_files_values_and_the_task_option(
        tmp_path: Path, no_model_built: None) -> None:
    # Whole-number targets with many values (disease progression 25..346) are read as regression and standardised;
    # the message must quote a value the file holds, not the standardised one (151 was shown as 0.0064).
    rng = np.random.default_rng(0)
    rows = ["a,b,progression"] + [f"{rng.normal():.3f},{rng.normal():.3f},{int(v)}"
                                  for v in rng.integers(25, 347, size=200)]
    file = tmp_path / "diabetes.csv"
    file.write_text("\n".join(rows) + "\n")
    values = {int(row.rsplit(",", 1)[1]) for row in rows[1:]}
    events = run(mlp(inputs=2), config({"source": str(file)}, recipe="classification", epochs=1),
                 run_root=tmp_path)
    error = events[-1]
    assert isinstance(error, Error) and "read as regression" in error.message
    quoted = error.message.split("targets such as ", 1)[1].split(")", 1)[0]
    assert int(quoted) in values
    assert "task=classification" in error.suggestion


def test_negative_labels_are_refused_with_the_label_named(tmp_path: Path, no_model_built: None) -> None:
    x = torch.randn(100, 64)
    y = torch.arange(100) % 3 - 1  # -1, 0, 1
    info = DataInfo(id="signs", title="signs", task="classification", sample_shape=(64,), num_classes=3)
    events = run(mlp(head=3), config(epochs=1), run_root=tmp_path, data=ArrayDataset(info, x, y))
    error = events[-1]
    assert isinstance(error, Error) and "label -1" in error.message and "0 or more" in error.message
    assert "Target -1" not in error.message


def test_more_classes_than_output_units_names_the_layer_before_building(tmp_path: Path,
                                                                         no_model_built: None) -> None:
    events = run(mlp(head=5), config(epochs=1), run_root=tmp_path)
    error = events[-1]
    assert isinstance(error, Error) and "10 classes" in error.message and "'digit'" in error.message
    assert error.suggestion == "Set the units of 'classes' to 10."


def char_model(vocab_size: int, classes: int) -> Document:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="chars", shape=("T",), dtype="int64"),
              net.add("Embedding", name="embed", vocab_size=vocab_size, dim=8),
              net.add("Linear", name="scores", units=classes), net.add("Output", name="next", role="token_logits"))
    return doc


def test_an_embedding_smaller_than_the_vocabulary_is_refused_before_building(tmp_path: Path,
                                                                              no_model_built: None) -> None:
    vocab = load_data("text").info.num_classes
    cfg = config({"source": "text", "options": {"seq_len": 16}}, epochs=1)
    events = run(char_model(20, vocab), cfg, run_root=tmp_path)
    error = events[-1]
    assert isinstance(error, Error) and "index out of range" not in error.message
    assert "Embedding 'embed' has vocab_size 20" in error.message and f"{vocab} distinct tokens" in error.message
    assert error.suggestion == f"Set vocab_size of 'embed' to {vocab}."


def test_a_fitting_embedding_passes_the_checks(tmp_path: Path) -> None:
    vocab = load_data("text").info.num_classes
    cfg = config({"source": "text", "options": {"seq_len": 16}}, epochs=1, lm={"sample_length": 0})
    events = run(char_model(vocab, vocab), cfg, run_root=tmp_path)
    assert isinstance(events[-1], Done), str(events[-1])


def test_unreadable_images_are_counted_and_named(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        folder = tmp_path / "pictures" / label
        folder.mkdir(parents=True)
        for index in range(12):
            pixels = rng.integers(0, 255, size=(8, 8), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / f"{index}.png")
    (tmp_path / "pictures" / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (tmp_path / "pictures" / "b" / "empty.png").write_bytes(b"")
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="image", shape=(1, 8, 8)), net.add("Flatten"),
              net.add("Linear", name="classes", units=2), net.add("Output", name="label"))
    events = run(doc, config({"source": str(tmp_path / "pictures")}, epochs=1), run_root=tmp_path / "runs")
    assert isinstance(events[-1], Done), str(events[-1])
    skipped = [e.message for e in events if isinstance(e, Warning) and "could not be read" in e.message]
    assert len(skipped) == 1
    assert skipped[0].startswith("2 image files could not be read and were skipped")
    assert "broken.png" in skipped[0] and "empty.png" in skipped[0]


# ---- memory ------------------------------------------------------------------------------------------------------


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def test_a_network_too_big_for_the_memory_is_refused_with_the_estimate(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       no_model_built: None) -> None:
    """9.6e8 parameters: 3.8 GB of weights, with Adam about 19 GB to train; the machine is given 6 GB."""
    monkeypatch.setattr(preflight, "available_memory", lambda device: (6_000_000_000, "of memory available"))
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="pixels", shape=(64,)), net.add("Linear", name="wide", units=30_950),
              net.add("Linear", name="huge", units=30_950), net.add("Linear", name="classes", units=10),
              net.add("Output", name="digit"))
    before = peak_rss_bytes()
    events = run(doc, config(epochs=1), run_root=tmp_path)
    error = events[-1]
    assert isinstance(error, Error)
    assert "weights 3.8 GB" in error.message and "optimiser state 7.7 GB" in error.message
    assert "6.0 GB of memory available" in error.message and "nothing was allocated" in error.message
    assert "960,254,710 parameters" in error.suggestion and "SGD" in error.suggestion
    assert peak_rss_bytes() - before < 500_000_000


def test_the_estimate_follows_the_optimizer_and_the_batch(tmp_path: Path) -> None:
    data = load_data("digits").prepare(val_fraction=0.2)
    network = mlp(hidden=100).network()
    params = 64 * 100 + 100 + 100 * 10 + 10
    adam = preflight.estimate_memory([network], config(), data, torch.device("cpu"))
    sgd = preflight.estimate_memory([network], config(optimizer="sgd", momentum=0.0), data, torch.device("cpu"))
    assert adam.parameters == sgd.parameters == params
    assert adam.weights == adam.gradients == 4 * params and adam.optimizer == 8 * params and sgd.optimizer == 0
    per_sample = 64 + 100 + 100 + 10 + 10  # Input, Linear, ReLU, Linear, Output values of one sample
    assert adam.activations == 4 * 2 * per_sample * 64
    doubled = preflight.estimate_memory([network], config(batch_size=128), data, torch.device("cpu"))
    assert doubled.activations == 2 * adam.activations


def test_available_memory_reads_meminfo_and_the_cgroup_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   8000000 kB\n")
    monkeypatch.setattr(preflight, "PROC_MEMINFO", meminfo)
    monkeypatch.setattr(preflight, "PROC_SELF_CGROUP", tmp_path / "cgroup")
    (tmp_path / "cgroup").write_text("0::/box\n")
    root = tmp_path / "sys"
    monkeypatch.setattr(preflight, "CGROUP_ROOT", root)
    assert preflight.available_memory(torch.device("cpu")) == (8_192_000_000, "of memory available on this machine")
    (root / "box").mkdir(parents=True)
    (root / "box" / "memory.max").write_text("3000000000\n")
    (root / "box" / "memory.current").write_text("1000000000\n")
    assert preflight.available_memory(torch.device("cpu")) == (2_000_000_000,
                                                                "left under this container's memory limit")
    (root / "box" / "memory.max").write_text("max\n")  # v2 without a limit; a v1 limit applies then
    (root / "memory").mkdir()
    (root / "memory" / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert preflight.available_memory(torch.device("cpu"))[0] == 8_192_000_000
    (root / "memory" / "memory.limit_in_bytes").write_text("5000000000\n")
    (root / "memory" / "memory.usage_in_bytes").write_text("4000000000\n")
    assert preflight.available_memory(torch.device("cpu"))[0] == 1_000_000_000


def test_this_machine_reports_its_available_memory_in_bytes() -> None:
    meminfo = Path("/proc/meminfo")
    if not meminfo.is_file():
        pytest.skip("no /proc/meminfo on this system")
    total = int(meminfo.read_text().split("MemTotal:")[1].split()[0]) * 1024
    found = preflight.available_memory(torch.device("cpu"))
    assert found is not None and 0 < found[0] <= total


# ---- one plateau tracker -----------------------------------------------------------------------------------------


def test_early_stopping_and_the_plateau_schedule_share_one_tracker() -> None:
    tracker = PlateauTracker("max", min_delta=0.01)
    assert tracker.update(0.5, 1) and not tracker.update(0.505, 2) and tracker.update(0.6, 3)
    assert not tracker.update(float("nan"), 4) and tracker.best_epoch == 3 and tracker.bad_epochs == 1
    schedule = LRSchedule(config(schedule="plateau", plateau_patience=1, plateau_factor=0.5), 10, 10)
    assert isinstance(schedule.plateau, PlateauTracker)
    for value in (1.0, 1.0, 1.0):
        schedule.end_epoch(value, "min")
    assert schedule.scale == 0.5  # two epochs without improvement > patience 1
    state = schedule.state_dict()
    assert set(state) == {"scale", "best", "bad_epochs", "epoch"}  # the checkpoint format is unchanged
