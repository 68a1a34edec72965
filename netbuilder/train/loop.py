"""The training loop: a generator of plain events, controlled by thread-safe stop/pause flags.

``Trainer(document, config).events()`` yields `RunStarted`, then per epoch a few `BatchEnd`, `ValidationEnd`,
`Samples`, `EpochEnd` and `Checkpoint`, and finally `Done` or `Error`. The desktop app runs it in a worker thread
and calls `stop`/`pause`/`resume` from the GUI thread; the CLI runs it in the main thread. No exception leaves the
generator (except GeneratorExit when the consumer closes it): every failure becomes an `Error` event with a plain
message, the step, and a suggestion, and the run folder keeps the last good checkpoint.

Speed: in-memory data is moved to the device once and batched by tensor indexing; the step does no host-device
synchronisation. Losses stay on the device and are read back together when a `BatchEnd` is due (every
``log_every`` batches and at most every ``log_interval`` seconds), which is also where NaN/Inf is detected.

Reproducibility: model weights are initialised from the seed; the data order of epoch ``e`` comes from a
generator seeded with (seed, e); checkpoints hold model, optimiser, schedule, loss scaler and every global RNG
state, so a run resumed from the checkpoint of epoch ``e`` continues with exactly the losses the uninterrupted run
had.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from netbuilder import __version__
from netbuilder.data.base import ArrayDataset, ArraySplit, DataError, PreparedData, Split
from netbuilder.document.model import Document
from netbuilder.train import distributed
from netbuilder.train import events as ev
from netbuilder.train.config import ConfigError, DataConfig, TrainConfig
from netbuilder.train.dropout import set_dropout
from netbuilder.train.losses import perplexity
from netbuilder.train.optim import LRSchedule
from netbuilder.train.recipes import Context, Recipe, TrainError, build_recipe, choose_recipe, seed_for
from netbuilder.train.runs import (
    CHECKPOINTS,
    CONFIG_FILE,
    WEIGHTS,
    RunError,
    RunWriter,
    flatten_state,
    graph_hash,
    load_checkpoint,
    new_run_dir,
    rng_state,
    set_rng_state,
    unflatten_state,
)
from netbuilder.train.threads import set_threads

# A learning rate that usually works for each optimiser: what a diverged run is pointed to when its own rate is
# far above it (a tenth of 1e6 would diverge just the same).
USUAL_RATES = {"sgd": (0.01, "SGD"), "adam": (1e-3, "Adam"), "adamw": (1e-3, "AdamW"), "rmsprop": (1e-3, "RMSprop"),
               "adagrad": (0.01, "Adagrad")}


def _lower_rate(lr: float, config: TrainConfig | None) -> str:
    usual, name = USUAL_RATES.get(config.optimizer if config is not None else "adam", (1e-3, "this optimiser"))
    if lr > usual * 10:
        return f"{usual:g}, a usual value for {name}"
    return f"{lr / 10:g}"


class _NonFinite(Exception):
    def __init__(self, what: str, step: int, epoch: int, batch: int):
        super().__init__(what)
        self.what, self.step, self.epoch, self.batch = what, step, epoch, batch


def resolve_device(name: str, dist_info: distributed.DistInfo | None = None) -> torch.device:
    """The torch device for a config value; TrainError when it is not available here."""
    if dist_info is not None and dist_info.enabled:
        if name != "cpu" and torch.cuda.is_available():
            return torch.device("cuda", dist_info.local_rank % torch.cuda.device_count())
        return torch.device("cpu")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainError(f"Device {name} was asked for, but CUDA is not available on this machine (PyTorch "
                             f"{torch.__version__}).", "Use device auto or cpu.")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise TrainError(f"Device {name} does not exist: this machine has {torch.cuda.device_count()} CUDA "
                             "device(s), numbered from 0.", "Use cuda:0 or auto.")
        return device
    if name == "mps":
        if getattr(torch.backends, "mps", None) is None or not torch.backends.mps.is_available():
            raise TrainError("Device mps (Apple GPU) is not available on this machine.", "Use device auto or cpu.")
        return torch.device("mps")
    return torch.device("cpu")


def _is_oom(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(error, oom):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


class Trainer:
    """One training run of a document. Build it, then iterate `events`; control it with stop/pause/resume.

    ``config`` defaults to the document's ``settings["training"]``/``settings["data"]``. ``data`` (a Dataset or
    PreparedData) replaces the configured source, e.g. for data built in code. ``resume_from`` is a checkpoint
    folder or a run folder (its latest checkpoint); the run then continues in that run folder unless ``run_dir``
    says otherwise. ``write=False`` trains without a run folder.
    """

    def __init__(self, document: Document, config: TrainConfig | None = None, *,
                 run_root: str | os.PathLike[str] = "runs", run_dir: str | os.PathLike[str] | None = None,
                 data: Any = None, resume_from: str | os.PathLike[str] | None = None, write: bool = True):
        self.document = document
        self.config = config
        self.run_root = Path(run_root)
        self.run_dir: Path | None = Path(run_dir) if run_dir is not None else None
        self._data_arg = data
        self.resume_from = resume_from
        self.write = write
        self._stop = False
        self._running = threading.Event()
        self._running.set()
        self.recipe: Recipe | None = None
        self.data: PreparedData | None = None
        self.device: torch.device | None = None
        self.step = 0
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.writer = RunWriter(None, enabled=False)
        self._dist = distributed.DistInfo()
        self._best: float | None = None
        self._best_epoch: int | None = None
        self._bad_epochs = 0
        self._last_good: str | None = None  # last checkpoint written
        self._graph_hash = ""
        self._stage: Trainer | None = None  # the pre-training run in progress, which stop/pause also reach
        self._last_checkpoint = time.perf_counter()
        self._pending_best: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
        self._best_buffers: dict[str, torch.Tensor] = {}  # reused by each pending best (see _snapshot)
        self._config_dict: dict[str, Any] = {}

    # ---- control (thread-safe: plain flag writes and a threading.Event) -------------------------------------
    def stop(self) -> None:
        """Stop after the batch in progress; the run then saves its weights and ends with Done."""
        self._stop = True
        self._running.set()
        stage = self._stage
        if stage is not None:
            stage.stop()

    def pause(self) -> None:
        """Block the generator before the next batch until `resume` or `stop` (no busy waiting)."""
        self._running.clear()
        stage = self._stage
        if stage is not None:
            stage.pause()

    def resume(self) -> None:
        self._running.set()
        stage = self._stage
        if stage is not None:
            stage.resume()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop

    def run(self) -> ev.Done | ev.Error:
        """Train to the end without looking at the events; returns the final Done or Error."""
        last: ev.Event | None = None
        for last in self.events():  # noqa: B007 - only the last event matters here
            pass
        assert isinstance(last, ev.Done | ev.Error)
        return last

    # ---- the generator ---------------------------------------------------------------------------------------
    def events(self) -> Iterator[ev.Event]:
        """Run training, yielding events. Never raises (except GeneratorExit); failures become an Error event."""
        try:
            yield from self._events()
        except GeneratorExit:
            raise
        except KeyboardInterrupt:
            yield from self._finish(stopped_by_user=True, stopped_early=False)
        except Exception as error:  # noqa: BLE001 - turned into an Error event, by design
            yield self._failure(error)
        finally:
            self.writer.close()
            distributed.teardown(self._dist)

    def _events(self) -> Iterator[ev.Event]:
        config = self._resolve_config()
        set_threads(config.threads)
        self._graph_hash = graph_hash(self.document)  # of the graph as it is trained, even if edited meanwhile
        self._config_dict = config.to_dict()
        self._dist = distributed.setup(config.device != "cpu" and torch.cuda.is_available())
        dist_info = self._dist
        device = resolve_device(config.device, dist_info)
        self.device = device
        warnings: list[str] = []
        precision = config.precision
        if precision != "fp32" and device.type != "cuda":
            warnings.append(f"Mixed precision ({precision}) runs on CUDA only; training on {device.type} in fp32.")
            precision = "fp32"
        if precision == "bf16" and not torch.cuda.is_bf16_supported():
            warnings.append("This GPU does not support bf16; training in fp16 with loss scaling instead.")
            precision = "fp16"

        pretrained = None
        if config.transfer.pretrain is not None and self.resume_from is None:
            pretrained = yield from self._pretrain(config)
            if pretrained is None:
                return
            yield ev.Stage("train", "Training, starting from the pre-trained weights.")
        data = self._prepare_data(config)
        self.data = data
        recipe_name = choose_recipe(self.document, config, data.info)
        ctx = Context(self.document, config, data, device, precision, dist_info.world_size, warnings,
                      pretrained=pretrained)
        recipe = build_recipe(recipe_name, ctx)
        self.recipe = recipe
        if config.dropout is not None and not set_dropout(recipe.modules.values(), config.dropout):
            warnings.append(f"The dropout setting ({config.dropout:g}) has no effect: the network has no Dropout "
                            "layer.")
        train = self._on_device(data.train, device)
        val = self._on_device(data.val, device) if data.val is not None and recipe.has_validation else None
        if len(train) == 0:
            raise TrainError("The training split is empty.", "Lower the validation and test fractions.")
        x0, y0 = train.head(min(2, len(train)))
        recipe.check(_to(x0, device), _to(y0, device))

        checkpoint = load_checkpoint(self.resume_from) if self.resume_from is not None else None
        if dist_info.enabled:
            recipe.wrap_ddp()
        if config.torch_compile:
            recipe.use_compile()
        batches = self._batch_count(train, config.batch_size)
        schedule = LRSchedule(config, batches, config.epochs)
        start_epoch = 1
        if checkpoint is not None:
            start_epoch = self._restore(checkpoint, recipe, schedule, config)
            warnings.extend(self._resume_warnings(checkpoint, config))
        else:
            torch.manual_seed(config.seed + dist_info.rank)

        self._open_run_dir(config, recipe_name, checkpoint, start_epoch)
        yield ev.RunStarted(str(self.run_dir) if self.run_dir else None, config.to_dict(), str(device),
                            config.epochs, batches, batches * config.epochs, recipe_name, start_epoch,
                            recipe.trainable_count(), data.info.to_dict(), dist_info.world_size)
        for message in warnings:
            yield ev.Warning(message)
        yield from ctx.transfer_events
        self._last_checkpoint = time.perf_counter()
        if checkpoint is not None and start_epoch > config.epochs:
            yield from self._finish(stopped_by_user=False, stopped_early=False)
            return

        yield from self._epochs(config, recipe, train, val, schedule, start_epoch, batches)

    def _pretrain(self, config: TrainConfig) -> Iterator[ev.Event]:
        """Run the pre-training stage; returns its final weights (network -> state), or None after an Error."""
        pre = config.transfer.pretrain
        assert pre is not None
        if isinstance(self._data_arg, PreparedData):
            raise TrainError("A pre-training stage selects its own classes, so it needs a data set, not data "
                             "that is already split.", "Pass the data set itself, or remove transfer.pretrain.")
        classes = f"classes {', '.join(map(str, pre.classes))}" if pre.classes else "all classes"
        yield ev.Stage("pretrain", f"Pre-training every layer on {classes} for {pre.epochs} epochs.")
        document = _all_trainable(self.document)
        stage = config.replace(epochs=pre.epochs, transfer={}, early_stopping={},
                               data={"classes": pre.classes, "val_fraction": pre.val_fraction, "test_fraction": 0.0},
                               name=f"{config.name or self.document.info.title or 'run'}-pretrain")
        trainer = Trainer(document, stage, run_root=self.run_root, data=self._data_arg, write=self.write)
        self._stage = trainer
        if self.paused:
            trainer.pause()
        try:
            for event in trainer.events():
                if isinstance(event, ev.Error):
                    yield event
                    return None
                if not isinstance(event, ev.Done):
                    yield event
        finally:
            self._stage = None
        if self._stop:
            yield from self._finish(stopped_by_user=True, stopped_early=False)
            return None
        assert trainer.recipe is not None
        return {name: {k: v.detach().clone() for k, v in module.state_dict().items()}
                for name, module in trainer.recipe.modules.items()}

    # ---- epochs ----------------------------------------------------------------------------------------------
    def _epochs(self, config: TrainConfig, recipe: Recipe, train: Split, val: Split | None, schedule: LRSchedule,
                start_epoch: int, batches: int) -> Iterator[ev.Event]:
        dist_info = self._dist
        ddp = dist_info.enabled
        optimizers = list(recipe.optimizers.values())
        per_step = schedule.per_step
        log_every = config.log_every
        interval = 0.0 if ddp else config.log_interval
        monitor = config.early_stopping.monitor
        direction = config.early_stopping.direction()
        step_fn = recipe.train_step
        compiled = config.torch_compile
        warned_monitor = False
        lr = schedule.apply(optimizers, self.step)
        recipe.set_train(True)  # evaluation and sampling switch back to training mode when they are done

        for epoch in range(start_epoch, config.epochs + 1):
            self.epoch = epoch
            schedule.epoch = epoch - 1
            if not per_step:
                lr = schedule.apply(optimizers, self.step)
            generator = torch.Generator().manual_seed(seed_for(config.seed, epoch, "data"))
            window: list[Any] = []
            sizes: list[int] = []
            totals = {"sum": 0.0, "count": 0.0}
            part_sums: dict[str, float] = {}
            started = time.perf_counter()
            last_time = started
            reported = 0
            index = 0
            stopped = False
            for x, y in self._train_batches(train, config.batch_size, generator, device=self.device):
                if self._stop and not ddp:
                    stopped = True
                    break
                if not self._running.is_set():
                    self._running.wait()
                    last_time = time.perf_counter()
                    if self._stop and not ddp:
                        stopped = True
                        break
                if per_step:
                    lr = schedule.apply(optimizers, self.step)
                if compiled:
                    shown = len(recipe.ctx.warnings)
                    result = self._compiled_step(recipe, x, y)
                    compiled = False
                    step_fn = recipe.train_step
                    for message in recipe.ctx.warnings[shown:]:
                        yield ev.Warning(message)
                else:
                    result = step_fn(x, y)
                window.append(result)
                sizes.append(x.shape[0])
                index += 1
                self.step += 1
                if index - reported >= log_every:
                    now = time.perf_counter()
                    if now - last_time >= interval or index == batches:
                        event, stop_all = self._report(window, sizes, totals, part_sums, epoch, index, batches, lr,
                                                       now - last_time)
                        window, sizes = [], []
                        reported, last_time = index, now
                        yield event
                        if stop_all:
                            stopped = True
                            break
            if window:
                now = time.perf_counter()
                event, stop_all = self._report(window, sizes, totals, part_sums, epoch, index, batches, lr,
                                               now - last_time)
                yield event
                stopped = stopped or stop_all
            if ddp and not stopped:
                stopped = distributed.any_rank(self._stop, self.device)
            if stopped:
                yield from self._finish(stopped_by_user=True, stopped_early=False)
                return

            count = max(1.0, totals["count"])
            metrics: dict[str, float] = {"train_loss": totals["sum"] / count}
            for key, value in part_sums.items():
                metrics[f"train_{key}"] = value / count
            if recipe.name == "language_model":
                metrics["train_perplexity"] = perplexity(metrics["train_loss"])
            if val is not None and len(val) > 0:
                result = recipe.evaluate(val)
                metrics.update(result.metrics)
                yield ev.ValidationEnd(epoch, dict(result.metrics), result.confusion, result.class_names)
            metrics["lr"] = lr
            yield from recipe.samples(epoch)

            watched = monitor if monitor in metrics else "train_loss"
            if watched != monitor and config.early_stopping.patience and not warned_monitor:
                warned_monitor = True
                yield ev.Warning(f"Early stopping watches {monitor}, which this run does not report; it watches "
                                 "train_loss instead.")
            value = metrics[watched]
            improved = math.isfinite(value) and (
                self._best is None
                or (value < self._best - config.early_stopping.min_delta if direction == "min"
                    else value > self._best + config.early_stopping.min_delta))
            if improved:
                self._best, self._best_epoch, self._bad_epochs = value, epoch, 0
            else:
                self._bad_epochs += 1
            schedule.end_epoch(metrics.get(monitor, metrics[watched]), direction)

            self.history.append({"epoch": epoch, **metrics})
            self.writer.append_metrics(epoch, metrics)
            yield ev.EpochEnd(epoch, metrics, improved, time.perf_counter() - started)

            patience = config.early_stopping.patience
            early = bool(patience and self._bad_epochs >= patience and epoch < config.epochs)
            user = self._stop and not ddp
            yield from self._checkpoint(epoch, recipe, schedule, config, improved,
                                        ending=early or user or epoch == config.epochs)
            if early:
                yield from self._finish(stopped_by_user=False, stopped_early=True)
                return
            if user:
                yield from self._finish(stopped_by_user=True, stopped_early=False)
                return
        yield from self._finish(stopped_by_user=False, stopped_early=False)

    def _compiled_step(self, recipe: Recipe, x: torch.Tensor, y: torch.Tensor | None) -> Any:
        """The first step with torch.compile; if compiling fails, warn and go on without it."""
        try:
            return recipe.train_step(x, y)
        except Exception as error:  # noqa: BLE001 - any compiler failure falls back to eager mode
            if _is_oom(error):
                raise
            recipe.use_eager()
            recipe.ctx.warnings.append(f"torch.compile failed ({type(error).__name__}); training continues "
                                       "without it.")
            for optimizer in recipe.optimizers.values():
                optimizer.zero_grad(set_to_none=True)
            return recipe.train_step(x, y)

    def _report(self, window: list[Any], sizes: list[int], totals: dict[str, float], part_sums: dict[str, float],
                epoch: int, index: int, batches: int, lr: float, elapsed: float) -> tuple[ev.Event, bool]:
        """Read the window's losses back in one transfer, check them, and make the BatchEnd event."""
        recipe = self.recipe
        assert recipe is not None
        parts: list[str] = []
        if isinstance(window[0], dict):
            parts = [k for k in window[0] if k != "loss"]
            rows = [torch.stack([r["loss"] for r in window])] + [torch.stack([r[k] for r in window]) for k in parts]
            stacked = torch.stack(rows).float()
        else:
            stacked = torch.stack(window).float().unsqueeze(0)
        norms = recipe.grad_norms
        recipe.grad_norms = []
        stop_all = False
        if self._dist.enabled:
            flat = torch.cat([stacked.flatten(), torch.tensor([1.0 if self._stop else 0.0], device=stacked.device)])
            distributed.all_reduce_sum(flat)
            stop_all = bool(flat[-1].item() > 0)
            stacked = flat[:-1].reshape(stacked.shape) / self._dist.world_size
        values = stacked.cpu().tolist()
        first = self.step - len(window) + 1
        for offset, value in enumerate(values[0]):
            if not math.isfinite(value):
                raise _NonFinite("loss", first + offset, epoch, index - len(window) + offset + 1)
        if norms:
            norm_values = torch.stack(norms).float().cpu().tolist()
            for offset, value in enumerate(norm_values):
                if not math.isfinite(value):
                    raise _NonFinite("gradients", first + offset, epoch, index - len(window) + offset + 1)
        weight = float(sum(sizes))
        mean = sum(v * s for v, s in zip(values[0], sizes, strict=True)) / weight
        totals["sum"] += mean * weight
        totals["count"] += weight
        extra = {}
        for row, key in zip(values[1:], parts, strict=True):
            part_mean = sum(v * s for v, s in zip(row, sizes, strict=True)) / weight
            part_sums[key] = part_sums.get(key, 0.0) + part_mean * weight
            extra[key] = part_mean
        speed = weight * self._dist.world_size / elapsed if elapsed > 0 else 0.0
        return ev.BatchEnd(epoch, index, self.step, mean, lr, speed, batches, extra), stop_all

    # ---- data ------------------------------------------------------------------------------------------------
    def _prepare_data(self, config: TrainConfig) -> PreparedData:
        source = self._data_arg
        if isinstance(source, PreparedData):
            return source
        options = config.data
        dataset = open_dataset(options) if source is None else select_classes(source, options.classes)
        seed = config.seed if options.seed is None else options.seed
        return dataset.prepare(val_fraction=options.val_fraction, test_fraction=options.test_fraction, seed=seed,
                               normalize=options.normalize, augment=options.augment or None)

    def _on_device(self, split: Split, device: torch.device) -> Split:
        """In-memory splits move to the device once (falling back to per-batch copies if it is too small)."""
        if not isinstance(split, ArraySplit) or device.type == "cpu":
            return split
        try:
            y = split.y.to(device) if split.y is not None else None
            return ArraySplit(split.x.to(device), y, split.augment)
        except RuntimeError as error:
            if not _is_oom(error):
                raise
            if self.recipe is not None:
                self.recipe.ctx.warnings.append(f"The data does not fit in {device} memory; batches are copied "
                                                "there one at a time.")
            return split

    def _shard_size(self, count: int) -> int:
        world = self._dist.world_size
        return count // world if world > 1 else count

    def _batch_count(self, split: Split, batch_size: int) -> int:
        if isinstance(split, ArraySplit):
            count = self._shard_size(len(split))
            full, rest = divmod(count, batch_size)
            return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)
        total = math.ceil(len(split) / batch_size)
        return total // self._dist.world_size if self._dist.enabled else total

    def _train_batches(self, split: Split, batch_size: int, generator: torch.Generator,
                       device: torch.device | None) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Shuffled batches of this rank's shard. A last batch of a single sample is dropped (batch norm cannot
        train on it, and it would weigh as much as a full batch in the step)."""
        assert device is not None
        world, rank = self._dist.world_size, self._dist.rank
        if isinstance(split, ArraySplit):
            count = len(split)
            order = torch.randperm(count, generator=generator)
            if world > 1:
                share = count // world
                order = order[rank * share:(rank + 1) * share]
            if len(order) % batch_size == 1 and len(order) > 1:
                order = order[:-1]
            x, y, augment = split.x, split.y, split.augment
            if x.device != order.device:
                order = order.to(x.device)
            move = x.device != device  # the data stayed in host memory: copy each batch over
            for index in order.split(batch_size):
                xb = x[index]
                yb = y[index] if y is not None else None
                if augment is not None:
                    xb = augment(xb, generator)
                if move:
                    xb, yb = _to(xb, device), _to(yb, device)
                yield xb, yb
            return
        total = self._batch_count(split, batch_size) * world if world > 1 else None
        for number, (xb, yb) in enumerate(split.batches(batch_size, shuffle=True, generator=generator)):
            if total is not None:
                if number >= total:
                    break
                if number % world != rank:
                    continue
            yield _to(xb, device), _to(yb, device)

    # ---- config, run folder, checkpoints ---------------------------------------------------------------------
    def _resolve_config(self) -> TrainConfig:
        if self.config is not None:
            return self.config
        if self.resume_from is not None:
            with contextlib.suppress(RunError, OSError, ValueError, KeyError):
                self.config = TrainConfig.from_dict(load_checkpoint(self.resume_from).state["config"])
                return self.config
        self.config = TrainConfig.from_settings(self.document.settings)
        return self.config

    def _open_run_dir(self, config: TrainConfig, recipe_name: str, checkpoint: Any, start_epoch: int) -> None:
        dist_info = self._dist
        enabled = self.write and dist_info.main
        if enabled:
            if self.run_dir is None and checkpoint is not None:
                candidate = checkpoint.path.parent.parent
                if (candidate / CONFIG_FILE).is_file() and checkpoint.path.parent.name == CHECKPOINTS:
                    self.run_dir = candidate
            if self.run_dir is None:
                name = config.name or self.document.info.title or (config.data.source.split("/")[-1] or "run")
                self.run_dir = new_run_dir(self.run_root, f"{name}")
            else:
                self.run_dir.mkdir(parents=True, exist_ok=True)
        if dist_info.enabled:
            text = distributed.broadcast_text(str(self.run_dir) if enabled and self.run_dir else None)
            self.run_dir = Path(text) if text else None
        self.writer = RunWriter(self.run_dir, enabled=enabled)
        if not enabled:
            return
        data = self.data
        assert data is not None and self.recipe is not None
        record = {
            "created": dt.datetime.now().isoformat(timespec="seconds"),
            "config": self._config_dict,
            "recipe": recipe_name,
            "graph_sha256": self._graph_hash,
            "data": data.info.to_dict(),
            "data_options": dict(data.options),
            "document": {"title": self.document.info.title, "networks": list(self.document.networks)},
            "networks": list(self.recipe.modules),
            "parameters": self.recipe.trainable_count(),
            "device": str(self.device),
            "precision": self.recipe.precision,
            "world_size": dist_info.world_size,
            "versions": {"netbuilder": __version__, "torch": torch.__version__},
        }
        if checkpoint is not None:
            record["resumed_from"] = str(checkpoint.path)
            record["resumed_at_epoch"] = start_epoch
        self.writer.write_config(record, self.document)
        self.writer.write_normalizer(data.normalizer)
        if checkpoint is not None:
            self.writer.keep_metrics_until(start_epoch - 1)

    def _snapshot(self, epoch: int, recipe: Recipe, schedule: LRSchedule,
                  clone: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything a checkpoint holds: tensors (weights, optimiser state, RNG) and the JSON state."""
        tensors: dict[str, torch.Tensor] = {}
        for name, module in recipe.modules.items():
            for key, value in module.state_dict().items():
                tensors[f"{WEIGHTS}/{name}/{key}"] = value
        optimizer_meta = {}
        for name, optimizer in recipe.optimizers.items():
            flat, meta = flatten_state(f"optimizer/{name}", optimizer.state_dict())
            tensors.update(flat)
            optimizer_meta[name] = meta
        tensors.update(rng_state())
        if clone:  # kept while training goes on changing the originals
            tensors = self._copy_into_best_buffers(tensors)
        state = {
            "epoch": epoch, "step": self.step, "networks": list(recipe.modules), "recipe": recipe.name,
            "optimizers": optimizer_meta, "schedule": schedule.state_dict(), "recipe_state": recipe.state(),
            "early_stopping": {"best": self._best, "best_epoch": self._best_epoch, "bad_epochs": self._bad_epochs},
            "history": list(self.history), "graph_sha256": self._graph_hash, "config": self._config_dict,
        }
        return tensors, state

    def _copy_into_best_buffers(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A copy of ``tensors`` in buffers kept from the previous best epoch where they still fit. Most epochs of
        a run improve on the last one; allocating a fresh copy each time cost 2 % of a small network's training
        speed, copying into the same memory costs a tenth of that."""
        buffers = self._best_buffers
        copies: dict[str, torch.Tensor] = {}
        for key, value in tensors.items():
            value = value.detach()
            buffer = buffers.get(key)
            if (buffer is not None and buffer.shape == value.shape and buffer.dtype == value.dtype
                    and buffer.device == value.device):
                buffer.copy_(value)
            else:
                buffer = value.clone()
            copies[key] = buffer
        self._best_buffers = copies
        return copies

    def _checkpoint(self, epoch: int, recipe: Recipe, schedule: LRSchedule, config: TrainConfig, best: bool,
                    ending: bool) -> Iterator[ev.Event]:
        """Checkpoint this epoch if one is due: after the last epoch always, otherwise when
        ``checkpoint_interval`` seconds have passed since the last one (0 = every epoch). A best epoch that falls
        between checkpoints is kept in memory and written as ``best`` with the next one, so it is never lost."""
        interval = config.checkpoint_interval
        now = time.perf_counter()
        due = ending or interval <= 0 or now - self._last_checkpoint >= interval
        if self._dist.enabled:  # rank 0's clock decides for everyone
            device = self.device or torch.device("cpu")
            due = distributed.any_rank(due and self._dist.main, device)
        if not self.writer.enabled and not self._dist.enabled:
            return
        if not due:
            if best and self.writer.enabled:
                self._pending_best = self._snapshot(epoch, recipe, schedule, clone=True)
            return
        failure: OSError | None = None
        events: list[ev.Event] = []
        try:
            if self.writer.enabled:
                tensors, state = self._snapshot(epoch, recipe, schedule, clone=False)
                self.writer.flush()  # the metrics files agree with the checkpoint on disk
                path = self.writer.save_checkpoint(epoch, tensors, state, best, config.keep_checkpoints)
                assert path is not None
                self._last_good = str(path)
                events.append(ev.Checkpoint(epoch, str(path), best))
                if best:
                    self._pending_best = None
                else:
                    events.extend(self._write_pending_best())
        except OSError as error:
            failure = error
        if self._dist.enabled:
            device = self.device or torch.device("cpu")
            if distributed.any_rank(failure is not None, device) and failure is None:
                raise TrainError("Rank 0 could not write its checkpoint; every rank stops.")
        if failure is not None:
            raise failure
        self._last_checkpoint = time.perf_counter()
        yield from events

    def _write_pending_best(self) -> list[ev.Event]:
        if self._pending_best is None:
            return []
        tensors, state = self._pending_best
        path = self.writer.save_checkpoint(None, tensors, state, True, 0)
        self._pending_best = None
        return [ev.Checkpoint(int(state["epoch"]), str(path), True)] if path is not None else []

    def _restore(self, checkpoint: Any, recipe: Recipe, schedule: LRSchedule, config: TrainConfig) -> int:
        state = checkpoint.state
        for name, module in recipe.modules.items():
            weights = checkpoint.weights.get(name)
            if weights is None:
                raise TrainError(f"The checkpoint {checkpoint.path} has no weights for network {name!r}.",
                                 "Resume with the document the checkpoint was trained from.")
            try:
                module.load_state_dict(weights)
            except RuntimeError as error:
                first = str(error).strip().splitlines()
                raise TrainError(f"The checkpoint {checkpoint.path} does not fit network {name!r}: "
                                 f"{first[1].strip() if len(first) > 1 else first[0]}",
                                 "Resume with the document the checkpoint was trained from.") from None
        same_optimizer = (state.get("config") or {}).get("optimizer", config.optimizer) == config.optimizer
        for name, optimizer in recipe.optimizers.items():
            meta = state["optimizers"].get(name)
            if meta is not None and same_optimizer:
                rates = [group["base_lr"] for group in optimizer.param_groups]  # this run's settings win
                try:
                    optimizer.load_state_dict(unflatten_state(f"optimizer/{name}", checkpoint.training, meta))
                except (ValueError, KeyError):
                    raise TrainError(f"The optimiser state in {checkpoint.path} does not fit network {name!r}: "
                                     "frozen layers or learning-rate multipliers changed since it was written.",
                                     "Resume with the same per-layer options, or start a new run that transfers "
                                     "the weights from this checkpoint.") from None
                for group, rate in zip(optimizer.param_groups, rates, strict=False):
                    group["base_lr"] = rate
        schedule.load_state_dict(state["schedule"])
        recipe.load_state(state.get("recipe_state") or {})
        early = state.get("early_stopping") or {}
        self._best, self._best_epoch = early.get("best"), early.get("best_epoch")
        self._bad_epochs = int(early.get("bad_epochs", 0))
        self.history = list(state.get("history") or [])
        self.writer.history = list(self.history)
        self.step = int(state["step"])
        self._last_good = str(checkpoint.path)
        set_rng_state(checkpoint.training)
        return int(state["epoch"]) + 1

    def _resume_warnings(self, checkpoint: Any, config: TrainConfig) -> list[str]:
        result = []
        if checkpoint.state.get("graph_sha256") not in (None, self._graph_hash):
            result.append("The network changed since this checkpoint was written; its weights still fit, but the "
                          "results will not match the original run exactly.")
        saved = dict(checkpoint.state.get("config") or {})
        if saved.get("optimizer", config.optimizer) != config.optimizer:
            result.append(f"The optimizer changed ({saved['optimizer']} -> {config.optimizer}); its state (momentum, "
                          "running averages) starts afresh.")
        now = config.to_dict()
        saved.pop("epochs", None)
        now.pop("epochs", None)
        if saved and saved != now:
            changed = sorted(k for k in now if now.get(k) != saved.get(k))
            result.append(f"Settings differ from the checkpoint's ({', '.join(changed)}); training continues with "
                          "the new ones.")
        return result

    # ---- endings ---------------------------------------------------------------------------------------------
    def _final_metrics(self) -> dict[str, float]:
        if not self.history:
            return {}
        return {k: v for k, v in self.history[-1].items() if k != "epoch"}

    def _finish(self, stopped_by_user: bool, stopped_early: bool) -> Iterator[ev.Event]:
        """The last checkpoint's event, the final weights and summary, and Done (or an Error if writing fails)."""
        recipe = self.recipe
        metrics = self._final_metrics()
        try:
            yield from self._write_pending_best()
            if recipe is not None:
                meta = {"epoch": str(self.epoch), "step": str(self.step), "graph_sha256": self._graph_hash}
                self.writer.save_weights(recipe.modules, meta)
            self.writer.write_summary({
                "status": "stopped" if stopped_by_user else "done", "stopped_early": stopped_early,
                "epochs_completed": len(self.history), "step": self.step, "metrics": metrics,
                "best_epoch": self._best_epoch, "best_metric": self._best,
                "monitor": self.config.early_stopping.monitor if self.config else None,
                "finished": dt.datetime.now().isoformat(timespec="seconds"),
            })
        except OSError as error:
            yield self._failure(error)
            return
        yield ev.Done(str(self.run_dir) if self.run_dir else None, metrics, len(self.history), stopped_early,
                      stopped_by_user, self._best_epoch, self._best)

    def _failure(self, error: BaseException) -> ev.Error:
        """Turn any failure into an Error event and record it in the run folder's summary."""
        step = self.step or None
        epoch = self.epoch or None
        kept = f" The last good checkpoint is kept: {self._last_good}." if self._last_good else ""
        if isinstance(error, _NonFinite):
            lr = self._current_lr()
            what = "The loss" if error.what == "loss" else "The gradients"
            message = (f"{what} became NaN or infinite at step {error.step} (epoch {error.epoch}, batch "
                       f"{error.batch}); training stopped.{kept}")
            clip = self.config.grad_clip if self.config else 0.0
            suggestion = (f"Lower the learning rate (it is {lr:g}; try {_lower_rate(lr, self.config)})"
                          + (" or turn on gradient clipping (e.g. grad_clip 1.0)." if not clip else "."))
            event = ev.Error(message, error.step, suggestion, error.epoch, self._run_text())
        elif _is_oom(error):
            size = self.config.batch_size if self.config else 0
            where = str(self.device) if self.device else "the device"
            event = ev.Error(f"Out of memory on {where} at step {self.step} with batch size {size}.{kept}", step,
                             f"Lower the batch size (e.g. {max(1, size // 2)}) or use a smaller network.", epoch,
                             self._run_text())
        elif isinstance(error, TrainError):
            event = ev.Error(error.message + kept if step else error.message, step, error.suggestion, epoch,
                             self._run_text())
        elif isinstance(error, ConfigError):
            event = ev.Error(str(error), step, "Fix the training settings and start again.", epoch, self._run_text())
        elif isinstance(error, DataError | RunError):
            event = ev.Error(str(error), step, "", epoch, self._run_text())
        elif isinstance(error, OSError) or type(error).__name__ == "SaveError":
            from netbuilder.io.atomic import describe_os_error

            reason = describe_os_error(error) if isinstance(error, OSError) else str(error)
            where = getattr(error, "filename", None) or self.run_dir or "the run folder"
            event = ev.Error(f"Could not write {where}: {reason}.{kept}", step,
                             "Free some disk space or choose another run folder, then resume from the last "
                             "checkpoint.", epoch, self._run_text())
        else:
            event = ev.Error(f"Training stopped at step {self.step}: {type(error).__name__}: {error}.{kept}", step,
                             "This combination of network, data and settings is not supported; check the "
                             "network for warnings, or report it with the run folder.", epoch, self._run_text())
        with contextlib.suppress(OSError):
            self.writer.write_summary({"status": "error", "message": event.message, "suggestion": event.suggestion,
                                       "step": event.step, "epoch": event.epoch,
                                       "epochs_completed": len(self.history), "metrics": self._final_metrics(),
                                       "best_epoch": self._best_epoch, "best_metric": self._best,
                                       "last_checkpoint": self._last_good})
        return event

    def _current_lr(self) -> float:
        if self.recipe is not None:
            for optimizer in self.recipe.optimizers.values():
                for group in optimizer.param_groups:
                    return float(group["lr"])
        return self.config.lr if self.config else 0.0

    def _run_text(self) -> str | None:
        return str(self.run_dir) if self.run_dir and self.writer.enabled else None


def _all_trainable(document: Document) -> Document:
    """A copy of the document with every layer trainable at the full learning rate (for pre-training)."""
    from netbuilder.io import document_from_dict, document_to_dict

    copy = document_from_dict(document_to_dict(document))
    for network in copy:
        for node in network.nodes:
            node.trainable, node.lr_mult = True, 1.0
    return copy


def open_dataset(options: DataConfig) -> Any:
    """The configured data set (``load_data`` on the source, then the class selection)."""
    if not options.source:
        raise TrainError("No data is chosen for training.",
                         "Pick bundled data (e.g. digits) or a file: set data.source, or --data on the command line.")
    from netbuilder.data import load_data

    return select_classes(load_data(options.load_source(), **options.options), options.classes)


def select_classes(dataset: Any, classes: list[int]) -> Any:
    """Only the samples of ``classes``. Labels keep their ids (digits 5-9 stay 5-9), so the same head fits the
    data with and without the selection, and a network pre-trained on some classes fine-tunes on others."""
    if not classes:
        return dataset
    info = dataset.info
    if not isinstance(dataset, ArrayDataset) or dataset.y is None or dataset.y.is_floating_point():
        raise TrainError(f"data.classes picks classes of labelled in-memory data, which {info.id!r} is not.",
                         "Remove data.classes.")
    known = info.num_classes or int(dataset.y.max().item()) + 1
    missing = [c for c in classes if c >= known]
    if missing:
        raise TrainError(f"data.classes names class {missing[0]}, but {info.id!r} has classes 0 to {known - 1}.",
                         "Use class ids that exist.")
    keep = torch.isin(dataset.y, torch.tensor(classes, dtype=dataset.y.dtype))
    new_info = dataclasses.replace(info)
    if hasattr(new_info, "samples"):
        new_info.samples = int(keep.sum().item())
    return dataclasses.replace(dataset, info=new_info, x=dataset.x[keep], y=dataset.y[keep])


def _to(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    if t is None:
        return None
    return t if t.device == device else t.to(device, non_blocking=True)


def train(document: Document, config: TrainConfig | None = None, **kwargs: Any) -> ev.Done | ev.Error:
    """Train to the end (no events); the final Done or Error."""
    return Trainer(document, config, **kwargs).run()
