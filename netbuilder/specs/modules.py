"""Small torch modules that NetBuilder layers need and ``torch.nn`` lacks.

Every class here is a plain ``nn.Module`` whose constructor takes only plain Python values (ints, floats, bools,
strings, tuples), so PyTorch code export can write the same constructor call that `make` recorded. Each takes its
inputs positionally in port order, returns a tensor (or a tuple for several output ports), and exports to ONNX.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn


def causal_mask(length: int, device: torch.device) -> torch.Tensor:
    """A boolean ``length×length`` mask that is True above the diagonal: step t may not look at steps after t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


# ---------------------------------------------------------------------------------------------------------------
# Shape


class Reshape(nn.Module):
    """Reshape every sample to ``shape`` (without the batch axis); one entry may be -1 to be computed."""

    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Reorder the axes after the batch: ``order`` lists the input axes (1-based, the batch is axis 0)."""

    def __init__(self, order: tuple[int, ...]):
        super().__init__()
        self.order = tuple(order)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, *self.order)

    def extra_repr(self) -> str:
        return f"order={self.order}"


class Squeeze(nn.Module):
    """Remove the given axes, each of size 1."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.squeeze(x, self.dims)

    def extra_repr(self) -> str:
        return f"dims={self.dims}"


class Unsqueeze(nn.Module):
    """Insert a new axis of size 1 at position ``axis`` of the output."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unsqueeze(self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class SelectStep(nn.Module):
    """Pick one step of a sequence ``N×T×...``: ``which`` is "first" or "last"; the result drops axis 1."""

    def __init__(self, which: str = "last"):
        super().__init__()
        self.which = which

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, -1] if self.which == "last" else x[:, 0]

    def extra_repr(self) -> str:
        return f"which={self.which!r}"


class Split(nn.Module):
    """Cut a tensor into ``chunks`` equal parts along ``axis``; returns a tuple, one tensor per output port."""

    def __init__(self, chunks: int, axis: int):
        super().__init__()
        self.chunks = chunks
        self.axis = axis

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(torch.chunk(x, self.chunks, dim=self.axis))

    def extra_repr(self) -> str:
        return f"chunks={self.chunks}, axis={self.axis}"


# ---------------------------------------------------------------------------------------------------------------
# Pooling


class GlobalAvgPool(nn.Module):
    """Average over every axis after the channels: ``N×C×...`` becomes ``N×C``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=tuple(range(2, x.dim())))


class GlobalMaxPool(nn.Module):
    """Maximum over every axis after the channels: ``N×C×...`` becomes ``N×C``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=tuple(range(2, x.dim())))


class PaddedPool(nn.Module):
    """Max or average pooling with different padding at the start and end of each axis (models converted from
    Caffe pad only the end). Max pools pad with minus infinity, so padding never wins; averages pad with zeros and,
    without ``count_include_pad``, divide by the number of real values in each window."""

    def __init__(self, kind: str, kernel_size: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
                 padding_end: tuple[int, ...], ceil_mode: bool = False, count_include_pad: bool = True):
        super().__init__()
        self.kind = kind
        self.kernel_size, self.stride = tuple(kernel_size), tuple(stride)
        self.padding, self.padding_end = tuple(padding), tuple(padding_end)
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        sides: list[int] = []
        for start, end in zip(reversed(self.padding), reversed(self.padding_end), strict=True):
            sides += [start, end]  # F.pad lists the last axis first
        self.sides = tuple(sides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = nn.functional.max_pool1d if len(self.kernel_size) == 1 else nn.functional.max_pool2d
        if self.kind == "max":
            padded = nn.functional.pad(x, self.sides, value=-math.inf)
            return pool(padded, self.kernel_size, self.stride, ceil_mode=self.ceil_mode)
        average = nn.functional.avg_pool1d if len(self.kernel_size) == 1 else nn.functional.avg_pool2d
        total = average(nn.functional.pad(x, self.sides), self.kernel_size, self.stride, ceil_mode=self.ceil_mode)
        if self.count_include_pad:
            return total
        ones = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
        share = average(nn.functional.pad(ones, self.sides), self.kernel_size, self.stride, ceil_mode=self.ceil_mode)
        return total / share

    def extra_repr(self) -> str:
        return (f"{self.kind}, kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"padding_end={self.padding_end}, ceil_mode={self.ceil_mode}")


# ---------------------------------------------------------------------------------------------------------------
# Merge: any number of inputs, passed positionally.


class Add(nn.Module):
    """Element-wise sum of all inputs (sizes of 1 broadcast)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        result = inputs[0]
        for x in inputs[1:]:
            result = result + x
        return result


