"""Experiment commands of the ``netbuilder`` CLI: ``sweep`` (Optuna), ``lr-find`` (range test) and
``runs --compare`` / ``runs --csv`` (run comparison). The work is done in `netbuilder.experiments`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from netbuilder.cli_train import _guard, _set_items, _Usage

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _load_document(path: str) -> Any:
    from netbuilder.io import LoadError, load_document

    try:
        return load_document(path)
    except LoadError as error:
        raise _Usage(str(error)) from None


def _apply_sets(doc: Any, items: list[str]) -> None:
    """``--set section.key=VALUE`` on the document's settings (checked as ``train --set`` checks them)."""
    from netbuilder.train import ConfigError, schema
    from netbuilder.train import settings_check as check

    parsed = _set_items(items)
    settings = doc.settings
    for entry, key, value in parsed:
        section = settings.get("data" if entry is None else entry.section)
        section = {"source": section} if isinstance(section, str) else dict(section or {})
        if entry is None:
            section[key] = value
            settings["data"] = section
            continue
        try:
            schema.set_path(section, entry.path, check.parse(entry, value, f"--set {key}"))
        except ConfigError as error:
            raise _Usage(str(error)) from None
        settings[entry.section] = section


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# sweep


def cmd_sweep(args: argparse.Namespace) -> int:
    from netbuilder.experiments.space import SpaceError, parse_space
    from netbuilder.experiments.sweep import Sweep, SweepError, SweepOptions, new_sweep_folder

    doc = _load_document(args.file)
    _apply_sets(doc, args.set)
    try:
        dims = parse_space(args.param, doc)
    except SpaceError as error:
        raise _Usage(str(error)) from None
    if args.out:
        folder = Path(args.out)
    elif args.study:
        folder = Path(args.sweeps) / args.study
    else:
        folder = new_sweep_folder(args.sweeps, Path(args.file).stem)
    options = SweepOptions(trials=args.trials, jobs=args.jobs, storage=args.storage, study=args.study,
                           pruner=args.pruner, metric=args.metric, direction=args.direction,
                           startup_trials=args.startup_trials, warmup_epochs=args.warmup_epochs, seed=args.seed,
                           timeout=args.timeout)
    printer = _SweepPrinter(args.json)
    try:
        sweep = Sweep(doc, dims, folder, options, on_event=printer)
        sweep.open_study()
        printer.start(sweep)
        result = sweep.run()
    except SweepError as error:
        raise _Usage(str(error)) from None
    printer.done(result)
    return EXIT_OK if result.best is not None else EXIT_FAILED


class _SweepPrinter:
    """One line per finished trial (or JSON lines), then the best trial."""

    def __init__(self, as_json: bool):
        self.as_json = as_json

    def _out(self, data: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(data, default=str) + "\n")
        sys.stdout.flush()

    def start(self, sweep: Any) -> None:
        if self.as_json:
            self._out({"event": "sweep", "folder": str(sweep.folder), "study": sweep.study_name,
                       "storage": sweep.storage, "metric": sweep.metric, "direction": sweep.direction,
                       "space": [d.text() for d in sweep.dims]})
            return
        print(f"Sweep {sweep.study_name}: {sweep.options.trials} trials, {sweep.direction} {sweep.metric} over "
              + "; ".join(d.describe() for d in sweep.dims))
        print(f"Folder: {sweep.folder}   storage: {sweep.storage}")

    def __call__(self, event: Any) -> None:
        from netbuilder.experiments.sweep import TrialEnded

        if not isinstance(event, TrialEnded):
            return
        if self.as_json:
            self._out({"event": "trial", **event.__dict__})
            return
        values = " ".join(f"{k}={_show(v)}" for k, v in event.params.items())
        what = {"complete": "done", "pruned": event.message, "failed": f"failed: {event.message.rstrip('.')}"}[event.state]
        value = _show(event.value) if event.value is not None else "—"
        print(f"trial {event.number:>3}  {value:>10}  {values}  ({what}, {event.epochs} epochs)", flush=True)

    def done(self, result: Any) -> None:
        if self.as_json:
            self._out({"event": "done", "best": result.best, "best_document": result.best_document,
                       "complete": result.count("complete"), "pruned": result.count("pruned"),
                       "failed": result.count("failed"), "folder": result.folder})
            return
        print(f"{len(result.trials)} trials in the study: {result.count('complete')} complete, "
              f"{result.count('pruned')} pruned, {result.count('failed')} failed.")
        if result.best is None:
            print("No trial completed.", file=sys.stderr)
            return
        best = result.best
        print(f"Best: trial {best['number']}, {result.metric} {_show(best['value'])}: "
              + " ".join(f"{k}={_show(v)}" for k, v in best["params"].items()))
        print(f"Its run folder: {best['run_dir']}")
        if result.best_document:
            print(f"The network with these values: {result.best_document}")


# ---------------------------------------------------------------------------------------------------------------
# lr-find


