"""Token embeddings, positional encodings, multi-head attention and Transformer blocks (all batch first)."""

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
    Port,
    TensorType,
    make,
    need_float,
    need_known,
    need_rank,
    shapes_text,
)
from netbuilder.specs.lazy import modules, nn

SEQUENCE = "a sequence N×T×D"
SEQUENCE_HINT = "Put an Embedding (for token ids) or a Linear per step before it, or Unsqueeze a vector N×D to N×1×D."


# ---------------------------------------------------------------------------------------------------------------
# Embedding


def _embedding_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    if ctx.x.dtype != "int64":
        raise ctx.fail("Embedding looks up integer token ids (int64), but this input carries float values.",
                       suggestion="Set the Input's dtype to int64, or use Linear to project float features.")
    return (TensorType((*ctx.x.shape, ctx["dim"])),)


EMBEDDING = LayerSpec(
    id="Embedding",
    category="Attention",
    title="Embedding",
    doc=(
        "Turns integer token ids (int64, each below the vocabulary size) into learned vectors: N×T ids become "
        "N×T×D. The first layer of every text or token model; follow it with a PositionalEncoding for attention "
        "layers."
    ),
    params=(
        Param("vocab_size", ParamKind.INT, 1000, "Number of distinct tokens; every id must be below it.",
              minimum=1, maximum=10_000_000),
        Param("dim", ParamKind.INT, 64, "Length of each token vector (D).", minimum=1, maximum=65536),
    ),
    infer=_embedding_infer,
    build=lambda ctx: make(nn.Embedding, ctx["vocab_size"], ctx["dim"]),
    count_params=lambda ctx: ctx["vocab_size"] * ctx["dim"],
    label=lambda p: f"{p['vocab_size']} → {p['dim']}",
    example_params={"vocab_size": 20, "dim": 8},
    example_inputs=((BATCH, SEQ),),
    example_dtypes=("int64",),
    keywords=("token", "lookup", "word vectors", "nlp"),
)


# ---------------------------------------------------------------------------------------------------------------
# Positional encoding


def _sequence(ctx: LayerContext, what: str, tensor: TensorType | None = None) -> int:
    """Check a float sequence N×T×D and return its fixed width D."""
    x = tensor or ctx.x
    need_float(ctx, what, x)
    need_rank(ctx, what, (3,), SEQUENCE, suggestion=SEQUENCE_HINT, tensor=x)
    return need_known(ctx, x.shape[2], "The feature count (last axis)")


def _positional_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    width = _sequence(ctx, "PositionalEncoding")
    if ctx["kind"] == "sinusoidal" and width % 2:
        raise ctx.fail(f"Sinusoidal encoding pairs sines and cosines, so the feature count must be even; it is "
                       f"{width}.", param="kind", suggestion="Use the learned kind, or an even embedding size.")
    steps = ctx.x.shape[1]
    if isinstance(steps, int) and steps > ctx["max_len"]:
        raise ctx.fail(f"The sequence has {steps} steps, more than max length {ctx['max_len']}.", param="max_len",
                       suggestion=f"Raise max length to at least {steps}.")
    return (ctx.x,)


POSITIONAL_ENCODING = LayerSpec(
    id="PositionalEncoding",
    category="Attention",
    title="Positional encoding",
    doc=(
        "Adds a position signal to every step of a sequence N×T×D, so attention layers, which otherwise ignore "
        "order, can tell steps apart. Sinusoidal: the fixed sine/cosine pattern of the original Transformer (no "
        "weights, D must be even). Learned: a trained vector per position, as in BERT and GPT. Sequences may not "
        "be longer than max length."
    ),
    params=(
        Param("kind", ParamKind.CHOICE, "sinusoidal", "sinusoidal: fixed pattern; learned: trained per position.",
              choices=("sinusoidal", "learned")),
        Param("max_len", ParamKind.INT, 512, "The longest sequence the layer accepts.", minimum=1,
              maximum=1_000_000, label="Max length"),
    ),
    infer=_positional_infer,
    build=lambda ctx: make(modules.PositionalEncoding, ctx.x.shape[2], max_len=ctx["max_len"], kind=ctx["kind"]),
    count_params=lambda ctx: ctx["max_len"] * ctx.x.shape[2] if ctx["kind"] == "learned" else 0,
    label=lambda p: p["kind"],
    example_params={"kind": "learned", "max_len": 16},
    example_inputs=((BATCH, SEQ, 8),),
    keywords=("position", "sinusoidal", "transformer"),
)


