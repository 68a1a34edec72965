"""PyTorch import: an ``nn.Module`` becomes an editable NetBuilder document, with its weights, through torch.fx.

``torch.fx.symbolic_trace`` records what ``forward`` does as a graph of calls: standard ``torch.nn`` layers stay
whole (a Conv2d is one call), functional calls and tensor methods (``torch.cat``, ``x.view``, ``F.relu``, ``+``)
are calls of their own. Each call maps to a layer spec by the rules in `netbuilder.importers.pytorch_layers`; the
example input, run through the traced graph (``ShapeProp``), gives every value's shape, which settles what
shape-only calls mean (``x.view(x.size(0), -1)`` is a Reshape to the traced size). Calls that only compute sizes
(``x.size(0)``) make no layer, nor do calls whose values never reach what ``forward`` returns.

Sequence lengths stay variable where the model allows it (`netbuilder.importers.pytorch_lengths`): token ids that
feed an Embedding, and the axes ``dynamic_axes`` names, import as ``T``; the model runs once more at another length
to learn which sizes follow it, so a reshape keeps the length in its -1. A call that fixes the length is named in a
warning and the traced length is kept.

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
import os
import re
import sys
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx
import torch.nn as nn

from netbuilder.document import Document
from netbuilder.document.model import Network, name_is_usable, name_stem
from netbuilder.importers.parity import worst_differences
from netbuilder.importers.pytorch_layers import function_rule, module_rule
from netbuilder.importers.pytorch_lengths import (
    Axes,
    BakedLength,
    embedding_readers,
    other_length,
    random_like,
    resolve_variable_axes,
    shapes_at_other_length,
)
from netbuilder.importers.pytorch_sequences import causal_mask_argument
from netbuilder.importers.pytorch_values import (
    FAILED,
    SIZE,
    Unsupported,
    Value,
    _Attribute,
    _FinalState,
    _is_tensor,
    _meta_shape,
    _meta_shape_item,
    _nodes_in,
    _PositionTable,
    _RecurrentCall,
)
from netbuilder.importers.result import (
    ImportResult,
    ModelImportError,
    ParityReport,
    UnsupportedOp,
    UnsupportedOpsError,
)
from netbuilder.specs import BATCH, SEQ, TensorType

PARITY_SEED = 0


# ---------------------------------------------------------------------------------------------------------------
# Public entry points


def import_pytorch(model: nn.Module, example: torch.Tensor | Sequence[torch.Tensor], name: str | None = None,
                   parity: bool = True, source: str | None = None,
                   dynamic_axes: Sequence[int] | Mapping[str, Any] | None = None, blocks: bool = True) -> ImportResult:
    """Import ``model`` traced on ``example`` (one tensor, or one per ``forward`` argument; batch first).
    ``blocks``: repeated structure becomes block definitions, named after the modules (``Bottleneck``).

    ``dynamic_axes`` says which axes of the example inputs have a variable length (counted with the batch as axis
    0, as ``torch.onnx.export`` counts them): a list for a model with one input, or a mapping from ``forward``'s
    argument names to axes. None (the default) makes token ids that feed an Embedding variable along axis 1 and
    everything else fixed; an empty list keeps every length fixed. A variable axis imports as ``T``; where the model
    fixes the length after all (a reshape or a Linear over the steps), the import keeps the traced length and a
    note names the call.

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
        variable = resolve_variable_axes(graph_module, examples, dynamic_axes)
        builder, document, weights, notes = _build_keeping_lengths(graph_module, variable, examples,
                                                                   name or _network_name(type(model).__name__),
                                                                   label)
        if blocks:
            from netbuilder.importers.repeat_blocks import group_repeats

            weights = group_repeats(document, weights, builder.scopes)
        result = ImportResult(document, weights, label, "pytorch", op_counts=builder.op_counts)
        from netbuilder.importers.layout import lay_out

        lay_out(result.network)
        result.notes.extend(notes)
        result.notes.extend(builder.notes)
        if parity:
            result.parity = pytorch_parity(result, model, examples, builder.variable, builder.longer)
        return result
    finally:
        model.train(was_training)


