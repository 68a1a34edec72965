"""Dense layers and the layers that only rearrange a tensor's shape."""

from __future__ import annotations

import math
from typing import Any

from netbuilder.specs import register
from netbuilder.specs.base import (
    BATCH,
    SEQ,
    Dim,
    LayerContext,
    LayerSpec,
    Param,
    ParamKind,
    Port,
    TensorType,
    add_dims,
    elements,
    is_known,
    make,
    need_float,
    need_known,
    need_rank,
    port_count,
    prod,
    sample_axis,
    scale_dim,
    shapes_text,
    spatial_names,
    sym,
)
from netbuilder.specs.interop import BATCH_MARK, SEQ_MARK, ints, onnx_rule
from netbuilder.specs.lazy import modules, nn


def _linear_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "Linear")
    if ctx.x.rank < 2:
        raise ctx.fail("Linear needs at least a batch and a feature axis.")
    last = ctx.x.shape[-1]
    if not is_known(last):
        raise ctx.fail(f"Linear needs a fixed number of input features, but the last axis is {last}.",
                       suggestion="Reduce the sequence first (SelectStep or pooling), or fix the Input size.")
    return (ctx.x.with_shape((*ctx.x.shape[:-1], ctx["units"])),)


def _linear_params(ctx: LayerContext) -> int:
    # A tied weight is the Embedding's, counted there: the model holds it once.
    weight = 0 if ctx["tie_weight_to"] else ctx.x.shape[-1] * ctx["units"]
    return weight + (ctx["units"] if ctx["bias"] else 0)


def _linear_macs(ctx: LayerContext) -> int:
    # Per sample, like every other layer: 0 when a variable length makes it unknown (not the cost of one step).
    return elements(ctx.x.shape) * ctx["units"]


LINEAR = LayerSpec(
    id="Linear",
    category="Dense & Shape",
    title="Linear (Dense)",
    doc=(
        "Fully connected layer: every output unit is a weighted sum of all input features plus a bias. Acts on the "
        "last axis, so it also works per time step of a sequence. Input features are inferred."
    ),
    params=(
        Param("units", ParamKind.INT, 64, "Number of output features.", minimum=1, maximum=1_000_000),
        Param("bias", ParamKind.BOOL, True, "Add a learned bias to each output."),
        Param("tie_weight_to", ParamKind.TEXT, "", "Name of an Embedding whose table this layer uses as its weight "
              "(weight tying, e.g. a language model's decoder shares the input embedding): units must equal its "
              "vocabulary size and the input features its dimension. Empty: the layer has its own weight.",
              label="Tie weight to"),
    ),
    infer=_linear_infer,
    build=lambda ctx: make(nn.Linear, ctx.x.shape[-1], ctx["units"], bias=ctx["bias"]),
    count_params=_linear_params,
    macs=_linear_macs,
    label=lambda p: f"{p['units']}" + ("" if p["bias"] else ", no bias")
    + (f", tied to {p['tie_weight_to']}" if p.get("tie_weight_to") else ""),
    example_params={"units": 8},
    keywords=("dense", "fully connected", "fc", "mlp"),
)

IDENTITY = LayerSpec(
    id="Identity",
    category="Dense & Shape",
    title="Identity",
    doc="Passes its input through unchanged. Useful as a named junction or a placeholder for a skip path.",
    infer=lambda ctx: (ctx.x,),
    build=lambda ctx: make(nn.Identity),
    keywords=("pass", "noop"),
)


def _flatten_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    start = ctx["start_axis"]
    if ctx.x.rank <= start:
        raise ctx.fail(f"Flatten from axis {start} needs a tensor of rank above {start}; this one is "
                       f"{ctx.x.rank}.", param="start_axis")
    rest = ctx.x.shape[start:]
    if not all(is_known(d) for d in rest):
        raise ctx.fail("Flatten needs fixed sizes, but the input has a variable length "
                       f"({'×'.join(map(str, rest))}).",
                       suggestion="Pool or select a step over the sequence first.")
    return (ctx.x.with_shape((*ctx.x.shape[:start], prod(rest))),)


