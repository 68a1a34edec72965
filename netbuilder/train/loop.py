"""The training loop: a generator of plain events, controlled by thread-safe stop/pause flags.

``Trainer(document, config).events()`` yields `RunStarted`, then per epoch a few `BatchEnd`, `ValidationEnd`,
`Samples`, `EpochEnd` and `Checkpoint`, and finally (with a test split) one `TestEnd`, then `Done`, or an `Error`.
Before any model is built, `preflight` checks the data against the network and the memory the run needs. The
desktop app runs it in a worker thread
and calls `stop`/`pause`/`resume` from the GUI thread; the CLI runs it in the main thread. No exception leaves the
generator (except GeneratorExit when the consumer closes it): every failure becomes an `Error` event with a plain
message, the step, and a suggestion, and the run folder keeps the last good checkpoint.

Speed: in-memory data is moved to the device once and batched by tensor indexing; the step does no host-device
synchronisation. Losses stay on the device and are read back together when a `BatchEnd` is due (every
``log_every`` batches and at most every ``log_interval`` seconds), which is also where NaN/Inf and a diverging
loss (DIVERGENCE_FACTOR times its starting value) are detected.

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
from netbuilder.data.base import ArrayDataset, DataError, PreparedData, Split
from netbuilder.data.images import skipped_files, skipped_message
from netbuilder.document.model import Document
from netbuilder.fs.paths import document_folder
from netbuilder.train import distributed, preflight
from netbuilder.train import events as ev
from netbuilder.train.batching import Batcher, is_oom, to_device
from netbuilder.train.checkpointing import Checkpointer, restore
from netbuilder.train.config import ConfigError, DataConfig, TrainConfig
from netbuilder.train.dropout import set_dropout
from netbuilder.train.losses import perplexity
from netbuilder.train.optim import LRSchedule
from netbuilder.train.paths import resolve_config_paths
from netbuilder.train.plateau import PlateauTracker
from netbuilder.train.preprocessing import output_range_for
from netbuilder.train.recipes import (
    Context,
    Recipe,
    TrainError,
    build_recipe,
    choose_recipe,
    pick_network,
    seed_for,
)
from netbuilder.train.runs import (
    CHECKPOINTS,
    CONFIG_FILE,
    RunError,
    RunWriter,
    graph_hash,
    load_checkpoint,
    new_run_dir,
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


# A run has diverged when its loss over a few batches exceeds this many times its starting loss (the first step's,
# before any update could change it). Seen in legitimate runs: losses spike a few-fold, GAN losses wander up to
# some tens of times their start; seen in diverged ones (lr 1e6 with Adam): 1e17 times and more, never NaN.
DIVERGENCE_FACTOR = 1e4
DIVERGENCE_FLOOR = 1e-2  # a starting loss near 0 (a pre-trained model) is taken as this, so noise cannot trip it


class _NonFinite(Exception):
    def __init__(self, what: str, step: int, epoch: int, batch: int):
        super().__init__(what)
        self.what, self.step, self.epoch, self.batch = what, step, epoch, batch


class _Diverged(Exception):
    def __init__(self, loss: float, reference: float, step: int, epoch: int, batch: int):
        super().__init__("diverged")
        self.loss, self.reference, self.step, self.epoch, self.batch = loss, reference, step, epoch, batch


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
        self.plateau = PlateauTracker()  # early stopping's view of the monitored metric
        self.batcher = Batcher(self._dist)
        self.checkpoints = Checkpointer(self.writer, self._dist)
        self._graph_hash = ""
        self._stage: Trainer | None = None  # the pre-training run in progress, which stop/pause also reach
        self._config_dict: dict[str, Any] = {}
        self._monitor: str | None = None  # the metric "best" is picked on (the configured one, if reported)
        self._reference_loss: float | None = None  # the starting loss divergence is measured against
        self._skipped_reported = 0  # unreadable data files already reported

    @property
    def _best(self) -> float | None:
        return self.plateau.best

    @property
    def _best_epoch(self) -> int | None:
        return self.plateau.best_epoch

    @property
    def _last_good(self) -> str | None:
        return self.checkpoints.last_good

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
        # Paths in the settings mean files beside the document, not in the current directory.
        config = resolve_config_paths(self._resolve_config(), document_folder(self.document))
        set_threads(config.threads)
        checkpoint = load_checkpoint(self.resume_from) if self.resume_from is not None else None
        config = self.config = self._with_test_fraction(config, checkpoint)
        self._graph_hash = graph_hash(self.document)  # of the graph as it is trained, even if edited meanwhile
        self._config_dict = config.to_dict()
        self._dist = distributed.setup(config.device != "cpu" and torch.cuda.is_available())
        dist_info = self._dist
        device = resolve_device(config.device, dist_info)
        self.device = device
        self.batcher.dist = self.checkpoints.dist = dist_info
        self.checkpoints.device = device
        self.plateau = PlateauTracker(config.early_stopping.direction(), config.early_stopping.min_delta)
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
        warnings.extend(preflight.run_checks(self.document, config, recipe_name, data, device))  # before building
        ctx = Context(self.document, config, data, device, precision, dist_info.world_size, warnings,
                      pretrained=pretrained)
        recipe = build_recipe(recipe_name, ctx)
        self.recipe = recipe
        if config.dropout is not None and not set_dropout(recipe.modules.values(), config.dropout):
            warnings.append(f"The dropout setting ({config.dropout:g}) has no effect: the network has no Dropout "
                            "layer.")
        train = self.batcher.on_device(data.train, device, ctx.warnings)
        val = self.batcher.on_device(data.val, device, ctx.warnings) \
            if data.val is not None and recipe.has_validation else None
        if len(train) == 0:
            raise TrainError("The training split is empty.", "Lower the validation and test fractions.")
        x0, y0 = train.head(min(2, len(train)))
        recipe.check(to_device(x0, device), to_device(y0, device))

        if dist_info.enabled:
            recipe.wrap_ddp()
        if config.torch_compile:
            recipe.use_compile()
        batches = self.batcher.count(train, config.batch_size)
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
        yield from self._skipped_files()
        yield from ctx.transfer_events
        self.checkpoints.last_time = time.perf_counter()
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
                               data={"classes": pre.classes, "val_fraction": pre.val_fraction, "test_fraction": 0.0,
                                     "per_class": 0},
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
        device = self.device
        assert device is not None
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
            for x, y in self.batcher.batches(train, config.batch_size, generator, device):
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

            watched = self._watched(monitor, metrics, recipe)
            if watched != monitor and config.early_stopping.patience and not warned_monitor:
                warned_monitor = True
                yield ev.Warning(self._monitor_warning(monitor, watched))
            self._monitor = watched
            rises = watched == "epoch" or (watched != monitor and watched == recipe.monitor)  # counts up / rises
            if rises and self.plateau.direction != "max":
                counting = PlateauTracker("max")
                counting.load_state_dict(self.plateau.state_dict())
                self.plateau = counting
            improved = self.plateau.update(float(epoch) if watched == "epoch" else metrics[watched], epoch)
            schedule.end_epoch(metrics.get(monitor, metrics["train_loss"]), direction)

            self.history.append({"epoch": epoch, **metrics})
            self.writer.append_metrics(epoch, metrics)
            yield ev.EpochEnd(epoch, metrics, improved, time.perf_counter() - started)

            patience = config.early_stopping.patience
            early = bool(patience and self.plateau.bad_epochs >= patience and epoch < config.epochs)
            user = self._stop and not ddp
            yield from self.checkpoints.save(recipe, schedule, config, self._progress(epoch), improved,
                                             ending=early or user or epoch == config.epochs)
            if early:
                yield from self._finish(stopped_by_user=False, stopped_early=True)
                return
            if user:
                yield from self._finish(stopped_by_user=True, stopped_early=False)
                return
        yield from self._finish(stopped_by_user=False, stopped_early=False)

    @staticmethod
    def _watched(monitor: str, metrics: dict[str, float], recipe: Recipe) -> str:
        """The metric the best epoch is picked on: the configured monitor when the run reports it; for a recipe
        without held-out data (a GAN, whose losses do not measure its samples) the latest epoch ("epoch"); a
        recipe's own rising measure when it has one (an agent: val_return); otherwise train_loss."""
        if monitor in metrics:
            return monitor
        if recipe.monitor in metrics:  # the recipe's own measure of success (an agent's return)
            return recipe.monitor
        return "train_loss" if recipe.has_validation else "epoch"

    @staticmethod
    def _monitor_warning(monitor: str, watched: str) -> str:
        if watched == "epoch":
            return (f"Early stopping watches {monitor}, which this run does not report (a GAN has no held-out "
                    "data); it is off, and the latest epoch is kept as the best.")
        return f"Early stopping watches {monitor}, which this run does not report; it watches {watched} instead."

    def _compiled_step(self, recipe: Recipe, x: torch.Tensor, y: torch.Tensor | None) -> Any:
        """The first step with torch.compile; if compiling fails, warn and go on without it."""
        try:
            return recipe.train_step(x, y)
        except Exception as error:  # noqa: BLE001 - any compiler failure falls back to eager mode
            if is_oom(error):
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
        norms = recipe.updater.take_grad_norms()
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
        if self._reference_loss is None:
            self._reference_loss = values[0][0]
        limit = DIVERGENCE_FACTOR * max(self._reference_loss, DIVERGENCE_FLOOR)
        if mean > limit:
            raise _Diverged(mean, self._reference_loss, self.step, epoch, index)
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
        recipe = choose_recipe(self.document, config, dataset.info)
        network = None if recipe == "gan" else pick_network(self.document, config)
        return dataset.prepare(val_fraction=options.val_fraction, test_fraction=options.resolved_test_fraction(),
                               seed=seed, normalize=options.normalize, augment=options.augment or None,
                               output_range=output_range_for(self.document, recipe, network),
                               per_class=options.per_class or None)

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

    def _with_test_fraction(self, config: TrainConfig, checkpoint: Any) -> TrainConfig:
        """``config`` with data.test_fraction decided ("auto" = a test part for bundled data), so that the run
        records the split it used. A resumed run keeps its checkpoint's split."""
        if config.data.test_fraction is not None:
            return config
        saved = ((checkpoint.state.get("config") or {}).get("data") or {}).get("test_fraction") \
            if checkpoint is not None else None
        fraction = float(saved) if saved is not None else config.data.resolved_test_fraction()
        return dataclasses.replace(config, data=dataclasses.replace(config.data, test_fraction=fraction))

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
        self.checkpoints.writer = self.writer
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
        self.writer.write_preprocessing(data.preprocessing)
        if checkpoint is not None:
            self.writer.keep_metrics_until(start_epoch - 1)

    def _progress(self, epoch: int) -> dict[str, Any]:
        """The loop's part of a checkpoint's state."""
        early = {**self.plateau.state_dict(), "monitor": self._monitor, "reference_loss": self._reference_loss}
        return {"epoch": epoch, "step": self.step, "early_stopping": early,
                "history": self.history, "graph_sha256": self._graph_hash, "config": self._config_dict}

    def _restore(self, checkpoint: Any, recipe: Recipe, schedule: LRSchedule, config: TrainConfig) -> int:
        state = restore(checkpoint, recipe, schedule, config)
        early = state.get("early_stopping") or {}
        self.plateau.load_state_dict(early)
        self._monitor = early.get("monitor")
        self.history = list(state.get("history") or [])
        reference = early.get("reference_loss")
        if reference is None and self.history:  # a checkpoint from before the divergence check
            reference = self.history[0].get("train_loss")
        self._reference_loss = None if reference is None else float(reference)
        self.writer.history = list(self.history)
        self.step = int(state["step"])
        self.checkpoints.last_good = str(checkpoint.path)
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
            yield from self.checkpoints.write_pending_best()
            if recipe is not None:
                meta = {"epoch": str(self.epoch), "step": str(self.step), "graph_sha256": self._graph_hash}
                self.writer.save_weights(recipe.modules, meta)
            test = None if stopped_by_user else self._evaluate_test()
            summary = {
                "status": "stopped" if stopped_by_user else "done", "stopped_early": stopped_early,
                "epochs_completed": len(self.history), "step": self.step, "metrics": metrics,
                "best_epoch": self._best_epoch, "best_metric": self._best, "monitor": self._monitor_name(),
                "finished": dt.datetime.now().isoformat(timespec="seconds"),
            }
            if test is not None:
                summary.update({"test_metrics": test.metrics, "test_epoch": test.epoch,
                                "test_weights": test.weights})
            self.writer.write_summary(summary)
        except OSError as error:
            yield self._failure(error)
            return
        yield from self._skipped_files()  # files that failed to decode during the run
        if test is not None:
            yield test
        yield ev.Done(str(self.run_dir) if self.run_dir else None, metrics, len(self.history), stopped_early,
                      stopped_by_user, self._best_epoch, self._best, self._monitor_name(),
                      dict(test.metrics) if test is not None else {})

    def _skipped_files(self) -> Iterator[ev.Warning]:
        """One warning that counts and names the data files skipped as unreadable since the last one."""
        skipped = skipped_files(self.data) if self.data is not None else []
        message = skipped_message(skipped, self._skipped_reported)
        self._skipped_reported = len(skipped)
        if message:
            yield ev.Warning(message)

    def _monitor_name(self) -> str | None:
        """The metric the best epoch was picked on: the configured monitor, or train_loss where the run does not
        report it (a GAN has no validation)."""
        if self._monitor is not None:
            return self._monitor
        return self.config.early_stopping.monitor if self.config else None

    def _evaluate_test(self) -> ev.TestEnd | None:
        """The test split's metrics, once, at the end: with the best epoch's weights where a best checkpoint was
        written (the modules get their final weights back afterwards), else with the final weights."""
        recipe, data, device = self.recipe, self.data, self.device
        if recipe is None or data is None or device is None or data.test is None or len(data.test) == 0:
            return None
        if not recipe.has_validation or (self._dist.enabled and not self._dist.main):
            return None
        last_epoch = int(self.history[-1]["epoch"]) if self.history else 0
        recipe.use_eager()  # no DDP or compiled wrapper: this process evaluates alone
        weights, epoch = "final", last_epoch
        final: dict[str, dict[str, torch.Tensor]] | None = None
        best_path = self.writer.best_checkpoint_path() if self.writer.enabled else None
        if self._best_epoch is not None and self._best_epoch == last_epoch:
            weights = "best"
        elif self._best_epoch is not None and best_path is not None:
            best = load_checkpoint(best_path)
            if all(name in best.weights for name in recipe.modules):
                final = {name: {k: v.detach().clone() for k, v in module.state_dict().items()}
                         for name, module in recipe.modules.items()}
                for name, module in recipe.modules.items():
                    module.load_state_dict(best.weights[name])
                weights, epoch = "best", int(best.state["epoch"])
        try:
            split = self.batcher.on_device(data.test, device)
            result = recipe.evaluate(split, prefix="test_")
        finally:
            if final is not None:
                for name, module in recipe.modules.items():
                    module.load_state_dict(final[name])
        return ev.TestEnd(epoch, dict(result.metrics), weights, result.confusion, result.class_names)

    def _failure(self, error: BaseException) -> ev.Error:
        """Turn any failure into an Error event and record it in the run folder's summary."""
        step = self.step or None
        epoch = self.epoch or None
        kept = f" The last good checkpoint is kept: {self._last_good}." if self._last_good else ""
        if isinstance(error, _Diverged):
            lr = self._current_lr()
            message = (f"The loss exploded at step {error.step} (epoch {error.epoch}, batch {error.batch}): "
                       f"{error.loss:.3g}, more than {DIVERGENCE_FACTOR:,.0f} times its starting value "
                       f"{error.reference:.3g}; training stopped.{kept}")
            suggestion = f"Lower the learning rate (it is {lr:g}; try {_lower_rate(lr, self.config)})."
            event = ev.Error(message, error.step, suggestion, error.epoch, self._run_text())
        elif isinstance(error, _NonFinite):
            lr = self._current_lr()
            what = "The loss" if error.what == "loss" else "The gradients"
            message = (f"{what} became NaN or infinite at step {error.step} (epoch {error.epoch}, batch "
                       f"{error.batch}); training stopped.{kept}")
            clip = self.config.grad_clip if self.config else 0.0
            suggestion = (f"Lower the learning rate (it is {lr:g}; try {_lower_rate(lr, self.config)})"
                          + (" or turn on gradient clipping (e.g. grad_clip 1.0)." if not clip else "."))
            event = ev.Error(message, error.step, suggestion, error.epoch, self._run_text())
        elif is_oom(error):
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


def train(document: Document, config: TrainConfig | None = None, **kwargs: Any) -> ev.Done | ev.Error:
    """Train to the end (no events); the final Done or Error."""
    return Trainer(document, config, **kwargs).run()