class Multiply(nn.Module):
    """Element-wise product of all inputs (sizes of 1 broadcast)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        result = inputs[0]
        for x in inputs[1:]:
            result = result * x
        return result


class Mean(nn.Module):
    """Element-wise average of all inputs (sizes of 1 broadcast)."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        result = inputs[0]
        for x in inputs[1:]:
            result = result + x
        return result / len(inputs)


class Concat(nn.Module):
    """Join the inputs end to end along an existing axis."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.cat(inputs, dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


class Stack(nn.Module):
    """Stack equally shaped inputs along a new axis."""

    def __init__(self, axis: int):
        super().__init__()
        self.axis = axis

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.stack(inputs, dim=self.axis)

    def extra_repr(self) -> str:
        return f"axis={self.axis}"


# ---------------------------------------------------------------------------------------------------------------
# Recurrent


class Recurrent(nn.Module):
    """A batch-first RNN, LSTM or GRU that returns one tensor, or a tuple with its final state.

    ``returns="sequence"`` gives the top layer's output at every step, ``N×T×H·dirs``. ``returns="last"`` gives
    the final hidden state of the top layer, ``N×H·dirs``: the last step of the forward direction, concatenated
    (if bidirectional) with the backward direction's state after it has read back to the first step.

    States are batch-first too, ``N×(layers·dirs)×H``, like every other tensor in NetBuilder (torch's own are
    ``(layers·dirs)×N×H``). With ``initial_state`` the module takes ``h0`` (and ``c0`` for an LSTM) after ``x``
    instead of starting from zeros; with ``final_state`` it returns ``(output, h_n)`` (and ``c_n``), so a
    stateful language model can carry its state from one chunk, or one generated token, to the next.
    """

    CELLS = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        returns: str = "sequence",
        nonlinearity: str = "tanh",
        initial_state: bool = False,
        final_state: bool = False,
    ):
        super().__init__()
        self.cell = cell
        self.returns = returns
        self.bidirectional = bidirectional
        self.initial_state = initial_state
        self.final_state = final_state
        extra = {"nonlinearity": nonlinearity} if cell == "RNN" else {}
        self.rnn = self.CELLS[cell](input_size, hidden_size, num_layers=num_layers, batch_first=True,
                                    bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0,
                                    **extra)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None,
                c0: torch.Tensor | None = None) -> torch.Tensor | tuple[torch.Tensor, ...]:
        start = None
        if self.initial_state and h0 is not None:
            hidden0 = h0.transpose(0, 1).contiguous()
            start = (hidden0, c0.transpose(0, 1).contiguous()) if self.cell == "LSTM" and c0 is not None \
                else hidden0
        output, state = self.rnn(x, start)
        hidden = state[0] if self.cell == "LSTM" else state  # (layers·dirs)×N×H
        if self.returns == "sequence":
            result = output
        elif self.bidirectional:
            result = torch.cat((hidden[-2], hidden[-1]), dim=-1)
        else:
            result = hidden[-1]
        if not self.final_state:
            return result
        if self.cell == "LSTM":
            return result, state[0].transpose(0, 1), state[1].transpose(0, 1)
        return result, hidden.transpose(0, 1)

    def extra_repr(self) -> str:
        return f"returns={self.returns!r}"


# ---------------------------------------------------------------------------------------------------------------
# Attention


class PositionalEncoding(nn.Module):
    """Add position information to a sequence ``N×T×D``.

    ``kind="sinusoidal"``: the fixed sine/cosine table of "Attention is all you need" (D must be even); it is a
    non-persistent buffer, so it is not saved with the weights. ``kind="learned"``: a trained ``max_len×D`` table.
    """

    def __init__(self, dim: int, max_len: int = 512, kind: str = "sinusoidal"):
        super().__init__()
        self.kind = kind
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_len, dim) * 0.02)
        else:
            position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
            rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
            table = torch.zeros(max_len, dim)
            table[:, 0::2] = torch.sin(position * rate)
            table[:, 1::2] = torch.cos(position * rate)
            self.register_buffer("table", table, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[1]]

    def extra_repr(self) -> str:
        return f"kind={self.kind!r}"


class Attention(nn.MultiheadAttention):
    """Batch-first multi-head attention that returns only the attended values.

    Self-attention (``cross=False``) takes one input and attends it to itself; cross-attention takes the queries
    and a ``memory`` sequence that gives keys and values (its width may differ: ``kdim``/``vdim``). ``causal``
    (self-attention only) stops each step from looking at later steps.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        causal: bool = False,
        cross: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
    ):
        if causal and cross:
            raise ValueError("A causal mask applies to self-attention only.")
        super().__init__(embed_dim, num_heads, dropout=dropout, kdim=kdim, vdim=vdim, batch_first=True)
        self.causal = causal
        self.cross = cross

    def forward(self, query: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        source = memory if self.cross else query
        mask = causal_mask(query.shape[1], query.device) if self.causal else None
        output, _ = super().forward(query, source, source, attn_mask=mask, need_weights=False,
                                    is_causal=self.causal)
        return output


class TransformerEncoderBlock(nn.TransformerEncoderLayer):
    """``nn.TransformerEncoderLayer`` (batch first) with an optional causal self-attention mask built inside, so
    the block takes a single input and a decoder-only (GPT-style) stack needs no extra wiring."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        causal: bool = False,
    ):
        super().__init__(d_model, nhead, dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                         batch_first=True, norm_first=norm_first)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        mask = causal_mask(x.shape[1], x.device) if self.causal else None
        return super().forward(x, src_mask=mask, is_causal=self.causal)


class TransformerDecoderBlock(nn.TransformerDecoderLayer):
    """``nn.TransformerDecoderLayer`` (batch first) taking ``target`` and ``memory``, with an optional causal mask
    on the target's self-attention built inside."""

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str = "relu",
        norm_first: bool = False,
        causal: bool = True,
    ):
        super().__init__(d_model, nhead, dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                         batch_first=True, norm_first=norm_first)
        self.causal = causal

    def forward(self, target: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        mask = causal_mask(target.shape[1], target.device) if self.causal else None
        return super().forward(target, memory, tgt_mask=mask, tgt_is_causal=self.causal)


# ---------------------------------------------------------------------------------------------------------------
# Arithmetic


class Scale(nn.Module):
    """Multiply by a constant, e.g. token embeddings by √d before adding positions ("Attention is all you
    need"). The constant is a plain float, not a weight: nothing to train or save."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor

    def extra_repr(self) -> str:
        return f"factor={self.factor}"


# ---------------------------------------------------------------------------------------------------------------
# Generative


class Reparameterize(nn.Module):
    """The VAE sampling step: ``z = mean + exp(0.5·log_var)·eps`` with ``eps ~ N(0, 1)``.

    In training mode it samples, and after each forward it stores the KL divergence from the unit Gaussian as
    ``self.kl``, a 0-dim tensor: the mean over the batch of the per-sample sum of
    ``-0.5·(1 + log_var - mean² - exp(log_var))``. The training engine adds ``beta·kl`` to the loss. In eval mode
    it returns ``mean`` (deterministic, so inference and ONNX export are reproducible) and leaves ``kl`` alone.
    """

    def __init__(self) -> None:
        super().__init__()
        self.kl: torch.Tensor = torch.zeros(())

    def forward(self, mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return mean
        terms = -0.5 * (1 + log_var - mean.pow(2) - log_var.exp())
        self.kl = terms.flatten(1).sum(dim=1).mean()
        return mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)


__all__ = [
    "Add", "Attention", "Concat", "GlobalAvgPool", "GlobalMaxPool", "Mean", "Multiply", "Permute",
    "PositionalEncoding", "Recurrent", "Reparameterize", "Reshape", "Scale", "SelectStep", "Split", "Squeeze", "Stack",
    "TransformerDecoderBlock", "TransformerEncoderBlock", "Unsqueeze", "causal_mask",
]
