"""The training loop as a product: control from another thread, exact resume, guards, run folders, CLI."""

from __future__ import annotations

import errno
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from netbuilder.cli_train import main as cli
from netbuilder.data import load_data
from netbuilder.document import Document
from netbuilder.io import save_document
from netbuilder.train import (
    BatchEnd,
    Checkpoint,
    Done,
    EpochEnd,
    Error,
    RunStarted,
    TrainConfig,
    Trainer,
    Warning,
    WeightsLoaded,
    evaluate,
    graph_hash,
    list_runs,
    load_run,
    predict,
)
from netbuilder.train import runs as runs_module
from netbuilder.train.runs import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mlp(head: int = 10, dropout: bool = False, inputs: int = 64) -> Document:
    doc = Document()
    net = doc.network()
    layers = [net.add("Input", name="pixels", shape=(inputs,)), net.add("Linear", name="hidden", units=32),
              net.add("ReLU")]
    if dropout:
        layers.append(net.add("Dropout", p=0.2))
    layers += [net.add("Linear", name="classes", units=head), net.add("Output", name="digit")]
    net.chain(*layers)
    return doc


def config(data: dict[str, Any] | None = None, **training: Any) -> TrainConfig:
    return TrainConfig.from_dict({"seed": 0, "device": "cpu", "epochs": 2, "lr": 3e-3, **training},
                                 {"source": "digits", **(data or {})})


def run(doc: Document, cfg: TrainConfig, **kwargs: Any) -> list[Any]:
    return list(Trainer(doc, cfg, **kwargs).events())


# ---- control -----------------------------------------------------------------------------------------------------


def test_stop_takes_effect_within_one_batch_and_keeps_the_weights(tmp_path: Path) -> None:
    trainer = Trainer(mlp(), config(epochs=50, log_every=1, log_interval=0), run_root=tmp_path)
    stopped_at = None
    events = []
    for event in trainer.events():
        events.append(event)
        if isinstance(event, BatchEnd) and event.step == 3:
            trainer.stop()
            stopped_at = event.step
    done = events[-1]
    assert isinstance(done, Done) and done.stopped_by_user and not done.stopped_early
    assert trainer.step <= stopped_at + 1
    run_dir = Path(done.run_dir)
    assert (run_dir / "weights" / "model.safetensors").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "stopped"


def test_pause_blocks_a_worker_thread_until_resume(tmp_path: Path) -> None:
    """As the app runs it: events are consumed in a worker thread, control calls come from another thread."""
    trainer = Trainer(mlp(), config(epochs=4, log_every=1, log_interval=0), run_root=tmp_path)
    seen: list[Any] = []
    first_batch = threading.Event()

    def worker() -> None:
        for event in trainer.events():
            seen.append(event)
            if isinstance(event, BatchEnd):
                first_batch.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert first_batch.wait(30)
    trainer.pause()
    time.sleep(0.2)
    step = trainer.step
    time.sleep(0.3)
    assert trainer.step == step and thread.is_alive() and trainer.paused
    trainer.resume()
    thread.join(60)
    assert not thread.is_alive()
    assert isinstance(seen[-1], Done) and not seen[-1].stopped_by_user
    assert len([e for e in seen if isinstance(e, EpochEnd)]) == 4


def test_stop_while_paused_ends_the_run(tmp_path: Path) -> None:
    trainer = Trainer(mlp(), config(epochs=20, log_every=1, log_interval=0), run_root=tmp_path)
    events = trainer.events()
    assert isinstance(next(events), RunStarted)
    trainer.pause()
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.extend(events))
    thread.start()
    time.sleep(0.2)
    assert thread.is_alive()  # blocked in the pause, not training
    trainer.stop()
    thread.join(30)
    assert isinstance(box[-1], Done) and box[-1].stopped_by_user


# ---- resume ------------------------------------------------------------------------------------------------------


