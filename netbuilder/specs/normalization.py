"""Normalization and regularization: batch, layer, group and instance norm, and dropout."""

from __future__ import annotations

from typing import Any

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
    need_rank,
    prod,
    shapes_text,
)
from netbuilder.specs.interop import onnx_rule
from netbuilder.specs.lazy import nn

EPS = Param("eps", ParamKind.FLOAT, 1e-5, "Small number added to the variance so it never divides by zero.",
            minimum=0.0, maximum=1.0)
MOMENTUM = Param("momentum", ParamKind.FLOAT, 0.1, "How fast the running mean and variance (used at inference) "
                 "follow each batch.", minimum=0.0, maximum=1.0)


def _affine(default: bool) -> Param:
    return Param("affine", ParamKind.BOOL, default, "Learn a scale and a shift per channel after normalising.")


def _channel_infer(type_id: str, ranks: tuple[int, ...], layout: str, hint: str):
    def infer(ctx: LayerContext) -> tuple[TensorType, ...]:
        need_float(ctx, type_id)
        need_rank(ctx, type_id, ranks, layout, suggestion=hint)
        need_known(ctx, ctx.x.shape[1], "The channel count (axis 1)")
        return (ctx.x,)

    return infer


def _per_channel_count(ctx: LayerContext) -> int:
    return 2 * ctx.x.shape[1] if ctx["affine"] else 0


def _norm_macs(ctx: LayerContext) -> int:
    return 2 * elements(ctx.x.shape)


BATCH_NORM_1D = LayerSpec(
    id="BatchNorm1d",
    category="Normalization",
    title="Batch norm 1D",
    doc=(
        "Normalises each feature (N×C) or each channel of a sequence (N×C×L) to zero mean and unit variance over "
        "the batch, then rescales it. Speeds up and steadies training of deep dense and 1D-convolutional networks; "
        "at inference it uses running averages. Channels are inferred from axis 1."
    ),
    params=(EPS, MOMENTUM, _affine(True)),
    infer=_channel_infer("BatchNorm1d", (2, 3), "features N×C or a sequence N×C×L",
                         "Use BatchNorm2d for images, LayerNorm for N×T×F sequences."),
    build=lambda ctx: make(nn.BatchNorm1d, ctx.x.shape[1], eps=ctx["eps"], momentum=ctx["momentum"],
                           affine=ctx["affine"]),
    count_params=_per_channel_count,
    macs=_norm_macs,
    example_inputs=((BATCH, 6),),
    keywords=("batchnorm", "bn", "normalize"),
)

BATCH_NORM_2D = LayerSpec(
    id="BatchNorm2d",
    category="Normalization",
    title="Batch norm 2D",
    doc=(
        "Normalises each channel of an image N×C×H×W over the batch and all positions, then rescales it. The "
        "standard companion of Conv2d (conv, batch norm, ReLU); lets deep CNNs train fast. Channels are inferred."
    ),
    params=(EPS, MOMENTUM, _affine(True)),
    infer=_channel_infer("BatchNorm2d", (4,), "an image N×C×H×W",
                         "Use BatchNorm1d for features or sequences."),
    build=lambda ctx: make(nn.BatchNorm2d, ctx.x.shape[1], eps=ctx["eps"], momentum=ctx["momentum"],
                           affine=ctx["affine"]),
    count_params=_per_channel_count,
    macs=_norm_macs,
    example_inputs=((BATCH, 3, 4, 4),),
    keywords=("batchnorm", "bn", "normalize"),
)


def _layer_norm_shape(ctx: LayerContext) -> tuple[int, ...]:
    need_float(ctx, "LayerNorm")
    axes = ctx["axes"]
    if axes >= ctx.x.rank:
        raise ctx.fail(f"LayerNorm over the last {axes} axes needs a tensor of rank above {axes}, but the input is "
                       f"{shapes_text(ctx.x.shape)}.", param="axes",
                       suggestion="The batch axis is never normalised; use fewer axes.")
    shape = ctx.x.shape[-axes:]
    for i, dim in enumerate(shape):
        need_known(ctx, dim, f"Axis {ctx.x.rank - axes + i}, which LayerNorm normalises,",
                   suggestion="Normalise over fewer axes (1 = features only).")
    return tuple(shape)  # type: ignore[arg-type]