# ---------------------------------------------------------------------------------------------------------------
# Multi-head attention


def _heads(ctx: LayerContext, width: int, param: str, what: str) -> None:
    heads = ctx[param]
    if width % heads:
        raise ctx.fail(f"{what} {heads} must divide the embedding size {width}, so each head gets an equal share.",
                       param=param, suggestion="Pick a head count that divides the feature count (e.g. 1, 2, 4, 8).")


def _attention_ports(params: dict[str, Any]) -> tuple[Port, ...]:
    if params.get("mode") == "cross":
        return (Port("in", "The queries: a sequence N×T×D."),
                Port("memory", "The sequence N×S×M attended to (keys and values)."))
    return (Port("in", "The sequence N×T×D that attends to itself."),)


def _memory(ctx: LayerContext, what: str) -> TensorType:
    memory = ctx.inputs[1] if len(ctx.inputs) > 1 else None
    if memory is None:
        raise ctx.fail(f"{what} needs a memory input.", suggestion="Wire the sequence to attend to into 'memory'.")
    return memory


def _attention_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    width = _sequence(ctx, "MultiheadAttention")
    _heads(ctx, width, "num_heads", "The number of heads")
    if ctx["mode"] == "cross":
        if ctx["causal"]:
            raise ctx.fail("A causal mask applies to self-attention only.", param="causal",
                           suggestion="Turn causal off, or use self mode.")
        _sequence(ctx, "MultiheadAttention", _memory(ctx, "Cross-attention"))
    return (ctx.x,)


def _attention_sizes(ctx: LayerContext) -> tuple[int, int]:
    """(key width, value width): the memory's features in cross mode, else the embedding size."""
    if ctx["mode"] == "cross":
        width = ctx.inputs[1].shape[2]  # type: ignore[union-attr]
        return width, width
    return ctx.x.shape[2], ctx.x.shape[2]  # type: ignore[return-value]


def _attention_count(ctx: LayerContext) -> int:
    e = ctx.x.shape[2]
    kdim, vdim = _attention_sizes(ctx)
    return e * e + e * kdim + e * vdim + 3 * e + e * e + e


def _attention_macs(ctx: LayerContext) -> int:
    e = ctx.x.shape[2]
    kdim, vdim = _attention_sizes(ctx)
    queries = ctx.x.shape[1]
    keys = ctx.inputs[1].shape[1] if ctx["mode"] == "cross" else queries  # type: ignore[union-attr]
    if not (isinstance(queries, int) and isinstance(keys, int)):
        return 0
    return queries * 2 * e * e + keys * e * (kdim + vdim) + 2 * queries * keys * e


def _build_attention(ctx: LayerContext) -> nn.Module:
    e = ctx.x.shape[2]
    kwargs: dict[str, Any] = {"dropout": ctx["dropout"], "causal": ctx["causal"]}
    if ctx["mode"] == "cross":
        kdim, vdim = _attention_sizes(ctx)
        kwargs["cross"] = True
        if kdim != e:
            kwargs.update(kdim=kdim, vdim=vdim)
    return make(modules.Attention, e, ctx["num_heads"], **kwargs)


MULTIHEAD_ATTENTION = LayerSpec(
    id="MultiheadAttention",
    category="Attention",
    title="Multi-head attention",
    doc=(
        "Lets every step of a sequence N×T×D gather information from all steps, weighted by learned relevance, "
        "in several heads at once. Self mode attends a sequence to itself; cross mode attends it to a second "
        "'memory' sequence (e.g. an encoder's output), whose width may differ. Causal hides later steps, for "
        "next-token prediction. The output has the shape of the input; D is inferred and the heads must divide it."
    ),
    params=(
        Param("num_heads", ParamKind.INT, 4, "Number of attention heads; must divide the embedding size.",
              minimum=1, maximum=1024, label="Heads"),
        Param("mode", ParamKind.CHOICE, "self", "self: the input attends to itself; cross: to the 'memory' input.",
              choices=("self", "cross")),
        Param("causal", ParamKind.BOOL, False, "Each step sees only itself and earlier steps (self mode only)."),
        Param("dropout", ParamKind.FLOAT, 0.0, "Dropout on the attention weights during training.", minimum=0.0,
              maximum=0.9),
    ),
    inputs=_attention_ports,
    infer=_attention_infer,
    build=_build_attention,
    count_params=_attention_count,
    macs=_attention_macs,
    label=lambda p: ", ".join([f"{p['num_heads']} heads", *(["cross"] if p["mode"] == "cross" else []),
                               *(["causal"] if p["causal"] else [])]),
    example_params={"num_heads": 2, "mode": "cross"},
    example_inputs=((BATCH, SEQ, 8), (BATCH, 3, 6)),
    keywords=("attention", "self-attention", "cross-attention", "mha", "transformer"),
)