def cmd_lr_find(args: argparse.Namespace) -> int:
    from netbuilder.experiments.lr_find import LRFindError, lr_find, plot_png

    doc = _load_document(args.file)
    _apply_sets(doc, args.set)
    if args.output and Path(args.output).suffix.lower() != ".png":
        raise _Usage(f"-o {args.output}: the plot is written as PNG; give a file name ending in .png.")
    try:
        result = lr_find(doc, start=args.start, end=args.end, steps=args.steps)
    except LRFindError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.output:
        plot_png(result, args.output)
    if args.json:
        print(json.dumps({**result.to_dict(), "plot": args.output}))
        return EXIT_OK
    print(f"Suggested learning rate: {result.suggestion:.2g}  ({result.optimizer}; the loss fell fastest there. "
          f"Lowest loss at {result.min_loss_lr:.2g}; {len(result.lrs)} steps"
          + (", stopped when the loss blew up)" if result.diverged else ")"))
    print(f"Use it: netbuilder train {args.file} --lr {result.suggestion:.2g}")
    if args.output:
        print(f"Wrote {args.output}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------------------
# runs --compare / --csv


def cmd_compare(args: argparse.Namespace) -> int:
    """``netbuilder runs [ROOT] --compare A B ...`` and ``--csv FILE`` (the table of all or the compared runs)."""
    from netbuilder.experiments.compare import all_runs, compare_text, load_runs, table, write_csv
    from netbuilder.train import RunError

    try:
        rows = load_runs(args.compare, args.root) if args.compare else all_runs(args.root)
    except RunError as error:
        raise _Usage(str(error)) from None
    if args.compare and len(rows) < 2:
        raise _Usage("--compare needs at least two runs: netbuilder runs --compare RUN_A RUN_B ...")
    if args.csv:
        try:
            write_csv(args.csv, rows)
        except Exception as error:  # noqa: BLE001 - SaveError / OSError, reported in one line
            raise _Usage(f"Cannot write {args.csv}: {error}") from None
        print(f"Wrote {args.csv} ({len(rows)} runs).", file=sys.stderr)
    if args.json:
        header, body = table(rows)
        print(json.dumps([dict(zip(header, line, strict=True)) for line in body], indent=2, default=str))
    elif args.compare:
        print(compare_text(rows))
    return EXIT_OK


def add_runs_options(parser: argparse.ArgumentParser) -> None:
    """The comparison options of ``netbuilder runs`` (registered by netbuilder.cli_train)."""
    parser.add_argument("--compare", nargs="+", metavar="RUN",
                        help="print the settings that differ between these runs (folders, or names under ROOT) "
                             "and their metrics")
    parser.add_argument("--csv", metavar="FILE", help="write the runs table (all runs, or the compared ones) as CSV")


def add_commands(subparsers: Any) -> None:
    """Register sweep and lr-find on an argparse subparsers object."""
    p = subparsers.add_parser("sweep", help="search hyper-parameters with Optuna; each trial is a run folder")
    p.add_argument("file")
    p.add_argument("--param", action="append", default=[], metavar="NAME=SPEC",
                   help="a swept setting or layer parameter: lr=1e-4..1e-1:log, batch_size=32,64,128, "
                        "hidden1.units=32..256 (repeatable)")
    p.add_argument("--trials", type=int, default=20, metavar="N", help="trials this process runs (default 20)")
    p.add_argument("--jobs", type=int, default=1, metavar="K", help="trials run at once in this process")
    p.add_argument("--storage", metavar="URL",
                   help="Optuna storage URL (default: sqlite file study.db in the sweep folder); a shared "
                        "database (postgresql://, mysql://, sqlite on a shared disk) lets several machines work "
                        "on one study: give each the same --storage and --study")
    p.add_argument("--study", metavar="NAME", help="study name (default: the sweep folder's name); an existing "
                                                   "study is joined")
    p.add_argument("--pruner", choices=("median", "none"), default="median",
                   help="stop trials whose metric is worse than the median of earlier trials at the same epoch")
    p.add_argument("--startup-trials", type=int, default=5, metavar="N", dest="startup_trials",
                   help="trials that complete before the pruner may stop any (default 5)")
    p.add_argument("--warmup-epochs", type=int, default=0, metavar="N", dest="warmup_epochs",
                   help="epochs of each trial that are never pruned (default 0)")
    p.add_argument("--metric", help="the metric to optimise (default: the early-stopping monitor, val_loss)")
    p.add_argument("--direction", choices=("min", "max"), help="default: from the metric's name")
    p.add_argument("--seed", type=int, default=0, help="the sampler's seed (default 0)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="stop starting trials after this long")
    p.add_argument("--out", metavar="DIR", help="the sweep folder (an existing one continues its study)")
    p.add_argument("--sweeps", metavar="ROOT", default="sweeps", help="where new sweep folders go (default sweeps)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a fixed setting for every trial, e.g. --set training.epochs=5 (repeatable)")
    p.add_argument("--json", action="store_true", help="print JSON lines: sweep, trial, done")
    p.set_defaults(func=_guard(cmd_sweep))

    p = subparsers.add_parser("lr-find", help="learning-rate range test: suggests a learning rate")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="PLOT.png", help="write the loss-versus-rate plot")
    p.add_argument("--start", type=float, default=1e-7, help="lowest rate tried (default 1e-7)")
    p.add_argument("--end", type=float, default=10.0, help="highest rate tried (default 10)")
    p.add_argument("--steps", type=int, default=100, help="batches, each at a higher rate (default 100)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a setting for the test, e.g. --set training.optimizer=sgd (repeatable)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(cmd_lr_find))