def _layer_norm_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    _layer_norm_shape(ctx)
    return (ctx.x,)


def _layer_norm_count(ctx: LayerContext) -> int:
    size = prod(_layer_norm_shape(ctx))
    return 2 * size if ctx["affine"] else 0  # type: ignore[operator]


LAYER_NORM = LayerSpec(
    id="LayerNorm",
    category="Normalization",
    title="Layer norm",
    doc=(
        "Normalises each sample on its own over its last axes (by default the features), then rescales it. Does "
        "not depend on the batch, so it works the same in training and inference and suits sequences: it is the "
        "normalisation of Transformers and many RNNs. The normalised shape is inferred."
    ),
    params=(
        Param("axes", ParamKind.INT, 1, "How many trailing axes to normalise over (1 = the last axis).", minimum=1,
              maximum=4),
        EPS,
        Param("affine", ParamKind.BOOL, True, "Learn a scale and a shift per normalised value."),
    ),
    infer=_layer_norm_infer,
    build=lambda ctx: make(nn.LayerNorm, _layer_norm_shape(ctx), eps=ctx["eps"], elementwise_affine=ctx["affine"]),
    count_params=_layer_norm_count,
    macs=_norm_macs,
    label=lambda p: "" if p["axes"] == 1 else f"last {p['axes']} axes",
    example_params={"axes": 1},
    example_inputs=((BATCH, SEQ, 8),),
    keywords=("layernorm", "ln", "normalize", "transformer"),
)


def _group_norm_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "GroupNorm")
    need_rank(ctx, "GroupNorm", (2, 3, 4, 5), "channels on axis 1 (N×C×...)")
    channels = need_known(ctx, ctx.x.shape[1], "The channel count (axis 1)")
    groups = ctx["groups"]
    if channels % groups:
        raise ctx.fail(f"Groups {groups} must divide the channels, but the input has {channels} channels.",
                       param="groups", suggestion="Pick a number of groups that divides the channel count.")
    return (ctx.x,)


GROUP_NORM = LayerSpec(
    id="GroupNorm",
    category="Normalization",
    title="Group norm",
    doc=(
        "Splits the channels into groups and normalises each group of each sample on its own. Like batch norm for "
        "CNNs but independent of the batch size, so it stays reliable with small batches (detection, "
        "segmentation, diffusion U-Nets). The channel count must divide by the number of groups."
    ),
    params=(
        Param("groups", ParamKind.INT, 8, "Number of channel groups; must divide the channels.", minimum=1,
              maximum=65536),
        EPS,
        _affine(True),
    ),
    infer=_group_norm_infer,
    build=lambda ctx: make(nn.GroupNorm, ctx["groups"], ctx.x.shape[1], eps=ctx["eps"], affine=ctx["affine"]),
    count_params=_per_channel_count,
    macs=_norm_macs,
    label=lambda p: f"{p['groups']} groups",
    example_params={"groups": 2},
    example_inputs=((BATCH, 4, 3, 3),),
    keywords=("groupnorm", "gn", "normalize"),
)

def _instance_norm_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    _channel_infer("InstanceNorm2d", (4,), "an image N×C×H×W", "Use LayerNorm or GroupNorm for other ranks.")(ctx)
    height, width = ctx.x.shape[2:]
    if height == 1 and width == 1:
        raise ctx.fail("InstanceNorm2d normalises each channel over its positions, but this input has only one "
                       "position (1×1), so every value would become 0.",
                       suggestion="Use it before the pooling that reduces the image to 1×1, or use LayerNorm.")
    return (ctx.x,)