FLATTEN = LayerSpec(
    id="Flatten",
    category="Dense & Shape",
    title="Flatten",
    doc="Joins all axes from the start axis on into one, e.g. N×16×4×4 to N×256, to go from convolutions to "
    "dense layers.",
    params=(Param("start_axis", ParamKind.INT, 1, "First axis to flatten (1 keeps only the batch).", minimum=1,
                  maximum=8),),
    infer=_flatten_infer,
    build=lambda ctx: make(nn.Flatten, start_dim=ctx["start_axis"]),
    example_inputs=((BATCH, 2, 3, 4),),
)



# ---------------------------------------------------------------------------------------------------------------
# Shape layers


def _reshape_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    target: tuple[int, ...] = ctx["shape"]
    if any(d == 0 for d in target):
        raise ctx.fail("Reshape sizes must be at least 1 (or -1 for the one size to compute).", param="shape")
    if target.count(-1) > 1:
        raise ctx.fail("Only one size of the Reshape target can be -1.", param="shape")
    features = ctx.x.features
    known = math.prod(d for d in features if isinstance(d, int))
    symbols = [d for d in features if not isinstance(d, int)]
    fixed = math.prod(d for d in target if d != -1)
    wanted = shapes_text(target)
    fill: Dim
    if not symbols:
        if -1 in target:
            if known % fixed:
                raise ctx.fail(f"Reshape cannot fit {shapes_text(features)} ({known} values per sample) into "
                               f"{wanted}: {known} is not divisible by {fixed}.", param="shape")
            fill = known // fixed
        elif fixed != known:
            raise ctx.fail(f"Reshape cannot turn {shapes_text(features)} ({known} values per sample) into {wanted} "
                           f"({fixed} values); the counts must match.", param="shape",
                           suggestion="Use -1 for one size to have it computed.")
        else:
            fill = -1
    else:
        if -1 not in target:
            raise ctx.fail(f"The input {shapes_text(features)} has a variable length, so the Reshape target needs "
                           "one -1 to absorb it.", param="shape")
        if known % fixed:
            raise ctx.fail(f"Reshape can put the variable length of {shapes_text(features)} into the -1 entry only "
                           f"if the fixed sizes divide evenly, but {known} values per step do not fill {fixed}.",
                           param="shape")
        rest = known // fixed
        fill = "*".join([*(sym(str(d)) for d in symbols), *([str(rest)] if rest != 1 else [])])
    return (ctx.x.with_shape((BATCH, *(fill if d == -1 else d for d in target))),)


RESHAPE = LayerSpec(
    id="Reshape",
    category="Dense & Shape",
    title="Reshape",
    doc=(
        "Gives every sample a new shape with the same number of values, e.g. N×64 to N×4×4×4 to feed dense "
        "features into convolutions, or N×T×8 to N×T×2×4 to split heads. One size may be -1: it is computed from "
        "the others. The batch axis is never touched."
    ),
    params=(
        Param("shape", ParamKind.INTS, (-1,), "The new shape of one sample, without the batch; one entry may be -1.",
              minimum=-1),
    ),
    infer=_reshape_infer,
    build=lambda ctx: make(modules.Reshape, tuple(ctx["shape"])),
    label=lambda p: shapes_text(p["shape"]),
    example_params={"shape": (4, -1)},
    example_inputs=((BATCH, 2, 8),),
    keywords=("view", "unflatten", "resize shape"),
)


def _permute_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    order: tuple[int, ...] = ctx["order"]
    count = ctx.x.rank - 1
    if sorted(order) != list(range(1, count + 1)):
        raise ctx.fail(f"Permute order {', '.join(map(str, order))} must list each of the axes 1..{count} exactly "
                       f"once (the input {shapes_text(ctx.x.shape)} has {count} axes after the batch).",
                       param="order", suggestion=f"For example {', '.join(map(str, range(count, 0, -1)))}.")
    return (ctx.x.with_shape((ctx.x.shape[0], *(ctx.x.shape[i] for i in order))),)


