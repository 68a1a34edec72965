"""ONNX export, checked: the file is validated by the ONNX checker and run with onnxruntime against PyTorch.

The export runs on a CPU copy of the module in eval mode, so the caller's module (training mode, device,
gradients) is never touched. The batch axis is dynamic, and so is every sequence axis ``T`` of an Input; parity is
checked with a different batch size (and sequence length) than the export used, which proves the axes really are
dynamic. ``torch.onnx.export(dynamo=True)`` is tried first; if it fails, the TorchScript exporter is the fallback,
and the report says which one made the file. Nothing is written to ``path`` unless the export succeeded and the
file passed the checker.
"""

from __future__ import annotations

import copy
import inspect
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

from netbuilder.compile import CompiledInfo, random_inputs, sequence_limit, vocab_size
from netbuilder.document.model import Network
from netbuilder.export.base import ExportError, first_line, quiet, resolve
from netbuilder.export.onnx_axes import (
    declare_output_axes,
    declared_output_shapes,
    declared_shape,
    fixed_input_axes,
    shape_mismatches,
)
from netbuilder.export.onnx_blocks import record_blocks
from netbuilder.io.atomic import SaveError, write_atomic

EXPORT_BATCH = 2  # torch.export treats sizes 0 and 1 as constants, so trace with 2...
EXPORT_SEQ_LEN = 8
PARITY_BATCH = 5  # ...and check with other sizes, so a batch or length baked into the graph shows up
PARITY_SEQ_LEN = 11
TOLERANCE = 1e-4
ONNX_LIMIT = 2**31  # bytes: protobuf's limit on one message, so on one .onnx file

Dim = int | str


@dataclass
class OnnxReport:
    """What an export produced and how well it matches PyTorch. ``ok``: checker passed and max_abs_diff within
    tolerance (each where requested)."""

    path: Path
    exporter: str  # "dynamo" or "torchscript"
    opset: int
    input_names: list[str]
    input_shapes: list[tuple[Dim, ...]]  # as the ONNX file declares them: sizes, or axis names such as "N"
    output_names: list[str]
    output_shapes: list[tuple[Dim, ...]]
    size_bytes: int
    max_abs_diff: float | None  # None when parity was not checked
    parity_batch: int | None
    ok: bool
    checked: bool = False  # passed onnx.checker (full check)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the user."""
        signature = ", ".join(f"{n} {_dims(s)}" for n, s in zip(self.input_names, self.input_shapes, strict=True))
        results = ", ".join(f"{n} {_dims(s)}" for n, s in zip(self.output_names, self.output_shapes, strict=True))
        lines = [f"Wrote {self.path} ({self.size_bytes / 1024:.1f} KiB, opset {self.opset}, {self.exporter} "
                 "exporter).", f"Inputs: {signature}. Outputs: {results}."]
        if self.max_abs_diff is not None:
            verdict = "matches" if self.max_abs_diff <= TOLERANCE else "DOES NOT match"
            lines.append(f"onnxruntime {verdict} PyTorch at batch {self.parity_batch}: largest difference "
                         f"{self.max_abs_diff:.2e}.")
        lines.extend(self.notes)
        return "\n".join(lines)


def export_onnx(
    network_or_module: Network | nn.Module,
    path: str | os.PathLike[str],
    opset: int | None = None,
    check: bool = True,
    parity: bool = True,
    step: Callable[[str], None] | None = None,
) -> OnnxReport:
    """Export a network (compiled here) or a compiled module to an ONNX file and verify it.

    Input names are the Input nodes' names, output names the Output nodes'. ``opset`` None lets the exporter pick
    its default. Raises `ExportError` with a plain message when the network has problems, neither exporter can
    convert it, the checker rejects the result, onnxruntime cannot run it, or the file cannot be written.

    ``step(text)``, when given, is called as each stage starts (for a progress display); it may raise to stop the
    export there, and then nothing is written: the file is written last.
    """
    step = step or _no_step
    step("Compiling the network…")
    module, info = resolve(network_or_module)
    target = Path(path)
    if not target.parent.is_dir():
        raise ExportError(f"Cannot write {target}: the folder {target.parent} does not exist.")
    if target.is_dir():
        raise ExportError(f"Cannot write {target}: it is a folder.")
    _check_size(module)
    model = _cpu_eval_copy(module)
    vocab = vocab_size(model)
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="netbuilder-onnx-") as scratch:
        file = Path(scratch) / "model.onnx"
        export_len, parity_len = _sequence_lengths(model)
        args = random_inputs(info, EXPORT_BATCH, export_len, vocab, seed=0)
        step("Converting to ONNX…")
        exporter = _export(model, args, file, info, opset, notes)
        declare_output_axes(file, info.output_types)  # variable axes by name, not the traced sizes
        record_blocks(file, module)  # which definition each block instance was (the copy lost the marks)
        proto = _load(file)
        checked = False
        if check:
            step("Checking the file with onnx.checker…")
            _check(file)
            checked = True
        diff: float | None = None
        if parity:
            step("Comparing onnxruntime with PyTorch…")
            diff = _parity(model, file, info, vocab, parity_len, notes, declared_output_shapes(proto))
        data = file.read_bytes()
    step("Writing the file…")
    try:
        write_atomic(target, data, what="ONNX file")
    except SaveError as error:
        raise ExportError(str(error)) from None
    ok = diff is None or diff <= TOLERANCE
    return OnnxReport(
        path=target,
        exporter=exporter,
        opset=next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0),
        input_names=[v.name for v in proto.graph.input],
        input_shapes=[declared_shape(v) for v in proto.graph.input],
        output_names=[v.name for v in proto.graph.output],
        output_shapes=[declared_shape(v) for v in proto.graph.output],
        size_bytes=len(data),
        max_abs_diff=diff,
        parity_batch=PARITY_BATCH if parity else None,
        ok=ok,
        checked=checked,
        notes=notes,
    )


