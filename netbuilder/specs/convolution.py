"""Convolutions and transposed convolutions over sequences, images and volumes."""

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
    conv_transpose_out,
    elements,
    make,
    need_float,
    need_known,
    need_rank,
    spatial_names,
    times,
)
from netbuilder.specs.interop import ints, onnx_pads, onnx_rule
from netbuilder.specs.lazy import nn

LAYOUTS = {1: "a sequence N×C×L", 2: "an image N×C×H×W", 3: "a volume N×C×D×H×W"}
TORCH_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
TORCH_CONV_TRANSPOSE = {1: nn.ConvTranspose1d, 2: nn.ConvTranspose2d}


def _rank_hint(d: int) -> str:
    if d == 1:
        return "For features N×F use Linear, or Unsqueeze to add a channel axis (N×1×F)."
    return "Reshape the features into channels and spatial axes first, or pick the convolution that fits the input."


def _channels(ctx: LayerContext, type_id: str, d: int) -> int:
    need_float(ctx, type_id)
    need_rank(ctx, type_id, (d + 2,), LAYOUTS[d], suggestion=_rank_hint(d))
    channels = need_known(ctx, ctx.x.shape[1], "The channel count (axis 1)")
    groups = ctx["groups"]
    if channels % groups:
        raise ctx.fail(f"Groups {groups} must divide the input channels, but the input has {channels} channels.",
                       param="groups", suggestion="Pick groups that divide both the input and output channels.")
    if ctx["filters"] % groups:
        raise ctx.fail(f"Groups {groups} must divide the output channels, but filters is {ctx['filters']}.",
                       param="groups", suggestion="Pick groups that divide both the input and output channels.")
    return channels


def _conv_padding(ctx: LayerContext, d: int) -> tuple[int, ...] | str:
    mode = ctx["padding"]
    if mode == "valid":
        return (0,) * d
    if mode == "explicit":
        return tuple(ctx["padding_size"])
    if any(s != 1 for s in ctx["stride"]):
        raise ctx.fail(f"Padding 'same' only works with stride 1, but the stride is {times(ctx['stride'])}.",
                       param="padding", suggestion="Use explicit padding of kernel // 2 with a larger stride.")
    return "same"


def _conv_infer(type_id: str, d: int):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        _channels(ctx, type_id, d)
        padding = _conv_padding(ctx, d)
        shape: list[Dim] = [ctx.x.shape[0], ctx["filters"]]
        for i, name in enumerate(spatial_names(d)):
            dim = ctx.x.shape[2 + i]
            if padding == "same":
                shape.append(dim)
                continue
            kernel, stride, pad, dilation = ctx["kernel_size"][i], ctx["stride"][i], padding[i], ctx["dilation"][i]
            span = dilation * (kernel - 1) + 1
            if isinstance(dim, int) and span > dim + 2 * pad:
                reach = f"Kernel {kernel}" if dilation == 1 else f"Kernel {kernel} with dilation {dilation} spans {span} and"
                where = "padded input" if pad else "input"
                raise ctx.fail(f"{reach} is larger than the {where} {name} {dim + 2 * pad}.", param="kernel_size",
                               suggestion="Use a smaller kernel, add padding, or remove a pooling step before it.")
            shape.append(conv_out(dim, kernel, stride, pad, dilation))
        return (ctx.x.with_shape(shape),)

    return infer


def _conv_count(ctx: LayerContext) -> int:
    channels = ctx.x.shape[1]
    weights = channels // ctx["groups"] * ctx["filters"] * math.prod(ctx["kernel_size"])
    return weights + (ctx["filters"] if ctx["bias"] else 0)


def _conv_macs(type_id: str, d: int):
    infer = _conv_infer(type_id, d)

    def macs(ctx: LayerContext) -> int:
        out = infer(ctx)[0]
        return elements(out.shape) * ctx.x.shape[1] // ctx["groups"] * math.prod(ctx["kernel_size"])

    return macs


def _conv_build(d: int):
    def build(ctx: LayerContext) -> nn.Module:
        padding = _conv_padding(ctx, d)
        return make(TORCH_CONV[d], ctx.x.shape[1], ctx["filters"], tuple(ctx["kernel_size"]),
                    stride=tuple(ctx["stride"]), padding=padding, dilation=tuple(ctx["dilation"]),
                    groups=ctx["groups"], bias=ctx["bias"])

    return build


def _label(p: dict) -> str:
    stride = p["stride"]
    step = str(stride[0]) if len(set(stride)) == 1 else times(stride)
    return f"{p['filters']}, {times(p['kernel_size'])}, s{step}"


def _shared_params(d: int, kernel: int, stride: int) -> tuple[Param, ...]:
    axes = ", ".join(spatial_names(d))
    per_axis = f" One number, or one per axis ({axes})." if d > 1 else ""
    return (
        Param("filters", ParamKind.INT, 32, "Number of output channels (feature maps).", minimum=1,
              maximum=65536),
        Param("kernel_size", ParamKind.INTS, (kernel,) * d, "Size of the sliding window." + per_axis, minimum=1,
              maximum=1024, length=d),
        Param("stride", ParamKind.INTS, (stride,) * d, "Step between window positions." + per_axis, minimum=1,
              maximum=1024, length=d),
    )


