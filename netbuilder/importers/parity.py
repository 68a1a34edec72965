"""The parity check after an import: the original model and the compiled NetBuilder network on the same input.

The input is random (seeded), at a batch other than the one the file was exported with where the file allows it,
so a batch size baked into the import shows. The figure is the largest absolute difference over all outputs, and
that difference relative to the largest absolute reference value (see `ParityReport`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.importers.result import ImportResult, ModelImportError, ParityReport

PARITY_BATCH = 2
PARITY_SEQ_LEN = 7


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def compiled_module(result: ImportResult) -> Any:
    """The imported network compiled, with its weights (eval mode); an import rule that produced weights of the
    wrong shape is a bug, reported as an import failure rather than a traceback."""
    from netbuilder.compile import CompileError, compile_network

    try:
        module = compile_network(result.network)
    except CompileError as error:
        raise ModelImportError(f"The imported network does not compile: {error}") from None
    try:
        module.load_state_dict(result.weights, strict=True, assign=True)
    except RuntimeError as error:
        raise ModelImportError(f"The imported weights do not fit the network: {_first_line(error)}") from None
    return module.eval()


def worst_differences(pairs: Any) -> tuple[float, float]:
    """The largest absolute difference over (imported, original) output pairs, and the largest relative to each
    original output's largest magnitude; a shape that differs is an import failure."""
    worst_abs = worst_rel = 0.0
    for ours, theirs in pairs:
        ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
        if ours.shape != theirs.shape:
            raise ModelImportError(f"The imported network returns shape {ours.shape} where the original returns "
                                   f"{theirs.shape}.")
        if not ours.size:
            continue
        difference = float(np.max(np.abs(ours - theirs)))
        scale = float(np.max(np.abs(theirs)))
        worst_abs = max(worst_abs, difference if math.isfinite(difference) else math.inf)
        worst_rel = max(worst_rel, difference / scale if scale > 0 else difference)
    return worst_abs, worst_rel


def _fixed_batch(model: Any) -> int | None:
    """The batch size the file fixes on its first input (None when the batch axis is free)."""
    inits = {init.name for init in model.graph.initializer}
    for value in model.graph.input:
        if value.name in inits:
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            return int(dims[0].dim_value)
        return None
    return None


def onnx_parity(result: ImportResult, model: Any, file: Path, seed: int = 0) -> ParityReport:
    """Run ``model`` (the file) in onnxruntime and the imported network in torch on one random input."""
    import onnxruntime as ort
    import torch

    from netbuilder.compile import random_inputs, vocab_size

    module = compiled_module(result)
    info = module.netbuilder
    batch = _fixed_batch(model) or PARITY_BATCH
    inputs = random_inputs(info, batch, PARITY_SEQ_LEN, vocab_size(module), seed=seed)
    with torch.no_grad():
        expected = module(*inputs)
    if isinstance(expected, torch.Tensor):
        expected = (expected,)
    options = ort.SessionOptions()
    options.log_severity_level = 4
    inits = {init.name for init in model.graph.initializer}
    onnx_inputs = [v.name for v in model.graph.input if v.name not in inits]
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        feed = {}
        for name, tensor, declared in zip(onnx_inputs, inputs, session.get_inputs(), strict=True):
            array = tensor.numpy()
            if "int32" in declared.type:
                array = array.astype(np.int32)
            elif "double" in declared.type:
                array = array.astype(np.float64)
            feed[name] = array
        outputs = session.run([o.name for o in model.graph.output], feed)
    except Exception as error:
        raise ModelImportError(f"onnxruntime cannot run {file.name} to check the import: {_first_line(error)}") \
            from None
    worst_abs, worst_rel = worst_differences(
        (ours.detach().cpu().numpy(), np.asarray(theirs)) for ours, theirs in zip(expected, outputs, strict=True))
    shapes = {name: list(t.shape) for name, t in zip(info.input_names, inputs, strict=True)}
    return ParityReport(worst_abs, worst_rel, batch, shapes, "onnxruntime")
