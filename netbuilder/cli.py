"""The ``netbuilder`` command: opens the app with no arguments (or a file), and offers the core as commands.

Exit codes: 0 success, 1 the network/data has problems (diagnostics printed), 2 bad usage or unreadable input.
Errors are one or a few plain lines on stderr; ``--debug`` shows the traceback for bug reports.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
from pathlib import Path
from typing import Any

from netbuilder import __version__
from netbuilder.fs.names import safe_file_name
from netbuilder.lazy_modules import defer as defer_import

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


class CliError(Exception):
    """A problem to report in one line, with an exit code."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def _human(number: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(number) >= scale:
            return f"{number / scale:.1f}{unit}"
    return str(int(number))


def _positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1, refused in words otherwise."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _load(path: str) -> Any:
    from netbuilder.io import LoadError, load_document

    try:
        return load_document(path)  # missing files, folders and unreadable files are LoadErrors too
    except LoadError as error:
        raise CliError(str(error)) from None


def _output_file(text: str, example: str, suffix: str = "") -> Path:
    """Where to write: a file path, with ``suffix`` added to its stem (one file per network). A folder is
    refused with an example of what to give instead."""
    path = Path(text)
    if not path.name or path.is_dir():
        raise CliError(f"{text} is a folder; give a file name such as {path / example}.")
    return path.with_name(path.stem + suffix + path.suffix) if suffix else path


def _diagnostics(doc: Any) -> list[Any]:
    from netbuilder.analysis import analyze

    return [d for net in doc for d in analyze(net).diagnostics]


def cmd_validate(args: argparse.Namespace) -> int:
    from netbuilder.train.settings_check import settings_problems

    doc = _load(args.file)
    problems = _diagnostics(doc)
    setting_errors = settings_problems(doc.settings)  # unknown or misspelt keys, values that cannot be used
    errors = [d for d in problems if d.severity == "error"] + setting_errors
    if args.json:
        print(json.dumps({"file": args.file, "valid": not errors, "diagnostics": [d.to_dict() for d in problems],
                          "settings": [{"severity": "error", "location": where, "message": message}
                                       for where, message in setting_errors]}, indent=2))
    else:
        for d in problems:
            print(f"{d.severity}: {d.network}/{d}")
        for where, message in setting_errors:
            print(f"error: {where}: {message}")
        count, warnings = len(errors), len(problems) + len(setting_errors) - len(errors)
        print(f"{args.file}: " + ("valid" if not errors else f"{count} error{'s' if count != 1 else ''}")
              + (f", {warnings} warning(s)" if warnings else ""))
    return EXIT_INVALID if errors else EXIT_OK


def cmd_summary(args: argparse.Namespace) -> int:
    from netbuilder.analysis import analyze
    from netbuilder.analysis.per_token import cost_at_length, human

    doc = _load(args.file)
    report: dict[str, Any] = {"file": args.file, "networks": []}
    for net in doc:
        result = analyze(net)
        cost = cost_at_length(net, args.length) if result.ok else None  # variable length: per token instead of 0
        rows = []
        for node_id in result.order:
            node, info = net.node(node_id), result.nodes[node_id]
            rows.append({"name": node.name, "type": f"{node.block} (block)" if node.block else node.type,
                         "output_shape": [list(t.shape) for t in info.outputs.values()][0] if info.outputs else None,
                         "params": info.params, "macs": info.macs,
                         "trainable": node.trainable, "in_model": result.in_model(node_id)})
            if cost is not None:
                rows[-1]["macs_per_token"] = round(cost.node_per_token(node_id))
        report["networks"].append({"name": net.name, "nodes": rows, "total_params": result.total_params,
                                   "total_macs": result.total_macs, "valid": result.ok,
                                   "diagnostics": [d.to_dict() for d in result.diagnostics]})
        if cost is not None:
            report["networks"][-1].update({"macs_per_token": round(cost.per_token), "macs_length": cost.length,
                                           "macs_at_length": cost.total})
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for net_report in report["networks"]:
            print(f"Network {net_report['name']}")
            per_token = "macs_per_token" in net_report
            column = "macs/token" if per_token else "mult-adds"
            print(f"  {'name':<20} {'type':<24} {'output shape':<20} {'params':>10} {column:>12}")
            for row in net_report["nodes"]:
                shape = "×".join(map(str, row["output_shape"])) if row["output_shape"] else "?"
                left_out = "" if row["in_model"] else "  (left out: feeds no Output)"
                macs = row.get("macs_per_token", row["macs"])
                print(f"  {row['name']:<20} {row['type']:<24} {shape:<20} {row['params']:>10,} {macs:>12,}"
                      f"{left_out}")
            if per_token:
                cost_text = (f"{human(net_report['macs_per_token'])} multiply-adds per token (per step; "
                             f"{human(net_report['macs_at_length'])} for a sequence of {net_report['macs_length']})")
            else:
                cost_text = f"{net_report['total_macs']:,} multiply-adds per sample"
            print(f"  total: {net_report['total_params']:,} parameters ({_human(net_report['total_params'])}), "
                  f"{cost_text}")
            for d in net_report["diagnostics"]:
                print(f"  {d['severity']}: {d.get('node_name') or net_report['name']}: {d['message']}")
    return EXIT_OK if all(n["valid"] for n in report["networks"]) else EXIT_INVALID