def _tail_params(d: int) -> tuple[Param, ...]:
    return (
        Param("dilation", ParamKind.INTS, (1,) * d, "Spacing between kernel taps; above 1 widens the view without "
              "more weights.", minimum=1, maximum=1024, length=d),
        Param("groups", ParamKind.INT, 1, "Split the channels into groups convolved separately; input and output "
              "channels must both divide by it (groups = channels gives a depthwise convolution).", minimum=1,
              maximum=65536),
        Param("bias", ParamKind.BOOL, True, "Add a learned bias per output channel (not needed before "
              "BatchNorm)."),
    )


def _conv(d: int, doc: str, example_inputs: tuple, keywords: tuple[str, ...]) -> LayerSpec:
    type_id = f"Conv{d}d"
    axes = ", ".join(spatial_names(d))
    return LayerSpec(
        id=type_id,
        category="Convolution",
        title=f"Conv {d}D",
        doc=doc + " Input channels are inferred from axis 1.",
        params=(
            *_shared_params(d, 3, 1),
            Param("padding", ParamKind.CHOICE, "valid", "valid: no padding, the output shrinks; same: the output "
                  "keeps the input size (stride 1 only); explicit: pad by padding size.",
                  choices=("valid", "same", "explicit")),
            Param("padding_size", ParamKind.INTS, (0,) * d, f"Zeros added at both ends of each axis ({axes}) when "
                  "padding is explicit.", minimum=0, maximum=1024, length=d),
            *_tail_params(d),
        ),
        infer=_conv_infer(type_id, d),
        build=_conv_build(d),
        count_params=_conv_count,
        macs=_conv_macs(type_id, d),
        label=_label,
        example_params={"filters": 4, "kernel_size": 3, "padding": "valid"},
        example_inputs=example_inputs,
        keywords=keywords,
    )


# ---------------------------------------------------------------------------------------------------------------
# Transposed convolutions


def _conv_transpose_infer(type_id: str, d: int):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        _channels(ctx, type_id, d)
        shape: list[Dim] = [ctx.x.shape[0], ctx["filters"]]
        for i, name in enumerate(spatial_names(d)):
            kernel, stride, pad = ctx["kernel_size"][i], ctx["stride"][i], ctx["padding"][i]
            extra, dilation = ctx["output_padding"][i], ctx["dilation"][i]
            if extra >= max(stride, dilation):
                raise ctx.fail(f"Output padding {extra} must be smaller than the stride {stride} (or the dilation) "
                               f"along the {name}.", param="output_padding")
            dim = ctx.x.shape[2 + i]
            size = conv_transpose_out(dim, kernel, stride, pad, extra, dilation)
            if isinstance(size, int) and size < 1:
                raise ctx.fail(f"Padding {pad} crops away the whole output {name} ({size + 2 * pad} before "
                               "cropping).", param="padding", suggestion="Use less padding or a larger kernel.")
            shape.append(size)
        return (ctx.x.with_shape(shape),)

    return infer


