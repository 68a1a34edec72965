"""PyTorch import: an ``nn.Module`` becomes an editable NetBuilder document, with its weights, through torch.fx.

``torch.fx.symbolic_trace`` records what ``forward`` does as a graph of calls: standard ``torch.nn`` layers stay
whole (a Conv2d is one call), functional calls and tensor methods (``torch.cat``, ``x.view``, ``F.relu``, ``+``)
are calls of their own. Each call maps to a layer spec by the tables below; the example input, run through the
traced graph (``ShapeProp``), gives every value's shape, which settles what shape-only calls mean (``x.view(
x.size(0), -1)`` is a Reshape to the traced size). Calls that only compute sizes (``x.size(0)``) make no layer.

Nothing is ever replaced by a placeholder: a call with no mapping, or with arguments NetBuilder's layer cannot
express, is collected, and the import stops with `UnsupportedOpsError` listing each kind, how often and where.
After the import, the original module and the compiled document run on the same random input (parity).

`import_pytorch_file` RUNS the given Python file to get the class: only import files you trust. Opening a
``.nbg`` file never runs code.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import math
import operator
import os
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from netbuilder.document import Document
from netbuilder.document.model import Network, name_is_usable, name_stem
from netbuilder.importers.result import (
    ImportResult,
    ModelImportError,
    ParityReport,
    UnsupportedOp,
    UnsupportedOpsError,
)
from netbuilder.specs import TensorType

PARITY_SEED = 0


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


# ---------------------------------------------------------------------------------------------------------------
# Public entry points


def import_pytorch(model: nn.Module, example: torch.Tensor | Sequence[torch.Tensor], name: str | None = None,
                   parity: bool = True, source: str | None = None) -> ImportResult:
    """Import ``model`` traced on ``example`` (one tensor, or one per ``forward`` argument; batch first).

    Returns an `ImportResult` whose weights load into the compiled document; raises `UnsupportedOpsError` listing
    every call NetBuilder cannot express, or `ModelImportError` when the model cannot be traced or run."""
    examples = (example,) if isinstance(example, torch.Tensor) else tuple(example)
    if not examples or not all(isinstance(t, torch.Tensor) for t in examples):
        raise ModelImportError("The example input must be a tensor (or a tuple of tensors), batch first.")
    label = source or type(model).__name__
    was_training = model.training
    model.eval()
    try:
        graph_module = _trace(model, label)
        _propagate_shapes(graph_module, examples, label)
        builder = _Builder(graph_module, name or _network_name(type(model).__name__), label)
        document, weights = builder.build()
        result = ImportResult(document, weights, label, "pytorch", op_counts=builder.op_counts)
        from netbuilder.importers.layout import lay_out

        lay_out(result.network)
        result.notes.extend(builder.notes)
        if parity:
            result.parity = pytorch_parity(result, model, examples)
        return result
    finally:
        model.train(was_training)


def import_pytorch_file(path: str | os.PathLike[str], class_name: str, args: list | dict | None,
                        input_shape: Sequence[int], parity: bool = True) -> ImportResult:
    """Import ``class_name`` from the Python file ``path``. This RUNS the file (as Python runs an import): only
    use files you trust. ``args`` are the constructor's arguments (a list, or a dict of keywords);
    ``input_shape`` is one sample's shape without the batch."""
    model = instantiate(load_class(path, class_name), args, f"{Path(path).name}:{class_name}")
    example = example_input(model, tuple(input_shape))
    return import_pytorch(model, example, name=_network_name(class_name), parity=parity,
                          source=f"{Path(path).name}:{class_name}")


def load_class(path: str | os.PathLike[str], class_name: str) -> type:
    """Run the file at ``path`` as a module and return its ``nn.Module`` subclass ``class_name``."""
    file = Path(path)
    if not file.is_file():
        raise ModelImportError(f"{file} does not exist or is not a file.")
    module_name = f"netbuilder_import_{re.sub(r'[^A-Za-z0-9_]', '_', file.stem)}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ModelImportError(f"{file} cannot be loaded as a Python module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look the module up while it runs
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its neighbours, as it would when run there
    try:
        spec.loader.exec_module(module)
    except SystemExit:
        raise ModelImportError(f"Running {file.name} called exit(); guard its script part with "
                               "if __name__ == \"__main__\":.") from None
    except Exception as error:
        raise ModelImportError(f"Running {file.name} failed: {type(error).__name__}: {_first_line(error)}") \
            from None
    finally:
        if sys.path and sys.path[0] == folder:
            sys.path.pop(0)
    cls = getattr(module, class_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, nn.Module)
                       and v.__module__ == module_name)
        hint = f" It defines: {', '.join(found)}." if found else " It defines no nn.Module class."
        raise ModelImportError(f"{file.name} has no class {class_name!r}.{hint}")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ModelImportError(f"{class_name} in {file.name} is not an nn.Module class.")
    return cls


