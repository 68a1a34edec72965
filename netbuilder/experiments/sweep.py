"""Hyper-parameter sweeps with Optuna: every trial is an ordinary training run folder inside the sweep folder.

::

    sweeps/<time>-<name>/
        sweep.json          the space, the metric and its direction, the study's storage and name
        study.db            Optuna's SQLite storage (unless --storage names another database)
        trial-0000/         a run folder like any other (config.json, metrics, checkpoints, summary.json)
        trial-0001/ ...     a pruned trial's summary.json says "status": "pruned" and at which epoch
        best.nbg            the document with the best trial's values, written when the sweep ends

Each trial trains through the ordinary `Trainer` event stream and reports the watched metric of every epoch to
Optuna, whose pruner (median by default) can stop it early: the trainer is asked to stop after that epoch, so the
run folder keeps its checkpoint and weights, and then `optuna.TrialPruned` is raised as Optuna expects.

Several processes, on one machine or several, share one study by giving the same ``storage`` URL and study name
(Optuna's own distributed mode): each process asks the database for its next trial, so the trials add up.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netbuilder.document.model import Document
from netbuilder.experiments.space import Dimension, apply, finite
from netbuilder.train.runs import SUMMARY_FILE, graph_hash, new_run_dir, write_json

SWEEP_FILE = "sweep.json"
STUDY_FILE = "study.db"
BEST_FILE = "best.nbg"
PRUNERS = ("median", "none")
OPEN_ATTEMPTS = 8  # processes that start together race to create a new database's tables; the loser retries


def _may_be_a_race(error: Exception) -> bool:
    """An error another process creating the same storage at the same moment causes (SQLAlchemy's integrity
    and operational errors: duplicate schema rows, "database is locked", "table already exists")."""
    return type(error).__name__ in ("IntegrityError", "OperationalError")


def sweep_graph_hash(run_dir: str | os.PathLike[str]) -> str:
    """The graph hash of the document a sweep started from, for a trial's run folder inside that sweep's folder;
    "" for a run that is not a sweep trial (or a sweep written before the hash was recorded)."""
    description = Path(run_dir).parent / SWEEP_FILE
    try:
        if description.is_file() and description.stat().st_size < 1 << 20:
            value = json.loads(description.read_text(encoding="utf-8")).get("graph_sha256", "")
            return value if isinstance(value, str) else ""
    except (OSError, ValueError, AttributeError):
        pass
    return ""


class SweepError(ValueError):
    """A sweep that cannot start (bad options, an unreachable storage); the message says what to change."""


class _TrialFailed(Exception):
    """A trial whose training ended with an error; Optuna records it as failed and the sweep goes on."""


@dataclass
class SweepOptions:
    """How a sweep runs. ``metric`` None = the document's early-stopping monitor (val_loss by default);
    ``direction`` None = from the metric's name (accuracy-like: maximise, else minimise)."""

    trials: int = 20
    jobs: int = 1
    storage: str | None = None
    study: str | None = None
    pruner: str = "median"
    metric: str | None = None
    direction: str | None = None
    startup_trials: int = 5  # trials that complete before the pruner may stop any
    warmup_epochs: int = 0  # epochs of every trial that are never pruned
    seed: int | None = 0  # the sampler's seed (None: a different search every time)
    timeout: float | None = None  # seconds


# ---- plain events (the CLI prints them, the app's Sweep panel shows them) -----------------------------------------


@dataclass
class TrialStarted:
    number: int
    params: dict[str, Any]
    run_dir: str


@dataclass
class TrialEpoch:
    number: int
    epoch: int
    value: float
    epochs: int


@dataclass
class TrialEnded:
    number: int
    state: str  # "complete", "pruned" or "failed"
    value: float | None
    params: dict[str, Any]
    run_dir: str
    epochs: int
    message: str = ""
    best_number: int | None = None
    best_value: float | None = None


@dataclass
class SweepResult:
    folder: Path
    study_name: str
    storage: str
    metric: str
    direction: str
    trials: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_document: Path | None = None
    stopped: bool = False

    def count(self, state: str) -> int:
        return sum(1 for t in self.trials if t["state"] == state)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as error:  # pragma: no cover - a dependency
        raise SweepError(f"Sweeps need Optuna ({error}); install it with: pip install optuna") from None
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # failed trials are reported by the sweep, not as tracebacks
    return optuna


