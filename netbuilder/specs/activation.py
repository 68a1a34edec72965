"""Element-wise and normalising activations."""

from __future__ import annotations

from typing import Any

from netbuilder.specs import register
from netbuilder.specs.base import (
    LayerContext,
    LayerSpec,
    Param,
    ParamKind,
    TensorType,
    elements,
    make,
    need_float,
    sample_axis,
)
from netbuilder.specs.interop import onnx_rule
from netbuilder.specs.lazy import nn


def _same(ctx: LayerContext) -> tuple[TensorType, ...]:
    need_float(ctx, "An activation")
    return (ctx.x,)


def _elementwise_macs(ctx: LayerContext) -> int:
    return elements(ctx.x.shape)


def _activation(
    type_id: str,
    title: str,
    doc: str,
    module: type[nn.Module],
    params: tuple[Param, ...] = (),
    kwargs: dict[str, str] | None = None,
    count_params: Any = None,
    keywords: tuple[str, ...] = (),
    infer: Any = _same,
) -> LayerSpec:
    names = kwargs or {}

    def build(ctx: LayerContext) -> nn.Module:
        return make(module, **{torch_name: ctx[name] for name, torch_name in names.items()})

    return LayerSpec(
        id=type_id,
        category="Activation",
        title=title,
        doc=doc,
        params=params,
        infer=infer,
        build=build,
        macs=_elementwise_macs,
        count_params=count_params or (lambda ctx: 0),
        label=(lambda p: ", ".join(f"{k}={p[k]:g}" if isinstance(p[k], float) else f"{k}={p[k]}" for k in names))
        if names else None,
        keywords=keywords,
    )


def _softmax_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    _same(ctx)
    sample_axis(ctx["axis"], ctx.x.rank, "Softmax over the batch axis mixes samples.",
                suggestion="Use axis -1 (the last axis).")
    return (ctx.x,)


def _prelu_params(ctx: LayerContext) -> int:
    if ctx["per_channel"]:
        channels = ctx.x.shape[1] if ctx.x.rank > 1 else 1
        return channels if isinstance(channels, int) else 1
    return 1


def _build_prelu(ctx: LayerContext) -> nn.Module:
    channels = ctx.x.shape[1] if ctx["per_channel"] and ctx.x.rank > 1 else 1
    return make(nn.PReLU, num_parameters=channels, init=ctx["init"])


AXIS = Param("axis", ParamKind.INT, -1, "The axis whose values are normalised to sum to 1 (-1 = last).")

