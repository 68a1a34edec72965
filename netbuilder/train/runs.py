"""Run folders: what a training run leaves on disk, and how to read it back.

::

    runs/20250101-120000-digits-mlp/
        config.json          settings, graph hash (sha256 of the canonical graph JSON), data info, versions
        graph.nbg            the document as it was trained
        metrics.jsonl        one JSON object per epoch
        metrics.csv          the same as a table
        preprocessing.json   what turns raw data into the network's inputs (per-channel/column scaling, target
                             scaling, vocabulary), fitted on the training split; see netbuilder.data.preprocess
        checkpoints/epoch-0003.safetensors   one file per epoch: every tensor (weights as
                             ``weights/<network>/<name>``, optimiser state, RNG states) plus, in the file's
                             metadata, a JSON ``state`` (epoch, step, optimiser groups, schedule, early stopping,
                             metrics so far, settings)
        checkpoints/best.safetensors         the best epoch's checkpoint (a hard link when possible)
        weights/<network>.safetensors        final weights, plain ``<node>.<param>`` names
        summary.json         status (done, stopped, error), final and best metrics

Nothing is pickled: tensors go to safetensors, everything else to JSON. Each file is written under a temporary
name and renamed when complete, so a crash or a full disk never leaves a half-written file where a good one was.
One file per checkpoint keeps the per-epoch cost to a single write, which matters when epochs take milliseconds.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn as nn

from netbuilder.document.model import Document
from netbuilder.fs.limits import read_limited
from netbuilder.fs.names import safe_file_name
from netbuilder.train.config import TrainConfig
from netbuilder.train.errors import Explained
from netbuilder.train.plateau import PlateauTracker

CHECKPOINTS = "checkpoints"
BEST = "best"
WEIGHTS = "weights"
CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
GRAPH_FILE = "graph.nbg"
FLUSH_SECONDS = 1.0
_EPOCH_FILE = re.compile(r"^epoch-(\d+)\.safetensors$")


class RunError(Explained, ValueError):
    """A run folder or checkpoint that cannot be read or used; the message names the path and what is wrong,
    ``suggestion`` (if any) what to do."""


# ---------------------------------------------------------------------------------------------------------------
# Graph identity


def canonical_graph(document: Document) -> dict[str, Any]:
    """The parts of a document that decide what is trained: layer types, names, params, per-node options and
    wires. Positions, titles and settings are left out, so moving a node does not change the graph's hash."""
    networks = {}
    for network in document:
        networks[network.name] = _canonical_network(network)
    if not document.blocks:
        return {"networks": networks}
    # Blocks decide what is trained too: an edit inside a definition changes the hash (documents without blocks
    # keep the hash they always had).
    blocks = {name: {"params": [[p.name, p.kind.value, _jsonable(p.default)] for p in definition.params],
                     **_canonical_network(definition.network)} for name, definition in document.blocks.items()}
    return {"networks": networks, "blocks": blocks}


def _canonical_network(network: Any) -> dict[str, Any]:
    nodes = []
    for node in sorted(network.nodes, key=lambda n: n.id):
        entry = {"id": node.id, "type": node.type, "name": node.name, "params": _jsonable(node.params),
                 "options": node.options()}
        if node.block:
            entry["block"] = node.block
        if node.bindings:
            entry["bindings"] = dict(node.bindings)
        nodes.append(entry)
    wires = sorted([w.src, w.src_port, w.dst, w.dst_port] for w in network.wires)
    return {"nodes": nodes, "wires": wires}