def _build_keeping_lengths(graph_module: fx.GraphModule, variable: tuple[Axes, ...],
                           examples: tuple[torch.Tensor, ...], network_name: str, label: str
                           ) -> tuple[_Builder, Document, dict[str, torch.Tensor], list[str]]:
    """Build with the variable axes as ``T``; when the model fixes the length somewhere, say where and build
    again at the traced length."""
    notes: list[str] = []
    if any(variable):
        modules = dict(graph_module.named_modules())
        try:
            other, longer = shapes_at_other_length(graph_module, examples, variable,
                                                   lambda n: describe_call(n, modules))
            builder = _Builder(graph_module, network_name, label, variable, other, longer)
            document, weights = builder.build()
            _check_variable(builder)
        except BakedLength as baked:
            notes.append(_fixed_length_warning(graph_module, examples, variable, baked))
        else:
            notes.append(_variable_note(graph_module, examples, variable))
            return builder, document, weights, notes
    builder = _Builder(graph_module, network_name, label)
    document, weights = builder.build()
    return builder, document, weights, notes


def _check_variable(builder: _Builder) -> None:
    """NetBuilder's own shape inference must accept the variable length everywhere (a Flatten over the steps, for
    one, needs fixed sizes)."""
    from netbuilder.analysis import analyze

    errors = analyze(builder.net).errors
    if errors:
        first = errors[0]
        node = builder.net.node(first.node_id) if first.node_id else None
        where = f"{node.name} (its {node.type} layer)" if node is not None else "the network"
        raise BakedLength(where, f"cannot take a variable length in NetBuilder ({first.message.rstrip('.')})")


def _input_names(graph_module: fx.GraphModule, count: int) -> list[str]:
    return [node.name for node in graph_module.graph.nodes if node.op == "placeholder"][:count]


def _variable_note(graph_module: fx.GraphModule, examples: tuple[torch.Tensor, ...],
                   variable: tuple[Axes, ...]) -> str:
    described = [f"{name} (axis {', '.join(map(str, axes))}, traced at "
                 f"{', '.join(str(example.shape[a]) for a in axes)})"
                 for name, example, axes in zip(_input_names(graph_module, len(examples)), examples, variable,
                                                strict=True) if axes]
    return f"Variable length T: {'; '.join(described)}."


def _fixed_length_warning(graph_module: fx.GraphModule, examples: tuple[torch.Tensor, ...],
                          variable: tuple[Axes, ...], baked: BakedLength) -> str:
    fixed = [f"{name} keeps the traced length {', '.join(str(example.shape[a]) for a in axes)}"
             for name, example, axes in zip(_input_names(graph_module, len(examples)), examples, variable,
                                            strict=True) if axes]
    return (f"Warning: {' and '.join(fixed)}, not a variable length T: {baked.where} {baked.reason}. Other "
            "lengths need that call changed in the source model.")


def import_pytorch_file(path: str | os.PathLike[str], class_name: str, args: list | dict | None,
                        input_shape: Sequence[int], parity: bool = True,
                        dynamic_axes: Sequence[int] | None = None, blocks: bool = True) -> ImportResult:
    """Import ``class_name`` from the Python file ``path``. This RUNS the file (as Python runs an import): only
    use files you trust. ``args`` are the constructor's arguments (a list, or a dict of keywords);
    ``input_shape`` is one sample's shape without the batch; ``dynamic_axes`` its variable axes (1 is the first
    after the batch; see `import_pytorch`)."""
    model = instantiate(load_class(path, class_name), args, f"{Path(path).name}:{class_name}")
    example = example_input(model, tuple(input_shape))
    return import_pytorch(model, example, name=_network_name(class_name), parity=parity,
                          source=f"{Path(path).name}:{class_name}", dynamic_axes=dynamic_axes, blocks=blocks)


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
        graph_module = _trace(model, type(model).__name__)
    except ModelImportError:
        return None  # the import itself reports it
    return embedding_readers(graph_module).get(0)


# ---------------------------------------------------------------------------------------------------------------
# Tracing


