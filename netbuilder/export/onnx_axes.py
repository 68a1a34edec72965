"""The axes an exported ONNX file declares for its outputs, and the check that they hold at other sizes.

The exporters work out output shapes by tracing at one batch size and one sequence length. For some layers
(LSTM and GRU through the dynamo exporter) the traced length ends up in the declared output shape: the file says
``N×8×V`` though the graph computes ``N×T×V`` at any length, and onnxruntime warns on every call with another
length. NetBuilder's own shape inference knows which output axes are variable, so the declaration is rewritten
from it; intermediate shape hints (``value_info``) that may carry the traced sizes are dropped (they are optional:
onnxruntime infers them again when it loads the file).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netbuilder.specs import TensorType

Dim = int | str


def declare_output_axes(file: Path, output_types: Sequence[TensorType]) -> list[str]:
    """Rewrite ``file`` so each output axis that NetBuilder infers as variable (``N``, ``T`` or an expression of
    them) is declared by name. Returns one line per output that changed, for the export notes."""
    import onnx

    model = onnx.load(str(file), load_external_data=False)
    changed: list[str] = []
    for value, tensor_type in zip(model.graph.output, output_types, strict=False):
        dims = value.type.tensor_type.shape.dim
        if len(dims) != len(tensor_type.shape):
            continue  # the exporter declared another rank; the parity check reports the real shapes
        before = declared_shape(value)
        for dim, ours in zip(dims, tensor_type.shape, strict=True):
            if isinstance(ours, str):
                dim.ClearField("dim_value")
                dim.dim_param = ours
        after = declared_shape(value)
        if before != after:
            changed.append(f"Output {value.name} is declared {_text(after)} (the exporter wrote {_text(before)}).")
    if changed:
        del model.graph.value_info[:]
        onnx.save(model, str(file))
    return changed


def fixed_input_axes(file: Path, input_names: Sequence[str], input_types: Sequence[TensorType]) -> list[str]:
    """Inputs whose variable axes (``N``, ``T``) the file declares as a fixed size: the exporter specialised the
    graph to the traced size (seen with the dynamo exporter on a second export of an LSTM in one process), so
    the file would refuse any other batch or length."""
    import onnx

    model = onnx.load(str(file), load_external_data=False)
    declared = {value.name: declared_shape(value) for value in model.graph.input}
    problems = []
    for name, tensor_type in zip(input_names, input_types, strict=True):
        dims = declared.get(name)
        if dims is None or len(dims) != len(tensor_type.shape):
            continue
        if any(isinstance(ours, str) and isinstance(theirs, int) for ours, theirs in zip(tensor_type.shape, dims,
                                                                                          strict=True)):
            problems.append(f"input {name} came out {_text(dims)} instead of {_text(tensor_type.shape)}")
    return problems


def declared_output_shapes(model: Any) -> list[tuple[Dim, ...]]:
    """Each output's declared shape: sizes, or axis names (``?`` for an unnamed variable axis)."""
    return [declared_shape(value) for value in model.graph.output]


def shape_mismatches(names: Sequence[str], declared: Sequence[tuple[Dim, ...]],
                     actual: Sequence[tuple[int, ...]]) -> list[str]:
    """Outputs whose real shape (from a run at another batch size and length than the export traced) breaks the
    declared one: another rank, or another size on an axis declared fixed."""
    problems = []
    for name, wanted, got in zip(names, declared, actual, strict=False):
        if len(wanted) != len(got) or any(isinstance(w, int) and w != g for w, g in zip(wanted, got, strict=True)):
            problems.append(f"Output {name} is declared {_text(wanted)} in the ONNX file but comes out "
                            f"{_text(got)} at another batch size or sequence length.")
    return problems


def declared_shape(value: Any) -> tuple[Dim, ...]:
    """An ONNX value's declared dimensions: sizes, axis names, or ? for an unnamed free axis."""
    dims: list[Dim] = []
    for dim in value.type.tensor_type.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(int(dim.dim_value))
        else:
            dims.append(dim.dim_param or "?")
    return tuple(dims)


def _text(shape: Sequence[Dim]) -> str:
    return "×".join(str(d) for d in shape)