def graph_hash(document: Document) -> str:
    """sha256 of the canonical graph JSON (sorted keys, no spaces)."""
    text = json.dumps(canonical_graph(document), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------------------------
# Writing


def new_run_dir(root: str | os.PathLike[str], name: str) -> Path:
    """A fresh folder ``root/<YYYYmmdd-HHMMSS>-<name>`` (with -2, -3 ... if that exists already)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    slug = safe_file_name(name, fallback="run", max_bytes=60)
    base = Path(root) / f"{stamp}-{slug}"
    Path(root).mkdir(parents=True, exist_ok=True)
    candidate, index = base, 1
    while True:
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            index += 1
            candidate = base.with_name(f"{base.name}-{index}")


def _safetensors_bytes(tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> bytes:
    """Serialise without copying CPU tensors (they are read, not kept); copies only when tensors share memory."""
    plain = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    try:
        return safetensors.torch.save(plain, metadata=metadata)
    except RuntimeError:  # tensors sharing storage (tied weights): safetensors wants separate copies
        return safetensors.torch.save({k: v.clone() for k, v in plain.items()}, metadata=metadata)


def _write(path: Path, data: bytes | str) -> None:
    with open(path, "wb") as stream:
        stream.write(data.encode("utf-8") if isinstance(data, str) else data)


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    temp = path.with_name(f".{path.name}.tmp")
    try:
        _write(temp, json.dumps(data, indent=2, allow_nan=True) + "\n")
        os.replace(temp, path)
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


class RunWriter:
    """Everything a run writes. With ``enabled=False`` (ranks other than 0) every method does nothing."""

    def __init__(self, run_dir: Path | None, enabled: bool = True):
        self.run_dir = run_dir
        self.enabled = enabled and run_dir is not None
        self.history: list[dict[str, Any]] = []
        self._jsonl: Any = None
        self._csv: Any = None
        self._csv_writer: Any = None
        self._columns: list[str] = []
        self._flushed = 0.0

    def write_config(self, record: dict[str, Any], document: Document | None = None) -> None:
        if not self.enabled:
            return
        assert self.run_dir is not None
        write_json(self.run_dir / CONFIG_FILE, record)
        if document is not None:
            try:
                from netbuilder.io import dumps_document
            except ImportError:  # the file format module is optional for training
                return
            _write(self.run_dir / GRAPH_FILE, dumps_document(document))

    def write_preprocessing(self, preprocessing: Any) -> None:
        """``preprocessing.json``: the fitted preprocessing evaluate, predict and export apply to new data."""
        if not self.enabled or preprocessing is None:
            return
        assert self.run_dir is not None
        preprocessing.save(self.run_dir)

    def keep_metrics_until(self, epoch: int) -> None:
        """Resuming: forget epochs after ``epoch`` (they will be trained again) and rewrite the files."""
        if not self.enabled:
            return
        assert self.run_dir is not None
        self.close()
        self.history = [row for row in read_metrics(self.run_dir) if int(row.get("epoch", 0)) <= epoch]
        _write(self.run_dir / METRICS_JSONL, "".join(json.dumps(row) + "\n" for row in self.history))
        self._rewrite_csv()

    def append_metrics(self, epoch: int, metrics: dict[str, Any]) -> None:
        """One epoch's row in metrics.jsonl and metrics.csv. The files stay open and are flushed per row."""
        row = {"epoch": epoch, **metrics}
        self.history.append(row)
        if not self.enabled:
            return
        assert self.run_dir is not None
        if self._jsonl is None:
            self._jsonl = open(self.run_dir / METRICS_JSONL, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self._jsonl.write(json.dumps(row) + "\n")
        if self._csv is None or self._csv_writer is None or any(key not in self._columns for key in row):
            self._rewrite_csv()
        else:
            self._csv_writer.writerow(row)
        now = time.monotonic()
        if now - self._flushed >= FLUSH_SECONDS:  # short epochs: at most one flush a second (close flushes too)
            self.flush()
            self._flushed = now

    def flush(self) -> None:
        for stream in (self._jsonl, self._csv):
            if stream is not None:
                stream.flush()

    def _rewrite_csv(self) -> None:
        assert self.run_dir is not None
        if self._csv is not None:
            self._csv.close()
        columns: list[str] = []
        for row in self.history:
            columns.extend(k for k in row if k not in columns)
        self._columns = columns
        self._csv = open(self.run_dir / METRICS_CSV, "w", encoding="utf-8", newline="")  # noqa: SIM115
        writer = csv.DictWriter(self._csv, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.history)
        self._csv.flush()
        self._csv_writer = writer

    def close(self) -> None:
        for stream in (self._jsonl, self._csv):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._jsonl = self._csv = self._csv_writer = None

    def save_checkpoint(self, epoch: int | None, tensors: dict[str, torch.Tensor], state: dict[str, Any],
                        best: bool, keep: int) -> Path | None:
        """Write a checkpoint: ``checkpoints/epoch-NNNN.safetensors`` when ``epoch`` is given, and/or
        ``checkpoints/best.safetensors`` when ``best`` (a hard link to the epoch file when both). ``tensors``
        already holds the weights under ``weights/<network>/<name>``. Returns the path written (the epoch file
        when there is one)."""
        if not self.enabled:
            return None
        assert self.run_dir is not None
        root = self.run_dir / CHECKPOINTS
        if not root.is_dir():
            root.mkdir()
        metadata = {"format": "pt", "netbuilder_checkpoint": "1", "state": json.dumps(state)}
        best_path = root / f"{BEST}.safetensors"
        if epoch is None:
            _write_replace(best_path, _safetensors_bytes(tensors, metadata))
            return best_path
        final = root / f"epoch-{epoch:04d}.safetensors"
        _write_replace(final, _safetensors_bytes(tensors, metadata))
        if best:
            temp = root / f".{BEST}.tmp"
            try:
                try:
                    os.link(final, temp)
                except OSError:  # no hard links on this file system
                    shutil.copyfile(final, temp)
                os.replace(temp, best_path)
            finally:
                _remove(temp)
        if keep > 0:
            for old in sorted(p for p in root.iterdir() if _EPOCH_FILE.match(p.name))[:-keep]:
                _remove(old)
        return final

    def save_weights(self, modules: dict[str, nn.Module], metadata: dict[str, str]) -> dict[str, str]:
        """Final weights, one safetensors file per network; returns network -> path."""
        if not self.enabled:
            return {}
        assert self.run_dir is not None
        folder = self.run_dir / WEIGHTS
        folder.mkdir(exist_ok=True)
        paths: dict[str, str] = {}
        for name, module in modules.items():
            # The file is named after the network, made safe (a name like "../x" must not leave the folder);
            # the network's own name is in the file's metadata, which is what reading it back goes by.
            stem = safe_file_name(name)
            taken = {Path(p).name for p in paths.values()}
            path = folder / f"{stem}.safetensors"
            index = 2
            while path.name in taken:
                path = folder / f"{stem}-{index}.safetensors"
                index += 1
            _write_replace(path, _safetensors_bytes(module.state_dict(), {**metadata, "network": name}))
            paths[name] = str(path)
        return paths

    def best_checkpoint_path(self) -> Path | None:
        """``checkpoints/best.safetensors`` when it has been written."""
        if not self.enabled or self.run_dir is None:
            return None
        path = self.run_dir / CHECKPOINTS / f"{BEST}.safetensors"
        return path if path.is_file() else None

    def write_summary(self, summary: dict[str, Any]) -> None:
        self.close()
        if self.enabled:
            assert self.run_dir is not None
            write_json(self.run_dir / SUMMARY_FILE, summary)


def _write_replace(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    try:
        _write(temp, data)
        os.replace(temp, path)
    finally:
        _remove(temp)


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


# ---------------------------------------------------------------------------------------------------------------
# Optimiser and random-number states as tensors + JSON


def flatten_state(prefix: str, state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser's ``state_dict`` into tensors (for safetensors) and the JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    meta_state: dict[str, dict[str, Any]] = {}
    for param_id, entries in state["state"].items():
        plain = {}
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}/state/{param_id}/{key}"] = value
            else:
                plain[key] = value
        meta_state[str(param_id)] = plain
    groups = [_jsonable(group) for group in state["param_groups"]]
    return tensors, {"state": meta_state, "param_groups": groups, "tensor_keys": sorted(tensors)}


def unflatten_state(prefix: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {int(k): dict(v) for k, v in meta["state"].items()}
    head = f"{prefix}/state/"
    for key in meta["tensor_keys"]:
        param_id, name = key[len(head):].split("/", 1)
        state.setdefault(int(param_id), {})[name] = tensors[key]
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_state() -> dict[str, torch.Tensor]:
    """The global random states a training step can touch: torch's CPU generator (dropout, noise, VAE and GAN
    sampling) and each CUDA device's. Data order and samples use their own seeded generators, and NetBuilder
    never draws from NumPy's or Python's generators while training."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, value in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{index}"] = value
    return tensors


def set_rng_state(tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = sorted((k for k in tensors if k.startswith("rng/cuda/")), key=lambda k: int(k.rsplit("/", 1)[1]))
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[k] for k in cuda][:torch.cuda.device_count()])


# ---------------------------------------------------------------------------------------------------------------
# Reading


@dataclass
class CheckpointData:
    path: Path
    weights: dict[str, dict[str, torch.Tensor]]  # network -> state dict
    training: dict[str, torch.Tensor]  # optimiser and RNG tensors
    state: dict[str, Any]

    @property
    def epoch(self) -> int:
        return int(self.state["epoch"])


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from netbuilder.io import LoadError, load_weights, read_weights_metadata

    try:
        return load_weights(path), read_weights_metadata(path)
    except LoadError as error:  # names the file and the reason
        raise RunError(str(error)) from None


def find_checkpoint(path: str | os.PathLike[str]) -> Path:
    """A checkpoint file from itself, a ``checkpoints`` folder or a run folder (the latest epoch)."""
    target = Path(path)
    if target.is_file():
        return target
    folder = target / CHECKPOINTS if (target / CHECKPOINTS).is_dir() else target
    epochs = sorted(p for p in folder.iterdir() if _EPOCH_FILE.match(p.name)) if folder.is_dir() else []
    if not epochs:
        raise RunError(f"No checkpoint in {target}: expected a run folder with checkpoints/epoch-NNNN.safetensors "
                       "inside, or a checkpoint file.")
    return epochs[-1]


def split_checkpoint(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, dict[str, torch.Tensor]],
                                                                 dict[str, torch.Tensor]]:
    """(network -> state dict, the other tensors) from a checkpoint's flat tensor names."""
    weights: dict[str, dict[str, torch.Tensor]] = {}
    rest = {}
    head = f"{WEIGHTS}/"
    for key, value in tensors.items():
        if key.startswith(head):
            network, name = key[len(head):].split("/", 1)
            weights.setdefault(network, {})[name] = value
        else:
            rest[key] = value
    return weights, rest


def load_checkpoint(path: str | os.PathLike[str]) -> CheckpointData:
    file = find_checkpoint(path)
    tensors, metadata = _read_safetensors(file)
    if metadata.get("netbuilder_checkpoint") != "1" or "state" not in metadata:
        raise RunError(f"{file} is a weights file, not a NetBuilder training checkpoint.")
    try:
        state = json.loads(metadata["state"])
    except ValueError:
        raise RunError(f"The checkpoint {file} is damaged: its state is not valid JSON.") from None
    weights, training = split_checkpoint(tensors)
    return CheckpointData(file, weights, training, state)


def read_metrics(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    path = Path(run_dir) / METRICS_JSONL
    if not path.is_file():
        return []
    rows = []
    try:
        text = read_limited(path, "document").decode("utf-8", errors="replace")
    except (OSError, ValueError):  # unreadable, not a regular file, or absurdly large: no metrics
        return []
    for line in text.splitlines():
        with contextlib.suppress(ValueError):  # a line cut by a crash is skipped, the rest is kept
            rows.append(json.loads(line))
    return rows


@dataclass
class ChosenWeights:
    """Weights picked from a run folder, and where they come from."""

    weights: dict[str, dict[str, torch.Tensor]]  # network -> state dict
    which: str  # "best", "final" or "latest"
    epoch: int | None
    path: Path
    note: str = ""  # why these weights may not be what the run's metrics show (an interrupted run)

    def describe(self) -> str:
        """E.g. "best checkpoint (epoch 3)"."""
        what = {"best": "best checkpoint", "final": "final weights", "latest": "latest checkpoint"}[self.which]
        return f"{what} (epoch {self.epoch})" if self.epoch is not None else what


@dataclass
class Run:
    """A run folder read back: its settings, per-epoch metrics, summary and files."""

    path: Path
    record: dict[str, Any]  # config.json
    metrics: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.record.get("config") or {})

    @property
    def status(self) -> str:
        return str(self.summary.get("status", "running or interrupted"))

    @property
    def graph_sha256(self) -> str:
        return str(self.record.get("graph_sha256", ""))

    @property
    def final_metrics(self) -> dict[str, Any]:
        return dict(self.summary.get("metrics") or (self.metrics[-1] if self.metrics else {}))

    def weights(self, which: str = "final") -> dict[str, dict[str, torch.Tensor]]:
        """network -> state dict: "final" (falls back to the best, then the latest checkpoint), "best" or
        "latest"."""
        if which not in ("final", "best", "latest"):
            raise RunError(f"Unknown weights choice {which!r}; use final, best or latest.")
        if which == "final":
            files = sorted((self.path / WEIGHTS).glob("*.safetensors"))
            if files:
                states = {}
                for file in files:
                    tensors, metadata = _read_safetensors(file)
                    states[metadata.get("network", file.stem)] = tensors
                return states
        best = self.path / CHECKPOINTS / f"{BEST}.safetensors"
        if which != "latest" and best.is_file():
            return load_checkpoint(best).weights
        try:
            return load_checkpoint(self.path).weights
        except RunError:
            raise RunError(f"The run {self.path} has no weights yet (no weights/ folder and no checkpoint).") \
                from None

    @property
    def finished(self) -> bool:
        """The run ended on its own, was stopped or pruned by a sweep, and wrote its final weights and summary."""
        return self.summary.get("status") in ("done", "stopped", "pruned")

    def recorded_best(self) -> tuple[int, float, str] | None:
        """(epoch, value, metric) of the best epoch in the metrics file, picked as the trainer picks it: on the
        metric summary.json names (else the configured monitor if the run reports it, else train_loss)."""
        if not self.metrics:
            return None
        config = self.config
        monitor = self.summary.get("monitor") or config.early_stopping.monitor
        if not any(monitor in row for row in self.metrics):
            monitor = "train_loss" if self.record.get("recipe") != "gan" else "epoch"
        tracker = PlateauTracker("max") if monitor == "epoch" else PlateauTracker(
            config.early_stopping.direction(), config.early_stopping.min_delta)
        for row in self.metrics:
            value = row.get(monitor)
            if isinstance(value, int | float):
                tracker.update(float(value), int(row.get("epoch", 0)))
        if tracker.best is None or tracker.best_epoch is None:
            return None
        return tracker.best_epoch, tracker.best, monitor

    def choose_weights(self, which: str = "best", strict: bool = True) -> ChosenWeights:
        """The weights to evaluate or predict with, saying which epoch they come from.

        ``which``: "best" (the best epoch's checkpoint; the final weights when no epoch was marked best),
        "final" (the weights written when the run ended) or "latest" (the newest epoch checkpoint). A run that was
        interrupted after its best epoch but before that epoch's checkpoint reached the disk would otherwise be
        used with older weights than its metrics show: with ``strict`` that is a RunError saying so, without it
        the choice carries a ``note``.
        """
        if which not in ("final", "best", "latest"):
            raise RunError(f"Unknown weights choice {which!r}; use best, final or latest.")
        checkpoints = self.path / CHECKPOINTS
        last = int(self.metrics[-1].get("epoch", len(self.metrics))) if self.metrics else None
        state = "finished" if self.finished else f"was interrupted after epoch {last}" if last else "has no epochs"
        if which == "final":
            files = sorted((self.path / WEIGHTS).glob("*.safetensors"))
            if not files:
                raise RunError(f"The run {self.name} has no final weights: it {state}.",
                               "Use its best or latest checkpoint instead (--weights best or latest).")
            weights, epoch = {}, None
            for file in files:
                tensors, metadata = _read_safetensors(file)
                weights[file.stem] = tensors
                epoch = int(metadata["epoch"]) if str(metadata.get("epoch", "")).isdigit() else epoch
            return ChosenWeights(weights, "final", epoch, self.path / WEIGHTS)
        best_file = checkpoints / f"{BEST}.safetensors"
        if which == "best" and best_file.is_file():
            checkpoint = load_checkpoint(best_file)
            chosen = ChosenWeights(checkpoint.weights, "best", checkpoint.epoch, best_file)
        elif which == "best" and self.finished and (self.path / WEIGHTS).is_dir():
            return self.choose_weights("final")
        else:
            try:
                checkpoint = load_checkpoint(self.path)
            except RunError:
                raise RunError(f"The run {self.name} has no weights yet: it {state} before its first checkpoint "
                               "was written.", "Train it again, or resume it from its document.") from None
            chosen = ChosenWeights(checkpoint.weights, "latest", checkpoint.epoch, checkpoint.path)
        if self.finished:
            return chosen
        recorded = self.recorded_best()
        if recorded is not None and chosen.epoch is not None and recorded[0] > chosen.epoch:
            epoch, value, metric = recorded
            note = (f"The run {self.name} {state}, before the checkpoint of its best epoch {epoch} ({metric} "
                    f"{value:.4g}) was written; the {chosen.describe()} is the newest the disk has.")
            if strict and which == "best":
                raise RunError(note, f"Resume the run to finish it (netbuilder train FILE --resume {self.path}), "
                                     "or use these older weights anyway with --weights latest.")
            chosen.note = note
        elif last is not None and chosen.epoch is not None and last > chosen.epoch:
            chosen.note = (f"The run {self.name} {state}; these weights are from epoch {chosen.epoch}, the newest "
                           "checkpoint it wrote.")
        return chosen

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.path), "name": self.name, "status": self.status,
                "created": self.record.get("created"), "recipe": self.record.get("recipe"),
                "data": (self.record.get("data") or {}).get("id"), "graph_sha256": self.graph_sha256,
                "epochs": len(self.metrics), "metrics": self.final_metrics,
                "best_epoch": self.summary.get("best_epoch"), "best_metric": self.summary.get("best_metric"),
                "monitor": self.summary.get("monitor"), "test_metrics": self.summary.get("test_metrics")}


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Read a run folder (RunError if it is not one)."""
    path = Path(run_dir)
    config_path = path / CONFIG_FILE
    if not config_path.is_file():
        raise RunError(f"{path} is not a training run folder: it has no {CONFIG_FILE}.")
    try:
        record = json.loads(read_limited(config_path, "document").decode("utf-8"))
    except (OSError, ValueError) as error:
        raise RunError(f"{config_path} cannot be read: {error}.") from None
    summary: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        summary = json.loads(read_limited(path / SUMMARY_FILE, "document").decode("utf-8"))
    return Run(path, record, read_metrics(path), summary)


def list_runs(root: str | os.PathLike[str] = "runs") -> list[Run]:
    """Every run folder under ``root``, oldest first (folders that are not runs are skipped)."""
    folder = Path(root)
    if not folder.is_dir():
        return []
    runs = []
    for child in sorted(folder.iterdir()):
        if child.is_dir() and (child / CONFIG_FILE).is_file():
            with contextlib.suppress(RunError):
                runs.append(load_run(child))
    runs.sort(key=lambda r: (str(r.record.get("created", "")), r.name))
    return runs


def read_preprocessing(run_dir: str | os.PathLike[str]) -> Any:
    """The run's fitted `Preprocessing` (None for a run without one); RunError when its file is damaged."""
    from netbuilder.data.preprocess import PreprocessingError, load_preprocessing

    try:
        return load_preprocessing(run_dir)
    except PreprocessingError as error:
        raise RunError(str(error)) from None
