"""PyTorch import rules for what sequence models do around their layers: a causal mask passed to attention
(the layers' causal option), a table of positions added to a sequence (a PositionalEncoding), and a recurrent
layer's final hidden state (a step of its output sequence). Used by `netbuilder.importers.pytorch_layers`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.fx as fx
import torch.nn as nn

from netbuilder.importers.pytorch_values import (
    POSITIONS,
    Unsupported,
    Value,
    _arg,
    _Attribute,
    _FinalState,
    _meta_shape,
    _PositionTable,
)

if TYPE_CHECKING:
    from netbuilder.importers.pytorch import _Builder


# Where each attention call takes the mask that may be causal: its position, and its keyword.
CAUSAL_MASK_ARGUMENT: dict[type, tuple[int, str]] = {
    nn.TransformerEncoderLayer: (1, "src_mask"), nn.TransformerEncoder: (1, "mask"),
    nn.TransformerDecoderLayer: (2, "tgt_mask"), nn.TransformerDecoder: (2, "tgt_mask"),
    nn.MultiheadAttention: (5, "attn_mask"),
}


def causal_mask_argument(node: fx.Node, modules: dict[str, nn.Module]) -> fx.Node | None:
    """The attention-mask argument of a Transformer or attention call, when it is a traced value: the one that,
    when it is the causal mask, becomes the layer's causal option rather than layers of its own."""
    if node.op != "call_module":
        return None
    where = CAUSAL_MASK_ARGUMENT.get(type(modules.get(str(node.target))))
    if where is None:
        return None
    mask = _arg(node, *where)
    return mask if isinstance(mask, fx.Node) else None


def _is_causal(b: _Builder, node: fx.Node, m: nn.Module) -> bool:
    """Whether the call passes the causal mask (-inf, or True, above the diagonal: each step sees itself and the
    steps before it). Any other mask does not import."""
    mask_node = causal_mask_argument(node, b.modules)
    flags = [node.kwargs.get(name) for name in ("is_causal", "tgt_is_causal")]
    if mask_node is None:
        if any(flags):
            raise Unsupported("is_causal without a mask (pass the causal mask too, as torch's layers expect)")
        return False
    mask = mask_node.meta.get("nb_mask")
    length = (_meta_shape(node.args[0]) or (0, 0))[1]
    if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != (length, length):
        raise Unsupported("a mask that is not the causal mask of the sequence (NetBuilder's attention layers take "
                          "only the causal one, as their causal option)")
    above = torch.ones(length, length, dtype=torch.bool).triu(1)
    causal = (torch.equal(mask, above) if mask.dtype == torch.bool else
              bool(torch.isneginf(mask[above]).all()) and bool((mask[~above] == 0).all()))
    if not causal:
        raise Unsupported("a mask that is not the causal mask of the sequence (NetBuilder's attention layers take "
                          "only the causal one, as their causal option)")
    return True


def _position_table(b: _Builder, arg: Any) -> _PositionTable | None:
    """The table of positions an operand of ``+`` is, if it is one: a slice of one, or a whole (1×)T×D tensor of
    the module added as it is (a ViT's ``x + self.pos_embedding``)."""
    value = b.values.get(arg) if isinstance(arg, fx.Node) else None
    if isinstance(value, _PositionTable):
        return value
    if isinstance(value, _Attribute) and value.tensor.dim() in (2, 3) and \
            (value.tensor.dim() == 2 or value.tensor.shape[0] == 1):
        return _PositionTable(value.tensor.reshape(value.tensor.shape[-2:]), value.learned, value.target)
    return None


