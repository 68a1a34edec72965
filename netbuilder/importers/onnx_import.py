"""ONNX file -> NetBuilder document with weights.

The graph is walked once in file order (ONNX requires topological order). Every value is either a constant (a
numpy array: initializers, and everything computed from constants alone, folded here: Constant, ConstantOfShape,
Shape/Gather/Unsqueeze/Concat chains and the like) or a tensor that a NetBuilder layer produces. Each remaining
operation is handed to the import rule its layer spec module declared (`netbuilder.specs.interop`); a rule emits
layers with their weights, or folds the operation into the layer before it (BatchNormalization -> Mul -> Add is a
single batch norm). An operation with no rule, or that its rule refuses, is collected; after the walk they are
reported together (`UnsupportedOpsError`), and nothing is written.

The batch is axis 0 of every tensor: a graph exported with batch 1 imports with a free batch, and a shape
computed from a tensor's shape (``x.view(x.size(0), -1)``) keeps the batch as a marker that Reshape understands.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from netbuilder.document import Document
from netbuilder.document.model import NameAllocator, Node, Wire, name_is_usable, reserved_names
from netbuilder.importers.onnx_attention import import_attention, plan_attention, refusal
from netbuilder.importers.onnx_chains import import_chain, plan_chains
from netbuilder.importers.onnx_positions import fold_table_prefix, position_table
from netbuilder.importers.result import (
    ImportResult,
    ModelFileError,
    ModelImportError,
    ModelTooLargeError,
    UnsupportedOp,
    UnsupportedOpsError,
)
from netbuilder.specs import BATCH, SEQ, LayerContext, ParamError, ShapeError, TensorType, get_spec
from netbuilder.specs.interop import BATCH_MARK, SEQ_MARK, onnx_rules

MARKS = {BATCH: BATCH_MARK, SEQ: SEQ_MARK}

_FLOAT_TYPES = {1: "float32", 10: "float32", 11: "float32", 16: "float32"}  # float, float16, double, bfloat16
_INT_TYPES = {6: "int64", 7: "int64"}  # int32, int64 inputs are token ids


class RuleRefused(Exception):
    """A rule cannot import this node as it is; the reason goes into the report."""


@dataclass
class Layer:
    """One NetBuilder node being built: what a rule emitted."""

    id: str
    type: str
    name: str
    params: dict[str, Any]
    inputs: list[tuple[str, str] | None]  # (layer id, output port) per input port
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    outputs: tuple[TensorType, ...] = ()
    ports: tuple[str, ...] = ()

    def out(self, index: int = 0) -> tuple[str, str]:
        return (self.id, self.ports[index])


@dataclass
class Tensor:
    """A computed value: the layer output that carries it."""

    source: tuple[str, str]
    type: TensorType
    exclusive: bool  # every value between the layer and here has a single reader (so a rule may fold into it)
    # How the ONNX value's axes map onto the layer output's: None when they are the same. Otherwise one entry per
    # ONNX axis: the layer output's axis it is, or None for an inserted axis of size 1. Recurrent ops read and
    # write time-major tensors (T×N×F, with a directions axis); transposes and reshapes around them only move
    # axes, so they are followed here until the value is batch-first again.
    axes: tuple[int | None, ...] | None = None

    def virtual_shape(self) -> tuple[Any, ...]:
        if self.axes is None:
            return self.type.shape
        return tuple(1 if a is None else self.type.shape[a] for a in self.axes)


class NodeView:
    """What an import rule sees of one ONNX node (see `netbuilder.specs.interop`)."""

    def __init__(self, importer: OnnxImporter, node: Any):
        self._importer = importer
        self._node = node
        self.op_type: str = node.op_type
        self.name: str = node.name or (node.output[0] if node.output else node.op_type)
        self.opset = importer.opset
        self._attrs = {a.name: a for a in node.attribute}
        self.emitted: list[Layer] = []

    # ---- reading -----------------------------------------------------------------------------------------------
    @property
    def input_count(self) -> int:
        return len(self._node.input)

    @property
    def output_count(self) -> int:
        return len(self._node.output)

    def attr(self, name: str, default: Any = None) -> Any:
        import onnx

        attribute = self._attrs.get(name)
        if attribute is None:
            return default
        value = onnx.helper.get_attribute_value(attribute)
        if isinstance(value, bytes):
            return value.decode("utf-8", "replace")
        if isinstance(value, onnx.TensorProto):
            return onnx.numpy_helper.to_array(value)
        return list(value) if isinstance(value, list | tuple) else value

    def has_input(self, index: int) -> bool:
        return index < len(self._node.input) and bool(self._node.input[index])

    def const(self, index: int) -> np.ndarray | None:
        """Input ``index`` when it is a constant (None when it is computed, or absent)."""
        if not self.has_input(index):
            return None
        value = self._importer.values.get(self._node.input[index])
        return value if isinstance(value, np.ndarray) else None

    def is_stored(self, index: int) -> bool:
        """True when input ``index`` is one of the file's stored tensors (an initializer), not a constant the graph
        builds (e.g. PyTorch's exporter writes a bias-free convolution's bias as zeros expanded from a scalar)."""
        return self.has_input(index) and self._node.input[index] in self._importer.stored

    def type(self, index: int) -> TensorType:
        """The type of a computed input (fails when the input is a constant)."""
        value = self._tensor(index)
        return value.type

    def is_tensor(self, index: int) -> bool:
        return self.has_input(index) and isinstance(self._importer.values.get(self._node.input[index]), Tensor)

    def layer(self, index: int) -> Layer | None:
        """The layer whose output input ``index`` is, when this node is its only reader (so it may be folded)."""
        value = self._importer.values.get(self._node.input[index]) if self.has_input(index) else None
        if not isinstance(value, Tensor) or not value.exclusive:
            return None
        layer = self._importer.layers[value.source[0]]
        return layer if len(layer.ports) == 1 else None

    def position_table(self, index: int) -> tuple[np.ndarray, int | None] | None:
        """(a constant table, the rows used or None for "the sequence length") when input ``index`` is the start
        of a constant table (see `netbuilder.importers.onnx_positions`), else None."""
        return position_table(self._importer, self._node.input[index]) if self.has_input(index) else None

    def tied_embedding(self, weight: np.ndarray) -> Layer | None:
        """The Embedding layer already imported whose table is ``weight`` itself (the same stored tensor, e.g. read
        transposed by a MatMul): a decoder tied to its input embedding."""
        for layer in self._importer.layers.values():
            table = layer.weights.get("weight") if layer.type == "Embedding" else None
            if table is not None and table.shape == weight.shape and np.may_share_memory(table, weight) and \
                    np.array_equal(table, weight):
                return layer
        return None

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the file declares on its inputs (None when free)."""
        return self._importer.fixed_batch

    def aux_name(self, suffix: str) -> str:
        """A name for an extra layer a rule adds for this node, e.g. ``conv1_pad``."""
        return self._importer.name_for(self._node, suffix, suffix=f"_{suffix}")

    def uses_output(self, index: int) -> bool:
        """Whether anything reads ONNX output ``index``."""
        return index < len(self._node.output) and bool(self._node.output[index]) and \
            self._importer.readers[self._node.output[index]] > 0

    def axes(self, index: int) -> tuple[int | None, ...]:
        """How input ``index``'s axes map onto the layer output carrying it (identity for a batch-first value)."""
        tensor = self._tensor(index, virtual_ok=True)
        return tensor.axes if tensor.axes is not None else tuple(range(tensor.type.rank))

    def virtual_shape(self, index: int) -> tuple[Any, ...]:
        return self._tensor(index, virtual_ok=True).virtual_shape()

    def real_type(self, index: int) -> TensorType:
        """The type of the layer output behind input ``index``, whatever its ONNX layout."""
        return self._tensor(index, virtual_ok=True).type

    def source(self, index: int) -> tuple[str, str]:
        """The layer output behind input ``index`` (for ``emit``), whatever its ONNX layout."""
        return self._tensor(index, virtual_ok=True).source

    def bind_axes(self, output_index: int, input_index: int, axes: tuple[int | None, ...]) -> None:
        """ONNX output ``output_index`` is input ``input_index`` with its axes moved (see `Tensor.axes`)."""
        tensor = self._tensor(input_index, virtual_ok=True)
        self.bind_layer_axes(output_index, tensor.source, tensor.type, axes)

    def bind_layer_axes(self, output_index: int, source: tuple[str, str], tensor_type: TensorType,
                        axes: tuple[int | None, ...]) -> None:
        name = self._node.output[output_index]
        if name:
            identity = axes == tuple(range(tensor_type.rank))
            self._importer.values[name] = Tensor(source, tensor_type, False, None if identity else tuple(axes))

    # ---- writing -----------------------------------------------------------------------------------------------
    def fail(self, reason: str) -> RuleRefused:
        return RuleRefused(reason)

    def emit(self, type_id: str, params: dict[str, Any] | None = None, inputs: tuple[Any, ...] = (0,),
             weights: dict[str, np.ndarray] | None = None, outputs: tuple[int, ...] = (0,),
             name: str | None = None) -> Layer:
        """Add a layer. ``inputs``: per input port, an ONNX input index or another emitted layer's ``out()``.
        ``outputs``: which ONNX outputs the layer's output ports (in order) provide."""
        sources = []
        types = []
        for item in inputs:
            if isinstance(item, int):
                tensor = self._tensor(item)
                sources.append(tensor.source)
                types.append(tensor.type)
            else:
                layer = self._importer.layers[item[0]]
                sources.append(item)
                types.append(layer.outputs[layer.ports.index(item[1])])
        layer = self._importer.add_layer(type_id, params or {}, sources, tuple(types), weights or {},
                                         name or self._importer.name_for(self._node, type_id))
        self.emitted.append(layer)
        for port_index, output_index in enumerate(outputs):
            self.bind(output_index, layer, port_index)
        return layer

    def bind(self, output_index: int, layer: Layer, port_index: int = 0) -> None:
        """ONNX output ``output_index`` is the layer's output port ``port_index``."""
        name = self._node.output[output_index]
        if name:
            self._importer.values[name] = Tensor(layer.out(port_index), layer.outputs[port_index],
                                                 self._importer.readers[name] == 1)

    def alias(self, output_index: int, input_index: int) -> None:
        """ONNX output ``output_index`` is input ``input_index`` unchanged (folded or an identity)."""
        tensor = self._tensor(input_index)
        name = self._node.output[output_index]
        if name:
            exclusive = tensor.exclusive and self._importer.readers[name] == 1
            self._importer.values[name] = Tensor(tensor.source, tensor.type, exclusive)

    def retype(self, output_index: int, tensor_type: TensorType) -> None:
        """A folded node changed nothing but the declared type of its output (kept for the next rule)."""
        name = self._node.output[output_index]
        value = self._importer.values[name]
        assert isinstance(value, Tensor)
        self._importer.values[name] = Tensor(value.source, tensor_type, value.exclusive)

    def set_const(self, output_index: int, value: np.ndarray) -> None:
        name = self._node.output[output_index]
        if name:
            self._importer.values[name] = value

    def _tensor(self, index: int, virtual_ok: bool = False) -> Tensor:
        if not self.has_input(index):
            raise RuleRefused(f"input {index + 1} is missing")
        value = self._importer.values.get(self._node.input[index])
        if isinstance(value, Tensor):
            if value.axes is not None and not virtual_ok:
                raise RuleRefused(f"input {index + 1} is laid out time-major or with an extra axis, which NetBuilder "
                                  "layers do not take (the batch must be the first axis)")
            return value
        if isinstance(value, np.ndarray):
            raise RuleRefused(f"input {index + 1} is a constant where NetBuilder needs a computed tensor")
        raise RuleRefused(f"input {index + 1} ({self._node.input[index]!r}) is not known")