PERMUTE = LayerSpec(
    id="Permute",
    category="Dense & Shape",
    title="Permute",
    doc=(
        "Reorders the axes after the batch. Order lists the input axes by number (1 is the first axis after the "
        "batch), e.g. 2, 1 turns a sequence N×T×F into N×F×T for a Conv1d, and 2, 3, 1 turns N×C×H×W into "
        "N×H×W×C."
    ),
    params=(
        Param("order", ParamKind.INTS, (2, 1), "The input axes in their new order; 1 is the first axis after the "
              "batch.", minimum=1, maximum=8),
    ),
    infer=_permute_infer,
    build=lambda ctx: make(modules.Permute, tuple(ctx["order"])),
    label=lambda p: ", ".join(map(str, p["order"])),
    example_params={"order": (2, 1)},
    example_inputs=((BATCH, SEQ, 6),),
    keywords=("transpose", "swap axes"),
)


def _squeeze_dims(ctx: LayerContext) -> tuple[int, ...]:
    shape = ctx.x.shape
    axis = ctx["axis"]
    if axis is None:
        dims = tuple(i for i in range(1, len(shape)) if shape[i] == 1)
        if not dims:
            raise ctx.fail(f"Squeeze found no axis of size 1 in {shapes_text(shape)}.", param="axis")
        return dims
    index = sample_axis(axis, len(shape), "Squeeze cannot remove the batch axis.",
                        suggestion="Pick an axis of size 1 after the batch.")
    if shape[index] != 1:
        raise ctx.fail(f"Squeeze can only remove an axis of size 1, but axis {index} of {shapes_text(shape)} has "
                       f"size {shape[index]}.", param="axis")
    return (index,)


def _squeeze_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    dims = _squeeze_dims(ctx)
    return (ctx.x.with_shape(tuple(d for i, d in enumerate(ctx.x.shape) if i not in dims)),)


SQUEEZE = LayerSpec(
    id="Squeeze",
    category="Dense & Shape",
    title="Squeeze",
    doc=(
        "Removes an axis of size 1, e.g. N×1×28 to N×28 after a single-channel convolution, or N×C×1×1 to N×C after "
        "pooling. With axis auto it removes every axis of size 1 after the batch."
    ),
    params=(
        Param("axis", ParamKind.INT, None, "The axis to remove (1 is the first after the batch, -1 the last); "
              "auto removes every axis of size 1.", allow_none=True),
    ),
    infer=_squeeze_infer,
    build=lambda ctx: make(modules.Squeeze, _squeeze_dims(ctx)),
    label=lambda p: "all 1s" if p["axis"] is None else f"axis {p['axis']}",
    example_params={"axis": 2},
    example_inputs=((BATCH, 4, 1),),
    keywords=("drop axis",),
)


def _unsqueeze_axis(ctx: LayerContext) -> int:
    return sample_axis(ctx["axis"], ctx.x.rank + 1, "Unsqueeze cannot insert an axis before the batch.",
                       suggestion="Use axis 1 to add a channel axis.")


def _unsqueeze_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    index = _unsqueeze_axis(ctx)
    shape = list(ctx.x.shape)
    shape.insert(index, 1)
    return (ctx.x.with_shape(shape),)


UNSQUEEZE = LayerSpec(
    id="Unsqueeze",
    category="Dense & Shape",
    title="Unsqueeze",
    doc=(
        "Inserts a new axis of size 1, e.g. N×28×28 to N×1×28×28 to give grey images a channel axis for Conv2d, "
        "or N×F to N×F×1. Axis is the position of the new axis in the output."
    ),
    params=(
        Param("axis", ParamKind.INT, 1, "Where the new axis goes in the output (1 = right after the batch, -1 = "
              "last)."),
    ),
    infer=_unsqueeze_infer,
    build=lambda ctx: make(modules.Unsqueeze, _unsqueeze_axis(ctx)),
    label=lambda p: f"axis {p['axis']}",
    example_params={"axis": 1},
    example_inputs=((BATCH, 4, 5),),
    keywords=("expand dims", "add axis", "channel"),
)

UPSAMPLE_MODES = {3: ("nearest", "linear"), 4: ("nearest", "bilinear")}


def _upsample_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "Upsample")
    need_rank(ctx, "Upsample", (3, 4), "a sequence N×C×L or an image N×C×H×W")
    mode = ctx["mode"]
    allowed = UPSAMPLE_MODES[ctx.x.rank]
    if mode not in allowed:
        kind = "a sequence N×C×L" if ctx.x.rank == 3 else "an image N×C×H×W"
        raise ctx.fail(f"Mode {mode} does not fit {kind}; it takes {' or '.join(allowed)}.", param="mode",
                       suggestion=f"Use {allowed[1]} for smooth interpolation.")
    factor = ctx["scale_factor"]
    return (ctx.x.with_shape((*ctx.x.shape[:2], *(scale_dim(d, factor) for d in ctx.x.shape[2:]))),)