def test_resumed_run_repeats_the_uninterrupted_loss_curve_exactly(tmp_path: Path) -> None:
    settings = {"epochs": 4, "checkpoint_interval": 0, "keep_checkpoints": 0, "log_every": 1, "log_interval": 0,
                "optimizer": "sgd", "momentum": 0.9, "schedule": "cosine", "warmup_steps": 5}
    doc = mlp(dropout=True)
    full = run(doc, config(**settings), run_root=tmp_path / "a")
    run_dir = Path(full[-1].run_dir)
    checkpoint = run_dir / "checkpoints" / "epoch-0002.safetensors"
    assert checkpoint.is_file()
    resumed = run(doc, config(**settings), run_dir=tmp_path / "b", resume_from=checkpoint)
    assert next(e for e in resumed if isinstance(e, RunStarted)).start_epoch == 3

    def curve(events: list[Any], first_epoch: int) -> list[tuple[int, float]]:
        return [(e.step, e.loss) for e in events if isinstance(e, BatchEnd) and e.epoch >= first_epoch]

    assert curve(resumed, 3) == curve(full, 3)
    after = [e.metrics for e in full if isinstance(e, EpochEnd)][2:]
    assert [e.metrics for e in resumed if isinstance(e, EpochEnd)] == after

    in_place = tmp_path / "copy"
    shutil.copytree(run_dir, in_place)
    again = run(doc, config(**settings), resume_from=in_place / "checkpoints" / "epoch-0002.safetensors")
    assert Path(again[-1].run_dir) == in_place
    rows = [json.loads(line) for line in (in_place / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows[2:] == [{"epoch": i + 3, **m} for i, m in enumerate(after)]


def test_checkpoints_follow_the_interval_and_always_keep_the_last_and_the_best(tmp_path: Path) -> None:
    events = run(mlp(), config(epochs=3, checkpoint_interval=3600), run_root=tmp_path)
    written = [e for e in events if isinstance(e, Checkpoint)]
    assert [e.epoch for e in written] == [3]
    state = load_checkpoint(written[0].path)
    batches = next(e for e in events if isinstance(e, RunStarted)).batches_per_epoch
    assert state.epoch == 3 and state.state["step"] == events[-1].epochs_completed * batches
    assert (Path(written[0].path).parent / "best.safetensors").is_file()


def test_a_best_epoch_between_checkpoints_is_written_with_its_own_weights(tmp_path: Path) -> None:
    """Monitoring the learning rate of a step schedule (halved after epochs 2 and 4) makes epochs 1 and 3 the
    improvements; with checkpoints only at the end, epoch 3 is held in memory (in buffers reused from epoch 1)
    and must reach best.safetensors as it was then, not as training left the weights afterwards."""
    cfg = config(epochs=4, checkpoint_interval=3600, schedule="step", step_size=2, gamma=0.5,
                 early_stopping={"monitor": "lr", "mode": "min"})
    trainer = Trainer(mlp(), cfg, run_root=tmp_path)
    weights_at: dict[int, dict[str, torch.Tensor]] = {}
    improved: list[int] = []
    for event in trainer.events():
        if isinstance(event, EpochEnd):
            assert trainer.recipe is not None
            module = trainer.recipe.modules[trainer.recipe.network.name]
            weights_at[event.epoch] = {k: v.detach().clone() for k, v in module.state_dict().items()}
            if event.best:
                improved.append(event.epoch)
    assert improved == [1, 3]
    best = load_checkpoint(Path(trainer.run_dir) / "checkpoints" / "best.safetensors")
    assert best.epoch == 3
    saved = best.weights[trainer.recipe.network.name]
    assert saved.keys() == weights_at[3].keys()
    for key, value in saved.items():
        assert torch.equal(value, weights_at[3][key]), key
    assert not all(torch.equal(saved[k], weights_at[4][k]) for k in saved)


def test_same_seed_same_run_and_early_stopping_ends_a_stalled_run(tmp_path: Path) -> None:
    first = run(mlp(dropout=True), config(epochs=2), write=False)
    second = run(mlp(dropout=True), config(epochs=2), write=False)
    assert [e.metrics for e in first if isinstance(e, EpochEnd)] == \
        [e.metrics for e in second if isinstance(e, EpochEnd)]
    stalled = run(mlp(), config(epochs=20, lr=1e-9, early_stopping={"patience": 2, "min_delta": 0.01}),
                  run_root=tmp_path)
    done = stalled[-1]
    assert isinstance(done, Done) and done.stopped_early and done.epochs_completed == 3
    assert done.best_epoch == 1
    assert json.loads((Path(done.run_dir) / "summary.json").read_text())["stopped_early"] is True


def test_several_outputs_train_on_the_weighted_sum_of_their_losses(tmp_path: Path) -> None:
    doc = Document()
    net = doc.network()
    hidden = net.add("Linear", name="hidden", units=32)
    net.chain(net.add("Input", name="pixels", shape=(64,)), hidden, net.add("ReLU", name="act"))
    net.chain("act", net.add("Linear", name="main_head", units=10), net.add("Output", name="digit"))
    net.chain("act", net.add("Linear", name="aux_head", units=10), net.add("Output", name="aux"))
    net.chain("hidden", net.add("Output", name="embedding", role="features"))
    losses = [{"output": "digit", "loss": "cross_entropy"},
              {"output": "aux", "loss": "cross_entropy", "weight": 0.5, "label_smoothing": 0.1}]
    events = run(doc, config(epochs=3, losses=losses), run_root=tmp_path)
    assert isinstance(events[-1], Done)
    assert events[-1].metrics["val_accuracy"] > 0.8  # metrics follow the first supervised output
    bad = run(doc, config(losses=[{"output": "digits", "loss": "mse"}]), run_root=tmp_path)[-1]
    assert isinstance(bad, Error) and "'digits'" in bad.message and "digit, aux, embedding" in bad.message


# ---- guards ------------------------------------------------------------------------------------------------------


def test_nan_loss_stops_with_the_step_and_a_suggestion_keeping_the_last_good_checkpoint(tmp_path: Path) -> None:
    doc = mlp()
    first = run(doc, config(epochs=1, checkpoint_interval=0), run_root=tmp_path)
    run_dir = Path(first[-1].run_dir)
    good = run_dir / "checkpoints" / "epoch-0001.safetensors"
    events = run(doc, config(epochs=3, lr=1e6, optimizer="sgd", momentum=0.0), resume_from=good)
    assert any(isinstance(e, Warning) and "Settings differ" in e.message for e in events)
    error = events[-1]
    assert isinstance(error, Error)
    # lr 1e6 either overflows to NaN/inf or is caught first as a loss grown 10,000-fold; both stop the run here
    assert ("NaN or infinite" in error.message or "exploded" in error.message) and f"step {error.step}" in error.message
    assert error.step > 24 and "learning rate" in error.suggestion
    assert "it is 1e+06; try 0.01, a usual value for SGD" in error.suggestion  # not 1e5: that diverges as well
    assert str(good) in error.message and good.is_file()
    assert load_checkpoint(good).epoch == 1
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "error"


def test_penalties_and_clipping_train_and_an_infinite_gradient_is_caught(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    doc = mlp()
    doc.network().set_options("hidden", l1=1e-3)
    plain = run(doc, config(epochs=1, grad_clip=1.0), run_root=tmp_path)
    penalised = run(doc, config(epochs=1, grad_clip=1.0, l2=1e-2), run_root=tmp_path)
    assert isinstance(plain[-1], Done) and isinstance(penalised[-1], Done)
    assert penalised[-1].metrics["train_loss"] > plain[-1].metrics["train_loss"]  # the penalty is in the loss

    real = torch.nn.utils.clip_grad_norm_
    calls = {"count": 0}

    def exploding(params: Any, max_norm: float) -> torch.Tensor:
        calls["count"] += 1
        norm = real(params, max_norm)
        return torch.full_like(norm, float("inf")) if calls["count"] == 7 else norm

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", exploding)
    error = run(doc, config(epochs=1, grad_clip=1.0), run_root=tmp_path)[-1]
    assert isinstance(error, Error) and error.step == 7
    assert error.message.startswith("The gradients became NaN or infinite at step 7 (epoch 1, batch 7)")
    assert "grad_clip" not in error.suggestion  # clipping is already on


@pytest.mark.parametrize(("build", "data", "training", "words"), [
    (lambda: mlp(inputs=10), {}, {}, "Input 'pixels' expects 10"),
    (lambda: mlp(head=5), {}, {}, "10 classes"),
    (mlp, {"source": "digitz"}, {}, "Did you mean 'digits'"),
    (mlp, {"source": ""}, {}, "No data is chosen"),
    (mlp, {"source": "text"}, {}, "int64 token ids"),
    (mlp, {}, {"device": "cuda:7" if torch.cuda.is_available() else "cuda"}, "cuda"),
    (mlp, {}, {"recipe": "vae"}, "Reparameterize"),
    (mlp, {}, {"recipe": "gan"}, "generator and discriminator"),
    (mlp, {}, {"transfer": {"source": "/no/such/run"}}, "does not exist"),
])
def test_unusable_data_and_settings_end_in_one_clear_error(tmp_path: Path, build: Any, data: dict,
                                                           training: dict, words: str) -> None:
    events = run(build(), config(data, **training), run_root=tmp_path)
    assert len(events) <= 2 and isinstance(events[-1], Error)
    assert words.lower() in str(events[-1]).lower()
    assert "Traceback" not in str(events[-1])


def test_bad_settings_in_the_document_become_an_error_event() -> None:
    doc = mlp()
    doc.settings["training"] = {"epochs": 0}
    doc.settings["data"] = {"source": "digits"}
    events = list(Trainer(doc).events())
    assert len(events) == 1 and isinstance(events[0], Error)
    assert "settings.training.epochs: must be at least 1" in events[0].message


def test_a_full_disk_while_checkpointing_is_reported_and_the_last_checkpoint_survives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = runs_module._write_replace
    calls = {"count": 0}

    def flaky(path: Path, data: bytes) -> None:
        if path.name.startswith("epoch-"):
            calls["count"] += 1
            if calls["count"] == 2:
                raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(runs_module, "_write_replace", flaky)
    events = run(mlp(), config(epochs=4, checkpoint_interval=0), run_root=tmp_path)
    error = events[-1]
    assert isinstance(error, Error)
    assert "the disk is full" in error.message and "epoch-0001.safetensors" in error.message
    assert "disk space" in error.suggestion
    assert load_checkpoint(Path(error.run_dir) / "checkpoints" / "epoch-0001.safetensors").epoch == 1


def test_out_of_memory_is_reported_with_a_smaller_batch_to_try(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from netbuilder.train.recipes import Supervised

    real = Supervised.train_step

    def hungry(self: Supervised, x: torch.Tensor, y: torch.Tensor | None) -> Any:
        if trainer.step == 30:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, x, y)

    monkeypatch.setattr(Supervised, "train_step", hungry)
    trainer = Trainer(mlp(), config(epochs=3, checkpoint_interval=0), run_root=tmp_path)
    events = list(trainer.events())
    error = events[-1]
    assert isinstance(error, Error) and error.step == 30
    assert error.message.startswith("Out of memory on cpu at step 30 with batch size 64")
    assert "epoch-0001.safetensors" in error.message and "batch size (e.g. 32)" in error.suggestion


def test_a_network_with_problems_is_refused_with_its_diagnostics(tmp_path: Path) -> None:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="pixels", shape=(64,)), net.add("Linear", name="hidden", units=10))
    net.add("Output", name="digit")  # not connected
    events = run(doc, config(), run_root=tmp_path)
    assert len(events) == 1 and isinstance(events[0], Error)
    assert "digit" in events[0].message and "not connected" in events[0].message


def test_run_root_that_is_a_file_gives_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    events = run(mlp(), config(), run_root=blocker)
    assert isinstance(events[-1], Error) and "Could not write" in events[-1].message


# ---- run folders, evaluation, prediction, transfer ------------------------------------------------------------


def test_run_folder_records_everything_and_can_be_listed_evaluated_and_used(tmp_path: Path) -> None:
    doc = mlp()
    events = run(doc, config(data={"test_fraction": 0.1}, epochs=3), run_root=tmp_path)
    done = events[-1]
    assert isinstance(done, Done)
    folder = Path(done.run_dir)
    record = json.loads((folder / "config.json").read_text())
    assert record["graph_sha256"] == graph_hash(doc) and record["data"]["id"] == "digits"
    assert record["config"]["epochs"] == 3 and record["recipe"] == "classification"
    assert (folder / "graph.nbg").is_file() and (folder / "preprocessing.json").is_file()
    header = (folder / "metrics.csv").read_text().splitlines()
    assert header[0].startswith("epoch,train_loss,val_loss,val_accuracy") and len(header) == 4
    runs = list_runs(tmp_path)
    assert [r.path for r in runs] == [folder]
    loaded = load_run(folder)
    assert loaded.status == "done" and len(loaded.metrics) == 3
    assert loaded.final_metrics["val_accuracy"] == done.metrics["val_accuracy"]

    val = evaluate(doc, folder, split="val")
    assert val["val_accuracy"] == pytest.approx(done.metrics["val_accuracy"])
    test = evaluate(doc, folder)
    assert test["split"] == "test" and test["samples"] == 180 and len(test["confusion"]) == 10

    digits = load_data("digits")
    raw = digits.x[:5].numpy()
    np.save(tmp_path / "five.npy", raw)
    np.savetxt(tmp_path / "five.csv", raw, delimiter=",", header=",".join(f"p{i}" for i in range(64)),
               comments="")
    from_npy = predict(doc, folder, str(tmp_path / "five.npy"))
    from_csv = predict(doc, folder, str(tmp_path / "five.csv"))
    assert from_npy.labels == from_csv.labels and len(from_npy.labels) == 5
    assert sum(label == str(int(y)) for label, y in zip(from_npy.labels, digits.y[:5], strict=True)) >= 4
    assert from_npy.probabilities.shape == (5, 10)


def test_transfer_from_a_run_lists_what_did_not_fit(tmp_path: Path) -> None:
    source = run(mlp(head=10), config(epochs=1), run_root=tmp_path)[-1].run_dir
    iris = {"source": "iris", "val_fraction": 0.3}
    events = run(mlp(head=10, inputs=4), config(data=iris, epochs=1, transfer={"source": source}),
                 run_root=tmp_path)
    assert isinstance(events[-1], Error) and "3 classes" in events[-1].message
    events = run(mlp(head=3), config(data={"classes": [0, 1, 2]}, epochs=1, transfer={"source": source}),
                 run_root=tmp_path)
    assert isinstance(events[-1], Error) and "10 classes" in events[-1].message  # labels keep their ids
    events = run(mlp(head=3, inputs=4), config(data=iris, epochs=1, transfer={"source": source}),
                 run_root=tmp_path)
    loaded = next(e for e in events if isinstance(e, WeightsLoaded))
    assert loaded.matched == ["hidden.bias"]
    assert loaded.mismatched == ["hidden.weight: the file has 32×64, the model needs 32×4",
                                 "classes.weight: the file has 10×32, the model needs 3×32",
                                 "classes.bias: the file has 10, the model needs 3"]
    assert any(isinstance(e, Warning) and "classes.weight" in e.message for e in events)
    assert isinstance(events[-1], Done)


def test_language_model_predict_continues_a_prompt(tmp_path: Path) -> None:
    vocab = load_data("text").info.num_classes
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="chars", shape=("T",), dtype="int64"),
              net.add("Embedding", vocab_size=vocab, dim=8), net.add("GRU", hidden_size=16, returns="sequence"),
              net.add("Linear", units=vocab), net.add("Output", name="next_char", role="token_logits"))
    events = run(doc, config(data={"source": "text", "options": {"seq_len": 16}}, epochs=1,
                             lm={"sample_length": 5}), run_root=tmp_path)
    result = predict(doc, events[-1].run_dir, "Once", length=12)
    assert result.text.startswith("Once") and len(result.text) == 16