def _conv_transpose_count(ctx: LayerContext) -> int:
    weights = ctx.x.shape[1] * (ctx["filters"] // ctx["groups"]) * math.prod(ctx["kernel_size"])
    return weights + (ctx["filters"] if ctx["bias"] else 0)


def _conv_transpose_macs(ctx: LayerContext) -> int:
    return elements(ctx.x.shape) * ctx["filters"] // ctx["groups"] * math.prod(ctx["kernel_size"])


def _conv_transpose_build(d: int):
    def build(ctx: LayerContext) -> nn.Module:
        return make(TORCH_CONV_TRANSPOSE[d], ctx.x.shape[1], ctx["filters"], tuple(ctx["kernel_size"]),
                    stride=tuple(ctx["stride"]), padding=tuple(ctx["padding"]),
                    output_padding=tuple(ctx["output_padding"]), groups=ctx["groups"], bias=ctx["bias"],
                    dilation=tuple(ctx["dilation"]))

    return build


def _conv_transpose(d: int, doc: str, example_inputs: tuple, keywords: tuple[str, ...]) -> LayerSpec:
    type_id = f"ConvTranspose{d}d"
    axes = ", ".join(spatial_names(d))
    return LayerSpec(
        id=type_id,
        category="Convolution",
        title=f"Transposed conv {d}D",
        doc=doc + " Input channels are inferred from axis 1. Output size per axis: (in - 1)·stride - 2·padding + "
        "dilation·(kernel - 1) + output padding + 1.",
        params=(
            *_shared_params(d, 2, 2),
            Param("padding", ParamKind.INTS, (0,) * d, f"Cropped from both ends of each output axis ({axes}).",
                  minimum=0, maximum=1024, length=d),
            Param("output_padding", ParamKind.INTS, (0,) * d, "Extra size added at one end of each output axis to "
                  "reach an exact size; must be smaller than the stride.", minimum=0, maximum=1024, length=d),
            *_tail_params(d),
        ),
        infer=_conv_transpose_infer(type_id, d),
        build=_conv_transpose_build(d),
        count_params=_conv_transpose_count,
        macs=_conv_transpose_macs,
        label=_label,
        example_params={"filters": 4, "kernel_size": 2, "stride": 2},
        example_inputs=example_inputs,
        keywords=keywords,
    )


register(
    _conv(1, "Slides learned filters along a sequence N×C×L (channels first), e.g. audio, sensor signals or token "
          "features after a Permute. Each output channel detects one local pattern.",
          ((BATCH, 3, SEQ),), ("temporal", "1d convolution", "tcn")),
    _conv(2, "Slides learned filters over an image N×C×H×W. The workhorse of image models: each output channel is "
          "a feature map of one local pattern (edges, textures, parts).",
          ((BATCH, 3, 8, 8),), ("cnn", "convolution", "filter", "image")),
    _conv(3, "Slides learned filters through a volume N×C×D×H×W, e.g. video clips or medical scans.",
          ((BATCH, 2, 4, 5, 5),), ("volumetric", "video", "3d convolution")),
    _conv_transpose(1, "Learned upsampling of a sequence N×C×L: the reverse of a strided Conv1d, e.g. in sequence "
                    "autoencoders.", ((BATCH, 3, SEQ),), ("deconvolution", "upsample", "1d")),
    _conv_transpose(2, "Learned upsampling of an image N×C×H×W: the reverse of a strided Conv2d. With kernel 2 and "
                    "stride 2 it doubles height and width, as in U-Net decoders, autoencoders and GAN generators.",
                    ((BATCH, 3, 4, 4),), ("deconvolution", "upsample", "decoder", "generator")),
)


# ---------------------------------------------------------------------------------------------------------------
# ONNX import rules


def _onnx_weights(node: Any) -> tuple[Any, Any]:
    weight = node.const(1)
    if weight is None:
        raise node.fail("its weights are computed in the graph, not stored")
    bias = node.const(2) if node.has_input(2) else None
    if node.has_input(2) and bias is None:
        raise node.fail("its bias is computed in the graph, not stored")
    if bias is not None and not node.is_stored(2) and not bias.any():
        bias = None  # zeros the graph builds for a layer without a bias (PyTorch's exporter writes these)
    return weight, bias


@onnx_rule("Conv")
def _conv_from_onnx(node: Any) -> None:
    weight, bias = _onnx_weights(node)
    d = node.type(0).rank - 2
    if d not in (1, 2, 3):
        raise node.fail(f"NetBuilder convolves sequences, images and volumes, not rank {d + 2} tensors")
    kernel = ints(node.attr("kernel_shape")) or tuple(weight.shape[2:])
    strides = ints(node.attr("strides")) or (1,) * d
    dilations = ints(node.attr("dilations")) or (1,) * d
    start, end = onnx_pads(node, kernel, strides, dilations)
    source: Any = 0
    if start != end:
        if d == 3:
            raise node.fail("asymmetric padding of a 3D convolution")
        amount = (start[0], end[0]) if d == 1 else (start[0], end[0], start[1], end[1])
        source = node.emit("Pad", {"amount": amount, "mode": "zero"}, outputs=(), name=node.aux_name("pad")).out()
        start = (0,) * d
    params = {"filters": int(weight.shape[0]), "kernel_size": kernel, "stride": strides, "dilation": dilations,
              "groups": int(node.attr("group", 1)), "bias": bias is not None,
              "padding": "explicit" if any(start) else "valid", "padding_size": start}
    node.emit(f"Conv{d}d", params, inputs=(source,),
              weights={"weight": weight, **({"bias": bias} if bias is not None else {})})


@onnx_rule("ConvTranspose")
def _conv_transpose_from_onnx(node: Any) -> None:
    weight, bias = _onnx_weights(node)
    d = node.type(0).rank - 2
    if d not in (1, 2):
        raise node.fail(f"NetBuilder has transposed convolutions for sequences and images, not rank {d + 2}")
    if node.attr("output_shape") is not None:
        raise node.fail("output_shape is given instead of pads (export with explicit padding)")
    kernel = ints(node.attr("kernel_shape")) or tuple(weight.shape[2:])
    strides = ints(node.attr("strides")) or (1,) * d
    dilations = ints(node.attr("dilations")) or (1,) * d
    if (node.attr("auto_pad", "NOTSET") or "NOTSET") not in ("NOTSET", "VALID"):
        raise node.fail("auto_pad SAME on a transposed convolution")
    start, end = onnx_pads(node, kernel, strides, dilations)
    if start != end:
        raise node.fail("asymmetric padding of a transposed convolution")
    groups = int(node.attr("group", 1))
    params = {"filters": int(weight.shape[1]) * groups, "kernel_size": kernel, "stride": strides,
              "padding": start, "output_padding": ints(node.attr("output_padding")) or (0,) * d,
              "dilation": dilations, "groups": groups, "bias": bias is not None}
    node.emit(f"ConvTranspose{d}d", params,
              weights={"weight": weight, **({"bias": bias} if bias is not None else {})})