# ---------------------------------------------------------------------------------------------------------------
# Transformer blocks

BLOCK_PARAMS = (
    Param("nhead", ParamKind.INT, 4, "Number of attention heads; must divide d_model.", minimum=1, maximum=1024,
          label="Heads"),
    Param("dim_feedforward", ParamKind.INT, 512, "Width of the hidden layer of the feed-forward part (often 4·D).",
          minimum=1, maximum=1_000_000, label="Feed-forward size"),
    Param("dropout", ParamKind.FLOAT, 0.1, "Dropout inside the block during training.", minimum=0.0, maximum=0.9),
    Param("activation", ParamKind.CHOICE, "relu", "Activation of the feed-forward part.", choices=("relu", "gelu")),
    Param("norm_first", ParamKind.BOOL, False, "Apply LayerNorm before each part (pre-norm, trains more stably in "
          "deep stacks) instead of after (the original post-norm)."),
)


def _block_kwargs(ctx: LayerContext) -> dict[str, Any]:
    return {"dim_feedforward": ctx["dim_feedforward"], "dropout": ctx["dropout"],
            "activation": ctx["activation"], "norm_first": ctx["norm_first"], "causal": ctx["causal"]}


def _encoder_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    width = _sequence(ctx, "TransformerEncoderLayer")
    _heads(ctx, width, "nhead", "The number of heads")
    return (ctx.x,)


def _block_count(ctx: LayerContext, attentions: int, norms: int) -> int:
    d, f = ctx.x.shape[2], ctx["dim_feedforward"]
    return attentions * (4 * d * d + 4 * d) + (2 * d * f + f + d) + norms * 2 * d


def _block_macs(ctx: LayerContext, cross: bool) -> int:
    d, f, steps = ctx.x.shape[2], ctx["dim_feedforward"], ctx.x.shape[1]
    if not isinstance(steps, int):
        return 0
    total = steps * (4 * d * d + 2 * d * f) + 2 * steps * steps * d
    if cross:
        memory = ctx.inputs[1].shape[1]  # type: ignore[union-attr]
        if not isinstance(memory, int):
            return 0
        total += steps * 2 * d * d + memory * 2 * d * d + 2 * steps * memory * d
    return total


def _block_label(p: dict) -> str:
    return f"{p['nhead']} heads, ff {p['dim_feedforward']}" + (", causal" if p["causal"] else "")


ENCODER_LAYER = LayerSpec(
    id="TransformerEncoderLayer",
    category="Attention",
    title="Transformer encoder layer",
    doc=(
        "One Transformer encoder block on a sequence N×T×D: self-attention, then a two-layer feed-forward network, "
        "each with a residual connection and LayerNorm. Stack several for BERT-style encoders; with causal on, a "
        "stack is a GPT-style decoder-only model. D (d_model) is inferred and the heads must divide it."
    ),
    params=(*BLOCK_PARAMS, Param("causal", ParamKind.BOOL, False, "Each step attends only to itself and earlier "
                                 "steps (for next-token prediction).")),
    infer=_encoder_infer,
    build=lambda ctx: make(modules.TransformerEncoderBlock, ctx.x.shape[2], ctx["nhead"], **_block_kwargs(ctx)),
    count_params=lambda ctx: _block_count(ctx, 1, 2),
    macs=lambda ctx: _block_macs(ctx, cross=False),
    label=_block_label,
    example_params={"nhead": 2, "dim_feedforward": 16, "causal": True},
    example_inputs=((BATCH, SEQ, 8),),
    keywords=("transformer", "encoder", "bert", "gpt", "self-attention"),
)


def _decoder_infer(ctx: LayerContext) -> tuple[TensorType, ...]:
    width = _sequence(ctx, "TransformerDecoderLayer")
    _heads(ctx, width, "nhead", "The number of heads")
    memory = _memory(ctx, "TransformerDecoderLayer")
    memory_width = _sequence(ctx, "TransformerDecoderLayer", memory)
    if memory_width != width:
        raise ctx.fail(f"The memory {shapes_text(memory.shape)} has {memory_width} features, but the target has "
                       f"{width}; both must equal d_model.", suggestion="Put a Linear on the memory to resize it.")
    return (ctx.x,)