def cmd_templates(args: argparse.Namespace) -> int:
    from netbuilder.templates import list_templates

    templates = list_templates()
    if args.json:
        print(json.dumps([{"id": t.id, "title": t.title, "description": t.description} for t in templates],
                         indent=2))
    else:
        width = max(len(t.id) for t in templates)
        for t in templates:
            print(f"{t.id:<{width}}  {t.title} — {t.description}")
    return EXIT_OK


def cmd_new(args: argparse.Namespace) -> int:
    from netbuilder.io import SaveError, save_document
    from netbuilder.templates import TemplateError, load_template

    try:
        doc = load_template(args.template)
    except TemplateError as error:
        raise CliError(str(error)) from None
    out = _output_file(args.output, f"{args.template}.nbg")
    if out.exists() and not args.force:
        raise CliError(f"{out} exists; use --force to replace it.")
    try:
        save_document(doc, out)
    except SaveError as error:
        raise CliError(str(error)) from None
    print(f"Wrote {out} from template {args.template!r}.")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from netbuilder.export import ExportError, export_onnx, export_pytorch_code
    from netbuilder.export.preprocessing import Preprocessed

    doc = _load(args.file)
    if not args.onnx and not args.pytorch:
        raise CliError("Say what to export: --onnx OUT.onnx and/or --pytorch OUT.py.")
    try:
        net = doc.network(args.network) if args.network else None
    except ValueError as error:
        raise CliError(str(error)) from None
    targets = [net] if net is not None else list(doc)
    if len(targets) > 1 and (args.onnx or args.pytorch):
        names = ", ".join(n.name for n in targets)
        print(f"The document has several networks ({names}); exporting each to its own file.", file=sys.stderr)
    trained = _TrainedRun(args.run, doc) if args.run else None
    results: list[dict[str, Any]] = []
    for target in targets:
        suffix = f"-{safe_file_name(target.name)}" if len(targets) > 1 else ""  # a name is never a path
        try:
            source: Any = target
            baked = ""
            plan = None
            units = ""
            if trained is not None:
                source, plan, baked = trained.module(target, args.bake_preprocessing)
                units = trained.units
            if args.onnx:
                path = _output_file(args.onnx, "model.onnx", suffix)
                report = export_onnx(source, path)
                results.append({"network": target.name, "onnx": str(path), "exporter": report.exporter,
                                "opset": report.opset, "max_abs_diff": report.max_abs_diff, "ok": report.ok,
                                "parity_batch": report.parity_batch, **({"preprocessing": baked} if baked else {})})
                if not args.json:
                    verdict = "matches" if report.ok else "DIFFERS FROM"
                    print(f"{target.name}: wrote {path} ({report.exporter} exporter, opset {report.opset}); "
                          f"onnx.checker passed; onnxruntime {verdict} torch: max |diff| = "
                          f"{report.max_abs_diff:.2e} at batch {report.parity_batch}")
            if args.pytorch:
                path = _output_file(args.pytorch, "model.py", suffix)
                bare = source.network if isinstance(source, Preprocessed) else source
                export_pytorch_code(bare, path, preprocessing=plan if args.bake_preprocessing else None,
                                    units=units)
                results.append({"network": target.name, "pytorch": str(path),
                                **({"preprocessing": baked} if baked else {})})
                if not args.json:
                    print(f"{target.name}: wrote {path}")
            if baked and not args.json:
                print(f"{target.name}: {baked}")
        except ExportError as error:
            raise CliError(str(error), EXIT_INVALID) from None
    if args.json:
        print(json.dumps(results, indent=2))
    return EXIT_OK if all(r.get("ok", True) for r in results) else EXIT_INVALID


class _TrainedRun:
    """A run folder whose weights (final) and preprocessing an export uses."""

    def __init__(self, run_dir: str, doc: Any):
        from netbuilder.train import RunError, load_run
        from netbuilder.train.runs import read_preprocessing

        try:
            self.run = load_run(run_dir)
            self.weights = self.run.weights("final")
            self.preprocessing = read_preprocessing(self.run.path)
        except RunError as error:
            raise CliError(str(error), EXIT_INVALID) from None
        self.units = self.preprocessing.units if self.preprocessing is not None else ""
        self.gan = {"generator", "discriminator"} <= set(doc.networks)

    def module(self, network: Any, bake_preprocessing: bool) -> tuple[Any, Any, str]:
        """(the network compiled with the run's weights, baked or not; the bake plan; what was done, in words)."""
        from netbuilder.compile import CompileError, compile_network
        from netbuilder.export import ExportError
        from netbuilder.export.preprocessing import bake, not_baked, plan

        try:
            compiled = compile_network(network)
        except CompileError as error:
            raise ExportError(f"Cannot export: {error}") from None
        state = self.weights.get(network.name) or (next(iter(self.weights.values())) if len(self.weights) == 1
                                                    else None)
        if state is None:
            raise ExportError(f"The run {self.run.path} has no weights for network {network.name!r}.")
        try:
            compiled.load_state_dict(state)
        except RuntimeError as error:
            raise ExportError(f"The run's weights do not fit network {network.name!r}: "
                              f"{str(error).strip().splitlines()[-1].strip()}") from None
        generator = self.gan and network.name == "generator"
        chosen = plan(compiled.netbuilder, self.preprocessing, generator)
        if not bake_preprocessing:
            return compiled, chosen, not_baked(self.preprocessing)
        baked, text = bake(compiled, self.preprocessing, generator)
        return baked, chosen, text