def _no_step(_text: str) -> None:
    pass


def _check_size(module: nn.Module) -> None:
    """An ONNX file is one protobuf message, which cannot exceed 2 GB; say so before minutes of exporting."""
    size = sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])
    if size >= ONNX_LIMIT:
        raise ExportError(f"The weights take {size / 1e9:.1f} GB, but an ONNX file holds at most 2 GB. Export a "
                          "smaller network, or export PyTorch code and save the weights as safetensors.")


def _cpu_eval_copy(module: nn.Module) -> nn.Module:
    """A private CPU copy in eval mode: exporting must not change the caller's module in any way."""
    try:
        model = copy.deepcopy(module)
    except Exception as error:
        raise ExportError(f"Cannot export: the module cannot be copied for export ({first_line(error)}).") from None
    return model.to("cpu").eval()


def _export(model: nn.Module, args: tuple[torch.Tensor, ...], file: Path, info: CompiledInfo, opset: int | None,
            notes: list[str]) -> str:
    """Try the dynamo exporter, then TorchScript; return the name of the one that worked."""
    try:
        _export_dynamo(model, args, file, info, opset)
        return "dynamo"
    except Exception as error:
        first = first_line(error)
        details = getattr(error, "nb_log", "")
    notes.append(f"The dynamo exporter failed ({first}); the TorchScript exporter was used instead.")
    file.unlink(missing_ok=True)
    try:
        _export_torchscript(model, args, file, info, opset)
    except Exception as error:
        raise ExportError(
            f"Network {info.network!r} could not be exported to ONNX.\n"
            f"  dynamo exporter: {first}\n  TorchScript exporter: {first_line(error)}",
            details="\n".join(filter(None, [details, getattr(error, "nb_log", "")])),
        ) from None
    return "torchscript"


def _export_dynamo(model: nn.Module, args: tuple[torch.Tensor, ...], file: Path, info: CompiledInfo,
                   opset: int | None) -> None:
    """torch.export-based exporter; batch and sequence axes are torch.export.Dim objects."""
    batch = torch.export.Dim("N")
    seq = torch.export.Dim("T")
    dynamic_shapes = []
    for tensor_type in info.input_types:
        axes = {0: batch}
        axes.update({i: seq for i, d in enumerate(tensor_type.shape) if i > 0 and d == "T"})
        dynamic_shapes.append(axes)
    shapes: tuple[Any, ...] = tuple(dynamic_shapes)
    if _takes_varargs(model):  # e.g. a network with its preprocessing baked in: forward(self, *inputs)
        shapes = (shapes,)  # torch.export wants one spec for the *inputs tuple
    with quiet() as log:
        try:
            # optimize=False: the optimiser folds each batch norm into the convolution before it, which runs the
            # same but leaves no batch norm to fine-tune when the file is imported again (onnxruntime fuses them
            # when it loads the file anyway).
            torch.onnx.export(model, args, str(file), dynamo=True, external_data=False,
                              dynamic_shapes=shapes, input_names=list(info.input_names),
                              output_names=list(info.output_names), opset_version=opset, optimize=False)
        except Exception as error:
            error.nb_log = log.getvalue()  # type: ignore[attr-defined]
            raise
    if not file.is_file():
        raise RuntimeError("the exporter wrote no file")
    fixed = fixed_input_axes(file, info.input_names, info.input_types)
    if fixed:  # a graph specialised to the traced sizes: refuse it, so the TorchScript exporter is tried
        raise RuntimeError(f"it fixed a variable axis ({'; '.join(fixed)})")