# ---- CLI ---------------------------------------------------------------------------------------------------------


def test_cli_datasets_lists_the_bundled_ids(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["datasets", "--json"]) == 0
    ids = [entry["id"] for entry in json.loads(capsys.readouterr().out)]
    assert ids == ["digits", "digits-images", "iris", "wine", "breast-cancer", "diabetes", "moons", "circles",
                   "spirals", "waves", "text"]


def test_cli_train_json_lines_then_evaluate_and_predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = mlp()
    doc.settings["data"] = {"source": "iris"}
    doc.settings["training"] = {"epochs": 50, "lr": 0.01, "seed": 0}
    file = tmp_path / "net.nbg"
    save_document(doc, file)
    # The file says iris and 50 epochs; the flags win.
    code = cli(["train", str(file), "--data", "digits", "--epochs", "2", "--runs", str(tmp_path / "runs"),
                "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    epochs = [line for line in lines if line["event"] == "epoch"]
    assert [line["epoch"] for line in epochs] == [1, 2]
    assert {"train_loss", "val_loss", "val_accuracy"} <= set(epochs[-1]["metrics"])
    done = lines[-1]
    assert done["event"] == "done" and done["metrics"] == epochs[-1]["metrics"]
    run_dir = done["run_dir"]

    assert cli(["evaluate", str(file), run_dir, "--json"]) == 0  # the held-out test split, with the best weights
    result = json.loads(capsys.readouterr().out)
    assert result["split"] == "test" and result["test_accuracy"] == pytest.approx(
        done["test_metrics"]["test_accuracy"])
    best = epochs[done["best_epoch"] - 1]["metrics"]
    assert cli(["evaluate", str(file), run_dir, "--split", "val", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["val_accuracy"] == pytest.approx(best["val_accuracy"])
    np.save(tmp_path / "one.npy", load_data("digits").x[:1].numpy())
    assert cli(["predict", str(file), run_dir, str(tmp_path / "one.npy")]) == 0
    assert capsys.readouterr().out.startswith("0: ")


def test_cli_train_errors_are_json_with_exit_code_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = tmp_path / "net.nbg"
    save_document(mlp(inputs=10), file)
    code = cli(["train", str(file), "--data", "digits", "--runs", str(tmp_path / "runs"), "--json"])
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert code == 1 and last["event"] == "error" and "Set its shape to 64" in last["suggestion"]
    assert cli(["train", str(tmp_path / "missing.nbg")]) == 2
    assert "missing.nbg" in capsys.readouterr().err


def test_mixed_precision_on_cpu_and_a_failing_torch_compile_fall_back_with_warnings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_compile(module: Any) -> Any:
        def call(*args: Any) -> Any:
            raise RuntimeError("no C compiler")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    events = run(mlp(), config(epochs=1, precision="bf16", torch_compile=True), run_root=tmp_path)
    warnings = [e.message for e in events if isinstance(e, Warning)]
    assert any("runs on CUDA only" in w for w in warnings)
    assert any("torch.compile failed (RuntimeError)" in w for w in warnings)
    assert isinstance(events[-1], Done) and events[-1].metrics["val_accuracy"] > 0.5