def instantiate(cls: type, args: list | dict | None, label: str) -> nn.Module:
    """``cls(*args)`` or ``cls(**args)``, with a constructor failure reported in words."""
    try:
        if args is None:
            return cls()
        return cls(**args) if isinstance(args, dict) else cls(*args)
    except Exception as error:
        given = "no arguments" if args is None else f"arguments {args!r}"
        raise ModelImportError(f"{label}({given}) failed: {type(error).__name__}: {_first_line(error)}. Pass the "
                               "constructor's arguments with --args as JSON.") from None


def example_input(model: nn.Module, shape: tuple[int, ...], batch: int = 2) -> torch.Tensor:
    """A random batch of one-sample ``shape``: token ids when the input goes straight into an Embedding."""
    generator = torch.Generator().manual_seed(PARITY_SEED)
    embedding = _first_embedding(model)
    if embedding is not None:
        return torch.randint(0, embedding.num_embeddings, (batch, *shape), generator=generator)
    return torch.randn((batch, *shape), generator=generator)


def _first_embedding(model: nn.Module) -> nn.Embedding | None:
    try:
        graph = fx.symbolic_trace(model).graph
    except Exception:
        return None
    modules = dict(model.named_modules())
    for node in graph.nodes:
        if node.op == "placeholder":
            for user in node.users:
                if user.op == "call_module" and isinstance(modules.get(str(user.target)), nn.Embedding):
                    return modules[str(user.target)]
    return None


# ---------------------------------------------------------------------------------------------------------------
# Tracing


def _trace(model: nn.Module, label: str) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as error:
        raise ModelImportError(
            f"{label} cannot be traced by torch.fx: {type(error).__name__}: {_first_line(error)}. Tracing needs a "
            "forward whose steps do not depend on the values of the data (no if/for on tensor values); write "
            "such a branch as a layer, or export the model to ONNX and import that.") from None


def _propagate_shapes(graph_module: fx.GraphModule, examples: tuple[torch.Tensor, ...], label: str) -> None:
    from torch.fx.passes.shape_prop import ShapeProp

    try:  # ShapeProp prints the traceback of a failing call itself: the message below says it in words
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            # One sample is enough to learn every shape (the batch axis becomes N), at a fraction of the compute.
            ShapeProp(graph_module).propagate(*(t[:1] for t in examples))
    except Exception as error:
        raise ModelImportError(f"{label} fails on the example input of shape "
                               f"{', '.join(str(tuple(t.shape)) for t in examples)}: {type(error).__name__}: "
                               f"{_first_line(error)}. Check --input-shape.") from None


def _meta_shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    return tuple(meta.shape) if meta is not None and hasattr(meta, "shape") else None


def _is_tensor(node: fx.Node) -> bool:
    return _meta_shape(node) is not None


# ---------------------------------------------------------------------------------------------------------------
# Building the document