class OnnxImporter:
    """One import: the graph walk, the values and the layers built so far."""

    def __init__(self, model: Any, network_name: str):
        import onnx

        self.model = model
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)
        self.network_name = network_name
        self.values: dict[str, np.ndarray | Tensor] = {}
        self.layers: dict[str, Layer] = {}
        self.order: list[str] = []
        self.readers: Counter[str] = Counter(name for node in self.graph.node for name in node.input if name)
        self.readers.update(o.name for o in self.graph.output)
        self.unsupported: dict[str, list[tuple[str, str]]] = {}
        self.op_counts: Counter[str] = Counter(node.op_type for node in self.graph.node)
        self.names = NameAllocator(set())
        self.used_names: set[str] = set()
        self.fixed_batch: int | None = None
        self.table_prefixes: dict[str, np.ndarray] = {}
        self._onnx = onnx
        self.rules = onnx_rules()

    # ---- building ------------------------------------------------------------------------------------------------
    def add_layer(self, type_id: str, params: dict[str, Any], sources: list[tuple[str, str]],
                  types: tuple[TensorType, ...], weights: dict[str, np.ndarray], name: str) -> Layer:
        spec = get_spec(type_id)
        try:
            params = spec.coerce_params(params)
        except ParamError as error:
            raise RuleRefused(f"its settings do not fit a {spec.title} layer ({error})") from None
        try:
            outputs = spec.infer(LayerContext(dict(params), types, name))
        except ShapeError as error:
            raise RuleRefused(f"{spec.title}: {error.message}") from None
        layer_id = f"n{len(self.layers) + 1}"
        ports = tuple(p.name for p in spec.output_ports(params))
        layer = Layer(layer_id, type_id, name, params, list(sources), dict(weights), tuple(outputs), ports)
        self.layers[layer_id] = layer
        self.order.append(layer_id)
        return layer

    def name_for(self, node: Any, type_id: str, suffix: str = "") -> str:
        """A node name from the ONNX node (or the PyTorch module it was exported from), made a valid, unique
        NetBuilder name; otherwise a numbered one from the layer type."""
        base = _scope_name(node) or node.name or ""
        text = re.sub(r"[^A-Za-z0-9_]", "_", base).strip("_")
        if text and not text[0].isalpha():
            text = f"n_{text}"
        text = text[:60] + suffix if text else ""
        if text and name_is_usable(text) and text not in self.used_names and text not in reserved_names():
            self.used_names.add(text)
            self.names.taken.add(text)
            return text
        name = self.names.make(text or type_id)
        self.used_names.add(name)
        return name

    # ---- the walk ------------------------------------------------------------------------------------------------
    def run(self) -> tuple[Document, dict[str, np.ndarray]]:
        onnx = self._onnx
        self.stored = {init.name for init in self.graph.initializer}
        for init in self.graph.initializer:
            self.values[init.name] = _to_array(init)
        for node in self.graph.node:
            if node.op_type == "Constant" and not node.domain:
                for attribute in node.attribute:
                    self.values[node.output[0]] = _constant(onnx, attribute)
        inputs = [v for v in self.graph.input if v.name not in self.values]
        if not inputs:
            raise ModelImportError("The model has no inputs (every input is a constant), so there is nothing for "
                                   "a network to compute.")
        for value in inputs:
            dims = value.type.tensor_type.shape.dim
            if dims and dims[0].HasField("dim_value") and self.fixed_batch is None:
                self.fixed_batch = int(dims[0].dim_value)
            tensor_type = self._input_type(value)
            layer = self.add_layer("Input", {"shape": tensor_type.features, "dtype": tensor_type.dtype}, [], (),
                                   {}, self.name_for_input(value.name))
            self.values[value.name] = Tensor(layer.out(), layer.outputs[0], False)
        attention = plan_attention(self.graph)  # regions of many operations that are one attention layer
        chains = plan_chains(self.graph)  # GELU and LayerNorm written out (opsets before 20 and 17)
        for index, node in enumerate(self.graph.node):
            if attention.handles(index):
                import_attention(self, attention, index)
                continue
            if chains.handles(index):
                import_chain(self, chains, index)
                continue
            self._visit(node)
            if index in attention.refused and node.output[0] not in self.values:  # why it could not be imported
                self._refuse(node, node.op_type, refusal(attention.refused[index]))
        if self.unsupported:
            ops = [UnsupportedOp(op, len(entries), tuple(name for name, _ in entries),
                                 tuple(dict.fromkeys(reason for _, reason in entries if reason)))
                   for op, entries in self.unsupported.items()]
            raise UnsupportedOpsError(ops)
        for value in self.graph.output:
            self._output(value)
        return self._document()

    def name_for_input(self, onnx_name: str) -> str:
        class Fake:
            name = onnx_name
            metadata_props = ()

        return self.name_for(Fake(), "Input")

    def _input_type(self, value: Any) -> TensorType:
        tensor_type = value.type.tensor_type
        dtype = _FLOAT_TYPES.get(tensor_type.elem_type) or _INT_TYPES.get(tensor_type.elem_type)
        if dtype is None:
            raise ModelImportError(f"Input {value.name!r} has element type {tensor_type.elem_type} "
                                   "(NetBuilder inputs are float or integer token ids).")
        dims: list[Any] = []
        for axis, dim in enumerate(tensor_type.shape.dim):
            if axis == 0:
                dims.append(BATCH)
            elif dim.HasField("dim_value") and dim.dim_value > 0:
                dims.append(int(dim.dim_value))
            else:
                dims.append(SEQ)
        if len(dims) < 2:
            raise ModelImportError(f"Input {value.name!r} has rank {len(dims)}; NetBuilder inputs have a batch axis "
                                   "and at least one more.")
        return TensorType(tuple(dims), dtype)

    def _visit(self, node: Any) -> None:
        op = node.op_type
        if node.domain not in ("", "ai.onnx"):
            self._refuse(node, f"{node.domain}.{op}", "")
            return
        if op == "Constant":
            return
        names = [name for name in node.input if name]
        missing = [name for name in names if name not in self.values]
        if missing:
            # Fed by an operation already reported: what it would compute is unknown, so a rule cannot run; an
            # operation with no rule at all is still listed, so the report is complete in one go.
            if op not in self.rules and op not in FOLDERS and op != "Shape":
                self._refuse(node, op, "")
            return
        if op == "CastLike" and isinstance(self.values[node.input[0]], np.ndarray):
            # A constant cast to the type of another value (PyTorch's exporter writes these when it does not
            # optimise): the constant, in that value's type.
            like = self.values[node.input[1]]
            dtype = like.dtype if isinstance(like, np.ndarray) else np.dtype(like.type.dtype)
            self.values[node.output[0]] = self.values[node.input[0]].astype(dtype)
            return
        if op == "Slice" and fold_table_prefix(self, node):
            return
        if op in FOLDERS and all(isinstance(self.values[name], np.ndarray) for name in names):
            try:
                results = FOLDERS[op](NodeView(self, node), [self.values[name] if name else None
                                                             for name in node.input])
            except (RuleRefused, ValueError, IndexError, TypeError) as error:
                self._refuse(node, op, f"cannot fold its constant inputs ({error})")
                return
            for name, result in zip(node.output, results, strict=False):
                if name:
                    self.values[name] = np.asarray(result)
            return
        if op == "Shape":
            value = self.values[node.input[0]]
            dims = value.shape if isinstance(value, np.ndarray) else value.virtual_shape()
            shape = np.array([MARKS.get(d, SEQ_MARK) if isinstance(d, str) else d for d in dims], dtype=np.int64)
            start, end = _attr_int(node, "start", 0), _attr_int(node, "end", None)
            self.values[node.output[0]] = shape[start:end]
            return
        rule = self.rules.get(op)
        if rule is None:
            self._refuse(node, op, "")
            return
        view = NodeView(self, node)
        try:
            rule(view)
        except RuleRefused as error:
            for layer in view.emitted:  # take back what the rule had emitted before refusing
                self.layers.pop(layer.id, None)
                self.order.remove(layer.id)
            self._refuse(node, op, str(error))
            return
        for name in node.output:
            if name and name not in self.values and self.readers[name]:
                self._refuse(node, op, f"its output {name!r} is used but the import rule does not produce it")
                return

    def _refuse(self, node: Any, op: str, reason: str) -> None:
        self.unsupported.setdefault(op, []).append((node.name or (node.output[0] if node.output else op), reason))

    def _output(self, value: Any) -> None:
        found = self.values.get(value.name)
        if not isinstance(found, Tensor):
            raise ModelImportError(f"Output {value.name!r} is a constant; NetBuilder outputs are computed.")
        if found.axes is not None:
            raise ModelImportError(f"Output {value.name!r} does not have the batch as its first axis; NetBuilder "
                                   "outputs do.")
        producer = self.layers[found.source[0]]
        role = "probabilities" if producer.type == "Softmax" else "logits" if found.type.rank == 2 else "features"
        class Fake:
            name = value.name
            metadata_props = ()

        name = self.name_for(Fake(), "Output")
        self.add_layer("Output", {"role": role}, [found.source], (found.type,), {}, name)

    def _document(self) -> tuple[Document, dict[str, np.ndarray]]:
        doc = Document(network_names=(self.network_name,))
        net = doc.network()
        weights: dict[str, np.ndarray] = {}
        for layer_id in self.order:
            layer = self.layers[layer_id]
            net._insert_node(Node(layer.id, layer.type, layer.name, layer.params))
            for key, array in layer.weights.items():
                weights[f"{layer.name}.{key}"] = array
        for layer_id in self.order:
            layer = self.layers[layer_id]
            ports = get_spec(layer.type).input_ports(layer.params)
            for port, source in zip(ports, layer.inputs, strict=False):
                if source is not None:
                    net._insert_wire(Wire(source[0], source[1], layer.id, port.name))
        doc.undo_stack.clear()
        return doc, weights


