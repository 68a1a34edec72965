"""Pooling: summarise windows (max or average), resize to a fixed grid, or reduce every spatial axis at once."""

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
    TensorType,
    conv_out,
    elements,
    make,
    need_float,
    need_rank,
    offset_dim,
    spatial_names,
    sym,
    times,
)
from netbuilder.specs.interop import ints, onnx_pads, onnx_rule
from netbuilder.specs.lazy import modules, nn

LAYOUTS = {1: "a sequence N×C×L", 2: "an image N×C×H×W"}
HINTS = {
    1: "For features N×F use Unsqueeze to add a channel axis first (N×1×F).",
    2: "Reshape the features into channels and spatial axes first, or use the 1D pooling on sequences.",
}
TORCH_POOL = {("Max", 1): nn.MaxPool1d, ("Max", 2): nn.MaxPool2d, ("Avg", 1): nn.AvgPool1d, ("Avg", 2): nn.AvgPool2d}


def _stride(ctx: LayerContext) -> tuple[int, ...]:
    return ctx["stride"] if ctx["stride"] is not None else ctx["kernel_size"]


def _pad_end(ctx: LayerContext | dict) -> tuple[int, ...]:
    """Padding at the end of each axis: ``padding_end``, or the start's when it is auto (symmetric)."""
    end = ctx["padding_end"]
    return tuple(end) if end is not None else tuple(ctx["padding"])


