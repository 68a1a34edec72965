"""Training commands of the ``netbuilder`` CLI: ``datasets``, ``train``, ``evaluate``, ``predict`` and ``runs``.

``netbuilder.cli`` registers them with `add_commands`; `main` runs them on their own (handy in tests). A file may
carry its own data and training settings (``settings["data"]``, ``settings["training"]``); flags override them.
With ``--json`` each command prints JSON only (``train``: one object per line). Exit codes follow the main CLI:
0 success, 1 training or evaluation failed (the error is printed), 2 bad usage or unreadable input.

Under ``torchrun --nproc_per_node=N netbuilder train ...`` every process trains its share of each batch and only
rank 0 prints and writes the run folder.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Usage(Exception):
    """Bad input from the command line: printed in one line, exit code 2."""


def _load_document(path: str) -> Any:
    from netbuilder.io import LoadError, load_document

    try:
        return load_document(path)  # missing files, folders and unreadable files are LoadErrors too
    except LoadError as error:
        raise _Usage(str(error)) from None


def _rank() -> int:
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


def _number(value: float) -> str:
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3e}"
        return f"{value:.4f}"
    return str(value)


def _json(data: dict[str, Any], stream: TextIO = sys.stdout) -> None:
    stream.write(json.dumps(data, default=_plain) + "\n")
    stream.flush()


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return str(value)


# ---------------------------------------------------------------------------------------------------------------
# datasets


def cmd_datasets(args: argparse.Namespace) -> int:
    from netbuilder.data import list_datasets

    infos = list_datasets()
    if args.json:
        print(json.dumps([{"id": i.id, "title": i.title, "task": i.task, "sample_shape": list(i.sample_shape),
                           "dtype": i.dtype, "num_classes": i.num_classes, "samples": getattr(i, "samples", None),
                           "description": i.description} for i in infos], indent=2))
        return EXIT_OK
    width = max(len(i.id) for i in infos)
    for info in infos:
        shape = "×".join(map(str, info.sample_shape)) + (" ids" if info.dtype == "int64" else "")
        classes = f", {info.num_classes} classes" if info.num_classes and info.task == "classification" else ""
        print(f"{info.id:{width}s}  {info.task:15s} {shape:10s} {info.title}{classes}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------------------
# train


def _flag_dest(entry: Any) -> str:
    return f"setting:{entry.id}"


def _raw_settings(doc: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of the file's settings["training"] and settings["data"] as mappings."""
    settings = copy.deepcopy(doc.settings or {})
    training = settings.get("training") or {}
    data = settings.get("data") or {}
    if isinstance(data, str):
        data = {"source": data}
    if not isinstance(training, dict) or not isinstance(data, dict):
        return training, data  # TrainConfig reports what is wrong
    return training, data


def _set_items(items: list[str]) -> list[tuple[Any, str, str]]:
    """``--set section.key=VALUE`` -> (entry or None for a data loader option, key, value); _Usage if unknown."""
    from netbuilder.train import schema
    from netbuilder.train import settings_check as check

    result = []
    ids = [entry.id for entry in schema.SETTINGS]
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise _Usage(f"--set {item!r}: write it as KEY=VALUE, e.g. --set training.lr=0.01.")
        try:
            result.append((schema.setting(key), key, value))
            continue
        except KeyError:
            pass
        section, _dot, name = key.partition(".")
        if section == "data" and name and "." not in name:  # a loader option, e.g. data.target (checked on load)
            result.append((None, name, value))
            continue
        hint = check.suggestion(key, ids) or check.suggestion(f"training.{key}", ids)
        raise _Usage(f"--set {key}: unknown setting{hint}. See docs/settings.md for every setting.".replace("?.", "?"))
    return result