register(
    _activation("ReLU", "ReLU", "max(0, x). The default non-linearity for hidden layers: cheap and trains well.",
                nn.ReLU, keywords=("rectified",)),
    _activation("LeakyReLU", "Leaky ReLU",
                "Like ReLU but lets a small slope through for negative inputs, so units never die.",
                nn.LeakyReLU,
                params=(Param("negative_slope", ParamKind.FLOAT, 0.01, "Slope for x < 0.", minimum=0.0,
                              maximum=1.0),),
                kwargs={"negative_slope": "negative_slope"}),
    LayerSpec(
        id="PReLU", category="Activation", title="PReLU",
        doc="Leaky ReLU whose negative slope is learned, either one for all or one per channel (axis 1).",
        params=(Param("per_channel", ParamKind.BOOL, False, "Learn one slope per channel (axis 1)."),
                Param("init", ParamKind.FLOAT, 0.25, "Initial slope.", minimum=0.0, maximum=1.0)),
        infer=_same, build=_build_prelu, count_params=_prelu_params, macs=_elementwise_macs,
    ),
    _activation("ELU", "ELU", "Exponential linear unit: smooth for x < 0, which centres activations near zero.",
                nn.ELU, params=(Param("alpha", ParamKind.FLOAT, 1.0, "Saturation value for x < 0.", minimum=0.0),),
                kwargs={"alpha": "alpha"}),
    _activation("GELU", "GELU", "Gaussian error linear unit, the activation used in Transformers (BERT, GPT).",
                nn.GELU),
    _activation("SiLU", "SiLU / Swish", "x * sigmoid(x). Smooth, used in modern CNNs (EfficientNet).", nn.SiLU,
                keywords=("swish",)),
    _activation("Sigmoid", "Sigmoid", "Squashes to (0, 1). For binary probabilities and gates.", nn.Sigmoid,
                keywords=("logistic",)),
    _activation("Tanh", "Tanh", "Squashes to (-1, 1). Common in RNNs and GAN generator outputs.", nn.Tanh),
    _activation("Softmax", "Softmax", "Turns scores into probabilities that sum to 1 along an axis. For training "
                "with cross-entropy, output the logits instead: the loss applies softmax itself.", nn.Softmax,
                params=(AXIS,), kwargs={"axis": "dim"}, infer=_softmax_infer),
    _activation("LogSoftmax", "Log-softmax", "Log of softmax, numerically stable. Pair it with the NLL loss.",
                nn.LogSoftmax, params=(AXIS,), kwargs={"axis": "dim"}, infer=_softmax_infer),
    _activation("Softplus", "Softplus", "log(1 + exp(x)): a smooth ReLU that is always positive (e.g. for "
                "standard deviations).", nn.Softplus,
                params=(Param("beta", ParamKind.FLOAT, 1.0, "Sharpness.", minimum=0.01),),
                kwargs={"beta": "beta"}),
)



# ---------------------------------------------------------------------------------------------------------------
# ONNX import rules

_PLAIN = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}


@onnx_rule(*_PLAIN)
def _plain_from_onnx(node: Any) -> None:
    node.emit(_PLAIN[node.op_type])


@onnx_rule("LeakyRelu")
def _leaky_from_onnx(node: Any) -> None:
    node.emit("LeakyReLU", {"negative_slope": float(node.attr("alpha", 0.01))})


@onnx_rule("Elu")
def _elu_from_onnx(node: Any) -> None:
    node.emit("ELU", {"alpha": float(node.attr("alpha", 1.0))})


@onnx_rule("Softplus")
def _softplus_from_onnx(node: Any) -> None:
    node.emit("Softplus", {"beta": 1.0})


@onnx_rule("Gelu")
def _gelu_from_onnx(node: Any) -> None:
    if (node.attr("approximate", "none") or "none") != "none":
        raise node.fail("the tanh approximation of GELU")
    node.emit("GELU")


@onnx_rule("Softmax", "LogSoftmax")
def _softmax_from_onnx(node: Any) -> None:
    rank = node.type(0).rank
    axis = int(node.attr("axis", -1 if node.opset >= 13 else 1)) % rank
    if node.opset < 13 and axis != rank - 1:
        # Before opset 13, softmax flattens every axis from ``axis`` on into one: the same as a softmax over one
        # axis when every other of those axes has size 1 (e.g. N×C×1×1 after global pooling).
        sizes = node.type(0).shape[axis:]
        wide = [axis + i for i, size in enumerate(sizes) if size != 1]
        if len(wide) > 1:
            raise node.fail(f"softmax over axes {axis}..{rank - 1} together (opset {node.opset})")
        axis = wide[0] if wide else axis
    node.emit(node.op_type, {"axis": axis if axis != rank - 1 else -1})


@onnx_rule("PRelu")
def _prelu_from_onnx(node: Any) -> None:
    slope = node.const(1)
    if slope is None:
        raise node.fail("its slopes are computed in the graph")
    x = node.type(0)
    if slope.size == 1:
        node.emit("PReLU", {"per_channel": False}, weights={"weight": slope.reshape(1)})
        return
    channels = x.shape[1] if x.rank > 1 else None
    if slope.size != channels:
        raise node.fail("slopes that are neither one nor one per channel")
    node.emit("PReLU", {"per_channel": True}, weights={"weight": slope.reshape(-1)})