def pool_out(dim: Dim, kernel: int, stride: int, start: int, end: int, ceil_mode: bool) -> Dim:
    """Windows along one axis. With ceil_mode a last, partial window counts if it starts inside the input or the
    start padding (PyTorch's and ONNX's rule)."""
    if not ceil_mode:
        if start == end:
            return conv_out(dim, kernel, stride, start)
        return conv_out(dim, kernel + start - end, stride, start) if isinstance(dim, int) else \
            conv_out(offset_dim(dim, end - start), kernel, stride, start)
    if not isinstance(dim, int):
        return f"ceil({sym(str(offset_dim(dim, start + end - kernel)))}/{stride})+1"
    count = -(-(dim + start + end - kernel) // stride) + 1
    if (count - 1) * stride >= dim + start:
        count -= 1
    return count


def _pool_infer(type_id: str, d: int):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        need_float(ctx, type_id)
        need_rank(ctx, type_id, (d + 2,), LAYOUTS[d], suggestion=HINTS[d])
        stride = _stride(ctx)
        ends = _pad_end(ctx)
        shape: list[Dim] = list(ctx.x.shape[:2])
        for i, name in enumerate(spatial_names(d)):
            kernel, pad, dim = ctx["kernel_size"][i], ctx["padding"][i], ctx.x.shape[2 + i]
            for amount, param in ((pad, "padding"), (ends[i], "padding_end")):
                if 2 * amount > kernel:
                    raise ctx.fail(f"Padding {amount} is more than half the kernel {kernel} along the {name}.",
                                   param=param, suggestion=f"Use padding of at most {kernel // 2}.")
            if isinstance(dim, int) and kernel > dim + pad + ends[i]:
                where = "padded input" if pad or ends[i] else "input"
                raise ctx.fail(f"Kernel {kernel} is larger than the {where} {name} {dim + pad + ends[i]}.",
                               param="kernel_size", suggestion="Use a smaller window or remove an earlier pooling.")
            shape.append(pool_out(dim, kernel, stride[i], pad, ends[i], ctx["ceil_mode"]))
        return (ctx.x.with_shape(shape),)

    return infer


def _pool(kind: str, d: int, doc: str, example_inputs: tuple, keywords: tuple[str, ...]) -> LayerSpec:
    type_id = f"{kind}Pool{d}d"
    infer = _pool_infer(type_id, d)
    axes = ", ".join(spatial_names(d))
    per_axis = f" One number, or one per axis ({axes})." if d > 1 else ""

    def build(ctx: LayerContext) -> nn.Module:
        ends = _pad_end(ctx)
        extra = {"count_include_pad": ctx["count_include_pad"]} if kind == "Avg" else {}
        if ends != tuple(ctx["padding"]):
            return make(modules.PaddedPool, kind.lower(), tuple(ctx["kernel_size"]), tuple(_stride(ctx)),
                        tuple(ctx["padding"]), ends, ctx["ceil_mode"], extra.get("count_include_pad", True))
        return make(TORCH_POOL[kind, d], tuple(ctx["kernel_size"]), stride=tuple(_stride(ctx)),
                    padding=tuple(ctx["padding"]), ceil_mode=ctx["ceil_mode"], **extra)

    def macs(ctx: LayerContext) -> int:
        return elements(infer(ctx)[0].shape) * math.prod(ctx["kernel_size"])

    average = (Param("count_include_pad", ParamKind.BOOL, True, "Count padded positions in the average (PyTorch's "
                     "default); off divides by the real values only (ONNX's default)."),) if kind == "Avg" else ()
    fill = "zero in the average unless count include pad is off" if kind == "Avg" else "minus infinity"
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
            Param("padding", ParamKind.INTS, (0,) * d, "Added at both ends of each axis (at the start only when "
                  f"padding end is set), at most half the kernel; padding counts as {fill}.", minimum=0,
                  maximum=512, length=d),
            Param("padding_end", ParamKind.INTS, None, "Added at the end of each axis when it differs from the "
                  "start (asymmetric padding, as in models converted from Caffe); auto = the same as padding.",
                  minimum=0, maximum=512, length=d, allow_none=True),
            Param("ceil_mode", ParamKind.BOOL, False, "Round the number of windows up, so a last partial window "
                  "still gives an output."),
            *average,
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


# ---------------------------------------------------------------------------------------------------------------
# ONNX import rules


@onnx_rule("MaxPool", "AveragePool")
def _pool_from_onnx(node: Any) -> None:
    kernel = ints(node.attr("kernel_shape"))
    d = len(kernel)
    if d not in (1, 2) or node.type(0).rank != d + 2:
        raise node.fail(f"NetBuilder pools sequences and images, not {d}D windows over rank {node.type(0).rank}")
    if any(v != 1 for v in ints(node.attr("dilations"))):
        raise node.fail("dilated pooling windows")
    if node.output_count > 1:
        raise node.fail("the indices of the maxima are used")
    strides = ints(node.attr("strides")) or (1,) * d
    start, end = onnx_pads(node, kernel, strides, (1,) * d)
    kind = "Max" if node.op_type == "MaxPool" else "Avg"
    params: dict[str, Any] = {"kernel_size": kernel, "stride": strides, "padding": start,
                              "padding_end": end if end != start else None,
                              "ceil_mode": bool(node.attr("ceil_mode", 0))}
    if kind == "Avg":
        params["count_include_pad"] = bool(node.attr("count_include_pad", 0))
    node.emit(f"{kind}Pool{d}d", params)


def _keep_dims(node: Any) -> None:
    """Average every position but keep the N×C×1×1 shape ONNX gives (AdaptiveAvgPool to size 1)."""
    rank = node.type(0).rank
    if rank not in (3, 4):
        raise node.fail(f"global pooling that keeps the axes of a rank {rank} tensor")
    node.emit(f"AdaptiveAvgPool{rank - 2}d", {"output_size": (1,) * (rank - 2)})


@onnx_rule("GlobalAveragePool")
def _global_average_from_onnx(node: Any) -> None:
    _keep_dims(node)


@onnx_rule("GlobalMaxPool")
def _global_max_from_onnx(node: Any) -> None:
    x = node.type(0)
    if not isinstance(x.shape[1], int):
        raise node.fail("the channel count is not fixed")
    pooled = node.emit("GlobalMaxPool", outputs=())
    node.emit("Reshape", {"shape": (x.shape[1],) + (1,) * (x.rank - 2)}, inputs=(pooled.out(),),
              name=node.aux_name("keepdims"))


@onnx_rule("ReduceMean")
def _reduce_mean_from_onnx(node: Any) -> None:
    rank = node.type(0).rank
    axes = ints(node.const(1)) if node.has_input(1) else ints(node.attr("axes"))
    if node.has_input(1) and node.const(1) is None:
        raise node.fail("its axes are computed in the graph")
    if sorted(a % rank for a in axes) != list(range(2, rank)) or rank < 3:
        raise node.fail(f"a mean over axes {list(axes)} (NetBuilder averages every position after the channels)")
    if node.attr("keepdims", 1):
        _keep_dims(node)
    else:
        node.emit("GlobalAvgPool")