def default_storage(folder: Path) -> str:
    """The SQLite file inside the sweep folder, as an SQLAlchemy URL."""
    return f"sqlite:///{(folder / STUDY_FILE).resolve()}"


def metric_direction(metric: str) -> str:
    """"minimize" or "maximize" from a metric's name, as early stopping picks it."""
    from netbuilder.train.config import EarlyStopping

    return "maximize" if EarlyStopping(monitor=metric).direction() == "max" else "minimize"


def new_sweep_folder(root: str | os.PathLike[str], name: str) -> Path:
    """A fresh ``root/<time>-<name>`` folder for a sweep."""
    return new_run_dir(root, name)


class Sweep:
    """One sweep of ``document`` over ``dims`` into ``folder``. `run` blocks until the trials are done or `stop`
    is called (from any thread); ``on_event`` receives the plain events above, from the thread running a trial."""

    def __init__(self, document: Document, dims: list[Dimension], folder: str | os.PathLike[str],
                 options: SweepOptions | None = None, on_event: Callable[[Any], None] | None = None):
        from netbuilder.train.config import ConfigError, TrainConfig

        self.document = document
        self.dims = dims
        self.folder = Path(folder)
        self.options = options or SweepOptions()
        self.on_event = on_event or (lambda event: None)
        try:
            config = TrainConfig.from_settings(document.settings)
        except ConfigError as error:
            raise SweepError(str(error)) from None
        self.metric = self.options.metric or config.early_stopping.monitor or "val_loss"
        self.direction = {"min": "minimize", "max": "maximize"}.get(self.options.direction or "",
                                                                    self.options.direction or "") \
            or metric_direction(self.metric)
        if self.direction not in ("minimize", "maximize"):
            raise SweepError(f"--direction must be min or max; got {self.options.direction!r}.")
        if self.options.pruner not in PRUNERS:
            raise SweepError(f"--pruner must be one of {', '.join(PRUNERS)}; got {self.options.pruner!r}.")
        if self.options.trials < 1 or self.options.jobs < 1:
            raise SweepError("--trials and --jobs must be at least 1.")
        self.storage = self.options.storage or default_storage(self.folder)
        self.study_name = self.options.study or self.folder.name
        self._stop = threading.Event()
        self._trainers: set[Any] = set()
        self._lock = threading.Lock()
        self.study: Any = None
        self._completed: dict[int, float] = {}  # trial number -> value, of the trials this process completed
        self._fatal = ""  # a problem every trial would have (the metric is not reported): ends the sweep

    # ---- control ----------------------------------------------------------------------------------------------
    def stop(self) -> None:
        """Cancel: the running trials stop after their current batch and no new trial starts."""
        self._stop.set()
        with self._lock:
            trainers = list(self._trainers)
        for trainer in trainers:
            trainer.stop()
        if self.study is not None:
            with contextlib.suppress(RuntimeError):
                self.study.stop()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # ---- running ----------------------------------------------------------------------------------------------
    def open_study(self) -> Any:
        """Create or join the study (SweepError when the storage cannot be opened)."""
        optuna = _optuna()
        self.folder.mkdir(parents=True, exist_ok=True)
        pruner = optuna.pruners.NopPruner() if self.options.pruner == "none" else optuna.pruners.MedianPruner(
            n_startup_trials=self.options.startup_trials,
            n_warmup_steps=self.options.warmup_epochs + 1 if self.options.warmup_epochs else 0)
        seed = self.options.seed
        if seed is not None and self.options.storage:
            # A shared study: processes with one seed would all propose the same values; each its own.
            seed = seed * 100_003 + os.getpid()
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=max(1, min(10, self.options.trials // 2)))
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self.study = optuna.create_study(storage=self.storage, study_name=self.study_name, pruner=pruner,
                                                 sampler=sampler, direction=self.direction, load_if_exists=True)
                break
            except ValueError as error:  # joined a study with another direction
                raise SweepError(f"The study {self.study_name!r} in {self.storage} cannot be used: {error}") \
                    from None
            except Exception as error:  # noqa: BLE001 - SQLAlchemy's: a bad URL, a missing driver, no server,
                # or another process creating the same new database's tables at this moment (then retry)
                if attempt == OPEN_ATTEMPTS - 1 or not _may_be_a_race(error):
                    raise SweepError(f"Cannot open the study storage {self.storage}: {type(error).__name__}: "
                                     f"{str(error).splitlines()[0]}") from None
                time.sleep(0.2 + random.random() * 0.5)
        return self.study

    def run(self) -> SweepResult:
        """Run the trials; returns the study's trials and the best one (SweepError if the storage fails)."""
        optuna = _optuna()
        study = self.study or self.open_study()
        self._write_description()
        if not self.stopping:
            study.optimize(self._objective, n_trials=self.options.trials, n_jobs=self.options.jobs,
                           timeout=self.options.timeout, catch=(_TrialFailed,), gc_after_trial=False)
        if self._fatal:
            raise SweepError(self._fatal)
        result = self.result()
        if result.best is not None:
            from netbuilder.io import SaveError, save_document

            with contextlib.suppress(SaveError, OSError, KeyError):
                path = self.folder / BEST_FILE
                save_document(self.best_document(result.best["params"]), path)
                result.best_document = path
        del optuna
        return result

    def best_document(self, params: dict[str, Any]) -> Document:
        """The document with a trial's values: what "open best as a network" opens."""
        values = {d.name: params[d.name] for d in self.dims}
        return apply(self.document, self.dims, values)

    def result(self) -> SweepResult:
        result = SweepResult(self.folder, self.study_name, self.storage, self.metric, self.direction,
                             stopped=self.stopping)
        if self.study is None:
            return result
        result.trials = trial_rows(self.study)
        complete = [t for t in result.trials if t["state"] == "complete" and finite(t["value"])]
        if complete:
            pick = max if self.direction == "maximize" else min
            result.best = pick(complete, key=lambda t: t["value"])
        return result

    def _write_description(self) -> None:
        path = self.folder / SWEEP_FILE
        if path.exists():  # a second process joining the study in the same folder keeps the first description
            return
        write_json(path, {"created": dt.datetime.now().isoformat(timespec="seconds"),
                          "document": self.document.path, "space": [d.text() for d in self.dims],
                          # The graph the sweep started from: trials that change layer parameters train other
                          # graphs, and the Runs view still counts them as runs of this network.
                          "graph_sha256": graph_hash(self.document),
                          "metric": self.metric, "direction": self.direction, "study": self.study_name,
                          "storage": self.storage, "pruner": self.options.pruner})

    def _objective(self, trial: Any) -> float:
        optuna = _optuna()
        from netbuilder.train import events as ev
        from netbuilder.train.config import ConfigError, TrainConfig
        from netbuilder.train.loop import Trainer

        if self.stopping:
            trial.study.stop()
            raise _TrialFailed("cancelled before it started")
        values = {dim.name: dim.suggest(trial) for dim in self.dims}
        run_dir = self.folder / f"trial-{trial.number:04d}"
        trial.set_user_attr("run_dir", str(run_dir))
        self.on_event(TrialStarted(trial.number, values, str(run_dir)))
        try:
            document = apply(self.document, self.dims, values)
            config = TrainConfig.from_settings(document.settings).replace(name=f"trial-{trial.number}")
        except (ConfigError, ValueError) as error:
            return self._failed(trial, values, run_dir, 0, str(error))
        trainer = Trainer(document, config, run_dir=run_dir)
        with self._lock:
            self._trainers.add(trainer)
        if self.stopping:
            trainer.stop()
        best: float | None = None
        epochs = 0
        pruned_at: int | None = None
        error_text = ""
        better = max if self.direction == "maximize" else min
        try:
            for event in trainer.events():
                if isinstance(event, ev.EpochEnd):
                    epochs = event.epoch
                    value = event.metrics.get(self.metric)
                    if not isinstance(value, int | float):
                        reported = ", ".join(k for k in event.metrics if k != "lr")
                        error_text = (f"The run does not report {self.metric!r}; it reports {reported}. Choose "
                                      "one of those with --metric.")
                        self._fatal = error_text
                        self.stop()
                        continue
                    value = float(value)
                    best = value if best is None or not finite(best) else better(best, value)
                    trial.report(value, event.epoch)
                    self.on_event(TrialEpoch(trial.number, event.epoch, value, config.epochs))
                    # The last epoch is never pruned: the trial has finished anyway, so it counts as complete.
                    if pruned_at is None and event.epoch < config.epochs and trial.should_prune():
                        pruned_at = event.epoch
                        trainer.stop()  # ends after this epoch: checkpoint, weights and summary are written
                elif isinstance(event, ev.Error):
                    error_text = str(event)
                elif isinstance(event, ev.Done) and event.stopped_by_user and pruned_at is None:
                    self._stop.set()  # Ctrl+C reached the trainer (it ends the run cleanly): end the sweep too
        finally:
            with self._lock:
                self._trainers.discard(trainer)
        if error_text:
            return self._failed(trial, values, run_dir, epochs, error_text)
        if pruned_at is not None:
            _mark_summary(run_dir, "pruned", trial.number, values,
                          f"Pruned by the {self.options.pruner} pruner after epoch {pruned_at}: {self.metric} "
                          f"was worse than the median of earlier trials.", pruned_at_epoch=pruned_at)
            self.on_event(TrialEnded(trial.number, "pruned", best, values, str(run_dir), epochs,
                                     f"pruned after epoch {pruned_at}", *self._best_so_far()))
            raise optuna.TrialPruned(f"pruned after epoch {pruned_at}")
        if self.stopping:  # cancelled mid-run: the trial is not a result, and no other trial starts
            trial.study.stop()
            _mark_summary(run_dir, "stopped", trial.number, values, "The sweep was cancelled during this trial.")
            return self._failed(trial, values, run_dir, epochs, "cancelled", mark=False)
        if best is None or not finite(best):
            return self._failed(trial, values, run_dir, epochs, f"No finite {self.metric} was reported.")
        _mark_summary(run_dir, None, trial.number, values, "")
        self.on_event(TrialEnded(trial.number, "complete", best, values, str(run_dir), epochs, "",
                                 *self._best_so_far(trial.number, best)))
        return best

    def _failed(self, trial: Any, values: dict[str, Any], run_dir: Path, epochs: int, message: str,
                mark: bool = True) -> float:
        trial.set_user_attr("message", message)
        if mark:
            _mark_summary(run_dir, "error", trial.number, values, message)
        self.on_event(TrialEnded(trial.number, "failed", None, values, str(run_dir), epochs, message,
                                 *self._best_so_far()))
        raise _TrialFailed(message)

    def _best_so_far(self, number: int | None = None, value: float | None = None) -> tuple[int | None,
                                                                                            float | None]:
        """(trial number, value) of the best trial this process completed, counting one finishing now. Kept here
        rather than read back from the storage, which costs a database round trip per trial."""
        with self._lock:
            if number is not None and value is not None:
                self._completed[number] = value
            if not self._completed:
                return None, None
            pick = max if self.direction == "maximize" else min
            return pick(self._completed.items(), key=lambda item: item[1])


def _mark_summary(run_dir: Path, status: str | None, number: int, params: dict[str, Any], note: str,
                  **more: Any) -> None:
    """Add the trial's number and values (and a pruned/stopped/error status) to its run's summary.json."""
    path = run_dir / SUMMARY_FILE
    summary: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads(path.read_text(encoding="utf-8"))
    if not run_dir.is_dir():
        return
    summary.update({"trial": number, "params": params, **more})
    if status is not None:
        summary["status"] = status
    if note:
        summary["note"] = note
    with contextlib.suppress(OSError):
        write_json(path, summary)


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """One plain dict per trial: number, state, value, params, run folder, duration, message."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        state = trial.state.name.lower()
        value = trial.value if trial.value is not None else (
            trial.intermediate_values[max(trial.intermediate_values)] if trial.intermediate_values else None)
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append({"number": trial.number, "state": {"fail": "failed"}.get(state, state), "value": value,
                     "params": dict(trial.params), "run_dir": trial.user_attrs.get("run_dir", ""),
                     "epochs": max(trial.intermediate_values) if trial.intermediate_values else 0,
                     "duration_s": duration, "message": trial.user_attrs.get("message", "")})
    return rows


def importances(study: Any) -> dict[str, float]:
    """Each parameter's share of the value's variation (Optuna's fANOVA); {} until two trials completed."""
    optuna = _optuna()
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return {}
    try:
        return dict(optuna.importance.get_param_importances(study))
    except (RuntimeError, ValueError, ZeroDivisionError):  # e.g. every trial had the same values
        return {}


def best_so_far(rows: list[dict[str, Any]], direction: str) -> list[tuple[int, float]]:
    """(trial number, best value up to it) for each complete trial, in trial order: the curve to plot."""
    out: list[tuple[int, float]] = []
    best: float | None = None
    for row in sorted(rows, key=lambda r: r["number"]):
        if row["state"] != "complete" or not finite(row["value"]):
            continue
        value = float(row["value"])
        if best is None or (value > best if direction == "maximize" else value < best):
            best = value
        out.append((row["number"], best))
    return out
