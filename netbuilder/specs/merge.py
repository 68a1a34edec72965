"""Layers that join several wires into one: element-wise sums and products, averages, concatenation, stacking."""

from __future__ import annotations

from typing import Any

from netbuilder.specs import register
from netbuilder.specs.attention import positional_encoding_from_onnx
from netbuilder.specs.base import (
    BATCH,
    Dim,
    LayerContext,
    LayerSpec,
    Param,
    ParamKind,
    Port,
    TensorType,
    add_dims,
    elements,
    make,
    need_float,
    port_count,
    sample_axis,
    shapes_text,
)
from netbuilder.specs.interop import onnx_rule, per_axis
from netbuilder.specs.lazy import modules

MAX_INPUTS = 8
INPUTS = Param("inputs", ParamKind.INT, 2, "Number of input ports.", minimum=2, maximum=MAX_INPUTS)
MERGE_HINT = "Bring them to the same size first (a Linear or Conv layer), or use Concat to join different sizes."


def _input_ports(params: dict[str, Any]) -> tuple[Port, ...]:
    count = port_count(params.get("inputs"), 2, MAX_INPUTS)
    return tuple(Port(f"in{i}", f"Input {i}.") for i in range(1, count + 1))


def _wired(ctx: LayerContext, what: str, floats: bool = True) -> list[TensorType]:
    """The input types, all wired; all float for arithmetic, or else all of one dtype (token ids may be joined)."""
    types = []
    for i, t in enumerate(ctx.inputs, start=1):
        if t is None:
            raise ctx.fail(f"{what} input in{i} is not connected.", suggestion="Wire it, or lower the input count.")
        if floats:
            need_float(ctx, what, t)
        elif t.dtype != ctx.inputs[0].dtype:  # type: ignore[union-attr]
            raise ctx.fail(f"{what} cannot join float values with integer token ids (in1 is {ctx.x.dtype}, in{i} is "
                           f"{t.dtype}).", suggestion="Put an Embedding on the token ids first.")
        types.append(t)
    return types


def _same_rank(ctx: LayerContext, what: str, types: list[TensorType]) -> None:
    first = types[0]
    for i, t in enumerate(types[1:], start=2):
        if t.rank != first.rank:
            raise ctx.fail(f"{what} needs inputs of the same rank, but in1 is {shapes_text(first.shape)} and in{i} "
                           f"is {shapes_text(t.shape)}.", suggestion="Reshape, Unsqueeze or Flatten one of them.")


def _broadcast_infer(what: str):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        types = _wired(ctx, what)
        _same_rank(ctx, what, types)
        shape: list[Dim] = []
        for axis in range(types[0].rank):
            dims = [t.shape[axis] for t in types]
            sizes = list(dict.fromkeys(d for d in dims if d != 1))
            if len(sizes) > 1:
                a, b = sizes[0], sizes[1]
                ia, ib = dims.index(a) + 1, dims.index(b) + 1
                raise ctx.fail(f"{what} cannot combine in{ia} ({shapes_text(types[ia - 1].shape)}) with in{ib} "
                               f"({shapes_text(types[ib - 1].shape)}): axis {axis} is {a} in one and {b} in the other; "
                               "sizes must be equal, or 1 to broadcast.", suggestion=MERGE_HINT)
            shape.append(sizes[0] if sizes else 1)
        return (TensorType(tuple(shape)),)

    return infer


def _broadcast_macs(what: str):
    infer = _broadcast_infer(what)

    def macs(ctx: LayerContext) -> int:
        return elements(infer(ctx)[0].shape) * (len(ctx.inputs) - 1)

    return macs


def _elementwise(type_id: str, title: str, doc: str, module: type, keywords: tuple[str, ...]) -> LayerSpec:
    return LayerSpec(
        id=type_id,
        category="Merge",
        title=title,
        doc=doc + " Inputs must have the same shape, except that a size of 1 broadcasts (e.g. N×C×1×1 with "
        "N×C×H×W).",
        params=(INPUTS,),
        inputs=_input_ports,
        infer=_broadcast_infer(type_id),
        build=lambda ctx: make(module),
        macs=_broadcast_macs(type_id),
        label=lambda p: "" if p["inputs"] == 2 else f"{p['inputs']} inputs",
        example_params={"inputs": 2},
        example_inputs=((BATCH, 3, 4), (BATCH, 3, 4)),
        keywords=keywords,
    )


def _concat_axis(ctx: LayerContext, rank: int) -> int:
    return sample_axis(ctx["axis"], rank, "Joining along the batch axis would mix samples.",
                       suggestion="Use axis 1 (channels or features) or -1 (last axis).")


