"""Variable sequence lengths in the PyTorch import: which input axes may vary, and which traced sizes follow them.

torch.fx traces a model on one example, so every shape it records is concrete: a language model traced at length
16 would import as an Input of length 16 with reshapes fixed to it. NetBuilder writes a variable length as ``T``
(an Input of shape ``T`` or ``2, T``; the ONNX importer reads every unnamed ONNX axis the same way), so the import
asks which input axes vary (``dynamic_axes``, counted on the example tensor with the batch as axis 0, as
``torch.onnx.export`` counts them) and otherwise assumes it for token ids that feed an Embedding.

To learn which traced sizes follow the length, the model runs once more, on two samples, at another length: an
axis whose size differs between the two runs follows ``T``; one that does not is fixed. A call that fails at the
second length has baked the length in; the import then keeps the traced length and says which call it was
(`BakedLength`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from netbuilder.importers.result import ModelImportError

DEFAULT_TRACE_LENGTH = 16  # the length a variable axis is traced at when the user gives none (CLI "T")

Axes = tuple[int, ...]  # the variable axes of one input, counted with the batch as axis 0 (so at least 1)


class BakedLength(Exception):
    """The imported network cannot keep a variable length: ``where`` (a call, in the user's words) fixes it."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where} {reason}")
        self.where = where
        self.reason = reason


def resolve_variable_axes(graph_module: fx.GraphModule, examples: Sequence[torch.Tensor],
                          dynamic_axes: Sequence[int] | Mapping[str, Any] | None) -> tuple[Axes, ...]:
    """The variable axes of each example input.

    ``dynamic_axes`` is None (token ids feeding an Embedding vary along axis 1, all else is fixed), a list of axes
    for a model with one input, or a mapping from ``forward``'s argument names to their axes (a list, or an
    ``{axis: name}`` dict as ``torch.onnx.export`` takes). Axis 0, the batch, always varies."""
    names = [node.name for node in graph_module.graph.nodes if node.op == "placeholder"][:len(examples)]
    if dynamic_axes is None:
        ids = _embedding_inputs(graph_module)
        return tuple((1,) if index in ids and examples[index].dim() >= 2 else () for index in range(len(examples)))
    if isinstance(dynamic_axes, Mapping):
        unknown = [str(key) for key in dynamic_axes if key not in names]
        if unknown:
            raise ModelImportError(f"dynamic_axes names {', '.join(map(repr, unknown))}, but forward takes "
                                   f"{', '.join(names) or 'no inputs'}.")
        per_input = [dynamic_axes.get(name, ()) for name in names]
    else:
        if len(examples) != 1:
            raise ModelImportError(f"The model takes {len(examples)} inputs ({', '.join(names)}); give dynamic_axes "
                                   "as a mapping from each input's name to its variable axes.")
        per_input = [dynamic_axes]
    return tuple(_axes(name, axes, example.dim()) for name, axes, example in zip(names, per_input, examples,
                                                                                   strict=True))


def _axes(name: str, axes: Any, rank: int) -> Axes:
    if isinstance(axes, int):
        axes = (axes,)
    found: set[int] = set()
    for axis in axes:
        if not isinstance(axis, int) or isinstance(axis, bool) or not -rank <= axis < rank:
            raise ModelImportError(f"dynamic_axes for input {name!r}: {axis!r} is not an axis of its example, "
                                   f"which has {rank} (0 is the batch, 1 the first axis after it).")
        found.add(axis % rank)
    found.discard(0)  # the batch always varies
    return tuple(sorted(found))


def _embedding_inputs(graph_module: fx.GraphModule) -> set[int]:
    """Indices of the inputs that an nn.Embedding reads: token ids, whose sequence length varies."""
    return set(embedding_readers(graph_module))


def embedding_readers(graph_module: fx.GraphModule) -> dict[int, nn.Embedding]:
    """The nn.Embedding that reads each input holding token ids (by the input's index), directly or through
    casts that keep the ids (``tokens.long()``, ``tokens.to(device)``)."""
    modules = dict(graph_module.named_modules())
    found: dict[int, nn.Embedding] = {}
    placeholders = [node for node in graph_module.graph.nodes if node.op == "placeholder"]
    for index, node in enumerate(placeholders):
        readers = list(node.users)
        while readers:
            user = readers.pop(0)
            module = modules.get(str(user.target)) if user.op == "call_module" else None
            if isinstance(module, nn.Embedding):
                found[index] = module
                break
            if user.op == "call_method" and user.target in ("long", "to", "contiguous", "clone"):
                readers.extend(user.users)
    return found


def other_length(length: int, longer: bool = False) -> int:
    """A second length to run at: shorter (half the compute; a model with a longest length, a table of positions,
    takes it) or, where the model needs more steps than that, longer (strided and pooled layers keep working).
    Either way odd for an even traced length, so a size that only fits an even length shows."""
    return 2 * length + 1 if longer else length // 2 + 1


def stretched(examples: Sequence[torch.Tensor], variable: Sequence[Axes], batch: int,
              generator: torch.Generator, longer: bool = False) -> tuple[torch.Tensor, ...]:
    """Random inputs like ``examples`` at ``batch``, each variable axis at `other_length` of its traced size; token
    ids stay within the example's ids."""
    tensors = []
    for example, axes in zip(examples, variable, strict=True):
        shape = [batch, *example.shape[1:]]
        for axis in axes:
            shape[axis] = other_length(example.shape[axis], longer)
        tensors.append(random_like(example, shape, generator))
    return tuple(tensors)


def random_like(example: torch.Tensor, shape: Sequence[int], generator: torch.Generator,
                vocab: int | None = None) -> torch.Tensor:
    """Random values of ``example``'s kind: normal floats, or ids below ``vocab`` (default: the example's)."""
    if example.is_floating_point():
        return torch.randn(tuple(shape), generator=generator, dtype=example.dtype)
    top = vocab if vocab is not None else int(example.max()) + 1 if example.numel() else 1
    return torch.randint(0, max(top, 1), tuple(shape), generator=generator, dtype=example.dtype)


class _Recorder(fx.Interpreter):
    """Runs a traced graph, keeping each value's shape (a tuple of shapes for calls returning several)."""

    def __init__(self, graph_module: fx.GraphModule):
        super().__init__(graph_module)
        self.shapes: dict[fx.Node, Any] = {}
        self.current: fx.Node | None = None

    def run_node(self, n: fx.Node) -> Any:
        self.current = n
        result = super().run_node(n)
        self.shapes[n] = _shape_of(result)
        return result


def _shape_of(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return tuple(value.shape)
    if isinstance(value, tuple | list):
        return tuple(_shape_of(item) for item in value)
    return None


def shapes_at_other_length(graph_module: fx.GraphModule, examples: Sequence[torch.Tensor],
                           variable: Sequence[Axes], describe: Any) -> tuple[dict[fx.Node, Any], bool]:
    """Every value's shape with two samples at another length, shorter or else longer (True when longer); a
    `BakedLength` names the call that fails at the first length tried (``describe(fx node)`` says which call it is
    in the user's words)."""
    failure: BakedLength | None = None
    for longer in (False, True):
        if not longer and any(other_length(e.shape[a]) == e.shape[a]
                              for e, axes in zip(examples, variable, strict=True) for a in axes):
            continue  # too short to shorten
        try:
            return _run_at(graph_module, examples, variable, describe, longer), longer
        except BakedLength as baked:
            failure = failure or baked
    assert failure is not None
    raise failure


def _run_at(graph_module: fx.GraphModule, examples: Sequence[torch.Tensor], variable: Sequence[Axes],
            describe: Any, longer: bool) -> dict[fx.Node, Any]:
    inputs = stretched(examples, variable, 2, torch.Generator().manual_seed(1), longer)  # 2: see _propagate_shapes
    recorder = _Recorder(graph_module)
    try:
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            recorder.run(*inputs)
    except Exception as error:
        lengths = sorted({other_length(e.shape[a], longer) for e, axes in zip(examples, variable, strict=True)
                          for a in axes})
        where = describe(recorder.current) if recorder.current is not None else "the model"
        message = str(error).strip().splitlines()
        raise BakedLength(where, f"fails at length {', '.join(map(str, lengths))} ({type(error).__name__}: "
                          f"{message[0] if message else 'no message'})") from None
    return recorder.shapes


__all__ = ["DEFAULT_TRACE_LENGTH", "BakedLength", "embedding_readers", "other_length", "random_like", "resolve_variable_axes",
           "shapes_at_other_length", "stretched"]