class _BufferTracer(fx.Tracer):
    """torch.fx's tracer, but a buffer read in forward is traced too (as parameters are), so that
    ``self.pe[:, :x.size(1)]``, a table of positions sliced to the input's length, can be traced at all."""

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if isinstance(attr_val, torch.Tensor) and not isinstance(attr_val, nn.Parameter):
            for name, buffer in self.root.named_buffers():
                if buffer is attr_val:
                    if name not in parameter_proxy_cache:
                        parameter_proxy_cache[name] = self.create_proxy("get_attr", name, (), {})
                    return parameter_proxy_cache[name]
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def _trace(model: nn.Module, label: str) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as error:
        if any(True for _ in model.buffers()):
            with contextlib.suppress(Exception):
                return fx.GraphModule(model, _BufferTracer().trace(model), type(model).__name__)
        raise ModelImportError(
            f"{label} cannot be traced by torch.fx: {type(error).__name__}: {_first_line(error)}. "
            f"{_packing_hint(model)}Tracing needs a forward whose steps do not depend on the values of the data "
            "(no if/for on tensor values); write such a branch as a layer, or export the model to ONNX and import "
            "that.") from None


def _packing_hint(model: nn.Module) -> str:
    """Packed sequences are the usual reason a recurrent model will not trace; say so in its words."""
    import inspect

    try:
        source = inspect.getsource(type(model).forward)
    except (OSError, TypeError):
        return ""
    if "pack_padded_sequence" in source or "pack_sequence" in source:
        return ("forward packs its sequences (pack_padded_sequence), which cannot be traced: NetBuilder's recurrent "
                "layers read the padded N×T×F batch, so pass it to the layer directly. ")
    return ""


def _propagate_shapes(graph_module: fx.GraphModule, examples: tuple[torch.Tensor, ...], label: str) -> None:
    from torch.fx.passes.shape_prop import ShapeProp

    modules = dict(graph_module.named_modules())
    masks = {mask for node in graph_module.graph.nodes if (mask := causal_mask_argument(node, modules)) is not None}

    class ShapeAndMaskProp(ShapeProp):
        """Shapes, and the values of attention masks (to tell a causal mask from others)."""

        def run_node(self, n: fx.Node) -> Any:
            result = super().run_node(n)
            if n in masks and isinstance(result, torch.Tensor) and result.dim() == 2:
                n.meta["nb_mask"] = result.detach().clone()
            return result

    try:  # ShapeProp prints the traceback of a failing call itself: the message below says it in words
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            # Two samples are enough to learn every shape (the batch axis becomes N), at a fraction of the
            # compute; one would not do: at batch 1, x.squeeze() drops the batch axis too.
            ShapeAndMaskProp(graph_module).propagate(*(t[:2] for t in examples))
    except Exception as error:
        raise ModelImportError(f"{label} fails on the example input of shape "
                               f"{', '.join(str(tuple(t.shape)) for t in examples)}: {type(error).__name__}: "
                               f"{_first_line(error)}. Check --input-shape.") from None


# ---------------------------------------------------------------------------------------------------------------
# Building the document