class _Builder:
    """Walks the traced graph once, adding a node per importable call."""

    def __init__(self, graph_module: fx.GraphModule, network_name: str, source: str):
        self.gm = graph_module
        self.source = source
        self.modules = dict(graph_module.named_modules())
        self.document = Document((network_name,))
        self.net: Network = self.document.network()
        self.values: dict[fx.Node, Any] = {}
        self.weights: dict[str, torch.Tensor] = {}
        self.failures: dict[str, list[tuple[str, str]]] = defaultdict(list)  # op label -> (fx name, reason)
        self.op_counts: dict[str, int] = defaultdict(int)
        self.notes: list[str] = []
        self.last_type: dict[str, str] = {}  # node id -> layer type, for output roles
        self.embedding_weights: dict[int, str] = {}  # id of an Embedding's weight -> its node name (tying)

    def build(self) -> tuple[Document, dict[str, torch.Tensor]]:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self._input(node)
            elif node.op == "output":
                self._outputs(node)
            elif node.op == "get_attr":
                self._fail(node, f"attribute {node.target}", "a tensor used directly in forward, not through a "
                           "layer (NetBuilder layers own their weights)")
            else:
                self._call(node)
        calls = defaultdict(list)
        for node in self.gm.graph.nodes:
            if node.op == "call_module" and isinstance(self.values.get(node), Value | _RecurrentCall):
                calls[str(node.target)].append(node.name)
        for target, names in calls.items():
            if len(names) > 1:
                self.notes.append(f"{target} is called {len(names)} times; each call became its own layer "
                                  f"({', '.join(names)}) with a copy of its weights, so they train separately.")
        if self.failures:
            ops = [UnsupportedOp(label, len(items), tuple(name for name, _ in items),
                                 tuple(dict.fromkeys(reason for _, reason in items if reason)))
                   for label, items in self.failures.items()]
            raise UnsupportedOpsError(ops, self.source)
        self.document.undo_stack.clear()
        return self.document, self.weights

    # ---- nodes --------------------------------------------------------------------------------------------------
    def _name(self, fx_name: str, type_id: str = "layer") -> str:
        if fx_name.lstrip("_")[:1].isdigit():  # a child of an nn.Sequential traced as the root: "_0", "_1"
            return self.net.unique_name(type_id)
        base = name_stem(fx_name)
        taken = {n.name for n in self.net.nodes}
        if base not in taken and name_is_usable(base):
            return base
        return self.net.unique_name(base)

    def emit(self, fx_node: fx.Node, type_id: str, params: dict[str, Any], inputs: Sequence[Value],
             weights: dict[str, torch.Tensor] | None = None, ports: Sequence[str] | None = None) -> Value:
        """Add a layer fed by ``inputs`` (in port order); return its first output (the one fx's value is)."""
        node_id = self.net.add(type_id, name=self._name(fx_node.name, type_id), **params)
        node = self.net.node(node_id)
        in_ports = [p.name for p in node.spec.input_ports(node.params)]
        for port, value in zip(ports or in_ports, inputs, strict=True):
            self.net.connect(value.node_id, node_id, src_port=value.port, dst_port=port)
        for key, tensor in (weights or {}).items():
            self.weights[f"{node.name}.{key}"] = tensor.detach().clone()
        out_port = node.spec.output_ports(node.params)[0].name
        shape = _meta_shape(fx_node)
        self.last_type[node_id] = type_id
        meta = fx_node.meta.get("tensor_meta")
        dtype = "int64" if getattr(meta, "dtype", None) == torch.int64 else "float32"
        return Value(node_id, out_port, TensorType(("N", *(shape[1:] if shape else ())), dtype))

    def _input(self, node: fx.Node) -> None:
        shape = _meta_shape(node)
        if shape is None or len(shape) < 1:
            self._fail(node, "input", "an input that is not a tensor with a batch axis")
            return
        dtype = node.meta["tensor_meta"].dtype
        if dtype not in (torch.float32, torch.int64):
            self._fail(node, "input", f"an input of dtype {dtype} (NetBuilder takes float32 values or int64 ids)")
            return
        params = {"shape": shape[1:] or (1,), "dtype": "int64" if dtype == torch.int64 else "float32"}
        node_id = self.net.add("Input", name=self._name(node.name), **params)
        self.values[node] = Value(node_id, "out", TensorType(("N", *shape[1:]), params["dtype"]))

    def _outputs(self, node: fx.Node) -> None:
        results = _flatten_outputs(node.args[0])
        if results is None:
            self._fail(node, "output", "forward returns something other than tensors (a tuple or list of tensors "
                       "is fine)")
            return
        for index, result in enumerate(results):
            value = self.values.get(result)
            if value is FAILED or value is None:
                continue
            if not isinstance(value, Value):
                self._fail(node, "output", "forward returns a value that is not a tensor")
                continue
            name = "output" if len(results) == 1 else f"output{index + 1}"
            out = self.net.add("Output", name=self._name(name), role=self._role(value))
            self.net.connect(value.node_id, out, src_port=value.port)

    def _role(self, value: Value) -> str:
        last = self.last_type.get(value.node_id)
        if last in ("Softmax", "LogSoftmax") or (last == "Sigmoid" and value.type.rank == 2):
            return "probabilities"
        if value.type.rank == 3 and any(n.params["dtype"] == "int64" for n in self.net.inputs()):
            return "token_logits"  # a language model: next-token scores at every step
        return "logits" if value.type.rank == 2 and value.type.dtype == "float32" else "features"

    # ---- calls --------------------------------------------------------------------------------------------------
    def _call(self, node: fx.Node) -> None:
        label = self._label(node)
        self.op_counts[label] += 1
        if not node.users:  # dead code, e.g. the unused state in `out, _ = self.lstm(x)`
            return
        arguments = [*node.args, *node.kwargs.values()]
        if any(self.values.get(a) is FAILED for a in _nodes_in(arguments)):
            self.values[node] = FAILED  # its cause is reported already
            return
        if not _is_tensor(node) and not isinstance(node.meta.get("tensor_meta"), tuple | list):
            # A size, a dimension count, a shape: used only to compute other layers' arguments.
            self.values[node] = _SIZE
            return
        try:
            if node.op == "call_module":
                module = self.modules[str(node.target)]
                rule = _module_rule(module)
                if rule is None:
                    raise Unsupported("")
                result = rule(self, node, module)
            else:
                rule = _function_rule(node)
                if rule is None:
                    raise Unsupported("")
                result = rule(self, node)
        except Unsupported as problem:
            self._fail(node, label, str(problem))
            return
        self.values[node] = result

    def _fail(self, node: fx.Node, label: str, reason: str) -> None:
        self.failures[label].append((node.name, reason))
        self.values[node] = FAILED

    def _label(self, node: fx.Node) -> str:
        if node.op == "call_module":
            cls = type(self.modules[str(node.target)])
            prefix = "nn." if getattr(nn, cls.__name__, None) is cls else ""
            return f"{prefix}{cls.__name__}"
        if node.op == "call_method":
            return f"Tensor.{node.target}"
        target = node.target
        module = getattr(target, "__module__", None) or ""
        short = {"torch.nn.functional": "F", "_operator": "operator", "torch._C._nn": "F",
                 "torch._C._VariableFunctions": "torch"}.get(module, module.split(".")[0] or "torch")
        return f"{short}.{getattr(target, '__name__', str(target))}"

    # ---- argument helpers used by the rules ---------------------------------------------------------------------
    def tensor(self, arg: Any) -> Value:
        value = self.values.get(arg) if isinstance(arg, fx.Node) else None
        if isinstance(value, _RecurrentCall):
            raise Unsupported("the whole (output, state) result of a recurrent layer is used; only output[0] "
                              "imports")
        if not isinstance(value, Value):
            raise Unsupported("an argument that is not a tensor computed from the input")
        return value

    def constant(self, arg: Any, what: str) -> Any:
        if isinstance(arg, fx.Node):
            raise Unsupported(f"its {what} is computed in forward; NetBuilder needs a fixed number there")
        return arg