def _takes_varargs(model: nn.Module) -> bool:
    parameters = inspect.signature(model.forward).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in parameters)


def _export_torchscript(model: nn.Module, args: tuple[torch.Tensor, ...], file: Path, info: CompiledInfo,
                        opset: int | None) -> None:
    """The older tracing exporter; batch and sequence axes are named through dynamic_axes."""
    dynamic_axes: dict[str, dict[int, str]] = {}
    for name, tensor_type in zip(info.input_names, info.input_types, strict=True):
        dynamic_axes[name] = {0: "N", **{i: "T" for i, d in enumerate(tensor_type.shape) if i > 0 and d == "T"}}
    for name in info.output_names:
        dynamic_axes[name] = {0: "N"}
    with quiet() as log:
        try:
            torch.onnx.export(model, args, str(file), dynamo=False, input_names=list(info.input_names),
                              output_names=list(info.output_names), dynamic_axes=dynamic_axes,
                              opset_version=opset)
        except Exception as error:
            error.nb_log = log.getvalue()  # type: ignore[attr-defined]
            raise
    if not file.is_file():
        raise RuntimeError("the exporter wrote no file")


def _load(file: Path) -> Any:
    import onnx

    try:
        return onnx.load(str(file), load_external_data=False)
    except Exception as error:
        raise ExportError(f"The exporter wrote a file that ONNX cannot read: {first_line(error)}") from None


def _check(file: Path) -> None:
    import onnx

    try:
        onnx.checker.check_model(str(file), full_check=True)
    except Exception as error:
        raise ExportError(f"The exported model failed the ONNX checker: {first_line(error)}") from None


def _sequence_lengths(model: nn.Module) -> tuple[int, int]:
    """Sequence lengths for tracing and for the parity run: different, so a length baked into the graph shows,
    and no longer than the network's PositionalEncodings accept."""
    limit = sequence_limit(model)
    if limit is None:
        return EXPORT_SEQ_LEN, PARITY_SEQ_LEN
    parity = min(PARITY_SEQ_LEN, limit)
    return (min(EXPORT_SEQ_LEN, parity - 1) if parity > 2 else parity), parity


def _parity(model: nn.Module, file: Path, info: CompiledInfo, vocab: int, seq_len: int, notes: list[str],
            declared: list[tuple[Dim, ...]] | None = None) -> float:
    """Run onnxruntime and PyTorch on the same fresh inputs; return the largest absolute difference (infinite
    when an output's real shape breaks the shape the file declares for it)."""
    import onnxruntime as ort

    inputs = random_inputs(info, PARITY_BATCH, seq_len, vocab, seed=1)
    # PyTorch first: it is the reference, and if it cannot run these inputs the export is not to blame.
    try:
        with torch.no_grad(), quiet():
            expected = model(*inputs)
    except Exception as error:
        raise ExportError(f"PyTorch cannot run the network at batch {PARITY_BATCH} with sequence length "
                          f"{seq_len} to check the export: {first_line(error)}") from None
    options = ort.SessionOptions()
    options.log_severity_level = 4  # fatal only: its errors reach the user once, through the ExportError
    try:
        session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        feed = {name: tensor.numpy() for name, tensor in zip(info.input_names, inputs, strict=True)}
        results = session.run(list(info.output_names), feed)
    except Exception as error:
        raise ExportError(f"onnxruntime cannot run the exported model with batch {PARITY_BATCH}: "
                          f"{first_line(error)}") from None
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    mismatches = shape_mismatches(info.output_names, declared or [], [r.shape for r in results])
    if mismatches:
        notes.extend(mismatches)
        return math.inf
    worst = 0.0
    for name, ours, theirs in zip(info.output_names, expected, results, strict=True):
        reference = ours.detach().cpu().numpy()
        if reference.shape != theirs.shape:
            notes.append(f"Output {name} has shape {theirs.shape} in onnxruntime but {reference.shape} in PyTorch.")
            return math.inf
        if reference.size:
            difference = float(np.max(np.abs(reference.astype(np.float64) - theirs.astype(np.float64))))
            worst = max(worst, difference if math.isfinite(difference) else math.inf)
    if worst > TOLERANCE:
        notes.append(f"onnxruntime differs from PyTorch by up to {worst:.3g} (tolerance {TOLERANCE:g}).")
    return worst




def _dims(shape: tuple[Dim, ...]) -> str:
    return "×".join(str(d) for d in shape)
