"""Compare training runs: the settings that differ between them, their best and final metrics, their duration.

A run's "settings" here are everything that decides what it trains: the training and data settings of its
``config.json`` (flattened to ``training.lr``, ``data.val_fraction``...) and every layer parameter of the graph
it trained (``hidden1.units``; ``network/node.param`` when the document has several networks). Showing only the
keys whose values differ is what makes a table of twenty runs readable, as in MATLAB's Experiment Manager.

Reads JSON files only: no torch import, so ``netbuilder runs --compare`` answers at once.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netbuilder.fs.limits import read_limited
from netbuilder.train.runs import GRAPH_FILE, METRICS_JSONL, Run, RunError, list_runs, load_run

# Settings that differ between runs without changing what is trained: never shown as a difference.
NOT_SETTINGS = frozenset({"training.name", "training.log_every", "training.log_interval", "training.threads",
                          "training.keep_checkpoints", "training.checkpoint_interval", "training.device"})
MISSING = "—"


@dataclass
class RunSummary:
    """One row of the comparison: a run folder read back and reduced to what a table shows."""

    run: Run
    settings: dict[str, Any]  # flattened setting/parameter -> value
    created: str
    network: str
    duration_s: float | None
    best: tuple[int, float, str] | None  # (epoch, value, metric)
    final: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.run.name

    @property
    def path(self) -> Path:
        return self.run.path

    @property
    def status(self) -> str:
        return self.run.status

    @property
    def epochs(self) -> int:
        return len(self.run.metrics)

    @property
    def curves(self) -> list[dict[str, Any]]:
        """The per-epoch metrics (one dict per epoch)."""
        return self.run.metrics


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists stay values (written as JSON in tables)."""
    if not isinstance(data, dict):
        return {prefix: data} if prefix else {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out.update(flatten(value, name))
        else:
            out[name] = value
    return out


def run_settings(run: Run) -> dict[str, Any]:
    """Every training and data setting of the run and every layer parameter of the graph it trained."""
    config = dict(run.record.get("config") or {})
    data = config.pop("data", {}) or {}
    settings = {**flatten(config, "training"), **flatten(data, "data")}
    settings = {key: value for key, value in settings.items() if key not in NOT_SETTINGS}
    settings.update(graph_parameters(run.path / GRAPH_FILE))
    return settings


def graph_parameters(path: Path) -> dict[str, Any]:
    """``node.param`` -> value for every node of a saved graph (``network/node.param`` with several networks).
    Read as plain JSON: a graph the current version cannot load still compares."""
    try:
        tree = json.loads(read_limited(path, "document").decode("utf-8"))
    except (OSError, ValueError):
        return {}
    networks = tree.get("networks") if isinstance(tree, dict) else None
    if isinstance(networks, dict):
        networks = [{"name": name, **value} for name, value in networks.items() if isinstance(value, dict)]
    if not isinstance(networks, list):
        return {}
    several = len(networks) > 1
    out: dict[str, Any] = {}
    for network in networks:
        if not isinstance(network, dict):
            continue
        head = f"{network.get('name', '')}/" if several else ""
        for node in network.get("nodes") or []:
            if not isinstance(node, dict) or not isinstance(node.get("params"), dict):
                continue
            for param, value in node["params"].items():
                out[f"{head}{node.get('name', node.get('id', '?'))}.{param}"] = value
    return out


def _parse_time(text: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _duration(run: Run) -> float | None:
    """Seconds from the run's start (its config.json) to its summary, or for a run still going to its last
    metrics line. File times, because the recorded timestamps count whole seconds."""
    times = []
    for name in ("config.json", "summary.json" if run.summary else METRICS_JSONL):
        with contextlib.suppress(OSError):
            times.append((run.path / name).stat().st_mtime)
    if len(times) == 2:
        return max(0.0, times[1] - times[0])
    start, end = _parse_time(run.record.get("created")), _parse_time(run.summary.get("finished"))
    return max(0.0, (end - start).total_seconds()) if start is not None and end is not None else None


def summarize(run: Run) -> RunSummary:
    """The comparison row of one run."""
    document = run.record.get("document") or {}
    network = str(document.get("title") or ", ".join(run.record.get("networks") or []) or "?")
    final = {k: v for k, v in run.final_metrics.items() if isinstance(v, int | float) and k not in ("epoch",)}
    best = None
    summary = run.summary
    if isinstance(summary.get("best_epoch"), int) and isinstance(summary.get("best_metric"), int | float) \
            and summary.get("monitor"):
        best = (summary["best_epoch"], float(summary["best_metric"]), str(summary["monitor"]))
    else:  # a run still going or interrupted: pick the best epoch from its metrics, as the trainer would
        with contextlib.suppress(ValueError, TypeError, KeyError):
            best = run.recorded_best()
    return RunSummary(run, run_settings(run), str(run.record.get("created") or ""), network, _duration(run), best,
                      final)


def load_runs(refs: list[str], root: str | os.PathLike[str] = "runs") -> list[RunSummary]:
    """Runs by folder path or by folder name under ``root``; RunError naming the first that is not a run."""
    rows = []
    for ref in refs:
        path = Path(ref)
        if not (path / "config.json").is_file() and (Path(root) / ref / "config.json").is_file():
            path = Path(root) / ref
        if not path.is_dir():
            raise RunError(f"No run folder {ref!r}: not a folder here, nor under {root}.")
        rows.append(summarize(load_run(path)))
    return rows


def all_runs(root: str | os.PathLike[str] = "runs") -> list[RunSummary]:
    """Every run under ``root`` (and, one level down, inside sweep folders), oldest first."""
    runs = list_runs(root)
    folder = Path(root)
    if folder.is_dir():
        for child in sorted(folder.iterdir()):
            if child.is_dir() and not (child / "config.json").is_file():
                runs.extend(list_runs(child))
    runs.sort(key=lambda r: (str(r.record.get("created", "")), r.name))
    return [summarize(run) for run in runs]


def differing_keys(rows: list[RunSummary]) -> list[str]:
    """The settings whose values are not the same in every run (a key one run lacks counts as different)."""
    if len(rows) < 2:
        return []
    keys: list[str] = []
    for row in rows:
        keys.extend(k for k in row.settings if k not in keys)
    return sorted(k for k in keys if len({_key(row.settings.get(k, MISSING)) for row in rows}) > 1)


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def format_value(value: Any) -> str:
    """A setting or metric as a table shows it."""
    if isinstance(value, bool) or value is None:
        return MISSING if value is None else str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def label(row: RunSummary, keys: list[str]) -> str:
    """What names a run in a legend: the differing settings' values (``lr=0.01 hidden1.units=64``), else its
    folder name."""
    parts = [f"{key.removeprefix('training.')}={format_value(row.settings.get(key))}" for key in keys]
    return " ".join(parts) if parts else row.name


def metric_columns(rows: list[RunSummary]) -> list[str]:
    """The final metrics the table shows: those every run... or any run reports, losses first, no lr."""
    names: list[str] = []
    for row in rows:
        names.extend(k for k in row.final if k not in names and k != "lr")
    return names


def table(rows: list[RunSummary], keys: list[str] | None = None) -> tuple[list[str], list[list[Any]]]:
    """(header, rows of plain values) of the comparison table: run, date, network, the differing settings,
    status, epochs, best (metric, value, epoch), the final metrics, duration in seconds."""
    keys = differing_keys(rows) if keys is None else keys
    metrics = metric_columns(rows)
    header = ["run", "date", "network", *keys, "status", "epochs", "best metric", "best value", "best epoch",
              *[f"final {m}" for m in metrics], "duration s"]
    body = []
    for row in rows:
        best = row.best
        body.append([row.name, row.created, row.network, *[row.settings.get(k) for k in keys], row.status,
                     row.epochs, best[2] if best else None, best[1] if best else None, best[0] if best else None,
                     *[row.final.get(m) for m in metrics],
                     round(row.duration_s, 1) if row.duration_s is not None else None])
    return header, body


def to_csv(rows: list[RunSummary], keys: list[str] | None = None) -> str:
    """The comparison table as CSV text (lists and mappings as JSON, missing values empty)."""
    header, body = table(rows, keys)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for line in body:
        writer.writerow(["" if v is None else json.dumps(v) if isinstance(v, list | dict) else v for v in line])
    return out.getvalue()


def write_csv(path: str | os.PathLike[str], rows: list[RunSummary], keys: list[str] | None = None) -> None:
    """Write the table to ``path`` (through a temporary file, so a failed write leaves no half file)."""
    from netbuilder.io import write_atomic

    write_atomic(path, to_csv(rows, keys).encode("utf-8"), "CSV file")


def compare_text(rows: list[RunSummary], full_paths: bool = True) -> str:
    """The settings diff and the metrics of a few runs, one column per run, as plain text for a terminal
    (``full_paths=False``: runs named by their folder name only)."""
    keys = differing_keys(rows)
    names = [f"[{i + 1}]" for i in range(len(rows))]
    lines = [f"{n} {row.path if full_paths else row.name}  ({row.status}, {row.epochs} epochs"
             + (f", {row.duration_s:.1f} s)" if row.duration_s is not None else ")") for n, row in zip(names, rows,
                                                                                                    strict=True)]
    grid: list[list[str]] = [["", *names]]
    if keys:
        grid.append(["settings that differ", *[""] * len(rows)])
        grid.extend([f"  {key}", *[format_value(row.settings.get(key, MISSING)) for row in rows]] for key in keys)
    else:
        grid.append(["settings: all the same", *[""] * len(rows)])
    grid.append(["best", *[f"{b[2]} {format_value(b[1])} @{b[0]}" if (b := row.best) else MISSING
                           for row in rows]])
    grid.append(["final metrics", *[""] * len(rows)])
    for metric in metric_columns(rows):
        grid.append([f"  {metric}", *[format_value(row.final.get(metric)) for row in rows]])
    widths = [max(len(line[i]) for line in grid) for i in range(len(grid[0]))]
    lines.append("")
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
                 for line in grid)
    return "\n".join(lines)
