"""Block nodes -> nested torch modules, generated with torch.fx like the network around them.

Each block node becomes one `torch.fx.GraphModule` whose class is named after its definition (``BasicBlock``) and
whose submodules are named after the inner nodes, so ``state_dict()`` keys read like hand-written PyTorch:
``layer1.0.conv1.weight``. Its ``forward`` is generated code (``conv1 = self.conv1(x)`` ...): nothing is
interpreted per call. A node inside a block marked not trainable gets ``requires_grad=False``; per-node learning
rate multipliers and penalties apply per top-level node (a block node's apply to its whole block).
"""

from __future__ import annotations

import keyword
import operator
from typing import Any

import torch.fx as fx
import torch.nn as nn

from netbuilder.analysis.blocks import BlockResult
from netbuilder.document.blocks import BLOCK_TYPE, BlockDefinition
from netbuilder.document.model import Document, Network, Node
from netbuilder.specs import LayerContext, TensorType


class BlockBuildError(ValueError):
    """A layer inside a block cannot be built; ``path`` is relative to the block node."""

    def __init__(self, path: str, problem: str):
        super().__init__(problem)
        self.path = path
        self.problem = problem


def build_block(network: Network, node: Node, result: BlockResult) -> nn.Module:
    """The module of one block node, from its analysis result (types and resolved params inside)."""
    doc = network.document
    assert doc is not None, "a block node is analysed only inside a document"
    return _module(doc, doc.blocks[node.block], result, dict(node.params))


def _argument_name(name: str) -> str:
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"in_{name}"


def _module(doc: Document, definition: BlockDefinition, result: BlockResult,
            values: dict[str, Any]) -> fx.GraphModule:
    from netbuilder.compile.compiler import _call_forward_directly

    net = definition.network
    root = nn.Module()
    graph = fx.Graph()
    made: dict[tuple[str, str], fx.Node] = {}  # (node id, port) -> the fx value it gives
    for port in definition.input_nodes():
        made[(port.id, "out")] = graph.placeholder(_argument_name(port.name))
    results: dict[str, fx.Node] = {}
    wiring: dict[str, dict[str, Any]] = {}
    for wire in net.wires:
        wiring.setdefault(wire.dst, {})[wire.dst_port] = wire
    for node_id in result.order:
        node = net.node(node_id)
        if node.type == "Input":
            continue
        wires = wiring.get(node_id, {})
        spec = net.spec_of(node)
        params = result.resolved[node_id]
        sources = [(wires[p.name].src, wires[p.name].src_port) if p.name in wires else None
                   for p in spec.input_ports(params)]
        args = [made[source] if source else None for source in sources]
        if node.type == "Output":
            results[node_id] = args[0]
            continue
        info = result.inner[node_id]
        if node.type == BLOCK_TYPE:
            try:
                module = _module(doc, doc.blocks[node.block], info.inner, dict(params))
            except BlockBuildError as error:
                raise BlockBuildError(f"{node.name}.{error.path}", error.problem) from None
        else:
            types: tuple[TensorType | None, ...] = tuple(
                result.inner[s[0]].outputs.get(s[1]) if s else None for s in sources)
            try:
                module = spec.build(LayerContext(dict(params), types, node.name))
            except MemoryError:
                raise BlockBuildError(node.name, "there is not enough memory for its weights") from None
            except Exception as error:  # torch's own check of a value analysis let through
                lines = str(error).strip().splitlines()
                raise BlockBuildError(node.name, f"{type(error).__name__}: {lines[0] if lines else 'no details'}") \
                    from None
        if not node.trainable:
            for parameter in module.parameters():
                parameter.requires_grad_(False)
        root.add_module(node.name, module)
        call = graph.call_module(node.name, tuple(args))
        out_ports = spec.output_ports(params)
        if len(out_ports) == 1:
            made[(node_id, out_ports[0].name)] = call
        else:
            for index, port in enumerate(out_ports):
                made[(node_id, port.name)] = graph.call_function(operator.getitem, (call, index))
    outs = [results[n.id] for n in definition.output_nodes() if n.id in results]
    graph.output(outs[0] if len(outs) == 1 else tuple(outs))
    module = fx.GraphModule(root, graph, class_name=definition.name)
    # Children in the definition's node order (fx registers them in call order): state_dict() lists the
    # tensors as the block's author laid them out, as torchvision lists conv1, bn1, conv2, bn2, downsample.
    rank = {node.name: index for index, node in enumerate(net.nodes)}
    children = sorted(module._modules.items(), key=lambda item: rank.get(item[0], len(rank)))
    module._modules.clear()
    module._modules.update(children)
    _call_forward_directly(module)
    module._nb_block = (definition.name, values)  # for PyTorch code export: one class per definition
    return module