INSTANCE_NORM_2D = LayerSpec(
    id="InstanceNorm2d",
    category="Normalization",
    title="Instance norm 2D",
    doc=(
        "Normalises each channel of each image N×C×H×W on its own over its positions. Removes per-image contrast, "
        "which is why style-transfer and image-to-image GAN generators use it."
    ),
    params=(EPS, _affine(False)),
    infer=_instance_norm_infer,
    build=lambda ctx: make(nn.InstanceNorm2d, ctx.x.shape[1], eps=ctx["eps"], affine=ctx["affine"]),
    count_params=_per_channel_count,
    macs=_norm_macs,
    example_params={"affine": True},
    example_inputs=((BATCH, 3, 4, 4),),
    keywords=("instancenorm", "style", "normalize"),
)

RATE = Param("p", ParamKind.FLOAT, 0.5, "Probability that a value is zeroed during training.", minimum=0.0,
             maximum=1.0, label="Rate")


def _dropout_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "Dropout")
    return (ctx.x,)


def _dropout2d_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "Dropout2d")
    need_rank(ctx, "Dropout2d", (4,), "an image N×C×H×W", suggestion="Use Dropout for other inputs.")
    return (ctx.x,)


DROPOUT = LayerSpec(
    id="Dropout",
    category="Normalization",
    title="Dropout",
    doc=(
        "During training, zeroes each value with probability p and scales the rest by 1/(1-p); at inference it "
        "does nothing. Keeps the network from relying on single units, which reduces overfitting. Typical p: "
        "0.1-0.5, after dense layers."
    ),
    params=(RATE,),
    infer=_dropout_infer,
    build=lambda ctx: make(nn.Dropout, p=ctx["p"]),
    label=lambda p: f"p={p['p']:g}",
    example_params={"p": 0.5},
    keywords=("regularization", "regularisation", "overfitting"),
)

DROPOUT_2D = LayerSpec(
    id="Dropout2d",
    category="Normalization",
    title="Spatial dropout 2D",
    doc=(
        "During training, zeroes whole channels of an image N×C×H×W with probability p (and scales the rest). "
        "Neighbouring pixels are strongly correlated, so dropping whole feature maps regularises CNNs better than "
        "plain dropout."
    ),
    params=(RATE,),
    infer=_dropout2d_infer,
    build=lambda ctx: make(nn.Dropout2d, p=ctx["p"]),
    label=lambda p: f"p={p['p']:g}",
    example_params={"p": 0.2},
    example_inputs=((BATCH, 3, 4, 4),),
    keywords=("spatial dropout", "channel dropout", "regularization"),
)


def _lrn_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "LocalResponseNorm")
    need_rank(ctx, "LocalResponseNorm", (3, 4, 5), "channels on axis 1 and positions after them (N×C×...)",
              suggestion="Use it on the output of a convolution.")
    return (ctx.x,)


LOCAL_RESPONSE_NORM = LayerSpec(
    id="LocalResponseNorm",
    category="Normalization",
    title="Local response norm",
    doc=(
        "Divides each value by a power of the sum of squares of its neighbours across channels: "
        "x / (k + alpha / size · Σ x²)^beta over size channels. The normalisation of AlexNet, ZFNet and "
        "GoogLeNet (before batch norm replaced it); it has no weights."
    ),
    params=(
        Param("size", ParamKind.INT, 5, "How many neighbouring channels are summed.", minimum=1, maximum=1024),
        Param("alpha", ParamKind.FLOAT, 1e-4, "Scale of the sum of squares.", minimum=0.0),
        Param("beta", ParamKind.FLOAT, 0.75, "The power the denominator is raised to.", minimum=0.0),
        Param("k", ParamKind.FLOAT, 1.0, "Added to the scaled sum before the power (ONNX calls it bias).",
              minimum=0.0),
    ),
    infer=_lrn_infer,
    build=lambda ctx: make(nn.LocalResponseNorm, ctx["size"], alpha=ctx["alpha"], beta=ctx["beta"], k=ctx["k"]),
    macs=lambda ctx: elements(ctx.x.shape) * (ctx["size"] + 2),
    label=lambda p: f"size {p['size']}",
    example_params={"size": 3},
    example_inputs=((BATCH, 6, 4, 4),),
    keywords=("lrn", "alexnet", "googlenet", "normalize"),
)