def _config(doc: Any, args: argparse.Namespace) -> Any:
    """The run's TrainConfig: the file's settings, then ``--set`` items, then flags. The file's other settings
    are kept, its data options and class filter included when ``--data`` names another source."""
    from netbuilder.train import ConfigError, TrainConfig, schema
    from netbuilder.train import settings_check as check

    training, data = _raw_settings(doc)
    changes: list[tuple[Any, str, Any, str]] = []  # (entry, key, value, where)
    for entry, key, value in _set_items(getattr(args, "set", None) or []):
        changes.append((entry, key, value, f"--set {key}"))
    for entry in schema.SETTINGS:
        value = getattr(args, _flag_dest(entry), None)
        if value is not None:
            changes.append((entry, entry.key, value, entry.cli_flag))
    for entry, key, value, where in changes:
        if entry is None:
            data = dict(data) if isinstance(data, dict) else {}
            data[key] = value
            continue
        try:
            if entry.type == "losses" and not where.startswith("--set"):  # --loss changes, --set replaces
                parsed = _merge_losses(training, value, where)
            else:
                parsed = check.parse(entry, value, where)
        except ConfigError as error:
            raise _Usage(str(error)) from None
        target = training if entry.section == "training" else data
        if not isinstance(target, dict):
            continue  # the file's section is not a mapping: TrainConfig says so below
        if entry.id == "data.source":
            from netbuilder.data.sources import resolve_source

            parsed = resolve_source(parsed, None, None)  # a path typed on the command line means the current folder
            for alias in schema.DATA_ALIASES:  # the file's "path"/"id" would name a second source
                target.pop(alias, None)
            if getattr(args, _flag_dest(schema.setting("data.format")), None) is None:
                target.pop("format", None)  # the new source's format follows from its name
        schema.set_path(target, entry.path, parsed)
    if isinstance(training, dict) and not training.get("name") and not doc.info.title:
        training["name"] = os.path.splitext(os.path.basename(args.file))[0]  # name the run folder after the file
    return TrainConfig.from_dict(training, data)


def _merge_losses(training: Any, value: list[str] | str, where: str) -> list[dict[str, Any]]:
    """``--loss NAME`` sets every output's loss; ``--loss OUTPUT=NAME`` one output's (other fields are kept)."""
    from netbuilder.train import settings_check as check

    current = check.parse_losses(training.get("losses") if isinstance(training, dict) else None)
    for item in [value] if isinstance(value, str) else value:
        for record in check.parse_losses(item, where):
            output, loss = record["output"], record["loss"]
            for existing in current:
                if output == "" or existing["output"] == output:
                    existing["loss"] = loss
            if not any(existing["output"] == output for existing in current):
                current.append({"output": output, "loss": loss})
    return current


