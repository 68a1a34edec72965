"""Layers that do fixed arithmetic on one tensor: Scale (multiply by a constant)."""

from __future__ import annotations

import math

from netbuilder.specs import register
from netbuilder.specs.base import (
    BATCH,
    SEQ,
    LayerContext,
    LayerSpec,
    Param,
    ParamKind,
    TensorType,
    elements,
    make,
    need_float,
    need_known,
)
from netbuilder.specs.lazy import modules


def scale_factor(ctx: LayerContext) -> float:
    """The constant the layer multiplies by: the factor, times √D of the last axis when asked."""
    factor = ctx["factor"]
    if ctx["times_sqrt_features"]:
        features = need_known(ctx, ctx.x.shape[-1], "The last axis (its size D gives √D)")
        factor *= math.sqrt(features)
    return float(factor)


def _infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "Scale")
    scale_factor(ctx)  # a variable last axis with √D is refused here, by name
    return (ctx.x,)


def _label(p: dict) -> str:
    factor = f"×{p['factor']:g}"
    if p["times_sqrt_features"]:
        return "×√D" if p["factor"] == 1 else f"{factor}·√D"
    return factor


SCALE = LayerSpec(
    id="Scale",
    category="Dense & Shape",
    title="Scale",
    doc=(
        "Multiplies every value by a constant, e.g. token embeddings by √D before adding positions, as in "
        "Transformers, or a fixed gain. With ×√D on, the constant is the factor times the square root of the last "
        "axis's size. It has no weights."
    ),
    params=(
        Param("factor", ParamKind.FLOAT, 1.0, "The constant to multiply by.", minimum=-1e6, maximum=1e6),
        Param("times_sqrt_features", ParamKind.BOOL, False, "Also multiply by √D, the square root of the last "
              "axis's size (embeddings × √d).", label="Times √D"),
    ),
    infer=_infer,
    build=lambda ctx: make(modules.Scale, scale_factor(ctx)),
    macs=lambda ctx: elements(ctx.x.shape),
    label=_label,
    example_params={"factor": 0.5, "times_sqrt_features": True},
    example_inputs=((BATCH, SEQ, 16),),
    keywords=("multiply", "constant", "gain", "sqrt", "embedding scale"),
)

register(SCALE)