def _upsample_macs(ctx: LayerContext) -> int:
    out = _upsample_infer(ctx)[0]
    return 0 if ctx["mode"] == "nearest" else elements(out.shape)


UPSAMPLE = LayerSpec(
    id="Upsample",
    category="Dense & Shape",
    title="Upsample",
    doc=(
        "Makes a sequence N×C×L or an image N×C×H×W larger by a whole factor along each spatial axis, by repeating "
        "values (nearest) or interpolating (linear for sequences, bilinear for images). Has no weights; follow it "
        "with a convolution in decoders and generators to avoid the checkerboard artefacts of transposed "
        "convolutions."
    ),
    params=(
        Param("scale_factor", ParamKind.INT, 2, "How many times larger each spatial axis gets.", minimum=1,
              maximum=16),
        Param("mode", ParamKind.CHOICE, "nearest", "nearest repeats values; linear (sequences) and bilinear "
              "(images) interpolate.", choices=("nearest", "linear", "bilinear")),
    ),
    infer=_upsample_infer,
    build=lambda ctx: make(nn.Upsample, scale_factor=float(ctx["scale_factor"]), mode=ctx["mode"]),
    macs=_upsample_macs,
    label=lambda p: f"×{p['scale_factor']} {p['mode']}",
    example_params={"scale_factor": 2, "mode": "bilinear"},
    example_inputs=((BATCH, 2, 4, 4),),
    keywords=("resize", "interpolate", "upscale", "zoom"),
)