class _Progress:
    """A one-line progress bar on stderr (only when it is a terminal) and one line per epoch."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.live = stream.isatty()
        self.total = 0
        self.epochs = 0
        self.width = 0

    def start(self, total: int, epochs: int) -> None:
        self.total, self.epochs = total, epochs

    def batch(self, event: Any) -> None:
        if not self.live or not self.total:
            return
        done = (event.epoch - 1) * event.batches + event.batch
        share = min(1.0, done / self.total)
        bar = "#" * int(share * 24)
        text = (f"\r[{bar:24s}] {share * 100:3.0f}%  epoch {event.epoch}/{self.epochs}  loss {_number(event.loss)}"
                f"  {event.samples_per_s:,.0f} samples/s")
        self.width = max(self.width, len(text))
        self.stream.write(text.ljust(self.width))
        self.stream.flush()

    def line(self, text: str) -> None:
        if self.live and self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()


def cmd_train(args: argparse.Namespace) -> int:
    from netbuilder.train import ConfigError, Trainer
    from netbuilder.train import events as ev

    main_rank = _rank() == 0
    out: TextIO = sys.stdout
    doc = _load_document(args.file)
    try:
        config = _config(doc, args)
    except ConfigError as error:
        return _report_error(args, str(error), "Fix the file's training settings or the flags.")
    run_dir = args.out
    if run_dir and os.path.isdir(run_dir) and os.listdir(run_dir) and not args.resume:
        raise _Usage(f"{run_dir} is not empty; choose a new folder for the run (or --resume a checkpoint in it).")
    trainer = Trainer(doc, config, run_root=args.runs, run_dir=run_dir, resume_from=args.resume)
    progress = _Progress(sys.stderr)
    started = time.perf_counter()
    code = EXIT_FAILED
    for event in trainer.events():
        if not main_rank:
            if isinstance(event, ev.Done | ev.Error):
                code = EXIT_OK if isinstance(event, ev.Done) else EXIT_FAILED
            continue
        if args.json:
            _json_event(event, out)
        else:
            _text_event(event, progress)
        if isinstance(event, ev.Done):
            code = EXIT_OK
            if not args.json:
                _summary(event, progress, time.perf_counter() - started)
        elif isinstance(event, ev.Error):
            code = EXIT_FAILED
    return code


def _json_event(event: Any, out: TextIO) -> None:
    from netbuilder.train import events as ev

    if isinstance(event, ev.EpochEnd):
        _json({"event": "epoch", "epoch": event.epoch, "metrics": event.metrics}, out)
    elif isinstance(event, ev.Done):
        _json({"event": "done", "run_dir": event.run_dir, "metrics": event.metrics, "epochs": event.epochs_completed,
               "stopped_early": event.stopped_early, "best_epoch": event.best_epoch, "monitor": event.monitor,
               "test_metrics": event.test_metrics}, out)
    elif isinstance(event, ev.Error):
        _json({"event": "error", "message": event.message, "step": event.step, "epoch": event.epoch,
               "suggestion": event.suggestion, "run_dir": event.run_dir}, out)
    elif isinstance(event, ev.RunStarted):
        _json({"event": "start", "run_dir": event.run_dir, "recipe": event.recipe, "device": event.device,
               "epochs": event.epochs, "start_epoch": event.start_epoch, "parameters": event.parameters,
               "world_size": event.world_size}, out)
    elif isinstance(event, ev.Warning):
        _json({"event": "warning", "message": event.message}, out)
    elif isinstance(event, ev.TestEnd):
        _json({"event": "test", "epoch": event.epoch, "weights": event.weights, "metrics": event.metrics}, out)
    elif isinstance(event, ev.Stage):
        _json({"event": "stage", "name": event.name, "description": event.description}, out)
    elif isinstance(event, ev.Samples) and event.sample_kind == "text":
        _json({"event": "samples", "epoch": event.epoch, "text": event.payload}, out)


def _text_event(event: Any, progress: _Progress) -> None:
    from netbuilder.train import events as ev

    if isinstance(event, ev.RunStarted):
        progress.start(event.total_batches - (event.start_epoch - 1) * event.batches_per_epoch, event.epochs)
        where = f" -> {event.run_dir}" if event.run_dir else ""
        processes = f" × {event.world_size} processes" if event.world_size > 1 else ""
        progress.line(f"Training {event.recipe} on {event.data.get('id', 'data')} ({event.parameters:,} "
                      f"parameters, {event.device}{processes}){where}")
        source = str((event.config.get("data") or {}).get("source") or "")
        if os.path.isabs(source):  # which file was read, resolved against the document's folder
            progress.line(f"Data: {source}")
    elif isinstance(event, ev.BatchEnd):
        progress.batch(event)
    elif isinstance(event, ev.EpochEnd):
        shown = "  ".join(f"{k} {_number(v)}" for k, v in event.metrics.items() if k != "lr")
        progress.line(f"epoch {event.epoch:>3}/{progress.epochs}  {shown}" + ("  *" if event.best else ""))
    elif isinstance(event, ev.Samples) and event.sample_kind == "text":
        for text in event.payload:
            progress.line("  sample: " + text.replace("\n", " ")[:200])
    elif isinstance(event, ev.Warning):
        progress.line(f"warning: {event.message}")
    elif isinstance(event, ev.TestEnd):
        shown = "  ".join(f"{k} {_number(v)}" for k, v in event.metrics.items())
        progress.line(f"test split (held out until now; {event.weights} weights, epoch {event.epoch}):  {shown}")
    elif isinstance(event, ev.Stage):
        progress.line(f"== {event.description}")
    elif isinstance(event, ev.WeightsLoaded):
        progress.line(f"loaded {len(event.matched)} tensors from {event.source}"
                      + (f"; different shapes: {'; '.join(event.mismatched)}" if event.mismatched else ""))
    elif isinstance(event, ev.Error):
        progress.line(f"error: {event.message}" + (f"\n  {event.suggestion}" if event.suggestion else ""))


def _summary(event: Any, progress: _Progress, seconds: float) -> None:
    why = " (stopped early)" if event.stopped_early else " (stopped)" if event.stopped_by_user else ""
    progress.line(f"Done{why}: {event.epochs_completed} epochs in {seconds:.1f} s.")
    if event.best_epoch is not None and event.best_metric is not None:
        progress.line(f"Best epoch: {event.best_epoch} ({event.monitor or 'monitor'} {_number(event.best_metric)}).")
    for key, value in event.metrics.items():
        if key != "lr":
            progress.line(f"  {key:18s} {_number(value)}")

    if event.run_dir:
        progress.line(f"Run folder: {event.run_dir}")


def _report_error(args: argparse.Namespace, message: str, suggestion: str = "") -> int:
    if getattr(args, "json", False):
        _json({"event": "error", "message": message, "suggestion": suggestion})
    else:
        print(f"error: {message}" + (f"\n  {suggestion}" if suggestion else ""), file=sys.stderr)
    return EXIT_FAILED


# ---------------------------------------------------------------------------------------------------------------
# evaluate, predict, runs


def _failures() -> tuple[type[BaseException], ...]:
    from netbuilder.data import DataError
    from netbuilder.train import ConfigError, RunError, TrainError

    return (TrainError, RunError, ConfigError, DataError)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from netbuilder.train import evaluate
    from netbuilder.train.threads import set_threads

    set_threads(args.threads)

    doc = _load_document(args.file)
    try:
        result = evaluate(doc, args.rundir, data=args.data, split=args.split, weights=args.weights,
                          device=args.device, episodes=args.episodes)
    except _failures() as error:
        return _report_error(args, str(error))
    if args.json:
        print(json.dumps(result, indent=2, default=_plain))
        return EXIT_OK
    print(f"{result['split']} split, {result['samples']} {result.get('unit', 'samples')}, {result['weights']}:")
    if result.get("note"):
        print(f"warning: {result['note']}", file=sys.stderr)
    for key, value in result.items():
        if isinstance(value, float):
            print(f"  {key:20s} {_number(value)}")
    confusion = result.get("confusion")
    if confusion:
        names = result.get("class_names") or [str(i) for i in range(len(confusion))]
        width = max(4, *(len(str(v)) for row in confusion for v in row), *(len(n) for n in names))
        print("confusion (rows: true class, columns: predicted):")
        print(" " * (width + 2) + " ".join(f"{n:>{width}}" for n in names))
        for name, row in zip(names, confusion, strict=True):
            print(f"{name:>{width}}  " + " ".join(f"{v:>{width}}" for v in row))
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    from netbuilder.train import predict
    from netbuilder.train.threads import set_threads

    set_threads(args.threads)

    doc = _load_document(args.file)
    try:
        result = predict(doc, args.rundir, args.input, weights=args.weights, device=args.device,
                         temperature=args.temperature, length=args.length)
    except _failures() as error:
        return _report_error(args, str(error))
    print(f"Using the {result.weights}." + (f"\nwarning: {result.note}" if result.note else ""), file=sys.stderr)
    if args.output:
        from netbuilder.train.sample_files import write_prediction

        try:
            message = write_prediction(result, args.output)
        except (ValueError, OSError) as error:
            return _report_error(args, str(error))
        if args.json:
            _json({"event": "written", "path": args.output, "message": message})
        else:
            print(message)
        return EXIT_OK
    if args.json:
        print(json.dumps(result.to_dict(), default=_plain))
        return EXIT_OK
    if result.text is not None:
        print(result.text)
    elif result.episode is not None:
        from netbuilder.train.episodes import describe

        print(describe(result.episode))
    elif result.labels is not None:
        assert result.probabilities is not None
        for index, (label, row) in enumerate(zip(result.labels, result.probabilities.tolist(), strict=True)):
            print(f"{index}: {label}  (p = {max(row):.3f})")
    else:
        for name, value in result.outputs.items():
            print(f"{name}: {'×'.join(map(str, value.shape))}")
            print(value)
    return EXIT_OK


def cmd_runs(args: argparse.Namespace) -> int:
    from netbuilder.train import list_runs

    if getattr(args, "compare", None) or getattr(args, "csv", None):
        from netbuilder.cli_experiments import cmd_compare

        return cmd_compare(args)

    runs = list_runs(args.root)
    if args.json:
        print(json.dumps([run.to_dict() for run in runs], indent=2, default=_plain))
        return EXIT_OK
    if not runs:
        print(f"No runs in {args.root}.")
        return EXIT_OK
    for run in runs:
        info = run.to_dict()
        metrics = info["metrics"]
        key = next((k for k in ("val_accuracy", "val_return", "val_loss", "train_loss") if k in metrics), None)
        shown = f"{key} {_number(metrics[key])}" if key else ""
        print(f"{run.name:40s} {info['status']:10s} {info['recipe'] or '':24s} {info['epochs']:>4} epochs  {shown}")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------------------


def cmd_settings(args: argparse.Namespace) -> int:
    from netbuilder.train import schema
    from netbuilder.train.settings_doc import markdown

    if args.markdown:
        print(markdown(), end="")
        return EXIT_OK
    if args.json:
        print(json.dumps([{"key": s.id, "flag": s.cli_flag, "type": s.type, "default": s.default,
                           "allowed": s.allowed(), "choices": list(s.choices), "doc": s.doc}
                          for s in schema.SETTINGS], indent=2))
        return EXIT_OK
    width = max(len(s.id) for s in schema.SETTINGS)
    for entry in schema.SETTINGS:
        default = "empty" if entry.default in (None, "", [], {}) else json.dumps(entry.default)
        print(f"{entry.id:{width}s}  {entry.cli_flag:24s} {default:10s} {entry.allowed()}")
    return EXIT_OK


def _guard(function: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(function(args))
        except _Usage as error:
            if getattr(args, "json", False):
                _json({"event": "error", "message": str(error)})
            else:
                print(f"netbuilder: {error}", file=sys.stderr)
            return EXIT_USAGE
    return run


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting of the schema (netbuilder.train.schema), plus --set KEY=VALUE for any of them."""
    from netbuilder.train import schema

    settings = parser.add_argument_group("settings (override the file's; see docs/settings.md)")
    for entry in schema.SETTINGS:
        default = "empty" if entry.default in (None, "", [], {}) else json.dumps(entry.default)
        help_text = f"{entry.doc} [{entry.allowed()}; default {default}]".replace("%", "%%")
        if entry.type == "bool":
            settings.add_argument(entry.cli_flag, dest=_flag_dest(entry), action=argparse.BooleanOptionalAction,
                                  default=None, help=help_text)
            continue
        if entry.type == "choice" and len(entry.choices) <= 6:
            metavar = "|".join(entry.choices)
        else:
            metavar = {"int": "N", "float": "X", "choice": "NAME", "losses": "[OUTPUT=]LOSS", "mapping": "JSON",
                       "device": "auto|cpu|cuda|cuda:N|mps"}.get(entry.type, "VALUE")
        if entry.id == "data.source":
            metavar = "ID|PATH"
        action = "append" if entry.type == "losses" else "store"
        settings.add_argument(entry.cli_flag, dest=_flag_dest(entry), metavar=metavar, action=action,
                              help=help_text)
    settings.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                          help="any setting by its key, e.g. --set training.lr=0.01 or --set data.target=label "
                               "(repeatable)")