register(BATCH_NORM_1D, BATCH_NORM_2D, LAYER_NORM, GROUP_NORM, INSTANCE_NORM_2D, LOCAL_RESPONSE_NORM, DROPOUT,
         DROPOUT_2D)


# ---------------------------------------------------------------------------------------------------------------
# ONNX import rules


def _stored(node: Any, index: int, what: str) -> Any:
    value = node.const(index)
    if value is None:
        raise node.fail(f"its {what} is computed in the graph, not stored")
    return value


@onnx_rule("BatchNormalization")
def _batch_norm_from_onnx(node: Any) -> None:
    import numpy as np

    if node.attr("training_mode", 0):
        raise node.fail("it is exported in training mode")
    rank = node.type(0).rank
    if rank not in (2, 3, 4):
        raise node.fail(f"batch norm of a rank {rank} tensor")
    scale, shift = _stored(node, 1, "scale"), _stored(node, 2, "shift")
    mean, var = _stored(node, 3, "running mean"), _stored(node, 4, "running variance")
    momentum = min(max(1.0 - float(node.attr("momentum", 0.9)), 0.0), 1.0)
    node.emit("BatchNorm2d" if rank == 4 else "BatchNorm1d",
              {"eps": float(node.attr("epsilon", 1e-5)), "momentum": momentum, "affine": True},
              weights={"weight": scale.astype(np.float32), "bias": shift.astype(np.float32),
                       "running_mean": mean.astype(np.float32), "running_var": var.astype(np.float32),
                       "num_batches_tracked": np.array(0, dtype=np.int64)})


@onnx_rule("LRN")
def _lrn_from_onnx(node: Any) -> None:
    node.emit("LocalResponseNorm", {"size": int(node.attr("size")), "alpha": float(node.attr("alpha", 1e-4)),
                                    "beta": float(node.attr("beta", 0.75)), "k": float(node.attr("bias", 1.0))})


@onnx_rule("Dropout")
def _dropout_from_onnx(node: Any) -> None:
    if node.has_input(1):
        ratio = node.const(1)
        if ratio is None:
            raise node.fail("its rate is computed in the graph")
        rate = float(ratio.reshape(-1)[0])
    else:
        rate = float(node.attr("ratio", 0.5))
    node.emit("Dropout", {"p": rate})


@onnx_rule("LayerNormalization")
def _layer_norm_from_onnx(node: Any) -> None:
    import numpy as np

    rank = node.type(0).rank
    axes = rank - int(node.attr("axis", -1)) % rank
    scale = _stored(node, 1, "scale")
    shift = node.const(2) if node.has_input(2) else np.zeros_like(scale)
    if shift is None:
        raise node.fail("its shift is computed in the graph")
    normalized = node.type(0).shape[rank - axes:]
    node.emit("LayerNorm", {"axes": axes, "eps": float(node.attr("epsilon", 1e-5)), "affine": True},
              weights={"weight": scale.reshape(normalized), "bias": shift.reshape(normalized)})


@onnx_rule("InstanceNormalization")
def _instance_norm_from_onnx(node: Any) -> None:
    if node.type(0).rank != 4:
        raise node.fail("instance norm of a tensor other than an image N×C×H×W")
    node.emit("InstanceNorm2d", {"eps": float(node.attr("epsilon", 1e-5)), "affine": True},
              weights={"weight": _stored(node, 1, "scale"), "bias": _stored(node, 2, "shift")})