class _Builder:
    """Walks the traced graph once, adding a node per importable call."""

    def __init__(self, graph_module: fx.GraphModule, network_name: str, source: str,
                 variable: tuple[Axes, ...] = (), other_shapes: dict[fx.Node, Any] | None = None,
                 longer: bool = False):
        self.gm = graph_module
        self.variable = variable  # per input: its axes of variable length (empty: every length fixed)
        self.other_shapes = other_shapes  # each value's shape at another length (None: every length fixed)
        self.longer = longer  # whether that other length is longer than the traced one (else shorter)
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
        self.scopes: dict[str, tuple[tuple[str, str], ...]] = {}  # node name -> (module path, class), outermost first
        self.live: set[fx.Node] = set()  # the calls whose values reach forward's result

    def build(self) -> tuple[Document, dict[str, torch.Tensor]]:
        self.live = _reaching_outputs(self.gm.graph, lambda n: causal_mask_argument(n, self.modules))
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self._input(node)
            elif node.op == "output":
                self._outputs(node)
            elif node.op == "get_attr":
                self._attribute(node)
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
             weights: dict[str, torch.Tensor] | None = None, ports: Sequence[str] | None = None,
             suffix: str = "") -> Value:
        """Add a layer fed by ``inputs`` (in port order); return its first output (the one fx's value is). A call
        that becomes several layers names the ones before the last by ``suffix``."""
        fx_name = f"{fx_node.name}_{suffix}" if suffix else fx_node.name
        node_id = self.net.add(type_id, name=self._name(fx_name, type_id), **params)
        node = self.net.node(node_id)
        in_ports = [p.name for p in node.spec.input_ports(node.params)]
        for port, value in zip(ports or in_ports, inputs, strict=True):
            self.net.connect(value.node_id, node_id, src_port=value.port, dst_port=port)
        for key, tensor in (weights or {}).items():
            self.weights[f"{node.name}.{key}"] = tensor.detach().clone()
        stack = fx_node.meta.get("nn_module_stack") or {}
        self.scopes[node.name] = tuple((str(path), getattr(cls, "__name__", str(cls)))
                                       for path, cls in stack.values())
        out_port = node.spec.output_ports(node.params)[0].name
        self.last_type[node_id] = type_id
        return Value(node_id, out_port, self.type_of(fx_node))

    def type_of(self, fx_node: fx.Node, item: int | None = None) -> TensorType:
        """The type of a traced value (``item``: of one item of a tuple result): its traced sizes, with ``T`` on
        each axis whose size follows the variable length."""
        meta = fx_node.meta.get("tensor_meta")
        if item is None and not hasattr(meta, "shape") and isinstance(meta, tuple | list):  # (values, indices)
            item = 0
        shape = _meta_shape(fx_node) if item is None else _meta_shape_item(fx_node, item)
        if item is not None and isinstance(meta, tuple | list) and len(meta) > item:
            meta = meta[item]
        dtype = "int64" if getattr(meta, "dtype", None) == torch.int64 else "float32"
        if shape is None:
            return TensorType((BATCH,), dtype)
        other = self.other_shape(fx_node, item)
        dims = [SEQ if other is not None and len(other) == len(shape) and other[i] != size else size
                for i, size in enumerate(shape)]
        return TensorType((BATCH, *dims[1:]), dtype)

    def other_shape(self, fx_node: fx.Node, item: int | None = None) -> tuple[int, ...] | None:
        """The value's shape at the other length (None when every length is fixed)."""
        if self.other_shapes is None:
            return None
        shape = self.other_shapes.get(fx_node)
        if item is not None:
            shape = shape[item] if isinstance(shape, tuple) and len(shape) > item else None
        return shape if isinstance(shape, tuple) and all(isinstance(d, int) for d in shape) else None

    def describe(self, fx_node: fx.Node) -> str:
        return describe_call(fx_node, self.modules)

    def _input(self, node: fx.Node) -> None:
        shape = _meta_shape(node)
        if shape is None or len(shape) < 1:
            self._fail(node, "input", "an input that is not a tensor with a batch axis")
            return
        dtype = node.meta["tensor_meta"].dtype
        if dtype not in (torch.float32, torch.int64):
            self._fail(node, "input", f"an input of dtype {dtype} (NetBuilder takes float32 values or int64 ids)")
            return
        index = sum(1 for n in self.gm.graph.nodes if n.op == "placeholder" and n in self.values)
        axes = self.variable[index] if index < len(self.variable) else ()
        sample = tuple(SEQ if axis in axes else size for axis, size in enumerate(shape))[1:]
        params = {"shape": sample or (1,), "dtype": "int64" if dtype == torch.int64 else "float32"}
        node_id = self.net.add("Input", name=self._name(node.name), **params)
        self.values[node] = Value(node_id, "out", TensorType(("N", *sample), params["dtype"]))

    def _attribute(self, node: fx.Node) -> None:
        """``self.pos`` read in forward: kept for a rule that knows it (a table of positions), reported otherwise."""
        try:
            tensor = self.gm.get_parameter(str(node.target))
            learned = True
        except AttributeError:
            try:
                tensor = self.gm.get_buffer(str(node.target))
            except AttributeError:
                self._fail(node, f"attribute {node.target}", "an attribute that is not a tensor of the module")
                return
            learned = False
        self.values[node] = _Attribute(str(node.target), tensor.detach(), learned)

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
        if node not in self.live:  # dead code, e.g. the unused state in `out, _ = self.lstm(x)`
            if _changes_in_place(node) and any(arg in self.live for arg in node.all_input_nodes):
                self._fail(node, label, "an in-place change whose result is not used (x.add_(y), x[i] = v); "
                           "NetBuilder follows values: write x = x + y")
            return
        arguments = [*node.args, *node.kwargs.values()]
        if any(self.values.get(a) is FAILED for a in _nodes_in(arguments)):
            self.values[node] = FAILED  # its cause is reported already
            return
        if not _is_tensor(node) and not isinstance(node.meta.get("tensor_meta"), tuple | list):
            # A size, a dimension count, a shape: used only to compute other layers' arguments.
            self.values[node] = SIZE
            return
        try:
            if node.op == "call_module":
                module = self.modules[str(node.target)]
                rule = module_rule(module)
                if rule is None:
                    raise Unsupported("")
                result = rule(self, node, module)
            else:
                rule = function_rule(node)
                if rule is None:
                    raise Unsupported("")
                result = rule(self, node)
        except Unsupported as problem:
            self._fail(node, label, str(problem))
            return
        except BakedLength:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, KeyError) as error:
            # Arguments of a form no rule expected: listed with the others, never a traceback.
            self._fail(node, label, f"arguments of a form the import does not read ({type(error).__name__}: "
                       f"{_first_line(error)})")
            return
        self.values[node] = result

    def _fail(self, node: fx.Node, label: str, reason: str) -> None:
        self.failures[label].append((node.name, reason))
        self.values[node] = FAILED

    def _label(self, node: fx.Node) -> str:
        return call_label(node, self.modules)

    # ---- argument helpers used by the rules ---------------------------------------------------------------------
    def tensor(self, arg: Any) -> Value:
        value = self.values.get(arg) if isinstance(arg, fx.Node) else None
        if isinstance(value, _RecurrentCall):
            raise Unsupported("the whole (output, state) result of a recurrent layer is used; only output[0] "
                              "imports")
        if isinstance(value, _FinalState):
            raise Unsupported(value.call.rest + " (h_n[-1], the last layer's state, imports)")
        if isinstance(value, _Attribute | _PositionTable):
            name = value.target if isinstance(value, _Attribute) else value.source
            raise Unsupported(f"the tensor {name} used directly in forward (NetBuilder layers own their weights; "
                              "such a tensor imports only as a table of positions added to a sequence N×T×D)")
        if not isinstance(value, Value):
            raise Unsupported("an argument that is not a tensor computed from the input")
        return value

    def constant(self, arg: Any, what: str) -> Any:
        if _nodes_in(arg):  # a size read in forward, alone or inside a list: `F.pad(x, [dx // 2, dx - dx // 2])`
            raise Unsupported(f"its {what} is computed in forward; NetBuilder needs a fixed number there")
        return arg


