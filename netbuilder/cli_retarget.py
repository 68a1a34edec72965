"""``netbuilder retarget``: transfer learning's two edits from the command line, a new classifier head for your
classes and frozen early layers, written to a new ``.nbg`` (the same edits the app's inspector makes)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from netbuilder.cli import EXIT_OK, CliError, _load, _positive_int


def cmd_retarget(args: argparse.Namespace) -> int:
    from netbuilder.importers.retarget import RetargetError, retarget
    from netbuilder.io import SaveError, save_document

    out = Path(args.output)
    if out.suffix.lower() != ".nbg":
        raise CliError(f"The output must be a .nbg file; got {out}.")
    if out.exists() and not args.force and out.resolve() != Path(args.file).resolve():
        raise CliError(f"{out} exists; use --force to replace it.")
    doc = _load(args.file)
    try:
        network = doc.network(args.network) if args.network else doc.network()
    except Exception:
        raise CliError(f"{args.file} has no network {args.network!r}.") from None
    try:
        report = retarget(network, args.classes, freeze=args.freeze, output=args.output_node)
    except RetargetError as error:
        raise CliError(str(error)) from None
    _keep_relative_paths(doc, Path(args.file), out)
    try:
        save_document(doc, out)
    except SaveError as error:
        raise CliError(str(error)) from None
    if args.json:
        print(json.dumps({"file": str(out), "network": network.name, "head": report.head,
                          "replaced": report.replaced, "classes": report.classes, "frozen": report.frozen}, indent=2))
    else:
        print(report.summary())
        print(f"Wrote {out}.")
    return EXIT_OK


def _keep_relative_paths(doc: Any, source: Path, target: Path) -> None:
    """A transfer source written relative to the old file must still name the same file from the new one."""
    training = doc.settings.get("training") or {}
    transfer = training.get("transfer") or {}
    path = transfer.get("source") if isinstance(transfer, dict) else None
    if not path or Path(path).is_absolute() or source.resolve().parent == target.resolve().parent:
        return
    absolute = (source.resolve().parent / path).resolve()
    transfer["source"] = str(absolute)


def add_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "retarget", help="transfer learning: a new classifier head for your classes, early layers frozen",
        description="Replace the layer that sets the class count (the last Linear or convolution before the "
        "class Output) by one with --classes outputs and a new name, so training starts every other layer from "
        "the imported weights and the head from scratch; --freeze LAYER also freezes that layer and every layer "
        "before it. Writes a new .nbg file.")
    p.add_argument("file")
    p.add_argument("--classes", type=_positive_int, required=True, metavar="K", help="number of your classes")
    p.add_argument("--freeze", metavar="LAYER", help="freeze this layer and every layer before it")
    p.add_argument("--output-node", metavar="NAME", help="the class Output (default: the only logits or "
                   "probabilities Output)")
    p.add_argument("--network", help="which network of the document (default: the first)")
    p.add_argument("--output", "-o", required=True, metavar="OUT.nbg")
    p.add_argument("--force", action="store_true", help="replace an existing output file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_retarget)


__all__ = ["add_commands", "cmd_retarget"]