def _concat_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    types = _wired(ctx, "Concat", floats=False)
    _same_rank(ctx, "Concat", types)
    index = _concat_axis(ctx, types[0].rank)
    first = types[0]
    for i, t in enumerate(types[1:], start=2):
        for axis in range(first.rank):
            if axis != index and t.shape[axis] != first.shape[axis]:
                raise ctx.fail(f"Concat along axis {index} needs every other axis to match, but axis {axis} is "
                               f"{first.shape[axis]} in in1 ({shapes_text(first.shape)}) and {t.shape[axis]} in in{i} "
                               f"({shapes_text(t.shape)}).", param="axis",
                               suggestion="Pick the axis where the sizes differ, or resize one input.")
    shape = list(first.shape)
    shape[index] = add_dims(*(t.shape[index] for t in types))
    return (first.with_shape(shape),)


CONCAT = LayerSpec(
    id="Concat",
    category="Merge",
    title="Concatenate",
    doc=(
        "Joins its inputs end to end along one axis, e.g. N×16 and N×8 into N×24, or the channels of two feature "
        "maps (axis 1) in U-Net skip connections and Inception blocks. Every other axis must match."
    ),
    params=(INPUTS, Param("axis", ParamKind.INT, 1, "The axis to join along (1 = channels or features, -1 = last).")),
    inputs=_input_ports,
    infer=_concat_infer,
    build=lambda ctx: make(modules.Concat, _concat_axis(ctx, ctx.x.rank)),
    label=lambda p: f"axis {p['axis']}" + ("" if p["inputs"] == 2 else f", {p['inputs']} inputs"),
    example_params={"inputs": 3, "axis": 1},
    example_inputs=((BATCH, 2, 4), (BATCH, 3, 4), (BATCH, 1, 4)),
    keywords=("concatenate", "cat", "join", "skip connection"),
)


def _stack_axis(ctx: LayerContext) -> int:
    return sample_axis(ctx["axis"], ctx.x.rank + 1, "Stack cannot put the new axis before the batch.",
                       suggestion="Use axis 1 to stack right after the batch.")


def _stack_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    types = _wired(ctx, "Stack", floats=False)
    first = types[0]
    for i, t in enumerate(types[1:], start=2):
        if t.shape != first.shape:
            raise ctx.fail(f"Stack needs inputs of identical shape, but in1 is {shapes_text(first.shape)} and in{i} "
                           f"is {shapes_text(t.shape)}.", suggestion=MERGE_HINT)
    shape = list(first.shape)
    shape.insert(_stack_axis(ctx), len(types))
    return (first.with_shape(shape),)


STACK = LayerSpec(
    id="Stack",
    category="Merge",
    title="Stack",
    doc=(
        "Puts equally shaped inputs side by side along a new axis, e.g. three N×8 feature vectors into a sequence "
        "N×3×8 for an attention or recurrent layer."
    ),
    params=(INPUTS, Param("axis", ParamKind.INT, 1, "Where the new axis goes in the output (1 = right after the "
                          "batch).")),
    inputs=_input_ports,
    infer=_stack_infer,
    build=lambda ctx: make(modules.Stack, _stack_axis(ctx)),
    label=lambda p: f"axis {p['axis']}" + ("" if p["inputs"] == 2 else f", {p['inputs']} inputs"),
    example_params={"inputs": 2, "axis": 1},
    example_inputs=((BATCH, 5), (BATCH, 5)),
    keywords=("sequence", "join", "new axis"),
)

register(
    _elementwise("Add", "Add", "Sums its inputs element by element: residual (skip) connections, merging "
                 "branches.", modules.Add, ("sum", "plus", "residual", "skip connection")),
    _elementwise("Multiply", "Multiply", "Multiplies its inputs element by element: gates and attention-style "
                 "weighting (e.g. a sigmoid branch times a feature branch).", modules.Multiply,
                 ("product", "gate", "times")),
    _elementwise("Mean", "Average", "Averages its inputs element by element, e.g. to ensemble several heads.",
                 modules.Mean, ("average", "ensemble")),
    CONCAT,
    STACK,
)


# ---------------------------------------------------------------------------------------------------------------
# ONNX import rules. A constant added to or multiplying the output of a batch norm, convolution or linear layer
# is folded into that layer's weights (models converted from Caffe scale each batch norm with a Mul and an Add).

_CHANNEL_LAYERS = ("BatchNorm1d", "BatchNorm2d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
                   "Linear")


def _fold_target(node: Any) -> tuple[int, Any, Any, int]:
    """(tensor input index, the constant, the layer to fold into or None, its channel axis)."""
    if node.is_tensor(0) and node.const(1) is not None:
        index, constant = 0, node.const(1)
    elif node.is_tensor(1) and node.const(0) is not None and node.op_type in ("Add", "Mul"):
        index, constant = 1, node.const(0)
    else:
        return -1, None, None, 0
    layer = node.layer(index)
    if layer is None or layer.type not in _CHANNEL_LAYERS:
        return index, constant, None, 0
    rank = node.type(index).rank
    return index, constant, layer, rank - 1 if layer.type == "Linear" else 1


def _fold_refused(node: Any, verb: str) -> Any:
    return node.fail(f"it {verb} a constant that no layer before it can absorb (NetBuilder folds per-channel "
                     "constants into a batch norm, convolution or linear layer)")