def _scope_name(node: Any) -> str:
    """The PyTorch module a node was exported from (the dynamo exporter records its scope), e.g. ``conv1``."""
    for prop in getattr(node, "metadata_props", ()):
        if prop.key == "pkg.torch.onnx.name_scopes":
            parts = [p.strip(" '\"") for p in prop.value.strip("[]").split(",")]
            parts = [p for p in parts if p]
            return parts[0] if parts else ""
    return ""


def _attr_int(node: Any, name: str, default: int | None) -> int | None:
    for attribute in node.attribute:
        if attribute.name == name:
            return int(attribute.i)
    return default


def _to_array(tensor: Any) -> np.ndarray:
    from onnx import numpy_helper

    array = numpy_helper.to_array(tensor)
    return array.astype(np.float32) if array.dtype in (np.float64, np.float16) else array


def _constant(onnx: Any, attribute: Any) -> np.ndarray:
    value = onnx.helper.get_attribute_value(attribute)
    if isinstance(value, onnx.TensorProto):
        return _to_array(value)
    return np.array(value, dtype=np.float32 if isinstance(value, float) or (
        isinstance(value, list) and value and isinstance(value[0], float)) else np.int64)


# -------------------------------------------------------------------------------------------------------------------
# Constant folding: operations whose inputs are all constants are computed here, once, with numpy.