_SIZE = object()  # the value of a call that computes sizes, not tensors


def _nodes_in(arguments: Any) -> list[fx.Node]:
    found: list[fx.Node] = []
    fx.node.map_arg(arguments, lambda n: found.append(n) or n)
    return found


def _flatten_outputs(result: Any) -> list[fx.Node] | None:
    if isinstance(result, fx.Node):
        return [result]
    if isinstance(result, tuple | list):
        items: list[fx.Node] = []
        for item in result:
            inner = _flatten_outputs(item)
            if inner is None:
                return None
            items.extend(inner)
        return items
    if isinstance(result, dict):
        return _flatten_outputs(list(result.values()))
    return None


def _arg(node: fx.Node, index: int, name: str, default: Any = None) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _ints(value: Any, count: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * count
    return tuple(int(v) for v in value)


# ---------------------------------------------------------------------------------------------------------------
# nn module rules: fn(builder, fx node, module) -> Value


ModuleRule = Callable[[_Builder, fx.Node, Any], Any]


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


def _embedding(b: _Builder, node: fx.Node, m: nn.Embedding) -> Value:
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
    shape = _meta_shape_item(node, 0)
    typed = Value(value.node_id, value.port, TensorType(("N", *shape[1:])) if shape else value.type)
    return _RecurrentCall(typed, node.name)


def _no_masks(node: fx.Node, names: Sequence[str]) -> None:
    for name in names:
        if node.kwargs.get(name) is not None:
            raise Unsupported(f"{name} passed in forward (set the layer's causal option by hand instead)")


def _attention(b: _Builder, node: fx.Node, m: nn.MultiheadAttention) -> _RecurrentCall:
    if not m.batch_first:
        raise Unsupported("batch_first=False (NetBuilder's sequences are batch first, N×T×D)")
    if m.in_proj_bias is None or m.bias_k is not None or m.add_zero_attn:
        raise Unsupported("bias=False, add_bias_kv or add_zero_attn")
    if len(node.args) > 3:
        raise Unsupported("masks passed positionally")
    _no_masks(node, ("attn_mask", "key_padding_mask"))
    if node.kwargs.get("is_causal"):
        raise Unsupported("is_causal in forward (set the layer's causal option by hand)")
    query, key, value = (list(node.args) + [node.kwargs.get(n) for n in ("query", "key", "value")])[:3]
    if key is not value:
        raise Unsupported("different key and value tensors (NetBuilder attends to one memory)")
    inputs = [b.tensor(query)] if key is query else [b.tensor(query), b.tensor(key)]
    params = {"num_heads": m.num_heads, "mode": "self" if key is query else "cross", "dropout": float(m.dropout),
              "causal": False}
    result = b.emit(node, "MultiheadAttention", params, inputs, _state(m))
    shape = _meta_shape_item(node, 0)
    typed = Value(result.node_id, result.port, TensorType(("N", *shape[1:])) if shape else result.type)
    return _RecurrentCall(typed, node.name, "the attention weights (output[1]); NetBuilder's layer returns the "
                          "attended values, output[0]")


def _transformer_layer(b: _Builder, node: fx.Node, m: Any) -> Value:
    decoder = isinstance(m, nn.TransformerDecoderLayer)
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
    if len(node.args) > (2 if decoder else 1):
        raise Unsupported("masks passed positionally")
    _no_masks(node, ("src_mask", "src_key_padding_mask", "tgt_mask", "memory_mask", "tgt_key_padding_mask",
                     "memory_key_padding_mask"))
    if node.kwargs.get("is_causal") or node.kwargs.get("tgt_is_causal") or node.kwargs.get("memory_is_causal"):
        raise Unsupported("a causal flag in forward (set the layer's causal option by hand)")
    params = {"nhead": m.self_attn.num_heads, "dim_feedforward": m.linear1.out_features,
              "dropout": float(m.dropout.p), "activation": activation, "norm_first": m.norm_first, "causal": False}
    inputs = [b.tensor(node.args[0])]
    if decoder:
        inputs.append(b.tensor(node.args[1] if len(node.args) > 1 else node.kwargs.get("memory")))
    kind = "TransformerDecoderLayer" if decoder else "TransformerEncoderLayer"
    return b.emit(node, kind, params, inputs, _state(m))


def _meta_shape_item(node: fx.Node, index: int) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    if isinstance(meta, tuple | list) and len(meta) > index and hasattr(meta[index], "shape"):
        return tuple(meta[index].shape)
    return None


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


def _flatten_params(m: nn.Flatten) -> dict[str, Any]:
    if m.end_dim != -1 or m.start_dim < 1:
        raise Unsupported("flattening other axes than from start_dim (at least 1) to the last")
    return {"start_axis": m.start_dim}


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
    (nn.BatchNorm1d, _batch_norm), (nn.BatchNorm2d, _batch_norm),
    (nn.LayerNorm, _layer_norm), (nn.GroupNorm, _group_norm),
    (nn.Embedding, _embedding),
    (nn.LSTM, _recurrent), (nn.GRU, _recurrent), (nn.RNN, _recurrent),
    (nn.MultiheadAttention, _attention),
    (nn.TransformerEncoderLayer, _transformer_layer), (nn.TransformerDecoderLayer, _transformer_layer),
    (nn.ReLU, _simple("ReLU")),
    (nn.GELU, _simple("GELU", _gelu_params)), (nn.SiLU, _simple("SiLU")), (nn.Sigmoid, _simple("Sigmoid")),
    (nn.Tanh, _simple("Tanh")), (nn.ELU, _simple("ELU", lambda m: {"alpha": float(m.alpha)})),
    (nn.LeakyReLU, _simple("LeakyReLU", lambda m: {"negative_slope": float(m.negative_slope)})),
    (nn.Softplus, _simple("Softplus", _softplus_params)),
    (nn.Softmax, _simple("Softmax", _dim_param)), (nn.LogSoftmax, _simple("LogSoftmax", _dim_param)),
    (nn.Dropout, _simple("Dropout", lambda m: {"p": float(m.p)})),
    (nn.Dropout2d, _simple("Dropout2d", lambda m: {"p": float(m.p)})),
    (nn.Identity, _simple("Identity")),
    (nn.Flatten, _simple("Flatten", _flatten_params)),
    (nn.PixelShuffle, _simple("PixelShuffle", lambda m: {"upscale_factor": m.upscale_factor})),
    (nn.LocalResponseNorm, _simple("LocalResponseNorm", lambda m: {"size": m.size, "alpha": float(m.alpha),
                                                                   "beta": float(m.beta), "k": float(m.k)})),
]


