"""Dense layers and the layers that only rearrange a tensor's shape."""

from __future__ import annotations

import torch.nn as nn

from netbuilder.specs import register
from netbuilder.specs.base import (
    BATCH,
    LayerContext,
    LayerSpec,
    Param,
    ParamKind,
    TensorType,
    is_known,
    make,
    prod,
)


def _need_float(ctx: LayerContext, what: str) -> None:
    if ctx.x.dtype != "float32":
        raise ctx.fail(f"{what} needs float values, but this input carries integer token ids.",
                       suggestion="Put an Embedding before it.")


def _linear_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    _need_float(ctx, "Linear")
    if ctx.x.rank < 2:
        raise ctx.fail("Linear needs at least a batch and a feature axis.")
    last = ctx.x.shape[-1]
    if not is_known(last):
        raise ctx.fail(f"Linear needs a fixed number of input features, but the last axis is {last}.",
                       suggestion="Reduce the sequence first (SelectStep or pooling), or fix the Input size.")
    return (ctx.x.with_shape((*ctx.x.shape[:-1], ctx["units"])),)


def _linear_params(ctx: LayerContext) -> int:
    return ctx.x.shape[-1] * ctx["units"] + (ctx["units"] if ctx["bias"] else 0)


def _linear_macs(ctx: LayerContext) -> int:
    rows = prod(ctx.x.shape[1:-1]) if ctx.x.rank > 2 else 1
    return (rows if isinstance(rows, int) else 1) * ctx.x.shape[-1] * ctx["units"]


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
    ),
    infer=_linear_infer,
    build=lambda ctx: make(nn.Linear, ctx.x.shape[-1], ctx["units"], bias=ctx["bias"]),
    count_params=_linear_params,
    macs=_linear_macs,
    label=lambda p: f"{p['units']}" + ("" if p["bias"] else ", no bias"),
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

register(LINEAR, IDENTITY, FLATTEN)
