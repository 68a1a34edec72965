"""How traced PyTorch calls become NetBuilder layers: one rule per ``nn`` module class, torch function and tensor
method. A rule reads the call's module or arguments, emits layers through the builder (`netbuilder.importers.pytorch`)
and returns the value the call produced, or raises `Unsupported` saying why this call cannot be expressed."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from netbuilder.importers.pytorch_lengths import BakedLength
from netbuilder.importers.pytorch_reductions import (
    _adaptive_max_call,
    _global_max,
    _global_pool_call,
    _reduce,
    _sized_by_input,
)
from netbuilder.importers.pytorch_sequences import (
    _arange,
    _attribute_rows,
    _final_step,
    _is_causal,
    _position_table,
    _positional,
)
from netbuilder.importers.pytorch_values import (
    POSITIONS,
    SIZE,
    Unsupported,
    Value,
    _arg,
    _Attribute,
    _FinalState,
    _ints,
    _meta_shape,
    _nodes_in,
    _Parts,
    _PositionTable,
    _RecurrentCall,
)

if TYPE_CHECKING:
    from netbuilder.importers.pytorch import _Builder


# ---------------------------------------------------------------------------------------------------------------
# nn module rules: fn(builder, fx node, module) -> Value


ModuleRule = Callable[[Any, fx.Node, Any], Any]  # (builder, call, module) -> value


def _state(module: nn.Module) -> dict[str, torch.Tensor]:
    return dict(module.state_dict())


def _linear(b: _Builder, node: fx.Node, m: nn.Linear) -> Value:
    params: dict[str, Any] = {"units": m.out_features, "bias": m.bias is not None}
    tied = b.embedding_weights.get(id(m.weight))
    if tied is not None:  # `decoder.weight = embed.weight` in the source: the document ties them too
        params["tie_weight_to"] = tied
    return b.emit(node, "Linear", params, [b.tensor(node.args[0])], _state(m))


def _conv(b: _Builder, node: fx.Node, m: Any) -> Value:
    d = len(m.kernel_size)
    if m.padding_mode != "zeros":
        raise Unsupported(f"padding_mode={m.padding_mode!r} (NetBuilder convolutions pad with zeros; put a Pad "
                          "layer before it)")
    params: dict[str, Any] = {"filters": m.out_channels, "kernel_size": m.kernel_size, "stride": m.stride,
                              "dilation": m.dilation, "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m.padding, str):
        params["padding"] = m.padding
    elif any(m.padding):
        params.update(padding="explicit", padding_size=m.padding)
    else:
        params["padding"] = "valid"
    return b.emit(node, f"Conv{d}d", params, [b.tensor(node.args[0])], _state(m))


def _conv_transpose(b: _Builder, node: fx.Node, m: Any) -> Value:
    d = len(m.kernel_size)
    if len(node.args) > 1 or node.kwargs:
        raise Unsupported("an output_size argument in forward")
    params = {"filters": m.out_channels, "kernel_size": m.kernel_size, "stride": m.stride, "padding": m.padding,
              "output_padding": m.output_padding, "dilation": m.dilation, "groups": m.groups,
              "bias": m.bias is not None}
    return b.emit(node, f"ConvTranspose{d}d", params, [b.tensor(node.args[0])], _state(m))


def _pool_params(kind: str, d: int, kernel: Any, stride: Any, padding: Any, ceil_mode: bool,
                 dilation: Any = 1, count_include_pad: bool = True) -> dict[str, Any]:
    if any(x != 1 for x in _ints(dilation, d)):
        raise Unsupported("dilation other than 1 in pooling")
    params: dict[str, Any] = {"kernel_size": _ints(kernel, d), "padding": _ints(padding, d), "ceil_mode": ceil_mode}
    params["stride"] = _ints(stride, d) if stride not in (None, [], ()) else None
    if kind == "Avg":
        params["count_include_pad"] = count_include_pad
    return params


def _max_pool(b: _Builder, node: fx.Node, m: Any) -> Value:
    if m.return_indices:
        raise Unsupported("return_indices=True")
    d = 1 if isinstance(m, nn.MaxPool1d) else 2
    params = _pool_params("Max", d, m.kernel_size, m.stride, m.padding, m.ceil_mode, m.dilation)
    return b.emit(node, f"MaxPool{d}d", params, [b.tensor(node.args[0])])


def _avg_pool(b: _Builder, node: fx.Node, m: Any) -> Value:
    if getattr(m, "divisor_override", None):
        raise Unsupported("divisor_override")
    d = 1 if isinstance(m, nn.AvgPool1d) else 2
    params = _pool_params("Avg", d, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                          count_include_pad=m.count_include_pad)
    return b.emit(node, f"AvgPool{d}d", params, [b.tensor(node.args[0])])


def _adaptive_avg(b: _Builder, node: fx.Node, m: Any) -> Value:
    d = 1 if isinstance(m, nn.AdaptiveAvgPool1d) else 2
    size = _ints(m.output_size, d) if not isinstance(m.output_size, tuple) or None not in m.output_size else None
    if size is None:
        raise Unsupported("an output size of None (keep this axis) in adaptive pooling")
    return b.emit(node, f"AdaptiveAvgPool{d}d", {"output_size": size}, [b.tensor(node.args[0])])


def _adaptive_max(b: _Builder, node: fx.Node, m: Any) -> Value:
    if getattr(m, "return_indices", False):
        raise Unsupported("return_indices=True")
    return _global_max(b, node, b.tensor(node.args[0]), m.output_size)


def _instance_norm(b: _Builder, node: fx.Node, m: nn.InstanceNorm2d) -> Value:
    if m.track_running_stats:
        raise Unsupported("track_running_stats=True (NetBuilder's instance norm normalises each sample by itself)")
    return b.emit(node, "InstanceNorm2d", {"eps": m.eps, "affine": m.affine}, [b.tensor(node.args[0])], _state(m))


def _prelu(b: _Builder, node: fx.Node, m: nn.PReLU) -> Value:
    params = {"per_channel": m.num_parameters > 1, "init": float(m.weight.detach().flatten()[0])}
    return b.emit(node, "PReLU", params, [b.tensor(node.args[0])], _state(m))


PAD_MODES = {"constant": "zero", "reflect": "reflection", "replicate": "replication"}


def _pad_layer(b: _Builder, node: fx.Node, x: Value, torch_order: Sequence[int], mode: str, value: Any) -> Value:
    """torch's (left, right[, top, bottom]) padding of a sequence or an image is a Pad layer (start, end or top,
    bottom, left, right); the constant must be 0."""
    d = x.type.rank - 2
    if mode not in PAD_MODES or (mode == "constant" and value not in (0, 0.0, None)):
        raise Unsupported(f"padding mode {mode!r}" + (f" with value {value}" if mode == "constant" else "") +
                          " (NetBuilder pads with zeros, a reflection or a replication of the edge)")
    sides = tuple(int(v) for v in torch_order)
    if d not in (1, 2) or len(sides) != 2 * d or any(v < 0 for v in sides):
        raise Unsupported(f"padding {list(sides)} of a rank {x.type.rank} tensor (NetBuilder pads the last axis of "
                          "a sequence N×C×L or the last two of an image N×C×H×W)")
    amount = sides if d == 1 else (sides[2], sides[3], sides[0], sides[1])
    return b.emit(node, "Pad", {"amount": amount, "mode": PAD_MODES[mode]}, [x])


def _pad_module(b: _Builder, node: fx.Node, m: Any) -> Value:
    mode = ("reflect" if "Reflection" in type(m).__name__ else "replicate" if "Replication" in type(m).__name__
            else "constant")
    return _pad_layer(b, node, b.tensor(node.args[0]), m.padding, mode, getattr(m, "value", 0))


def _batch_norm(b: _Builder, node: fx.Node, m: Any) -> Value:
    if not m.track_running_stats:
        raise Unsupported("track_running_stats=False (NetBuilder's batch norm keeps running statistics)")
    if m.momentum is None:
        raise Unsupported("momentum=None (a cumulative average)")
    d = 1 if isinstance(m, nn.BatchNorm1d) else 2
    return b.emit(node, f"BatchNorm{d}d", {"eps": m.eps, "momentum": m.momentum, "affine": m.affine},
                  [b.tensor(node.args[0])], _state(m))


def _layer_norm(b: _Builder, node: fx.Node, m: nn.LayerNorm) -> Value:
    if m.elementwise_affine and m.bias is None:
        raise Unsupported("bias=False with elementwise_affine (NetBuilder's LayerNorm learns both)")
    return b.emit(node, "LayerNorm", {"axes": len(m.normalized_shape), "eps": m.eps,
                                      "affine": m.elementwise_affine}, [b.tensor(node.args[0])], _state(m))


def _group_norm(b: _Builder, node: fx.Node, m: nn.GroupNorm) -> Value:
    return b.emit(node, "GroupNorm", {"groups": m.num_groups, "eps": m.eps, "affine": m.affine},
                  [b.tensor(node.args[0])], _state(m))


def _embedding(b: _Builder, node: fx.Node, m: nn.Embedding) -> Any:
    if b.values.get(node.args[0]) is POSITIONS:  # self.pos(torch.arange(t)): a learned table of positions
        return _PositionTable(m.weight.detach(), True, str(node.target))
    if m.max_norm is not None:
        raise Unsupported("max_norm (renormalising looked-up rows)")
    if m.padding_idx is not None:
        b.notes.append(f"{node.name}: padding_idx {m.padding_idx} is not kept (its row trains like the others).")
    value = b.emit(node, "Embedding", {"vocab_size": m.num_embeddings, "dim": m.embedding_dim},
                   [b.tensor(node.args[0])], _state(m))
    b.embedding_weights[id(m.weight)] = b.net.node(value.node_id).name
    return value


def _recurrent(b: _Builder, node: fx.Node, m: Any) -> _RecurrentCall:
    cell = {nn.LSTM: "LSTM", nn.GRU: "GRU", nn.RNN: "RNN"}[type(m)]
    if not m.batch_first:
        raise Unsupported("batch_first=False (NetBuilder's sequences are batch first, N×T×F)")
    if getattr(m, "proj_size", 0):
        raise Unsupported("proj_size (a projected LSTM)")
    if len(node.args) > 1 or node.kwargs:
        raise Unsupported("an initial state passed in forward (wire it to the layer's h0/c0 inputs by hand)")
    if not m.bias:
        raise Unsupported("bias=False")
    params = {"hidden_size": m.hidden_size, "num_layers": m.num_layers, "bidirectional": m.bidirectional,
              "dropout": float(m.dropout), "returns": "sequence"}
    if cell == "RNN":
        params["nonlinearity"] = m.nonlinearity
    weights = {f"rnn.{key}": tensor for key, tensor in _state(m).items()}
    value = b.emit(node, cell, params, [b.tensor(node.args[0])], weights)
    typed = Value(value.node_id, value.port, b.type_of(node, 0))
    return _RecurrentCall(typed, node.name, layers=m.num_layers, directions=2 if m.bidirectional else 1,
                          cell=cell)


def _no_masks(node: fx.Node, names: Sequence[str]) -> None:
    for name in names:
        if node.kwargs.get(name) is not None:
            raise Unsupported(f"{name} passed in forward (a padding or other mask; NetBuilder's attention layers "
                              "take only the causal mask, as their causal option)")


def _attention(b: _Builder, node: fx.Node, m: nn.MultiheadAttention) -> _RecurrentCall:
    if not m.batch_first:
        raise Unsupported("batch_first=False (NetBuilder's sequences are batch first, N×T×D)")
    if m.in_proj_bias is None or m.bias_k is not None or m.add_zero_attn:
        raise Unsupported("bias=False, add_bias_kv or add_zero_attn")
    if len(node.args) > 3 and node.args[3] is not None:
        raise Unsupported("a key_padding_mask passed positionally")
    _no_masks(node, ("key_padding_mask",))
    causal = _is_causal(b, node, m)
    query, key, value = (list(node.args) + [node.kwargs.get(n) for n in ("query", "key", "value")])[:3]
    if key is not value:
        raise Unsupported("different key and value tensors (NetBuilder attends to one memory)")
    if causal and key is not query:
        raise Unsupported("a causal mask on cross-attention (NetBuilder's causal option is for self-attention)")
    inputs = [b.tensor(query)] if key is query else [b.tensor(query), b.tensor(key)]
    params = {"num_heads": m.num_heads, "mode": "self" if key is query else "cross", "dropout": float(m.dropout),
              "causal": causal}
    result = b.emit(node, "MultiheadAttention", params, inputs, _state(m))
    typed = Value(result.node_id, result.port, b.type_of(node, 0))
    return _RecurrentCall(typed, node.name, "the attention weights (output[1]); NetBuilder's layer returns the "
                          "attended values, output[0]")


def _transformer_params(m: Any) -> dict[str, Any]:
    """The TransformerEncoderLayer / TransformerDecoderLayer parameters of one torch layer."""
    if not m.self_attn.batch_first:
        raise Unsupported("batch_first=False (NetBuilder's sequences are batch first, N×T×D)")
    function = m.activation
    activation = ("relu" if function is F.relu or isinstance(function, nn.ReLU) else
                  "gelu" if function is F.gelu or (isinstance(function, nn.GELU) and function.approximate == "none")
                  else None)
    if activation is None:
        raise Unsupported("an activation other than relu or gelu")
    if m.linear1.bias is None or abs(m.norm1.eps - 1e-5) > 1e-12:
        raise Unsupported("bias=False or a layer_norm_eps other than 1e-5")
    return {"nhead": m.self_attn.num_heads, "dim_feedforward": m.linear1.out_features,
            "dropout": float(m.dropout.p), "activation": activation, "norm_first": m.norm_first, "causal": False}


def _transformer_inputs(b: _Builder, node: fx.Node, decoder: bool) -> list[Value]:
    """The sequence (and a decoder's memory) of a Transformer call; only the causal mask imports (as the layers'
    causal option, `_is_causal`), other masks do not."""
    mask_at = 2 if decoder else 1
    if any(arg is not None for index, arg in enumerate(node.args) if index > mask_at):
        raise Unsupported("padding masks passed positionally")
    _no_masks(node, ("src_key_padding_mask", "memory_mask", "tgt_key_padding_mask", "memory_key_padding_mask"))
    if node.kwargs.get("memory_is_causal"):
        raise Unsupported("memory_is_causal (NetBuilder's decoder attends to all of the memory)")
    inputs = [b.tensor(node.args[0])]
    if decoder:
        inputs.append(b.tensor(node.args[1] if len(node.args) > 1 else node.kwargs.get("memory")))
    return inputs


def _transformer_layer(b: _Builder, node: fx.Node, m: Any) -> Value:
    decoder = isinstance(m, nn.TransformerDecoderLayer)
    params = {**_transformer_params(m), "causal": _is_causal(b, node, m)}
    inputs = _transformer_inputs(b, node, decoder)
    kind = "TransformerDecoderLayer" if decoder else "TransformerEncoderLayer"
    return b.emit(node, kind, params, inputs, _state(m))


def _transformer_stack(b: _Builder, node: fx.Node, m: Any) -> Value:
    """``nn.TransformerEncoder`` / ``nn.TransformerDecoder``: one layer per stacked layer, each with its weights,
    and the final LayerNorm when there is one."""
    decoder = isinstance(m, nn.TransformerDecoder)
    inputs = _transformer_inputs(b, node, decoder)
    causal = _is_causal(b, node, m)
    kind = "TransformerDecoderLayer" if decoder else "TransformerEncoderLayer"
    x = inputs[0]
    count = len(m.layers)
    for index, layer in enumerate(m.layers):
        last = index == count - 1 and m.norm is None
        x = b.emit(node, kind, {**_transformer_params(layer), "causal": causal}, [x, *inputs[1:]], _state(layer),
                   suffix="" if last else f"layer{index + 1}")
    if m.norm is not None:
        if not isinstance(m.norm, nn.LayerNorm) or (m.norm.elementwise_affine and m.norm.bias is None):
            raise Unsupported("a final norm other than a LayerNorm with weight and bias")
        x = b.emit(node, "LayerNorm", {"axes": len(m.norm.normalized_shape), "eps": m.norm.eps,
                                       "affine": m.norm.elementwise_affine}, [x], _state(m.norm))
    return x


def _upsample(b: _Builder, node: fx.Node, m: nn.Upsample) -> Value:
    x = b.tensor(node.args[0])
    params = _upsample_params(m.size, m.scale_factor, m.mode, m.align_corners, x.type.rank)
    return b.emit(node, "Upsample", params, [x])


def _simple(type_id: str, params: Callable[[Any], dict[str, Any]] = lambda m: {}) -> ModuleRule:
    def rule(b: _Builder, node: fx.Node, m: Any) -> Value:
        return b.emit(node, type_id, params(m), [b.tensor(node.args[0])])

    return rule


def _gelu_params(m: nn.GELU) -> dict[str, Any]:
    if m.approximate != "none":
        raise Unsupported(f"approximate={m.approximate!r} (NetBuilder's GELU is the exact one)")
    return {}


def _softplus_params(m: nn.Softplus) -> dict[str, Any]:
    if m.threshold != 20:
        raise Unsupported(f"threshold={m.threshold}")
    return {"beta": float(m.beta)}


def _flatten_module(b: _Builder, node: fx.Node, m: nn.Flatten) -> Value:
    return _flatten(b, node, m.start_dim, m.end_dim)


def _dim_param(m: Any) -> dict[str, Any]:
    if m.dim is None:
        raise Unsupported("dim=None (give the axis)")
    return {"axis": m.dim}


MODULE_RULES: list[tuple[type, ModuleRule]] = [
    (nn.Linear, _linear),
    (nn.Conv1d, _conv), (nn.Conv2d, _conv), (nn.Conv3d, _conv),
    (nn.ConvTranspose1d, _conv_transpose), (nn.ConvTranspose2d, _conv_transpose),
    (nn.MaxPool1d, _max_pool), (nn.MaxPool2d, _max_pool),
    (nn.AvgPool1d, _avg_pool), (nn.AvgPool2d, _avg_pool),
    (nn.AdaptiveAvgPool1d, _adaptive_avg), (nn.AdaptiveAvgPool2d, _adaptive_avg),
    (nn.AdaptiveMaxPool1d, _adaptive_max), (nn.AdaptiveMaxPool2d, _adaptive_max),
    (nn.BatchNorm1d, _batch_norm), (nn.BatchNorm2d, _batch_norm),
    (nn.LayerNorm, _layer_norm), (nn.GroupNorm, _group_norm), (nn.InstanceNorm2d, _instance_norm),
    (nn.PReLU, _prelu),
    (nn.ZeroPad1d, _pad_module), (nn.ZeroPad2d, _pad_module), (nn.ConstantPad1d, _pad_module),
    (nn.ConstantPad2d, _pad_module), (nn.ReflectionPad1d, _pad_module), (nn.ReflectionPad2d, _pad_module),
    (nn.ReplicationPad1d, _pad_module), (nn.ReplicationPad2d, _pad_module),
    (nn.Embedding, _embedding),
    (nn.LSTM, _recurrent), (nn.GRU, _recurrent), (nn.RNN, _recurrent),
    (nn.MultiheadAttention, _attention),
    (nn.TransformerEncoderLayer, _transformer_layer), (nn.TransformerDecoderLayer, _transformer_layer),
    (nn.TransformerEncoder, _transformer_stack), (nn.TransformerDecoder, _transformer_stack),
    (nn.ReLU, _simple("ReLU")),
    (nn.GELU, _simple("GELU", _gelu_params)), (nn.SiLU, _simple("SiLU")), (nn.Sigmoid, _simple("Sigmoid")),
    (nn.Tanh, _simple("Tanh")), (nn.ELU, _simple("ELU", lambda m: {"alpha": float(m.alpha)})),
    (nn.LeakyReLU, _simple("LeakyReLU", lambda m: {"negative_slope": float(m.negative_slope)})),
    (nn.Softplus, _simple("Softplus", _softplus_params)),
    (nn.Softmax, _simple("Softmax", _dim_param)), (nn.LogSoftmax, _simple("LogSoftmax", _dim_param)),
    (nn.Dropout, _simple("Dropout", lambda m: {"p": float(m.p)})),
    (nn.Dropout2d, _simple("Dropout2d", lambda m: {"p": float(m.p)})),
    (nn.Identity, _simple("Identity")),
    (nn.Flatten, _flatten_module), (nn.Upsample, _upsample),
    (nn.PixelShuffle, _simple("PixelShuffle", lambda m: {"upscale_factor": m.upscale_factor})),
    (nn.LocalResponseNorm, _simple("LocalResponseNorm", lambda m: {"size": m.size, "alpha": float(m.alpha),
                                                                   "beta": float(m.beta), "k": float(m.k)})),
]


def module_rule(module: nn.Module) -> ModuleRule | None:
    for cls, rule in MODULE_RULES:
        if type(module) is cls:
            return rule
    return None


# ---------------------------------------------------------------------------------------------------------------
# Function and method rules: fn(builder, fx node) -> Value


FunctionRule = Callable[[Any, fx.Node], Any]  # (builder, call) -> value


def _binary(merge: str) -> FunctionRule:
    """``a + b`` / ``a * b`` of two tensors is Add / Multiply; ``a * 2.0`` (or ``a / 2.0``) is Scale."""

    def rule(b: _Builder, node: fx.Node) -> Value:
        left, right = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
        if "alpha" in node.kwargs:
            raise Unsupported("alpha= in add")
        if merge == "Add":
            table = next((t for t in (_position_table(b, left), _position_table(b, right)) if t is not None), None)
            if table is not None:
                return _positional(b, node, table, right if _position_table(b, left) is not None else left)
        tensors = [a for a in (left, right) if isinstance(a, fx.Node) and isinstance(b.values.get(a), Value)]
        if len(tensors) == 2:
            return b.emit(node, merge, {"inputs": 2}, [b.tensor(left), b.tensor(right)])
        constant = right if tensors and tensors[0] is left else left
        if isinstance(constant, fx.Node):
            if b.values.get(constant) is not SIZE:
                b.tensor(constant)  # says what the operand is (a tensor of the module, …)
            raise Unsupported("an operand computed from sizes, not a tensor or a fixed number")
        if not isinstance(constant, int | float) or isinstance(constant, bool):
            raise Unsupported(f"an operand of type {type(constant).__name__}")
        if merge == "Multiply":
            return b.emit(node, "Scale", {"factor": float(constant)}, [b.tensor(tensors[0])])
        raise Unsupported("adding a constant (NetBuilder has no add-a-constant layer)")

    return rule


def _divide(b: _Builder, node: fx.Node) -> Value:
    numerator, divisor = node.args[0], node.args[1]
    if not isinstance(divisor, int | float) or isinstance(divisor, bool) or divisor == 0:
        raise Unsupported("dividing by a tensor or a computed value (only division by a fixed number imports)")
    return b.emit(node, "Scale", {"factor": 1.0 / float(divisor)}, [b.tensor(numerator)])


def _concat(type_id: str) -> FunctionRule:
    def rule(b: _Builder, node: fx.Node) -> Value:
        tensors = _arg(node, 0, "tensors")
        axis = b.constant(_arg(node, 1, "dim", 0), "axis")
        if not isinstance(tensors, list | tuple) or len(tensors) < 2:
            if isinstance(tensors, list | tuple) and len(tensors) == 1 and type_id == "Concat":
                return b.tensor(tensors[0])
            raise Unsupported("fewer than two tensors")
        if axis == 0:
            raise Unsupported("joining along the batch axis")
        return b.emit(node, type_id, {"inputs": len(tensors), "axis": axis}, [b.tensor(t) for t in tensors])

    return rule


def _flatten_call(b: _Builder, node: fx.Node) -> Value:
    start = b.constant(_arg(node, 1, "start_dim", 0), "start_dim")
    end = b.constant(_arg(node, 2, "end_dim", -1), "end_dim")
    return _flatten(b, node, start, end)


def _flatten(b: _Builder, node: fx.Node, start: int, end: int) -> Value:
    """Flatten from ``start`` to the last axis is a Flatten layer; other ranges, or axes of variable length, are a
    Reshape (whose -1 keeps the length variable)."""
    x = b.tensor(node.args[0])
    rank = x.type.rank
    first, last = start % rank, end % rank
    if first == 0:
        raise Unsupported("flattening the batch axis into the others (start_dim=1 keeps it)")
    if first >= last:
        return x
    if last == rank - 1 and all(isinstance(d, int) for d in x.type.shape[first:]):
        return b.emit(node, "Flatten", {"start_axis": first}, [x])
    return _reshape(b, node)


def _reshape(b: _Builder, node: fx.Node) -> Value:
    """A reshape to the traced sizes; with a variable length, the one size that follows it becomes -1."""
    x = b.tensor(node.args[0])
    shape, source = _meta_shape(node), _meta_shape(node.args[0])
    if shape is None or source is None or not shape or shape[0] != source[0]:
        raise Unsupported("a reshape that changes the batch axis (logits.view(-1, V) before a loss: leave that to "
                          "the loss, NetBuilder keeps the batch first)")
    other, other_source = b.other_shape(node), b.other_shape(node.args[0])
    if shape[1:] == source[1:] and (other is None or other[1:] == (other_source or ())[1:]):
        return x
    target = list(shape[1:])
    if other is not None and len(other) == len(shape):
        varying = [i for i in range(1, len(shape)) if other[i] != shape[i]]
        if len(varying) > 1:
            raise BakedLength(b.describe(node), f"gives {len(varying)} axes that follow the length (traced "
                              f"{tuple(shape[1:])}, {tuple(other[1:])} at another length); NetBuilder's Reshape "
                              "can leave one size to the length (-1)")
        if varying:
            target[varying[0] - 1] = -1
    return b.emit(node, "Reshape", {"shape": tuple(target)}, [x])


def _permute(b: _Builder, node: fx.Node) -> Value:
    dims = node.args[1:] if node.op == "call_method" else (_arg(node, 1, "dims"),)
    if len(dims) == 1 and isinstance(dims[0], list | tuple):
        dims = tuple(dims[0])
    x = b.tensor(node.args[0])
    order = [b.constant(d, "axis order") % x.type.rank for d in dims]
    if not order or order[0] != 0:
        raise Unsupported("moving the batch axis")
    if order == list(range(x.type.rank)):
        return x
    return b.emit(node, "Permute", {"order": tuple(order[1:])}, [x])


def _transpose(b: _Builder, node: fx.Node) -> Value:
    x = b.tensor(node.args[0])
    first = b.constant(_arg(node, 1, "dim0"), "axis") % x.type.rank
    second = b.constant(_arg(node, 2, "dim1"), "axis") % x.type.rank
    if 0 in (first, second):
        raise Unsupported("moving the batch axis")
    order = list(range(x.type.rank))
    order[first], order[second] = order[second], order[first]
    if first == second:
        return x
    return b.emit(node, "Permute", {"order": tuple(order[1:])}, [x])


def _unsqueeze(b: _Builder, node: fx.Node) -> Value:
    axis = b.constant(_arg(node, 1, "dim"), "axis")
    if b.values.get(node.args[0]) is POSITIONS and axis == 0:
        return POSITIONS  # type: ignore[return-value]  # torch.arange(t).unsqueeze(0): the same positions
    if axis == 0:
        raise Unsupported("a new axis before the batch")
    return b.emit(node, "Unsqueeze", {"axis": axis}, [b.tensor(node.args[0])])


def _squeeze(b: _Builder, node: fx.Node) -> Value:
    axis = b.constant(_arg(node, 1, "dim"), "axis")
    state = b.values.get(node.args[0])
    if isinstance(state, _FinalState) and axis == 0:  # h_n.squeeze(0) of a one-layer, one-direction RNN
        if state.call.layers * state.call.directions != 1:
            raise Unsupported("squeezing the final state of a stacked or bidirectional recurrent layer")
        return _final_step(b, node, state, 0)
    if isinstance(axis, list | tuple):
        if len(axis) != 1:
            raise Unsupported("squeezing several given axes at once")
        axis = axis[0]
    if axis == 0:
        raise Unsupported("removing the batch axis")
    return b.emit(node, "Squeeze", {"axis": axis}, [b.tensor(node.args[0])])


def _activation(type_id: str, axis: bool = False, extra: Callable[[_Builder, fx.Node], dict] | None = None
                ) -> FunctionRule:
    def rule(b: _Builder, node: fx.Node) -> Value:
        params: dict[str, Any] = {}
        if axis:
            dim = b.constant(_arg(node, 1, "dim"), "axis")
            if dim is None:
                raise Unsupported("dim=None (give the axis)")
            params["axis"] = dim
        if extra is not None:
            params.update(extra(b, node))
        return b.emit(node, type_id, params, [b.tensor(node.args[0])])

    return rule


def _gelu_call(b: _Builder, node: fx.Node) -> dict[str, Any]:
    if node.kwargs.get("approximate", "none") != "none":
        raise Unsupported("approximate='tanh' (NetBuilder's GELU is the exact one)")
    return {}


def _softplus_call(b: _Builder, node: fx.Node) -> dict[str, Any]:
    if b.constant(_arg(node, 2, "threshold", 20), "threshold") != 20:
        raise Unsupported("a threshold other than 20")
    return {"beta": float(b.constant(_arg(node, 1, "beta", 1.0), "beta"))}


def _leaky_call(b: _Builder, node: fx.Node) -> dict[str, Any]:
    return {"negative_slope": float(b.constant(_arg(node, 1, "negative_slope", 0.01), "slope"))}


def _dropout_call(b: _Builder, node: fx.Node) -> Value:
    p = b.constant(_arg(node, 1, "p", 0.5), "rate")
    return b.emit(node, "Dropout", {"p": float(p)}, [b.tensor(node.args[0])])


def _adaptive_avg_call(b: _Builder, node: fx.Node) -> Value:
    x = b.tensor(node.args[0])
    d = x.type.rank - 2
    if d not in (1, 2):
        raise Unsupported("adaptive pooling of this rank")
    size = b.constant(_arg(node, 1, "output_size"), "output size")
    return b.emit(node, f"AdaptiveAvgPool{d}d", {"output_size": _ints(size, d)}, [x])


def _pool_call(kind: str) -> FunctionRule:
    def rule(b: _Builder, node: fx.Node) -> Value:
        x = b.tensor(node.args[0])
        d = x.type.rank - 2
        if d not in (1, 2):
            raise Unsupported("pooling of this rank")
        if _sized_by_input(node):
            return _global_pool_call(b, node, x, kind)
        get = lambda i, name, default: b.constant(_arg(node, i, name, default), name)  # noqa: E731
        if kind == "Max":
            if get(6, "return_indices", False):
                raise Unsupported("return_indices=True")
            params = _pool_params("Max", d, get(1, "kernel_size", None), get(2, "stride", None),
                                  get(3, "padding", 0), get(5, "ceil_mode", False), get(4, "dilation", 1))
        else:
            if get(6, "divisor_override", None):
                raise Unsupported("divisor_override")
            params = _pool_params("Avg", d, get(1, "kernel_size", None), get(2, "stride", None),
                                  get(3, "padding", 0), get(4, "ceil_mode", False),
                                  count_include_pad=get(5, "count_include_pad", True))
        return b.emit(node, f"{kind}Pool{d}d", params, [x])

    return rule


def _unchanged_shape(b: _Builder, node: fx.Node) -> bool:
    """The call's result has its input's shape at the traced length and at the other one."""
    source = node.args[0]
    return _meta_shape(node) == _meta_shape(source) and b.other_shape(node) == b.other_shape(source)


def _pad_call(b: _Builder, node: fx.Node) -> Value:
    get = lambda i, name, default: b.constant(_arg(node, i, name, default), name)  # noqa: E731
    if _nodes_in(_arg(node, 1, "pad")) and _unchanged_shape(b, node):
        return b.tensor(node.args[0])  # U-Net's pad to the skip's size, which is the same size here: no padding
    return _pad_layer(b, node, b.tensor(node.args[0]), get(1, "pad", ()), get(2, "mode", "constant"),
                      get(3, "value", None))


def _chunk(b: _Builder, node: fx.Node) -> _Parts:
    """``x.chunk(n, dim)`` and ``x.split(size, dim)`` into equal parts are a Split with a port per part."""
    x = b.tensor(node.args[0])
    name = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", "")
    axis = b.constant(_arg(node, 2, "dim", 0), "axis")
    shapes = node.meta.get("tensor_meta")
    count = len(shapes) if isinstance(shapes, tuple | list) else 0
    sizes = {tuple(meta.shape) for meta in shapes} if count else set()
    if name == "split" and isinstance(_arg(node, 1, "split_size_or_sections"), list | tuple):
        raise Unsupported("splitting into parts of given sizes (NetBuilder's Split cuts equal parts)")
    if count < 2 or count > 8 or len(sizes) != 1:
        raise Unsupported(f"cutting into {count} part(s) of different sizes (NetBuilder's Split cuts 2 to 8 equal "
                          "parts)")
    if axis % x.type.rank == 0:
        raise Unsupported("cutting along the batch axis")
    if isinstance(x.type.shape[axis], str):
        raise BakedLength(b.describe(node), "cuts along the variable length (NetBuilder's Split needs a fixed size)")
    first = b.emit(node, "Split", {"chunks": count, "axis": axis}, [x])
    return _Parts([Value(first.node_id, f"out{i}", b.type_of(node, i - 1)) for i in range(1, count + 1)])


def _getattr(b: _Builder, node: fx.Node) -> Any:
    """``result.values`` of a ``max(dim)``; ``.indices`` and other attributes of tensors do not import."""
    source, name = node.args[0], node.args[1]
    value = b.values.get(source)
    if isinstance(value, _RecurrentCall) and name in ("values", "output"):
        return value.value
    if isinstance(value, _RecurrentCall):
        raise Unsupported(value.rest)
    raise Unsupported(f"the attribute .{name} of a tensor")


def _subtract(b: _Builder, node: fx.Node) -> Value:
    """``a - b`` of two tensors is ``a + (-1 × b)``: a Scale and an Add."""
    left, right = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
    if "alpha" in node.kwargs:
        raise Unsupported("alpha= in sub")
    for operand in (left, right):
        if isinstance(operand, fx.Node) and b.values.get(operand) is not SIZE:
            b.tensor(operand)  # says what the operand is when it is not a computed tensor
    if not all(isinstance(a, fx.Node) and isinstance(b.values.get(a), Value) for a in (left, right)):
        raise Unsupported("subtracting a constant (NetBuilder has no add-a-constant layer)")
    negated = b.emit(node, "Scale", {"factor": -1.0}, [b.tensor(right)], suffix="negated")
    return b.emit(node, "Add", {"inputs": 2}, [b.tensor(left), negated])


def _negate(b: _Builder, node: fx.Node) -> Value:
    return b.emit(node, "Scale", {"factor": -1.0}, [b.tensor(node.args[0])])


def _clamp(b: _Builder, node: fx.Node) -> Value:
    """``clamp(min=0)`` is a ReLU; other bounds have no NetBuilder layer."""
    low = b.constant(_arg(node, 1, "min"), "lower bound")
    high = b.constant(_arg(node, 2, "max"), "upper bound")
    if low == 0 and high is None:
        return b.emit(node, "ReLU", {}, [b.tensor(node.args[0])])
    raise Unsupported(f"clamping to [{low}, {high}] (only clamp(min=0), a ReLU, imports)")


def _upsample_params(size: Any, scale: Any, mode: str, align_corners: Any, rank: int) -> dict[str, Any]:
    if size is not None:
        raise Unsupported("a target size (NetBuilder's Upsample scales by a whole factor: give scale_factor)")
    factors = {float(f) for f in (scale if isinstance(scale, list | tuple) else (scale,))} if scale else set()
    if len(factors) != 1 or not next(iter(factors)).is_integer():
        raise Unsupported(f"scale_factor={scale!r} (NetBuilder scales every axis by one whole factor)")
    if mode not in ("nearest", "linear", "bilinear") or align_corners:
        raise Unsupported(f"mode={mode!r}{', align_corners=True' if align_corners else ''} (NetBuilder's "
                          "Upsample is nearest, or linear/bilinear without align_corners)")
    return {"scale_factor": int(next(iter(factors))), "mode": mode}


def _interpolate(b: _Builder, node: fx.Node) -> Value:
    x = b.tensor(node.args[0])
    get = lambda i, name, default: b.constant(_arg(node, i, name, default), name)  # noqa: E731
    if get(6, "antialias", False):
        raise Unsupported("antialias=True")
    size, scale = _arg(node, 1, "size"), get(2, "scale_factor", None)
    if size is not None and scale is None:  # size=skip.shape[2:]: the whole factor it amounts to, if it is one
        size, scale = None, _size_as_factor(b, node)
    params = _upsample_params(size, scale, get(3, "mode", "nearest"), get(4, "align_corners", None), x.type.rank)
    return b.emit(node, "Upsample", params, [x])


def _size_as_factor(b: _Builder, node: fx.Node) -> int:
    """An interpolation to a given size is an Upsample when the size is one whole factor of every spatial axis, at
    the traced length and the other one."""
    factors = set()
    for out, source in ((_meta_shape(node), _meta_shape(node.args[0])),
                        (b.other_shape(node), b.other_shape(node.args[0]))):
        if out is None or source is None:
            continue
        for got, had in zip(out[2:], source[2:], strict=True):
            factors.add(got / had)
    if len(factors) != 1 or not next(iter(factors)).is_integer():
        raise Unsupported("an interpolation to a size that is not one whole factor of the input's (NetBuilder's "
                          "Upsample scales by a whole factor)")
    return int(next(iter(factors)))


def _expand(b: _Builder, node: fx.Node) -> Value:
    """``y.expand_as(x)`` feeding ``x * y`` or ``x + y``: the element-wise layer broadcasts size-1 axes itself."""
    x = b.tensor(node.args[0])
    elementwise = {operator.add, operator.mul, operator.sub, torch.add, torch.mul, torch.sub, "add", "mul", "sub"}
    if node.users and all(user.target in elementwise for user in node.users):
        return x
    raise Unsupported("expanding a tensor other than into an element-wise +, - or × (which broadcast by "
                      "themselves)")


def _getitem(b: _Builder, node: fx.Node) -> Value:
    source, index = node.args
    value = b.values.get(source)
    if isinstance(value, _RecurrentCall) and index == 1 and value.layers:
        return _FinalState(value, "pair" if value.cell == "LSTM" else "h")  # type: ignore[return-value]
    if isinstance(value, _FinalState):
        if value.part == "pair" and index in (0, 1):
            return _FinalState(value.call, "h" if index == 0 else "c")  # type: ignore[return-value]
        row = index[0] if isinstance(index, tuple) and all(i == slice(None) for i in index[1:]) else index
        return _final_step(b, node, value, row)
    if isinstance(value, _Parts) and isinstance(index, int):
        return value.parts[index]
    if isinstance(value, _Attribute):
        return _attribute_rows(b, value, index)  # type: ignore[return-value]
    if isinstance(value, _RecurrentCall):
        if index == 0:
            return value.value
        raise Unsupported(value.rest)
    if value is SIZE:
        return SIZE  # type: ignore[return-value]
    x = b.tensor(source)
    rest_is_whole = isinstance(index, tuple) and all(item == slice(None) or item is Ellipsis for item in index[2:])
    if isinstance(index, tuple) and len(index) >= 2 and index[0] == slice(None) and isinstance(index[1], int) \
            and rest_is_whole and x.type.rank >= 3 and index[1] in (0, -1):  # x[:, -1], x[:, -1, :], x[:, 0, ...]
        return b.emit(node, "SelectStep", {"which": "first" if index[1] == 0 else "last"}, [x])
    raise Unsupported("indexing or slicing a tensor (only x[:, 0] and x[:, -1], a sequence's first or last step, "
                      "import)")


def _passthrough(b: _Builder, node: fx.Node) -> Value:
    x = b.tensor(node.args[0])
    dtype = node.meta["tensor_meta"].dtype if node.meta.get("tensor_meta") is not None else None
    if dtype is not None and ((dtype == torch.int64) != (x.type.dtype == "int64")
                              or dtype not in (torch.float32, torch.int64)):
        raise Unsupported(f"changing the dtype to {str(dtype).removeprefix('torch.')} (NetBuilder computes in "
                          "float32, with int64 token ids)")
    return x


def _matmul(b: _Builder, node: fx.Node) -> Value:
    raise Unsupported("a product of two computed tensors (NetBuilder multiplies by weights inside Linear; use "
                      "Linear or MultiheadAttention)")


FUNCTION_RULES: dict[Any, FunctionRule] = {
    operator.add: _binary("Add"), operator.iadd: _binary("Add"), torch.add: _binary("Add"),
    operator.mul: _binary("Multiply"), operator.imul: _binary("Multiply"), torch.mul: _binary("Multiply"),
    operator.truediv: _divide, torch.div: _divide,
    torch.cat: _concat("Concat"), torch.concat: _concat("Concat"), torch.stack: _concat("Stack"),
    torch.flatten: _flatten_call, torch.reshape: _reshape, torch.permute: _permute, torch.transpose: _transpose,
    torch.unsqueeze: _unsqueeze, torch.squeeze: _squeeze,
    torch.relu: _activation("ReLU"), F.relu: _activation("ReLU"), torch.sigmoid: _activation("Sigmoid"),
    F.sigmoid: _activation("Sigmoid"), torch.tanh: _activation("Tanh"), F.tanh: _activation("Tanh"),
    F.gelu: _activation("GELU", extra=_gelu_call), F.silu: _activation("SiLU"),
    F.elu: _activation("ELU", extra=lambda b, n: {"alpha": float(b.constant(_arg(n, 1, "alpha", 1.0), "alpha"))}),
    F.leaky_relu: _activation("LeakyReLU", extra=_leaky_call),
    torch.softmax: _activation("Softmax", axis=True), F.softmax: _activation("Softmax", axis=True),
    torch.log_softmax: _activation("LogSoftmax", axis=True), F.log_softmax: _activation("LogSoftmax", axis=True),
    F.dropout: _dropout_call, torch.mean: _reduce("mean"), torch.sum: _reduce("sum"), torch.amax: _reduce("max"),
    torch.max: _reduce("max"), operator.sub: _subtract, torch.sub: _subtract, operator.neg: _negate,
    torch.neg: _negate, torch.clamp: _clamp, F.interpolate: _interpolate, getattr: _getattr,
    torch.arange: _arange, F.pad: _pad_call, torch.chunk: _chunk, torch.split: _chunk,
    F.softplus: _activation("Softplus", extra=lambda b, n: _softplus_call(b, n)),
    F.adaptive_avg_pool1d: _adaptive_avg_call, F.adaptive_avg_pool2d: _adaptive_avg_call,
    F.adaptive_max_pool1d: _adaptive_max_call, F.adaptive_max_pool2d: _adaptive_max_call,
    F.max_pool1d: _pool_call("Max"), F.max_pool2d: _pool_call("Max"),
    F.avg_pool1d: _pool_call("Avg"), F.avg_pool2d: _pool_call("Avg"),
    operator.getitem: _getitem,
    torch.matmul: _matmul, operator.matmul: _matmul,
}

METHOD_RULES: dict[str, FunctionRule] = {
    "add": _binary("Add"), "add_": _binary("Add"), "mul": _binary("Multiply"), "mul_": _binary("Multiply"),
    "div": _divide, "flatten": _flatten_call, "view": _reshape, "reshape": _reshape, "permute": _permute,
    "transpose": _transpose, "unsqueeze": _unsqueeze, "squeeze": _squeeze, "relu": _activation("ReLU"),
    "sigmoid": _activation("Sigmoid"), "tanh": _activation("Tanh"), "softmax": _activation("Softmax", axis=True),
    "log_softmax": _activation("LogSoftmax", axis=True), "mean": _reduce("mean"), "sum": _reduce("sum"), "amax": _reduce("max"), "max": _reduce("max"),
    "sub": _subtract, "neg": _negate, "clamp": _clamp, "contiguous": _passthrough,
    "float": _passthrough, "clone": _passthrough, "matmul": _matmul, "chunk": _chunk, "split": _chunk,
    "to": _passthrough, "long": _passthrough, "expand": _expand, "expand_as": _expand,
}


def function_rule(node: fx.Node) -> FunctionRule | None:
    if node.op == "call_method":
        return METHOD_RULES.get(str(node.target))
    try:
        return FUNCTION_RULES.get(node.target)
    except TypeError:  # an unhashable target
        return None