def _module_rule(module: nn.Module) -> ModuleRule | None:
    for cls, rule in MODULE_RULES:
        if type(module) is cls:
            return rule
    return None


# ---------------------------------------------------------------------------------------------------------------
# Function and method rules: fn(builder, fx node) -> Value


FunctionRule = Callable[[_Builder, fx.Node], Any]


def _binary(merge: str) -> FunctionRule:
    """``a + b`` / ``a * b`` of two tensors is Add / Multiply; ``a * 2.0`` (or ``a / 2.0``) is Scale."""

    def rule(b: _Builder, node: fx.Node) -> Value:
        left, right = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
        if "alpha" in node.kwargs:
            raise Unsupported("alpha= in add")
        tensors = [a for a in (left, right) if isinstance(a, fx.Node) and isinstance(b.values.get(a), Value)]
        if len(tensors) == 2:
            return b.emit(node, merge, {"inputs": 2}, [b.tensor(left), b.tensor(right)])
        constant = right if tensors and tensors[0] is left else left
        if isinstance(constant, fx.Node):
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
    x = b.tensor(node.args[0])
    if end not in (-1, x.type.rank - 1) or start < 1:
        raise Unsupported("flattening other axes than from start_dim (at least 1) to the last")
    return b.emit(node, "Flatten", {"start_axis": start}, [x])


