"""Input and Output nodes: where data enters a network and where named results leave it."""

from __future__ import annotations

from netbuilder.specs import register
from netbuilder.specs.base import BATCH, LayerContext, LayerSpec, Param, ParamKind, Port, TensorType, make
from netbuilder.specs.lazy import nn
from netbuilder.specs.roles import OUTPUT_ROLES

MAX_SIZE = 2**31 - 1  # per axis; larger than any tensor axis a desktop can hold


def _input_shape(ctx: LayerContext) -> tuple[TensorType, ...]:
    return (TensorType((BATCH, *ctx["shape"]), ctx["dtype"]),)


INPUT = LayerSpec(
    id="Input",
    category="Input/Output",
    title="Input",
    doc=(
        "Where data enters the network. Shape is one sample without the batch, e.g. 64 for feature vectors, "
        "1, 8, 8 for grey 8x8 images, or T for a sequence of any length. Use int64 for token ids feeding an "
        "Embedding."
    ),
    params=(
        Param("shape", ParamKind.SHAPE, (64,), "Size of one sample, without the batch. T = variable length.",
              maximum=MAX_SIZE),
        Param("dtype", ParamKind.CHOICE, "float32", "float32 for measurements and pixels; int64 for token ids.",
              choices=("float32", "int64")),
    ),
    inputs=(),
    outputs=(Port("out", "The batch of samples."),),
    infer=_input_shape,
    build=lambda ctx: make(nn.Identity),
    label=lambda p: "×".join(str(d) for d in p["shape"]) + (" ids" if p["dtype"] == "int64" else ""),
    example_params={"shape": (16,)},
    example_inputs=(),
    keywords=("data", "placeholder"),
)

OUTPUT = LayerSpec(
    id="Output",
    category="Input/Output",
    title="Output",
    doc=(
        "A named result of the network. Role says what it is for, so training can pick a fitting loss: class "
        "logits, probabilities, a regression value, a reconstruction of the input, next-token logits, a "
        "discriminator score, generated samples, plain features, or a policy's action logits and state value."
    ),
    params=(
        Param("role", ParamKind.CHOICE, "logits", "What this output means; training picks its loss from it.",
              choices=OUTPUT_ROLES),
    ),
    inputs=(Port("in", "The tensor to return."),),
    outputs=(),
    infer=lambda ctx: (ctx.x,),
    build=lambda ctx: make(nn.Identity),
    label=lambda p: p["role"].replace("_", " "),
    example_params={"role": "logits"},
    keywords=("result", "prediction", "head"),
)

register(INPUT, OUTPUT)