def _pixel_shuffle_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "PixelShuffle")
    need_rank(ctx, "PixelShuffle", (4,), "an image N×C×H×W")
    factor = ctx["upscale_factor"]
    channels = need_known(ctx, ctx.x.shape[1], "The channel count")
    block = factor * factor
    if channels % block:
        raise ctx.fail(f"PixelShuffle by {factor} needs channels divisible by {block} ({factor}×{factor}), but the "
                       f"input has {channels} channels.", param="upscale_factor",
                       suggestion=f"Make the previous convolution output a multiple of {block} channels.")
    n, _, h, w = ctx.x.shape
    return (ctx.x.with_shape((n, channels // block, scale_dim(h, factor), scale_dim(w, factor))),)


PIXEL_SHUFFLE = LayerSpec(
    id="PixelShuffle",
    category="Dense & Shape",
    title="Pixel shuffle",
    doc=(
        "Sub-pixel upsampling: moves groups of r×r channels into r×r blocks of pixels, so N×C·r²×H×W becomes "
        "N×C×H·r×W·r. Used after a convolution in super-resolution networks and generators as a learned, "
        "artefact-free alternative to transposed convolution."
    ),
    params=(Param("upscale_factor", ParamKind.INT, 2, "r: how many times larger height and width get.", minimum=1,
                  maximum=8),),
    infer=_pixel_shuffle_infer,
    build=lambda ctx: make(nn.PixelShuffle, ctx["upscale_factor"]),
    label=lambda p: f"×{p['upscale_factor']}",
    example_params={"upscale_factor": 2},
    example_inputs=((BATCH, 8, 3, 3),),
    keywords=("subpixel", "depth to space", "upscale"),
)

PAD_MODULES = {
    ("zero", 3): nn.ZeroPad1d, ("zero", 4): nn.ZeroPad2d,
    ("reflection", 3): nn.ReflectionPad1d, ("reflection", 4): nn.ReflectionPad2d,
    ("replication", 3): nn.ReplicationPad1d, ("replication", 4): nn.ReplicationPad2d,
}


def _pad_amounts(ctx: LayerContext) -> tuple[int, ...]:
    """The padding per side in the user's axis order: (start, end) or (top, bottom, left, right)."""
    amount: tuple[int, ...] = ctx["amount"]
    if ctx.x.rank == 3:
        if len(amount) == 1:
            return amount * 2
        if len(amount) == 2:
            return amount
        raise ctx.fail(f"Pad on a sequence takes 1 number (both ends) or 2 (start, end); got {len(amount)}.",
                       param="amount")
    if len(amount) == 1:
        return amount * 4
    if len(amount) == 2:
        return (amount[0], amount[0], amount[1], amount[1])
    if len(amount) == 4:
        return amount
    raise ctx.fail(f"Pad on an image takes 1 number (all sides), 2 (vertical, horizontal) or 4 (top, bottom, left, "
                   f"right); got {len(amount)}.", param="amount")


def _pad_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "Pad")
    need_rank(ctx, "Pad", (3, 4), "a sequence N×C×L or an image N×C×H×W")
    sides = _pad_amounts(ctx)
    names = spatial_names(ctx.x.rank - 2)
    shape = list(ctx.x.shape)
    for i, name in enumerate(names):
        before, after = sides[2 * i], sides[2 * i + 1]
        dim = shape[2 + i]
        if ctx["mode"] == "reflection" and isinstance(dim, int) and max(before, after) >= dim:
            raise ctx.fail(f"Reflection padding of {max(before, after)} needs an input {name} above it, but the "
                           f"{name} is {dim}.", param="amount", suggestion="Use replication or zero padding.")
        shape[2 + i] = add_dims(dim, before + after)
    return (ctx.x.with_shape(shape),)


def _build_pad(ctx: LayerContext) -> nn.Module:
    sides = _pad_amounts(ctx)
    torch_order = sides if ctx.x.rank == 3 else (sides[2], sides[3], sides[0], sides[1])  # left, right, top, bottom
    return make(PAD_MODULES[ctx["mode"], ctx.x.rank], tuple(torch_order))


PAD = LayerSpec(
    id="Pad",
    category="Dense & Shape",
    title="Pad",
    doc=(
        "Adds a border to a sequence N×C×L or an image N×C×H×W: zeros, a mirror image of the edge (reflection) or "
        "copies of the edge value (replication). Use it before a convolution to control the output size, or "
        "reflection padding in image generators to avoid dark borders."
    ),
    params=(
        Param("amount", ParamKind.INTS, (1,), "Values added per side. Sequences: 1 number, or start, end. Images: 1 "
              "number, vertical, horizontal, or top, bottom, left, right.", minimum=0, maximum=1024),
        Param("mode", ParamKind.CHOICE, "zero", "What fills the border.", choices=("zero", "reflection",
                                                                                   "replication")),
    ),
    infer=_pad_infer,
    build=_build_pad,
    label=lambda p: f"{', '.join(map(str, p['amount']))}, {p['mode']}",
    example_params={"amount": (1, 2), "mode": "reflection"},
    example_inputs=((BATCH, 2, 5, 5),),
    keywords=("padding", "border", "zero pad", "reflect"),
)


def _select_step_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_rank(ctx, "SelectStep", (3, 4, 5), "a sequence N×T×F",
              suggestion="Its input must have a step axis right after the batch.")
    return (ctx.x.with_shape((ctx.x.shape[0], *ctx.x.shape[2:])),)


SELECT_STEP = LayerSpec(
    id="SelectStep",
    category="Dense & Shape",
    title="Select step",
    doc=(
        "Keeps one step of a sequence N×T×F, giving N×F: the last step (the summary an RNN has built after reading "
        "everything) or the first (the class token of a Transformer). Use it to go from a sequence layer to a "
        "dense classifier."
    ),
    params=(Param("which", ParamKind.CHOICE, "last", "The step to keep.", choices=("last", "first")),),
    infer=_select_step_infer,
    build=lambda ctx: make(modules.SelectStep, ctx["which"]),
    label=lambda p: p["which"],
    example_params={"which": "last"},
    example_inputs=((BATCH, SEQ, 6),),
    keywords=("last step", "first token", "cls", "time step"),
)


def _split_axis(ctx: LayerContext) -> int:
    return sample_axis(ctx["axis"], ctx.x.rank, "Split along the batch axis would separate samples.",
                       suggestion="Use axis -1 (features) or 1 (channels).")


def _split_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    index = _split_axis(ctx)
    chunks = ctx["chunks"]
    size = need_known(ctx, ctx.x.shape[index], f"The size of axis {index} that Split cuts")
    if size % chunks:
        raise ctx.fail(f"Split cannot cut axis {index} of size {size} into {chunks} equal parts.", param="chunks",
                       suggestion=f"Pick a number of parts that divides {size}.")
    shape = list(ctx.x.shape)
    shape[index] = size // chunks
    return tuple(ctx.x.with_shape(shape) for _ in range(chunks))


def _split_outputs(params: dict[str, Any]) -> tuple[Port, ...]:
    count = port_count(params.get("chunks"), 2, 8)
    return tuple(Port(f"out{i}", f"Part {i} of {count}.") for i in range(1, count + 1))


SPLIT = LayerSpec(
    id="Split",
    category="Dense & Shape",
    title="Split (chunk)",
    doc=(
        "Cuts a tensor into equal parts along one axis, one output port per part, e.g. N×64 into two N×32 halves "
        "for the mean and log-variance of a VAE, or the channels of an image into groups. The axis size must "
        "divide by the number of parts."
    ),
    params=(
        Param("chunks", ParamKind.INT, 2, "Number of equal parts (and output ports).", minimum=2, maximum=8),
        Param("axis", ParamKind.INT, -1, "The axis to cut (-1 = last, 1 = first after the batch)."),
    ),
    outputs=_split_outputs,
    infer=_split_infer,
    build=lambda ctx: make(modules.Split, ctx["chunks"], _split_axis(ctx)),
    label=lambda p: f"{p['chunks']} parts, axis {p['axis']}",
    example_params={"chunks": 3, "axis": 1},
    example_inputs=((BATCH, 6, 4),),
    keywords=("chunk", "slice", "separate"),
)

register(LINEAR, IDENTITY, FLATTEN, RESHAPE, PERMUTE, SQUEEZE, UNSQUEEZE, UPSAMPLE, PIXEL_SHUFFLE, PAD, SELECT_STEP,
         SPLIT)


# ---------------------------------------------------------------------------------------------------------------
# ONNX import rules


@onnx_rule("Gemm")
def _gemm_from_onnx(node: Any) -> None:
    import numpy as np

    if node.attr("transA", 0):
        raise node.fail("its input is transposed (transA)")
    b = node.const(1)
    if b is None or b.ndim != 2:
        raise node.fail("its weight matrix is computed in the graph, not stored")
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    weight = np.ascontiguousarray(b if node.attr("transB", 0) else b.T, dtype=np.float32)
    if alpha != 1.0:
        weight = weight * np.float32(alpha)
    units = weight.shape[0]
    weights = {"weight": weight}
    if node.has_input(2):
        c = node.const(2)
        if c is None:
            raise node.fail("its bias is computed in the graph, not stored")
        if c.size not in (1, units) or (c.ndim == 2 and c.shape[0] != 1):
            raise node.fail(f"a bias of shape {tuple(c.shape)} for {units} outputs")
        weights["bias"] = np.broadcast_to(c.reshape(-1) * np.float32(beta), (units,)).astype(np.float32)
    _emit_linear(node, weights)


def _emit_linear(node: Any, weights: dict[str, Any]) -> None:
    """A Linear layer, tied to the Embedding whose stored table it reads as its weight (one parameter, as in the
    model that was exported)."""
    tied = node.tied_embedding(weights["weight"])
    if tied is not None:
        weights["weight"] = tied.weights["weight"]
    node.emit("Linear", {"units": int(weights["weight"].shape[0]), "bias": "bias" in weights,
                         "tie_weight_to": tied.name if tied is not None else ""}, weights=weights)


@onnx_rule("MatMul")
def _matmul_from_onnx(node: Any) -> None:
    import numpy as np

    b = node.const(1)
    if b is None or b.ndim != 2 or not node.is_tensor(0):
        raise node.fail("it multiplies two computed tensors (NetBuilder has matrix products only inside its "
                        "Linear and attention layers)")
    _emit_linear(node, {"weight": np.ascontiguousarray(b.T, dtype=np.float32)})


@onnx_rule("Flatten")
def _flatten_from_onnx(node: Any) -> None:
    axis = int(node.attr("axis", 1)) % max(node.type(0).rank, 1)
    if axis != 1:
        raise node.fail(f"flattening from axis {axis} (NetBuilder keeps the batch axis apart)")
    node.emit("Flatten", {"start_axis": 1})


def _reshape_target(node: Any, shape: tuple[int, ...], x: TensorType) -> tuple[int, ...]:
    """The per-sample shape a Reshape asks for, with the batch taken off the front."""
    allow_zero = bool(node.attr("allowzero", 0))
    dims = [x.shape[i] if d == 0 and not allow_zero and i < x.rank else d for i, d in enumerate(shape)]
    first, rest = dims[0], [SEQ_MARK if d == SEQ else d for d in dims[1:]]
    rest = [-1 if d == SEQ_MARK else d for d in rest]
    if any(not isinstance(d, int) or d == BATCH_MARK or d == 0 for d in rest):
        raise node.fail("it reshapes the batch into another axis")
    features = x.features
    count = math.prod(d for d in features if isinstance(d, int)) if all(isinstance(d, int) for d in features) \
        else None
    if first in (BATCH, BATCH_MARK) or (first == 1 and node.fixed_batch == 1):
        return tuple(rest)
    if first == -1 and -1 not in rest and count is not None and math.prod(rest) == count:
        return tuple(rest)
    raise node.fail(f"it reshapes across the batch axis (to {list(shape)})")


def _matches(size: Any, wanted: int) -> bool:
    if wanted == -1:
        return True
    if isinstance(size, int):
        return size == wanted
    return wanted == (BATCH_MARK if size == BATCH else SEQ_MARK)


def _reshape_moved(node: Any, shape: tuple[int, ...]) -> None:
    """A Reshape of a value whose axes are moved (see `Tensor.axes`) that only adds or drops axes of size 1."""
    axes, sizes = node.axes(0), node.virtual_shape(0)
    shape = tuple(sizes[i] if d == 0 and not node.attr("allowzero", 0) else d for i, d in enumerate(shape))
    shape = tuple(BATCH_MARK if d == BATCH else SEQ_MARK if isinstance(d, str) else d for d in shape)
    real = iter(a for a in axes if a is not None)
    real_type = node.real_type(0)
    moved: list[Any] = []
    for wanted in shape:
        if wanted == 1:
            moved.append(None)
            continue
        axis = next(real, None)
        if axis is None or not _matches(real_type.shape[axis], wanted):
            raise node.fail(f"it reshapes a time-major value to {list(shape)}")
        moved.append(axis)
    if next(real, None) is not None:
        raise node.fail(f"it reshapes a time-major value to {list(shape)}")
    node.bind_axes(0, 0, tuple(moved))


@onnx_rule("Reshape")
def _reshape_from_onnx(node: Any) -> None:
    shape = node.const(1)
    if shape is None:
        raise node.fail("its target shape is computed from values, not only from shapes")
    if node.axes(0) != tuple(range(len(node.axes(0)))):
        _reshape_moved(node, tuple(int(d) for d in shape.reshape(-1).tolist()))
        return
    x = node.type(0)
    target = _reshape_target(node, tuple(int(d) for d in shape.reshape(-1).tolist()), x)
    if len(target) == 1 and (target[0] == -1 or target[0] == prod(x.features)) and x.rank > 2:
        node.emit("Flatten", {"start_axis": 1})
    elif target == tuple(x.features):
        node.alias(0, 0)
    else:
        node.emit("Reshape", {"shape": target})


@onnx_rule("Transpose")
def _transpose_from_onnx(node: Any) -> None:
    axes = node.axes(0)
    rank = len(axes)
    perm = ints(node.attr("perm")) or tuple(reversed(range(rank)))
    moved = tuple(axes[p] for p in perm)
    if axes == tuple(range(rank)) and perm[0] == 0:
        if perm == tuple(range(rank)):
            node.alias(0, 0)
        else:
            node.emit("Permute", {"order": perm[1:]})
        return
    node.bind_axes(0, 0, moved)  # the batch moves (around a recurrent op): followed until it is first again


def _axes_of(node: Any) -> tuple[int, ...]:
    if node.has_input(1):
        axes = node.const(1)
        if axes is None:
            raise node.fail("its axes are computed in the graph")
        return ints(axes)
    return ints(node.attr("axes"))


def _moved(node: Any) -> bool:
    axes = node.axes(0)
    return axes != tuple(range(len(axes)))


def _emit_per_axis(node: Any, op: str, ordered: list[int], prefix: str) -> None:
    """One `op` layer per axis, chained in the given order; the last one writes the node's output."""
    source: Any = 0
    for i, axis in enumerate(ordered):
        last = i == len(ordered) - 1
        layer = node.emit(op, {"axis": axis}, inputs=(source,), outputs=(0,) if last else (),
                          name=None if last else node.aux_name(f"{prefix}{i + 1}"))
        source = layer.out()


@onnx_rule("Unsqueeze")
def _unsqueeze_from_onnx(node: Any) -> None:
    axes = _axes_of(node)
    if _moved(node):
        moved = list(node.axes(0))
        for axis in sorted(a % (len(moved) + len(axes)) for a in axes):
            moved.insert(axis, None)
        node.bind_axes(0, 0, tuple(moved))
        return
    rank = node.type(0).rank + len(axes)
    _emit_per_axis(node, "Unsqueeze", sorted(a % rank for a in axes), "u")


@onnx_rule("Squeeze")
def _squeeze_from_onnx(node: Any) -> None:
    axes = _axes_of(node)
    if _moved(node):
        moved = list(node.axes(0))
        drop = {a % len(moved) for a in axes} if axes else {i for i, a in enumerate(moved) if a is None}
        if any(moved[i] is not None for i in drop):
            raise node.fail("it squeezes an axis of a time-major value that a layer computes")
        node.bind_axes(0, 0, tuple(a for i, a in enumerate(moved) if i not in drop))
        return
    if not axes:
        node.emit("Squeeze", {"axis": None})
        return
    rank = node.type(0).rank
    _emit_per_axis(node, "Squeeze", sorted((a % rank for a in axes), reverse=True), "s")


@onnx_rule("Identity")
def _identity_from_onnx(node: Any) -> None:
    node.alias(0, 0)


_PAD_MODES = {"constant": "zero", "reflect": "reflection", "edge": "replication"}


@onnx_rule("Pad")
def _pad_from_onnx(node: Any) -> None:
    x = node.type(0)
    mode = _PAD_MODES.get(node.attr("mode", "constant") or "constant")
    if mode is None:
        raise node.fail(f"padding mode {node.attr('mode')!r}")
    pads = ints(node.const(1)) if node.has_input(1) else ints(node.attr("pads"))
    if node.has_input(1) and node.const(1) is None:
        raise node.fail("its padding is computed in the graph")
    value = node.const(2) if node.has_input(2) else node.attr("value", 0.0)
    if value is not None and float(value.reshape(-1)[0] if hasattr(value, "reshape") else value) != 0.0:
        raise node.fail("padding with a value other than zero")
    if node.has_input(3):
        raise node.fail("padding selected axes only")
    rank = x.rank
    start, end = pads[:rank], pads[rank:]
    if any(start[:2]) or any(end[:2]) or rank not in (3, 4) or any(p < 0 for p in pads):
        raise node.fail("padding other than at the ends of the length, height or width")
    amount = (start[2], end[2]) if rank == 3 else (start[2], end[2], start[3], end[3])
    node.emit("Pad", {"amount": amount, "mode": mode})


@onnx_rule("Gather")
def _gather_from_onnx(node: Any) -> None:
    table = node.const(0)
    if table is not None:
        if table.ndim != 2 or not node.is_tensor(1) or node.type(1).dtype != "int64" or node.attr("axis", 0) != 0:
            raise node.fail("it looks up rows of a table other than by token ids (an Embedding)")
        node.emit("Embedding", {"vocab_size": int(table.shape[0]), "dim": int(table.shape[1])}, inputs=(1,),
                  weights={"weight": table})
        return
    index = node.const(1)
    if index is None or index.ndim != 0:
        raise node.fail("it gathers with computed or several indices")
    axes = node.axes(0)
    axis = int(node.attr("axis", 0)) % len(axes)
    which = int(index)
    if axes[axis] is None and which in (0, -1):
        node.bind_axes(0, 0, axes[:axis] + axes[axis + 1:])
        return
    if not _moved(node) and axis == 1 and which in (0, -1):
        node.emit("SelectStep", {"which": "first" if which == 0 else "last"})
        return
    raise node.fail(f"it picks entry {which} of axis {axis}")