def _reshape(b: _Builder, node: fx.Node) -> Value:
    x = b.tensor(node.args[0])
    shape, source = _meta_shape(node), _meta_shape(node.args[0])
    if shape is None or source is None or not shape or shape[0] != source[0]:
        raise Unsupported("a reshape that changes the batch axis")
    if shape[1:] == source[1:]:
        return x
    return b.emit(node, "Reshape", {"shape": shape[1:]}, [x])


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
    if axis == 0:
        raise Unsupported("a new axis before the batch")
    return b.emit(node, "Unsqueeze", {"axis": axis}, [b.tensor(node.args[0])])


def _squeeze(b: _Builder, node: fx.Node) -> Value:
    axis = b.constant(_arg(node, 1, "dim"), "axis")
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


def _leaky_call(b: _Builder, node: fx.Node) -> dict[str, Any]:
    return {"negative_slope": float(b.constant(_arg(node, 1, "negative_slope", 0.01), "slope"))}


def _dropout_call(b: _Builder, node: fx.Node) -> Value:
    p = b.constant(_arg(node, 1, "p", 0.5), "rate")
    return b.emit(node, "Dropout", {"p": float(p)}, [b.tensor(node.args[0])])


def _mean(b: _Builder, node: fx.Node) -> Value:
    x = b.tensor(node.args[0])
    dims = b.constant(_arg(node, 1, "dim"), "axes")
    keepdim = b.constant(_arg(node, 2, "keepdim", False), "keepdim")
    dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
    axes = sorted(d % x.type.rank for d in dims)
    if x.type.rank >= 3 and axes == list(range(2, x.type.rank)) and not keepdim:
        return b.emit(node, "GlobalAvgPool", {}, [x])
    raise Unsupported("a mean over other axes than every axis after the channels (N×C×… to N×C); use "
                      "AdaptiveAvgPool for keepdim")


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