def _positional(b: _Builder, node: fx.Node, table: _PositionTable, other: Any) -> Value:
    """``x + table[:T]``: a PositionalEncoding, sinusoidal when the table is the fixed sine/cosine one (not a
    parameter), else learned with the table's values."""
    from netbuilder.specs.modules import PositionalEncoding


    x = b.tensor(other)
    length, width = table.table.shape
    if x.type.rank != 3 or x.type.shape[2] != width or x.type.dtype != "float32":
        raise Unsupported(f"adding the table {table.source} ({length}×{width}) to something other than a sequence "
                          f"N×T×{width}")
    if _meta_shape(node) != _meta_shape(other):
        raise Unsupported(f"adding the table {table.source} with broadcasting that changes the sequence's shape")
    sinusoidal = not table.learned and width % 2 == 0 and torch.allclose(
        table.table.float(), PositionalEncoding(width, length, "sinusoidal").table, atol=1e-5, rtol=0)
    if sinusoidal:
        return b.emit(node, "PositionalEncoding", {"kind": "sinusoidal", "max_len": length}, [x])
    if not table.learned:
        b.notes.append(f"{node.name}: the fixed table {table.source} imports as a learned PositionalEncoding with "
                       "its values; it trains with the rest unless you freeze it.")
    return b.emit(node, "PositionalEncoding", {"kind": "learned", "max_len": length}, [x],
                  {"table": table.table.float()})


def _slice_prefix(index: Any) -> bool:
    return isinstance(index, slice) and index.start in (None, 0) and index.step in (None, 1)


def _attribute_rows(b: _Builder, value: _Attribute, index: Any) -> _PositionTable:
    """``self.pe[:T]``, ``self.pe[:, :T]`` or ``self.pe[:, :T, :]`` of a (1×)max_len×D table."""
    tensor = value.tensor
    items = index if isinstance(index, tuple) else (index,)
    full = slice(None)
    if tensor.dim() == 3 and tensor.shape[0] == 1 and len(items) >= 2 and items[0] == full:
        items = items[1:]
    if tensor.dim() not in (2, 3) or (tensor.dim() == 3 and tensor.shape[0] != 1) or not items or \
            not _slice_prefix(items[0]) or any(item != full for item in items[1:]) or len(items) > 2:
        raise Unsupported(f"indexing the tensor {value.target} other than by its first rows (self.pe[:, :T], a "
                          "table of positions)")
    return _PositionTable(tensor.reshape(tensor.shape[-2:]), value.learned, value.target)


def _arange(b: _Builder, node: fx.Node) -> Any:
    """``torch.arange(t)``: the positions that an Embedding of positions reads."""
    args = list(node.args)
    start, step = (args[0], args[2] if len(args) > 2 else 1) if len(args) > 1 else (0, 1)
    if start != 0 or step != 1 or node.kwargs.get("start", 0) != 0 or node.kwargs.get("step", 1) != 1:
        raise Unsupported("positions that do not count 0, 1, 2, … (only torch.arange(t) imports)")
    return POSITIONS


def _final_step(b: _Builder, node: fx.Node, state: _FinalState, row: Any) -> Value:
    """Row ``row`` of ``h_n`` (num_layers × directions rows): in the last layer, the forward direction's final
    state is the output's last step, the backward direction's is the first step's second half."""
    call = state.call
    rows = call.layers * call.directions
    if state.part != "h" or not isinstance(row, int) or not -rows <= row < rows:
        raise Unsupported(call.rest)
    row %= rows
    if row < (call.layers - 1) * call.directions:
        raise Unsupported(f"the final state of layer {row // call.directions + 1} of {call.layers} (only the last "
                          "layer's state is a step of the output sequence)")
    if call.directions == 1:
        return b.emit(node, "SelectStep", {"which": "last"}, [call.value])
    if call.halves is None:
        split = b.emit(node, "Split", {"chunks": 2, "axis": -1}, [call.value], suffix="directions")
        call.halves = (Value(split.node_id, "out1", split.type), Value(split.node_id, "out2", split.type))
    backward = row % 2 == 1
    return b.emit(node, "SelectStep", {"which": "first" if backward else "last"}, [call.halves[int(backward)]])
