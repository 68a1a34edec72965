"""``netbuilder import``: an ONNX file or a PyTorch module becomes a ``.nbg`` document with its weights beside it.

Exit codes follow `netbuilder.cli`: 0 imported and parity within tolerance; 1 the model cannot be imported as it
is (unsupported operations, each listed; a parity check that failed; too large); 2 bad usage or a file that cannot
be read as a model (missing, damaged, not ONNX).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from netbuilder.cli import EXIT_INVALID, EXIT_OK, EXIT_USAGE, CliError

PYTORCH_HELP = ("module.py:ClassName imports a PyTorch nn.Module by RUNNING that Python file (only import files "
                "you trust; opening a .nbg file never runs code)")


def _parse_shape(text: str) -> tuple[tuple[int, ...], tuple[int, ...] | None]:
    """One sample's sizes, and the axes (1 = the first after the batch) written T: a variable length, traced at
    T=LEN or the default length. None when no axis is written T (the importer then decides)."""
    from netbuilder.importers.pytorch_lengths import DEFAULT_TRACE_LENGTH

    dims: list[int] = []
    variable: list[int] = []
    for part in (p.strip() for p in text.replace("x", ",").replace("×", ",").split(",")):
        if not part:
            continue
        mark, equals, length = part.partition("=")
        if mark.strip().upper() in ("T", "?"):
            variable.append(len(dims) + 1)
            part = length.strip() if equals else str(DEFAULT_TRACE_LENGTH)
        elif equals:
            part = "bad"
        try:
            dims.append(int(part))
        except ValueError:
            raise CliError(f"--input-shape must be sizes separated by commas, with T for a variable length, such as "
                           f"3,224,224 or T,8 (T=64,8 traces at length 64); got {text!r}.") from None
    if not dims or any(d < 1 for d in dims):
        raise CliError(f"--input-shape needs sizes of at least 1, such as 3,224,224; got {text!r}.")
    return tuple(dims), (tuple(variable) if variable else None)


def _parse_args_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as error:
        raise CliError(f"--args must be JSON, such as '[10]' or '{{\"num_classes\": 10}}': {error}.") from None
    if not isinstance(value, list | dict):
        raise CliError("--args must be a JSON list (positional arguments) or object (keyword arguments).")
    return value


def _output_path(args: argparse.Namespace, source: str) -> Path:
    out = Path(args.output) if args.output else Path(Path(source.split(":", 1)[0]).stem + ".nbg")
    if not out.name or out.is_dir():
        raise CliError(f"{out} is a folder; give a file name such as {out / 'model.nbg'}.")
    if out.suffix.lower() != ".nbg":
        raise CliError(f"The output must be a .nbg file; got {out}.")
    for target in (out, out.with_suffix(".safetensors")):
        if target.exists() and not args.force:
            raise CliError(f"{target} exists; use --force to replace it.")
    return out


def _run_import(args: argparse.Namespace) -> Any:
    source: str = args.source
    if source.lower().endswith(".onnx"):
        if args.args is not None or args.input_shape is not None:
            raise CliError("--args and --input-shape are for PyTorch modules (module.py:ClassName); an ONNX file "
                           "declares its own input shape.")
        from netbuilder.importers import import_onnx

        return import_onnx(source, parity=args.parity, blocks=not args.flat)
    if ":" in source and source.split(":", 1)[0].endswith(".py"):
        file, class_name = source.rsplit(":", 1)
        if args.input_shape is None:
            raise CliError("A PyTorch import needs --input-shape, the shape of one sample without the batch, such "
                           "as 3,224,224.")
        try:
            from netbuilder.importers.pytorch import import_pytorch_file
        except ImportError:
            raise CliError("Importing PyTorch modules is not available in this build of NetBuilder; export the "
                           "model to ONNX and import the .onnx file.", EXIT_INVALID) from None
        shape, variable = _parse_shape(args.input_shape)
        return import_pytorch_file(file, class_name, _parse_args_json(args.args), shape, parity=args.parity,
                                   dynamic_axes=variable, blocks=not args.flat)
    raise CliError(f"Cannot tell what {source!r} is: give an ONNX file (MODEL.onnx) or a PyTorch module "
                   "(module.py:ClassName).")


def cmd_import(args: argparse.Namespace) -> int:
    from netbuilder.importers import ModelFileError, ModelImportError, UnsupportedOpsError, save_import
    from netbuilder.io import SaveError

    out = _output_path(args, args.source)
    try:
        result = _run_import(args)
    except UnsupportedOpsError as error:
        if args.json:
            print(json.dumps({"ok": False, **error.to_dict(), "message": str(error)}, indent=2))
        else:
            print(f"netbuilder: {error}", file=sys.stderr)
        return EXIT_INVALID
    except ModelFileError as error:
        raise CliError(str(error)) from None
    except ModelImportError as error:
        if args.json:
            print(json.dumps({"ok": False, "error": "import_failed", "source": args.source, "message": str(error)},
                             indent=2))
        else:
            print(f"netbuilder: {error}", file=sys.stderr)
        return EXIT_INVALID
    try:
        document_file, weights_file = save_import(result, out)
    except SaveError as error:
        raise CliError(str(error)) from None
    ok = result.parity is None or result.parity.ok
    if args.json:
        print(json.dumps({"ok": ok, **result.to_dict(), "document": str(document_file),
                          "weights": str(weights_file)}, indent=2))
    else:
        print(result.summary())
        print(f"Wrote {document_file} and its weights {weights_file}.")
    return EXIT_OK if ok else EXIT_INVALID


def add_commands(subparsers: Any) -> None:
    """Register ``import`` on an argparse subparsers object."""
    p = subparsers.add_parser(
        "import", help="import an ONNX file or a PyTorch module into a .nbg document with its weights",
        description="Import a model into an editable .nbg document; its weights go to a .safetensors file beside "
        "it, and the document starts training from them. MODEL.onnx imports an ONNX file; " + PYTORCH_HELP + ". "
        "After importing, the original and the imported network run on the same random input and the largest "
        "difference is reported (exit 1 when it exceeds 1e-4 relative, or when an operation cannot be imported).")
    p.add_argument("source", metavar="MODEL.onnx|module.py:ClassName")
    p.add_argument("--output", "-o", metavar="OUT.nbg", help="the document to write (default: the model's name "
                   "in the current folder)")
    p.add_argument("--args", metavar="JSON", help="PyTorch only: constructor arguments as a JSON list or object")
    p.add_argument("--input-shape", metavar="C,H,W", help="PyTorch only: one sample's shape, without the batch; "
                   "T marks a variable length (T,8 or 2,T=1000 to trace at 1000). Token ids that feed an "
                   "Embedding are variable without it")
    p.add_argument("--parity", action=argparse.BooleanOptionalAction, default=True,
                   help="compare the original with the imported network on a random input (default: on)")
    p.add_argument("--flat", action="store_true", help="keep every layer at the top level (by default, repeated "
                   "structure such as ResNet bottlenecks becomes blocks)")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--json", action="store_true", help="print the result (or the unsupported operations) as JSON")
    p.set_defaults(func=cmd_import)


__all__ = ["EXIT_USAGE", "add_commands", "cmd_import"]