def _fold_vector(node: Any, index: int, constant: Any, layer: Any, axis: int, verb: str) -> Any:
    """The constant as one value per channel of the layer it folds into; refuses the node when it cannot."""
    x = node.type(index)
    channels = x.shape[axis]
    vector = per_axis(constant, x.rank, axis, channels) if isinstance(channels, int) else None
    if layer is None or vector is None:
        raise _fold_refused(node, verb)
    return vector


def _shift_layer(node: Any, index: int, constant: Any, layer: Any, axis: int) -> None:
    import numpy as np

    vector = _fold_vector(node, index, constant, layer, axis, "adds")
    if layer.type.startswith("BatchNorm") or layer.params.get("bias"):
        layer.weights["bias"] = (layer.weights["bias"] + vector).astype(np.float32)
    else:
        layer.params["bias"] = True
        layer.weights["bias"] = vector.astype(np.float32)
    node.alias(0, index)


def _scale_layer(node: Any, index: int, constant: Any, layer: Any, axis: int) -> None:
    import numpy as np

    vector = _fold_vector(node, index, constant, layer, axis, "multiplies by").astype(np.float32)
    weights = layer.weights
    if layer.type.startswith("BatchNorm"):
        weights["weight"] = weights["weight"] * vector
    elif layer.type.startswith("ConvTranspose"):
        groups = layer.params["groups"]
        w = weights["weight"]
        shaped = w.reshape(groups, w.shape[0] // groups, w.shape[1], *w.shape[2:])
        weights["weight"] = (shaped * vector.reshape(groups, 1, w.shape[1], *([1] * (w.ndim - 2)))).reshape(w.shape)
    else:
        if layer.params.get("tie_weight_to"):
            layer.params["tie_weight_to"] = ""  # scaled, it is no longer the embedding's table: its own copy
        weights["weight"] = weights["weight"] * vector.reshape(-1, *([1] * (weights["weight"].ndim - 1)))
    if "bias" in weights and (layer.type.startswith("BatchNorm") or layer.params.get("bias")):
        weights["bias"] = weights["bias"] * vector
    node.alias(0, index)


@onnx_rule("Add", "Sub")
def _add_from_onnx(node: Any) -> None:
    if node.op_type == "Add" and positional_encoding_from_onnx(node):
        return
    if node.is_tensor(0) and node.is_tensor(1):
        if node.op_type == "Sub":
            raise node.fail("a difference of two computed tensors")
        node.emit("Add", {"inputs": 2}, inputs=(0, 1))
        return
    index, constant, layer, axis = _fold_target(node)
    if index < 0:
        raise _fold_refused(node, "subtracts from" if node.op_type == "Sub" else "adds")
    _shift_layer(node, index, -constant if node.op_type == "Sub" else constant, layer, axis)


@onnx_rule("Mul", "Div")
def _mul_from_onnx(node: Any) -> None:
    if node.is_tensor(0) and node.is_tensor(1):
        if node.op_type == "Div":
            raise node.fail("a quotient of two computed tensors")
        node.emit("Multiply", {"inputs": 2}, inputs=(0, 1))
        return
    index, constant, layer, axis = _fold_target(node)
    if index < 0:
        raise _fold_refused(node, "divides by" if node.op_type == "Div" else "multiplies by")
    if layer is None and getattr(constant, "size", 0) == 1 and float(constant.reshape(-1)[0]) != 0:
        factor = float(constant.reshape(-1)[0])  # one number, with no layer to fold into: NetBuilder's Scale
        node.emit("Scale", {"factor": 1.0 / factor if node.op_type == "Div" else factor}, inputs=(index,))
        return
    _scale_layer(node, index, 1.0 / constant if node.op_type == "Div" else constant, layer, axis)


def _variadic(node: Any, type_id: str, params: dict[str, Any]) -> None:
    """One layer for up to MAX_INPUTS inputs; more are joined in a chain of layers (the same result for sums
    and concatenations)."""
    count = node.input_count
    for i in range(count):
        if not node.is_tensor(i):
            raise node.fail(f"input {i + 1} is a constant")
    if count == 1:
        node.alias(0, 0)
        return
    sources: list[Any] = list(range(count))
    while len(sources) > MAX_INPUTS:
        head = node.emit(type_id, {**params, "inputs": MAX_INPUTS}, inputs=tuple(sources[:MAX_INPUTS]), outputs=(),
                         name=node.aux_name(f"part{len(node.emitted) + 1}"))
        sources = [head.out(), *sources[MAX_INPUTS:]]
    node.emit(type_id, {**params, "inputs": len(sources)}, inputs=tuple(sources))


@onnx_rule("Sum")
def _sum_from_onnx(node: Any) -> None:
    _variadic(node, "Add", {})


@onnx_rule("Concat")
def _concat_from_onnx(node: Any) -> None:
    _variadic(node, "Concat", {"axis": int(node.attr("axis"))})


@onnx_rule("Mean")
def _mean_from_onnx(node: Any) -> None:
    if node.input_count > MAX_INPUTS:
        raise node.fail(f"an average of more than {MAX_INPUTS} inputs")
    _variadic(node, "Mean", {})
