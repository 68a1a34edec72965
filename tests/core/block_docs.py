"""Small documents with blocks, built through the scripting API (every step an undoable command)."""

from __future__ import annotations

from netbuilder.document import Document
from netbuilder.specs import Param, ParamKind


def define_basic_block(doc: Document, name: str = "BasicBlock") -> None:
    """A residual block with an identity shortcut: conv-bn-relu-conv-bn + x, relu; ``filters`` is a parameter."""
    net = doc.define_block(name, (Param("filters", ParamKind.INT, 8, minimum=1),))
    x = net.add("Input", name="x", shape=(8, 6, 6))
    conv1 = net.add("Conv2d", name="conv1", filters=8, padding="same", bias=False)
    bn1 = net.add("BatchNorm2d", name="bn1")
    relu1 = net.add("ReLU", name="relu1")
    conv2 = net.add("Conv2d", name="conv2", filters=8, padding="same", bias=False)
    bn2 = net.add("BatchNorm2d", name="bn2")
    add = net.add("Add", name="add")
    relu2 = net.add("ReLU", name="relu")
    y = net.add("Output", name="y", role="features")
    net.chain(x, conv1, bn1, relu1, conv2, bn2)
    net.connect(bn2, add, dst_port="in1")
    net.connect(x, add, dst_port="in2")
    net.chain(add, relu2, y)
    net.bind(conv1, "filters", "filters")
    net.bind(conv2, "filters", "filters")


def residual_document(instances: int = 2) -> Document:
    """Input 8x6x6 -> ``instances`` BasicBlocks -> pool -> Linear 3 -> Output, with a clean undo history."""
    doc = Document()
    define_basic_block(doc)
    net = doc.network()
    x = net.add("Input", name="image", shape=(8, 6, 6))
    previous = x
    for index in range(instances):
        block = net.add_block("BasicBlock", name=f"layer{index + 1}")
        net.connect(previous, block)
        previous = block
    pool = net.add("GlobalAvgPool", name="pool")
    fc = net.add("Linear", name="fc", units=3)
    net.chain(previous, pool, fc, net.add("Output", name="scores"))
    doc.undo_stack.clear()
    return doc