def _getitem(b: _Builder, node: fx.Node) -> Value:
    source, index = node.args
    value = b.values.get(source)
    if isinstance(value, _RecurrentCall):
        if index == 0:
            return value.value
        raise Unsupported(value.rest)
    if value is _SIZE:
        return _SIZE  # type: ignore[return-value]
    x = b.tensor(source)
    if isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None) and isinstance(index[1], int) \
            and x.type.rank >= 3 and index[1] in (0, -1):
        return b.emit(node, "SelectStep", {"which": "first" if index[1] == 0 else "last"}, [x])
    raise Unsupported("indexing or slicing a tensor (only x[:, 0] and x[:, -1], a sequence's first or last step, "
                      "import)")


def _passthrough(b: _Builder, node: fx.Node) -> Value:
    x = b.tensor(node.args[0])
    dtype = node.meta["tensor_meta"].dtype if node.meta.get("tensor_meta") is not None else None
    if dtype is not None and (dtype == torch.int64) != (x.type.dtype == "int64"):
        raise Unsupported("changing the dtype")
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
    F.dropout: _dropout_call, torch.mean: _mean,
    F.adaptive_avg_pool1d: _adaptive_avg_call, F.adaptive_avg_pool2d: _adaptive_avg_call,
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
    "log_softmax": _activation("LogSoftmax", axis=True), "mean": _mean, "contiguous": _passthrough,
    "float": _passthrough, "clone": _passthrough, "matmul": _matmul,
}


def _function_rule(node: fx.Node) -> FunctionRule | None:
    if node.op == "call_method":
        return METHOD_RULES.get(str(node.target))
    try:
        return FUNCTION_RULES.get(node.target)
    except TypeError:  # an unhashable target
        return None


# ---------------------------------------------------------------------------------------------------------------
# Parity


def pytorch_parity(result: ImportResult, model: nn.Module, examples: tuple[torch.Tensor, ...]) -> ParityReport:
    """The original module and the compiled import on one fresh random input (another batch size than the
    example's, so a batch baked into a reshape shows)."""
    import numpy as np

    from netbuilder.compile import vocab_size
    from netbuilder.importers.parity import compiled_module

    module = compiled_module(result)
    batch = examples[0].shape[0] + 1
    generator = torch.Generator().manual_seed(PARITY_SEED + 1)
    vocab = vocab_size(module)
    inputs = tuple(torch.randint(0, vocab, (batch, *t.shape[1:]), generator=generator) if not t.is_floating_point()
                   else torch.randn((batch, *t.shape[1:]), generator=generator) for t in examples)
    try:
        with torch.no_grad():
            expected = model(*inputs)
    except Exception as error:
        raise ModelImportError(f"The original model fails at batch {batch}: {type(error).__name__}: "
                               f"{_first_line(error)} (a batch size fixed in forward?).") from None
    with torch.no_grad():
        ours = module(*inputs)
    theirs_list = _flatten_tensors(expected)
    ours_list = _flatten_tensors(ours)
    if len(theirs_list) != len(ours_list):
        raise ModelImportError(f"The imported network returns {len(ours_list)} outputs, the original "
                               f"{len(theirs_list)}.")
    worst_abs = worst_rel = 0.0
    for mine, reference in zip(ours_list, theirs_list, strict=True):
        if tuple(mine.shape) != tuple(reference.shape):
            raise ModelImportError(f"The imported network returns shape {tuple(mine.shape)} where the original "
                                   f"returns {tuple(reference.shape)}.")
        a, r = mine.double().numpy(), reference.double().numpy()
        if not a.size:
            continue
        difference = float(np.max(np.abs(a - r)))
        scale = float(np.max(np.abs(r)))
        worst_abs = max(worst_abs, difference if math.isfinite(difference) else math.inf)
        worst_rel = max(worst_rel, difference / scale if scale > 0 else difference)
    shapes = {name: list(t.shape) for name, t in zip(module.netbuilder.input_names, inputs, strict=True)}
    return ParityReport(worst_abs, worst_rel, batch, shapes, "pytorch")


def _flatten_tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for item in value for t in _flatten_tensors(item)]
    if isinstance(value, dict):
        return _flatten_tensors(list(value.values()))
    return []


# ---------------------------------------------------------------------------------------------------------------


def _network_name(class_name: str) -> str:
    name = name_stem(class_name)
    return name or "model"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


__all__ = ["Unsupported", "example_input", "import_pytorch", "import_pytorch_file", "instantiate", "load_class",
           "pytorch_parity"]