def add_commands(subparsers: Any) -> None:
    """Register datasets, train, evaluate, predict and runs on an argparse subparsers object."""
    p = subparsers.add_parser("datasets", help="list the bundled data sets")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(cmd_datasets))

    p = subparsers.add_parser("train", help="train a .nbg file; writes a run folder (progress bar, or --json lines)")
    p.add_argument("file")
    _add_setting_flags(p)
    p.add_argument("--out", metavar="RUNDIR", help="write the run into this folder (default: runs/<time>-<name>)")
    p.add_argument("--runs", metavar="ROOT", default="runs", help="where new run folders go (default: runs)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue from a checkpoint file or a run folder")
    p.add_argument("--json", action="store_true", help="print JSON lines: start, epoch, warning, done or error")
    p.set_defaults(func=_guard(cmd_train))

    p = subparsers.add_parser("evaluate", help="metrics of a trained run on its held-out data")
    p.add_argument("file")
    p.add_argument("rundir")
    p.add_argument("--data", metavar="ID|PATH", help="evaluate on this data instead (all of it)")
    p.add_argument("--split", default="auto", choices=("auto", "train", "val", "test"))
    p.add_argument("--episodes", type=int, metavar="N", help="agents: greedy episodes to average the return over "
                                                            "(default: the run's rl.test_episodes)")
    p.add_argument("--weights", default="best", choices=("best", "final", "latest"),
                   help="the best epoch's checkpoint (default), the final weights, or the latest checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads (default 0: automatic)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(cmd_evaluate))

    p = subparsers.add_parser("predict", help="run a trained network on an input file, image or text prompt")
    p.add_argument("file")
    p.add_argument("rundir")
    p.add_argument("input", help=".npy or .csv file, an image, a text prompt (language models), a sample count "
                                 "(GANs, VAEs) or an episode seed (agents)")
    p.add_argument("-o", "--output", metavar="PATH",
                   help="write the result to a file: images (GAN/VAE samples, autoencoder reconstructions) as a "
                        "PNG grid, generated text as .txt, an agent's episode as .gif (or a .png strip), anything "
                        "else as .json or .npy")
    p.add_argument("--weights", default="best", choices=("best", "final", "latest"),
                   help="the best epoch's checkpoint (default), the final weights, or the latest checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--temperature", type=float)
    p.add_argument("--length", type=int, help="characters to generate (language models)")
    p.add_argument("--threads", type=int, default=0, metavar="N", help="CPU threads (default 0: automatic)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(cmd_predict))

    p = subparsers.add_parser("settings", help="list every training and data setting: key, flag, default, values")
    p.add_argument("--markdown", action="store_true", help="print the reference page docs/settings.md")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_guard(cmd_settings))

    p = subparsers.add_parser("runs", help="list the training runs in a folder")
    p.add_argument("root", nargs="?", default="runs")
    p.add_argument("--json", action="store_true")
    from netbuilder.cli_experiments import add_runs_options  # here, not at the top: it imports this module

    add_runs_options(p)
    p.set_defaults(func=_guard(cmd_runs))


def main(argv: list[str] | None = None) -> int:
    """Run one training command, e.g. ``main(["train", "net.nbg", "--json"])``."""
    parser = argparse.ArgumentParser(prog="netbuilder")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