def cmd_render(args: argparse.Namespace) -> int:
    doc = _load(args.file)
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".svg"):
        raise CliError("The output must end in .png or .svg.")
    try:
        from netbuilder_ui.canvas import render_network
    except ImportError as error:
        raise CliError(f"Rendering needs the desktop part of NetBuilder (PySide6): {error}.") from None
    names = [args.network] if args.network else list(doc.networks)
    for name in names:
        if name not in doc.networks:
            raise CliError(f"There is no network named {name!r}; the file has {', '.join(doc.networks)}.")
        path = out if len(names) == 1 else out.with_name(f"{out.stem}-{safe_file_name(name)}{out.suffix}")
        render_network(doc, name, path)
        print(f"Wrote {path}")
    return EXIT_OK


def open_app(files: list[str]) -> int:
    # Start-up creates a few hundred thousand long-lived objects (modules, Qt enums, specs); automatic collection
    # would walk them several times before the first paint (~10 % of start-up). The app's GUI-thread collector
    # (netbuilder_ui.gc_guard) takes collection over once the window exists.
    gc.disable()
    defer_import("networkx")  # the window paints first; the document (a networkx graph) opens right after
    try:
        from netbuilder_ui.app import run_app
    except ImportError as error:
        gc.enable()
        raise CliError(f"The desktop app needs PySide6 and pyqtgraph: {error}. "
                       "Install with: pip install -e .") from None
    return run_app(files)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netbuilder", description="Design, train and export neural networks. With no command (or a .nbg "
        "file) it opens the app.")
    parser.add_argument("--version", action="version", version=f"NetBuilder {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check a .nbg file; exit 1 with diagnostics when invalid")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("summary", help="per node: output shape, parameters, multiply-adds; totals")
    p.add_argument("file")
    p.add_argument("--length", type=_positive_int, metavar="L",
                   help="for a variable-length network: count multiply-adds for sequences of L steps "
                        "(default: 128, or the longest the network accepts); reported per token and per sequence")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("templates", help="list the example networks")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("new", help="write a new .nbg file from a template")
    p.add_argument("--template", "-t", required=True, metavar="ID")
    p.add_argument("--output", "-o", required=True, metavar="FILE")
    p.add_argument("--force", action="store_true", help="replace an existing file")
    p.set_defaults(func=cmd_new)

    p = sub.add_parser("export", help="export to ONNX (checked, with an onnxruntime parity run) or PyTorch code")
    p.add_argument("file")
    p.add_argument("--onnx", metavar="OUT.onnx")
    p.add_argument("--pytorch", metavar="OUT.py")
    p.add_argument("--network", help="which network of the document (default: all)")
    p.add_argument("--run", metavar="RUNDIR", help="export with this training run's weights and preprocessing")
    p.add_argument("--bake-preprocessing", action=argparse.BooleanOptionalAction, default=True,
                   dest="bake_preprocessing",
                   help="with --run: put the run's input scaling (and the inverse on regression, reconstruction "
                        "and generated outputs) into the exported graph, so it takes data in its own units "
                        "(default: on; the report says which)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("render", help="draw a network as a PNG or SVG diagram (no window)")
    p.add_argument("file")
    p.add_argument("--output", "-o", required=True, metavar="OUT.png|OUT.svg")
    p.add_argument("--network", help="which network (default: all, one file each)")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("open", help="open files in the app")
    p.add_argument("files", nargs="*")
    p.set_defaults(func=lambda a: open_app(a.files))

    from netbuilder.cli_import import add_commands as add_import_command

    add_import_command(sub)
    from netbuilder.cli_retarget import add_commands as add_retarget_command

    add_retarget_command(sub)

    try:
        from netbuilder.cli_train import add_commands
    except ImportError:  # training commands ship with the training engine
        pass
    else:
        add_commands(sub)
        from netbuilder.cli_experiments import add_commands as add_experiment_commands

        add_experiment_commands(sub)
    from netbuilder.cli_explain import add_commands as add_explain

    add_explain(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    commands = set(parser._subparsers._group_actions[0].choices) if parser._subparsers else set()  # type: ignore[union-attr]
    if not argv or (argv[0] not in commands and not argv[0].startswith("-")):
        argv = ["open", *argv]
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CliError as error:
        print(f"netbuilder: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        print("netbuilder: interrupted.", file=sys.stderr)
        return 130
    except Exception as error:  # never a raw traceback for the user
        if args.debug:
            raise
        print(f"netbuilder: unexpected {type(error).__name__}: {error}. Run again with --debug for details.",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    raise SystemExit(main())
