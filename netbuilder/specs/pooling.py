"""Pooling: summarise windows (max or average), resize to a fixed grid, or reduce every spatial axis at once."""

from __future__ import annotations

import math

from netbuilder.specs import register
from netbuilder.specs.base import (
    BATCH,
    SEQ,
    Dim,
    LayerContext,
    LayerSpec,
    Param,
    ParamKind,
    TensorType,
    conv_out,
    elements,
    make,
    need_float,
    need_rank,
    spatial_names,
    times,
)
from netbuilder.specs.lazy import modules, nn

LAYOUTS = {1: "a sequence N×C×L", 2: "an image N×C×H×W"}
HINTS = {
    1: "For features N×F use Unsqueeze to add a channel axis first (N×1×F).",
    2: "Reshape the features into channels and spatial axes first, or use the 1D pooling on sequences.",
}
TORCH_POOL = {("Max", 1): nn.MaxPool1d, ("Max", 2): nn.MaxPool2d, ("Avg", 1): nn.AvgPool1d, ("Avg", 2): nn.AvgPool2d}


def _stride(ctx: LayerContext) -> tuple[int, ...]:
    return ctx["stride"] if ctx["stride"] is not None else ctx["kernel_size"]


def _pool_infer(type_id: str, d: int):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        need_float(ctx, type_id)
        need_rank(ctx, type_id, (d + 2,), LAYOUTS[d], suggestion=HINTS[d])
        stride = _stride(ctx)
        shape: list[Dim] = list(ctx.x.shape[:2])
        for i, name in enumerate(spatial_names(d)):
            kernel, pad, dim = ctx["kernel_size"][i], ctx["padding"][i], ctx.x.shape[2 + i]
            if 2 * pad > kernel:
                raise ctx.fail(f"Padding {pad} is more than half the kernel {kernel} along the {name}.",
                               param="padding", suggestion=f"Use padding of at most {kernel // 2}.")
            if isinstance(dim, int) and kernel > dim + 2 * pad:
                where = "padded input" if pad else "input"
                raise ctx.fail(f"Kernel {kernel} is larger than the {where} {name} {dim + 2 * pad}.",
                               param="kernel_size", suggestion="Use a smaller window or remove an earlier pooling.")
            shape.append(conv_out(dim, kernel, stride[i], pad))
        return (ctx.x.with_shape(shape),)

    return infer


def _pool(kind: str, d: int, doc: str, example_inputs: tuple, keywords: tuple[str, ...]) -> LayerSpec:
    type_id = f"{kind}Pool{d}d"
    infer = _pool_infer(type_id, d)
    axes = ", ".join(spatial_names(d))
    per_axis = f" One number, or one per axis ({axes})." if d > 1 else ""

    def build(ctx: LayerContext) -> nn.Module:
        return make(TORCH_POOL[kind, d], tuple(ctx["kernel_size"]), stride=tuple(_stride(ctx)),
                    padding=tuple(ctx["padding"]))

    def macs(ctx: LayerContext) -> int:
        return elements(infer(ctx)[0].shape) * math.prod(ctx["kernel_size"])

    return LayerSpec(
        id=type_id,
        category="Pooling",
        title=f"{'Max' if kind == 'Max' else 'Average'} pool {d}D",
        doc=doc,
        params=(
            Param("kernel_size", ParamKind.INTS, (2,) * d, "Size of each window." + per_axis, minimum=1,
                  maximum=1024, length=d),
            Param("stride", ParamKind.INTS, None, "Step between windows; auto = the kernel size, so windows do not "
                  "overlap." + per_axis, minimum=1, maximum=1024, length=d, allow_none=True),
            Param("padding", ParamKind.INTS, (0,) * d, "Added at both ends of each axis, at most half the kernel"
                  + (" (padding counts as zero in the average)." if kind == "Avg" else "."), minimum=0,
                  maximum=512, length=d),
        ),
        infer=infer,
        build=build,
        macs=macs,
        label=lambda p: times(p["kernel_size"]) + ("" if p["stride"] is None or p["stride"] == p["kernel_size"]
                                                   else f", s{times(p['stride'])}"),
        example_params={"kernel_size": 2},
        example_inputs=example_inputs,
        keywords=keywords,
    )