def call_label(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    """What kind of call a traced node is, as the source reads: nn.Linear, Tensor.view, F.relu, torch.cat."""
    if node.op == "call_module":
        cls = type(modules[str(node.target)])
        prefix = "nn." if getattr(nn, cls.__name__, None) is cls else ""
        return f"{prefix}{cls.__name__}"
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    if node.op != "call_function":
        return node.op
    target = node.target
    module = getattr(target, "__module__", None) or ""
    short = {"torch.nn.functional": "F", "_operator": "operator", "torch._C._nn": "F",
             "torch._C._VariableFunctions": "torch"}.get(module, module.split(".")[0] or "torch")
    return f"{short}.{getattr(target, '__name__', str(target))}"


def describe_call(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    """A traced call named for the user: the module's path in the model, or the call's name and kind."""
    if node.op == "call_module":
        return f"{node.target} ({call_label(node, modules)})"
    if node.op == "placeholder":
        return f"input {node.name}"
    return f"{node.name} ({call_label(node, modules)})"


def _reaching_outputs(graph: fx.Graph, mask_of: Any = lambda node: None) -> set[fx.Node]:
    """The calls whose values reach what forward returns; the rest (``x.size()[2:]`` feeding nothing, a branch
    computed and dropped) import as nothing, and so do the calls that build a causal mask (``mask_of(call)``), which
    becomes the attention layer's causal option."""
    live: set[fx.Node] = set()
    stack = [node for node in graph.nodes if node.op == "output"]
    while stack:
        node = stack.pop()
        if _asks_size(node):
            continue  # x.size(2) needs x's shape, not a layer computing x: `F.max_pool1d(x, conv(h).size(2))`
        mask = mask_of(node)
        for source in node.all_input_nodes:
            if source is not mask and source not in live:
                live.add(source)
                stack.append(source)
    return live


def _asks_size(node: fx.Node) -> bool:
    if node.op == "call_method":
        return node.target in ("size", "dim")
    return node.op == "call_function" and node.target is getattr and len(node.args) > 1 \
        and node.args[1] in ("shape", "ndim")


def _changes_in_place(node: fx.Node) -> bool:
    """``x.add_(y)``, ``torch.relu_(x)``, ``F.relu(x, inplace=True)``, ``x[i] = v``: calls that change a tensor
    rather than make a new one."""
    import operator

    name = str(node.target) if node.op == "call_method" else getattr(node.target, "__name__", "")
    return (node.kwargs.get("inplace") is True or node.target is operator.setitem
            or (name.endswith("_") and not name.endswith("__")))


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


# ---------------------------------------------------------------------------------------------------------------
# Parity


@dataclass
class LengthParityReport(ParityReport):
    """A parity report for a network with a variable length: the figures are the worst over every length it ran
    at (the traced one and another), so a length baked in shows."""

    lengths: tuple[int, ...] = ()

    def summary(self) -> str:
        text = super().summary()
        if not self.lengths:
            return text
        *rest, last = map(str, self.lengths)
        return f"{text[:-1]}, at sequence lengths {', '.join(rest)}{' and ' if rest else ''}{last}."

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "sequence_lengths": list(self.lengths)}


def pytorch_parity(result: ImportResult, model: nn.Module, examples: tuple[torch.Tensor, ...],
                   variable: Sequence[Axes] = (), longer: bool = False) -> ParityReport:
    """The original module and the compiled import on fresh random inputs (another batch size than the example's,
    so a batch baked into a reshape shows); with variable axes, at the traced length and at another one."""

    from netbuilder.compile import vocab_size
    from netbuilder.importers.parity import compiled_module

    module = compiled_module(result)
    batch = examples[0].shape[0] + 1
    generator = torch.Generator().manual_seed(PARITY_SEED + 1)
    vocab = vocab_size(module)
    axes = tuple(variable) if any(variable) else tuple(() for _ in examples)
    runs = [tuple(random_like(t, (batch, *t.shape[1:]), generator, vocab) for t in examples)]
    if any(axes):
        runs.append(tuple(random_like(t, [batch, *(other_length(t.shape[a], longer) if a in ax else size for a, size in
                                                    enumerate(t.shape) if a > 0)], generator, vocab)
                          for t, ax in zip(examples, axes, strict=True)))
    pairs: list[tuple[Any, Any]] = []
    for inputs in runs:
        try:
            with torch.no_grad():
                expected = model(*inputs)
        except Exception as error:
            raise ModelImportError(f"The original model fails at batch {batch} on inputs of shape "
                                   f"{', '.join(str(tuple(t.shape)) for t in inputs)}: {type(error).__name__}: "
                                   f"{_first_line(error)} (a batch size or length fixed in forward?).") from None
        with torch.no_grad():
            ours = module(*inputs)
        theirs_list = _flatten_tensors(expected)
        ours_list = _flatten_tensors(ours)
        if len(theirs_list) != len(ours_list):
            raise ModelImportError(f"The imported network returns {len(ours_list)} outputs, the original "
                                   f"{len(theirs_list)}.")
        pairs.extend((mine.detach().double().numpy(), reference.detach().double().numpy())
                     for mine, reference in zip(ours_list, theirs_list, strict=True))
    worst_abs, worst_rel = worst_differences(pairs)
    shapes = {name: list(t.shape) for name, t in zip(module.netbuilder.input_names, runs[-1], strict=True)}
    if len(runs) == 1:
        return ParityReport(worst_abs, worst_rel, batch, shapes, "pytorch")
    lengths = sorted({int(inputs[i].shape[a]) for inputs in runs for i, ax in enumerate(axes) for a in ax})
    return LengthParityReport(worst_abs, worst_rel, batch, shapes, "pytorch", lengths=tuple(lengths))


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


__all__ = ["LengthParityReport", "Unsupported", "example_input", "import_pytorch", "import_pytorch_file", "instantiate", "load_class",
           "pytorch_parity"]