def _fold_constant_of_shape(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    shape = tuple(int(d) for d in args[0].tolist()) if args and args[0] is not None else ()
    if any(d < 0 for d in shape):
        raise RuleRefused("its shape depends on the batch size")
    fill = node.attr("value")
    fill = np.zeros(1, np.float32) if fill is None else np.asarray(fill).reshape(-1)
    return [np.full(shape, fill[0], dtype=fill.dtype)]


def _axes(node: NodeView, args: list[Any], index: int) -> tuple[int, ...] | None:
    if len(args) > index and args[index] is not None:
        return tuple(int(a) for a in args[index].tolist())
    value = node.attr("axes")
    return tuple(value) if value is not None else None


def _fold_unsqueeze(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    array = args[0]
    axes = _axes(node, args, 1) or ()
    rank = array.ndim + len(axes)
    for axis in sorted(a % rank for a in axes):
        array = np.expand_dims(array, axis)
    return [array]


def _fold_squeeze(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    axes = _axes(node, args, 1)
    return [np.squeeze(args[0], axis=axes) if axes else np.squeeze(args[0])]


def _fold_gather(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    return [np.take(args[0], args[1].astype(np.int64), axis=node.attr("axis", 0))]


def _fold_concat(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    return [np.concatenate([np.atleast_1d(a) for a in args], axis=node.attr("axis", 0))]


def _fold_slice(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    data = args[0]
    if node.opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes = node.attr("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts, ends = args[1].tolist(), args[2].tolist()
        axes = args[3].tolist() if len(args) > 3 and args[3] is not None else list(range(len(starts)))
        steps = args[4].tolist() if len(args) > 4 and args[4] is not None else [1] * len(starts)
    if any(int(v) in (BATCH_MARK, SEQ_MARK) for v in (*starts, *ends)):
        raise RuleRefused("it slices up to the batch size or the sequence length, which a constant cannot hold")
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        index[axis] = slice(int(start), int(end), int(step))
    return [data[tuple(index)]]


def _fold_reshape(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    shape = [int(d) for d in args[1].tolist()]
    shape = [args[0].shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return [args[0].reshape(shape)]


def _fold_cast(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    from onnx import helper

    return [args[0].astype(helper.tensor_dtype_to_np_dtype(node.attr("to")))]


def _binary(fn: Any) -> Any:
    def fold(node: NodeView, args: list[Any]) -> list[np.ndarray]:
        if any(np.any(a < -(2**39)) for a in args if a.dtype.kind == "i"):
            raise RuleRefused("it computes with the batch size")
        return [np.asarray(fn(args[0], args[1]))]

    return fold


def _fold_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return a // b if a.dtype.kind == "i" and b.dtype.kind == "i" else a / b


def _fold_expand(node: NodeView, args: list[Any]) -> list[np.ndarray]:
    """A constant broadcast to a shape that holds the batch or a variable length: those sizes become 1 (the value
    broadcasts the same way wherever it is used, e.g. a zero initial state of a recurrent layer)."""
    shape = [1 if d < -(2**39) else int(d) for d in args[1].reshape(-1).tolist()]
    value = args[0]
    rank = max(len(shape), value.ndim)
    full = [1] * (rank - len(shape)) + shape
    target = [max(a, b) if 1 in (a, b) else a for a, b in zip(full, (1,) * (rank - value.ndim) + value.shape,
                                                              strict=True)]
    return [np.broadcast_to(value, target).copy()]


FOLDERS: dict[str, Any] = {
    "Expand": _fold_expand,
    "Identity": lambda node, args: [args[0]],
    "ConstantOfShape": _fold_constant_of_shape,
    "Unsqueeze": _fold_unsqueeze,
    "Squeeze": _fold_squeeze,
    "Gather": _fold_gather,
    "Concat": _fold_concat,
    "Slice": _fold_slice,
    "Reshape": _fold_reshape,
    "Cast": _fold_cast,
    "Transpose": lambda node, args: [np.transpose(args[0], node.attr("perm"))],
    "Add": _binary(np.add),
    "Sub": _binary(np.subtract),
    "Mul": _binary(np.multiply),
    "Div": _binary(_fold_div),
    "Sqrt": lambda node, args: [np.sqrt(args[0])],
    "Neg": lambda node, args: [-args[0]],
    "Range": lambda node, args: [np.arange(args[0], args[1], args[2])],
}


# -------------------------------------------------------------------------------------------------------------------
# Loading, size checks and the public entry point.


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            for line in file:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def weight_bytes(model: Any) -> int:
    """The bytes the model's weights take once loaded: initializers (stored or external) and the tensors that
    ConstantOfShape nodes fill from constant shapes, counted from the graph without allocating them."""
    from onnx import helper

    total = 0
    for init in model.graph.initializer:
        size = helper.tensor_dtype_to_np_dtype(init.data_type).itemsize if init.data_type else 4
        total += math.prod(init.dims) * size
    shapes = {init.name: init for init in model.graph.initializer}
    constants: dict[str, tuple[int, ...]] = {}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.type == attribute.TENSOR:
                    from onnx import numpy_helper

                    if math.prod(attribute.t.dims) <= 16:
                        constants[node.output[0]] = tuple(numpy_helper.to_array(attribute.t).reshape(-1).tolist())
        if node.op_type == "ConstantOfShape" and node.input:
            dims = constants.get(node.input[0])
            if dims is None and node.input[0] in shapes:
                from onnx import numpy_helper

                dims = tuple(numpy_helper.to_array(shapes[node.input[0]]).reshape(-1).tolist())
            if dims is not None and all(isinstance(d, int) and d >= 0 for d in dims):
                total += math.prod(dims) * 4
    return total


def load_model(path: str | os.PathLike[str]) -> Any:
    """Read an ONNX file (and its external data), refusing what cannot be a model or would not fit in memory."""
    import onnx

    from netbuilder.fs.limits import FileRefused, check_readable, human_size

    file = Path(path)
    try:
        info = check_readable(file, "model")
    except FileRefused as error:
        raise ModelFileError(str(error)) from None
    except FileNotFoundError:
        raise ModelFileError(f"{file} does not exist.") from None
    except OSError as error:
        raise ModelFileError(f"Cannot read {file}: {error.strerror or error}.") from None
    available = _available_memory()
    if available is not None and info.st_size * 3 > available:
        raise ModelTooLargeError(f"{file} is {human_size(info.st_size)}; importing it needs about three times that "
                                 f"in memory, but only {human_size(available)} is free.")
    try:
        model = onnx.load(str(file), load_external_data=False)
    except Exception as error:
        raise ModelFileError(f"{file} is not an ONNX model that can be read ({_first_line(error)}).") from None
    if not model.graph.node:
        raise ModelFileError(f"{file} holds no graph (an ONNX model has at least one operation).")
    needed = weight_bytes(model)
    if available is not None and needed * 2.5 > available:
        raise ModelTooLargeError(
            f"{file} has {human_size(needed)} of weights; importing and checking it needs about "
            f"{human_size(needed * 2.5)} of memory, but only {human_size(available)} is free. Close other programs "
            "or import on a machine with more memory.")
    if any(init.data_location == onnx.TensorProto.EXTERNAL for init in model.graph.initializer):
        try:
            from onnx.external_data_helper import load_external_data_for_model

            load_external_data_for_model(model, str(file.parent))
        except Exception as error:
            raise ModelImportError(f"The weights of {file} are kept in separate files that cannot be read: "
                                   f"{_first_line(error)}") from None
    return model


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def import_onnx(path: str | os.PathLike[str], parity: bool = True, name: str | None = None,
                seed: int = 0, step: Any = None, blocks: bool = True) -> ImportResult:
    """Import an ONNX model: a document with one network (laid out), its weights, and (``parity``) the largest
    difference between onnxruntime running the file and the compiled network on the same random input.

    Raises `UnsupportedOpsError` listing every operation that has no NetBuilder layer (nothing is built),
    `ModelTooLargeError` before allocating weights that would not fit in memory, and `ModelImportError` for
    anything else that makes the file unusable. ``blocks``: repeated structure becomes block definitions. ``step(text)``, when given, is called as each stage starts (a
    progress display; it may raise to stop the import there)."""
    step = step or (lambda _text: None)
    step("Loading ONNX and PyTorch…")
    import torch

    from netbuilder.export.onnx_blocks import recorded_blocks
    from netbuilder.importers.layout import lay_out
    from netbuilder.importers.parity import onnx_parity
    from netbuilder.importers.repeat_blocks import group_repeats, onnx_scopes

    file = Path(path)
    step(f"Reading {file.name}…")
    model = load_model(file)
    step("Turning operations into layers…")
    importer = OnnxImporter(model, "model")
    try:
        doc, arrays = importer.run()
    except UnsupportedOpsError as error:
        error.source = str(file)
        raise UnsupportedOpsError(error.ops, str(file)) from None
    doc.info.title = name or _network_name(model, file)
    doc.info.description = f"Imported from {file.name} (ONNX opset {importer.opset})."
    if blocks:  # repeated structure becomes blocks (netbuilder.importers.repeat_blocks)
        arrays = group_repeats(doc, arrays, onnx_scopes(model, doc.network()), recorded_blocks(model))
    step("Laying out the network…")
    lay_out(doc.network())
    weights = {key: _tensor(torch, array) for key, array in arrays.items()}
    result = ImportResult(doc, weights, str(file), "onnx", op_counts=dict(importer.op_counts))
    del arrays
    if parity:
        step("Comparing with onnxruntime…")
        result.parity = onnx_parity(result, model, file, seed=seed)
    return result


def _tensor(torch: Any, array: np.ndarray) -> Any:
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array).copy() if not array.flags.writeable else np.ascontiguousarray(array)
    return torch.from_numpy(array)


def _network_name(model: Any, file: Path) -> str:
    """A title for the document: the graph's name, unless it is an exporter's generic one, else the file's."""
    name = model.graph.name or ""
    return file.stem if name in ("", "torch_jit", "main_graph", "torch-jit-export") else name