def _adaptive_infer(type_id: str, d: int):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        need_float(ctx, type_id)
        need_rank(ctx, type_id, (d + 2,), LAYOUTS[d], suggestion=HINTS[d])
        return (ctx.x.with_shape((*ctx.x.shape[:2], *ctx["output_size"])),)

    return infer


def _adaptive(d: int, doc: str, example_inputs: tuple) -> LayerSpec:
    type_id = f"AdaptiveAvgPool{d}d"
    axes = ", ".join(spatial_names(d))
    return LayerSpec(
        id=type_id,
        category="Pooling",
        title=f"Adaptive average pool {d}D",
        doc=doc,
        params=(
            Param("output_size", ParamKind.INTS, (1,) * d, f"The output size along each axis ({axes}).", minimum=1,
                  maximum=4096, length=d),
        ),
        infer=_adaptive_infer(type_id, d),
        build=lambda ctx: make(nn.AdaptiveAvgPool1d if d == 1 else nn.AdaptiveAvgPool2d,
                               tuple(ctx["output_size"])),
        macs=lambda ctx: elements(ctx.x.shape),
        label=lambda p: f"→ {times(p['output_size'])}",
        example_params={"output_size": (2,) * d},
        example_inputs=example_inputs,
        keywords=("adaptive", "resize", "fixed size"),
    )


def _global_infer(type_id: str):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        need_float(ctx, type_id)
        need_rank(ctx, type_id, (3, 4, 5), "a sequence, image or volume N×C×...",
                  suggestion="Its input needs channels on axis 1 and at least one axis after them.")
        return (ctx.x.with_shape(ctx.x.shape[:2]),)

    return infer


def _global(kind: str, doc: str, module: type, keywords: tuple[str, ...]) -> LayerSpec:
    type_id = f"Global{kind}Pool"
    return LayerSpec(
        id=type_id,
        category="Pooling",
        title=f"Global {'average' if kind == 'Avg' else 'max'} pool",
        doc=doc,
        infer=_global_infer(type_id),
        build=lambda ctx: make(module),
        macs=lambda ctx: elements(ctx.x.shape),
        example_inputs=((BATCH, 4, 3, 5),),
        keywords=keywords,
    )


register(
    _pool("Max", 1, "Keeps the largest value in each window of a sequence N×C×L; halves its length with the default "
          "2 and makes detected patterns robust to small shifts.", ((BATCH, 3, SEQ),), ("maxpool", "downsample")),
    _pool("Max", 2, "Keeps the largest value in each window of an image N×C×H×W; the classic CNN downsampling step "
          "(2x2 halves height and width).", ((BATCH, 3, 6, 6),), ("maxpool", "downsample", "subsample")),
    _pool("Avg", 1, "Averages each window of a sequence N×C×L; a smooth way to shorten it.", ((BATCH, 3, SEQ),),
          ("average", "mean", "downsample")),
    _pool("Avg", 2, "Averages each window of an image N×C×H×W; a smooth way to downsample.", ((BATCH, 3, 6, 6),),
          ("average", "mean", "downsample")),
    _adaptive(1, "Averages a sequence N×C×L of any length down to a fixed output size, choosing the windows itself; "
              "lets one model accept inputs of different lengths.", ((BATCH, 3, 8),)),
    _adaptive(2, "Averages an image N×C×H×W of any size down to a fixed grid (e.g. 1x1 or 7x7), choosing the "
              "windows itself; lets one classifier accept images of different sizes.", ((BATCH, 3, 6, 6),)),
    _global("Avg", "Averages every position of each channel: N×C×... becomes N×C. The usual bridge from the "
            "convolutions of a CNN (or a Conv1d over a sequence) to its dense classifier, with no weights.",
            modules.GlobalAvgPool, ("gap", "mean", "average", "global pooling")),
    _global("Max", "Keeps the largest value of each channel over every position: N×C×... becomes N×C. Answers "
            "'does this pattern appear anywhere?'.", modules.GlobalMaxPool, ("max", "global pooling")),
)