DECODER_LAYER = LayerSpec(
    id="TransformerDecoderLayer",
    category="Attention",
    title="Transformer decoder layer",
    doc=(
        "One Transformer decoder block: causal self-attention over the target sequence N×T×D, cross-attention to "
        "the encoder's memory N×S×D, then a feed-forward network, each with a residual connection and LayerNorm. "
        "Used in sequence-to-sequence models (translation, summarisation). D (d_model) is inferred from the target; "
        "the memory must have the same width."
    ),
    params=(*BLOCK_PARAMS, Param("causal", ParamKind.BOOL, True, "The target's self-attention sees only earlier "
                                 "steps, as needed to generate one token at a time.")),
    inputs=(Port("target", "The sequence being generated, N×T×D."),
            Port("memory", "The encoder output attended to, N×S×D.")),
    infer=_decoder_infer,
    build=lambda ctx: make(modules.TransformerDecoderBlock, ctx.x.shape[2], ctx["nhead"], **_block_kwargs(ctx)),
    count_params=lambda ctx: _block_count(ctx, 2, 3),
    macs=lambda ctx: _block_macs(ctx, cross=True),
    label=_block_label,
    example_params={"nhead": 2, "dim_feedforward": 16, "activation": "gelu", "norm_first": True},
    example_inputs=((BATCH, SEQ, 8), (BATCH, 3, 8)),
    keywords=("transformer", "decoder", "seq2seq", "cross-attention"),
)

register(EMBEDDING, POSITIONAL_ENCODING, MULTIHEAD_ATTENTION, ENCODER_LAYER, DECODER_LAYER)


# ---------------------------------------------------------------------------------------------------------------
# ONNX import (multi-head attention is a pattern of many operations: netbuilder.importers.onnx_attention)


def sinusoidal_table(rows: int, dim: int) -> Any:
    """The sine/cosine table PositionalEncoding(kind="sinusoidal") adds, as numpy (the same formula)."""
    import numpy as np

    position = np.arange(rows, dtype=np.float32)[:, None]
    rate = np.exp(np.arange(0, dim, 2, dtype=np.float32) * np.float32(-np.log(10000.0) / dim))
    table = np.zeros((rows, dim), dtype=np.float32)
    table[:, 0::2] = np.sin(position * rate)
    table[:, 1::2] = np.cos(position * rate)
    return table


def positional_encoding_from_onnx(node: Any) -> bool:
    """An Add of a sequence N×T×D and a table of T rows (T fixed), or of the first T rows of a stored table (T
    variable or fixed): a PositionalEncoding, sinusoidal when the table is that pattern, else learned with the
    table as its weights. False (nothing emitted) when the Add is anything else."""
    import numpy as np

    for index, other in ((0, 1), (1, 0)):
        if not node.is_tensor(index) or node.axes(index) != tuple(range(len(node.axes(index)))):
            continue
        x = node.type(index)
        if x.rank != 3 or x.dtype != "float32" or not isinstance(x.shape[2], int):
            continue
        found = node.position_table(other)
        if found is None:
            constant = node.const(other)
            if constant is None or not isinstance(x.shape[1], int) or x.shape[1] < 2:
                continue
            if constant.shape not in ((x.shape[1], x.shape[2]), (1, x.shape[1], x.shape[2])):
                continue
            found = (constant.reshape(x.shape[1], x.shape[2]), x.shape[1])
        table, rows = found
        steps = x.shape[1]
        if table.ndim != 2 or table.shape[1] != x.shape[2]:
            continue
        if rows is not None and steps != rows:
            continue
        if rows is None and isinstance(steps, int):
            continue  # a fixed length sliced by a variable one: not the same table rows for every input
        table = np.asarray(table, dtype=np.float32)
        width = table.shape[1]
        if width % 2 == 0 and np.allclose(table, sinusoidal_table(table.shape[0], width), rtol=0, atol=1e-6):
            node.emit("PositionalEncoding", {"kind": "sinusoidal", "max_len": int(table.shape[0])},
                      inputs=(index,))
        else:
            node.emit("PositionalEncoding", {"kind": "learned", "max_len": int(table.shape[0])}, inputs=(index,),
                      weights={"table": np.ascontiguousarray(table)})
        return True
    return False
