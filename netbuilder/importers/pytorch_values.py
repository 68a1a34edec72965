"""The vocabulary the PyTorch importer and its rules share: where a traced value lives in the document, why a
call cannot be imported, and small readers of fx nodes (shapes from ``ShapeProp``, arguments by position or
keyword)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch.fx as fx

from netbuilder.specs import TensorType


class Unsupported(Exception):
    """This call cannot become a NetBuilder layer; the message says why (in the user's words)."""


@dataclass(frozen=True)
class Value:
    """Where a traced tensor lives in the document: a node's output port, and its type."""

    node_id: str
    port: str
    type: TensorType


class _Failed:
    """The value of a call that could not be imported: calls reading it are skipped, not reported again."""


FAILED = _Failed()


@dataclass
class _RecurrentCall:
    """A call that returns a tuple of which only item 0 has a NetBuilder port: LSTM/GRU/RNN (output, state) and
    MultiheadAttention (output, attention weights)."""

    value: Value
    fx_name: str
    rest: str = "the final state of a recurrent layer (output[1]); NetBuilder imports the output sequence, " \
        "output[0]: set the layer's 'final state' by hand to carry the state"
    layers: int = 0  # a recurrent layer's stacked layers and directions (0: not a recurrent layer)
    directions: int = 1
    cell: str = ""
    halves: tuple[Value, Value] | None = None  # a bidirectional output cut into its forward and backward halves


@dataclass
class _FinalState:
    """The final state of a recurrent layer (``h_n``, or LSTM's ``(h_n, c_n)`` as ``part`` "pair"). Its last
    layer's rows are steps of the output sequence: ``h_n[-1]`` is the last step (forward) or the first step's
    backward half, so they import as SelectStep."""

    call: _RecurrentCall
    part: str  # "pair" (LSTM's (h, c)), "h" or "c"


SIZE = object()  # the value of a call that computes sizes, not tensors


def _meta_shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _is_tensor(node: fx.Node) -> bool:
    return _meta_shape(node) is not None


def _meta_shape_item(node: fx.Node, index: int) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    if isinstance(meta, tuple | list) and len(meta) > index and hasattr(meta[index], "shape"):
        return tuple(meta[index].shape)
    return None


def _arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _ints(value: Any, count: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * count
    return tuple(int(v) for v in value)


@dataclass
class _Attribute:
    """A tensor of the module read directly in forward (``self.pos_embedding``). NetBuilder layers own their
    weights, so it imports only as a table of positions added to a sequence (a PositionalEncoding)."""

    target: str
    tensor: Any  # torch.Tensor
    learned: bool  # an nn.Parameter (trained), not a buffer


@dataclass
class _PositionTable:
    """Rows of a table picked by position: ``self.pe[:, :x.size(1)]`` or ``self.pos(torch.arange(t))``. Added to a
    sequence N×T×D it is a PositionalEncoding with this ``max_len × D`` table."""

    table: Any  # torch.Tensor, max_len × D
    learned: bool
    source: str


class _Positions:
    """``torch.arange(t)``: the positions 0..t-1, which only an Embedding of positions may read."""


POSITIONS = _Positions()


@dataclass
class _Parts:
    """A call that returns several tensors, each a port of one layer: ``x.chunk(2, dim=-1)`` is a Split."""

    parts: list[Value]


def _nodes_in(arguments: Any) -> list[fx.Node]:
    """The traced values inside a call's arguments, however nested (``[dx // 2, dx - dx // 2]``)."""
    found: list[fx.Node] = []
    fx.node.map_arg(arguments, lambda n: found.append(n) or n)
    return found
