"""Block nodes on the canvas (offscreen), on a network of 50 instances of a 20-layer block (1,000 layers):

- ``canvas_blocks_open_ms``: build the canvas of that network and paint it once at Fit.
- ``canvas_edit_inside_block_ms``: median time from an edit inside the block definition (one SetParams) until every
  instance on the top-level canvas shows the new parameter total (the coalesced re-analysis applied).
- ``canvas_expand_block_ms``: median time to expand one block node in place (its inside drawn) and paint the view.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

BLOCK_LAYERS, INSTANCES = 20, 50


def blocks_document():  # noqa: ANN201 (a Document and the id of a Linear inside the block)
    from netbuilder.document import Document

    doc = Document()
    inner = doc.define_block("Layer20")
    previous = inner.add("Input", name="x", shape=(32,), position=(0, 0))
    middle = ""
    kinds = ["Linear", "ReLU", "LayerNorm", "Dropout"]
    for index in range(BLOCK_LAYERS):
        kind = kinds[index % len(kinds)]
        node = inner.add(kind, position=(260.0 * (index + 1), 0), **({"units": 32} if kind == "Linear" else {}))
        if kind == "Linear" and index == 8:
            middle = node
        inner.connect(previous, node)
        previous = node
    inner.connect(previous, inner.add("Output", name="y", role="features", position=(260.0 * 21, 0)))
    net = doc.network()
    previous = net.add("Input", shape=(32,), position=(0, 0))
    for index in range(INSTANCES):
        node = net.add_block("Layer20", position=(260.0 * (index % 10 + 1), 200.0 * (index // 10)))
        net.connect(previous, node)
        previous = node
    net.connect(previous, net.add("Output", role="regression", position=(260.0 * 11, 1000)))
    doc.undo_stack.clear()
    return doc, middle


def _median_ms(function, repeats: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def canvas_figures() -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from netbuilder.document import SetParams
    from netbuilder_ui.blocks.node_item import BlockNodeItem
    from netbuilder_ui.canvas import CanvasView
    from netbuilder_ui.canvas.visuals import compact_count
    from netbuilder_ui.qt_document import QtDocument

    app = QApplication.instance() or QApplication([])
    doc, middle = blocks_document()
    qt_doc = QtDocument(doc)
    holder: list = []

    def open_canvas() -> None:
        view = CanvasView(qt_doc, "model")
        view.resize(1200, 800)
        view.show()
        view.fit_all()
        view.grab()
        holder.append(view)

    open_ms = _median_ms(open_canvas, repeats=3)
    view = holder[-1]
    items = [i for i in view.scene().node_items.values() if isinstance(i, BlockNodeItem)]
    assert len(items) == INSTANCES
    sizes = iter([16, 32] * 50)

    def edit_inside() -> None:
        units = next(sizes)
        qt_doc.execute(SetParams("Layer20", middle, {"units": units}))
        qt_doc.flush()
        analysis = qt_doc.analysis("model")
        for item in (items[0], items[-1]):  # the canvas shows the new totals
            assert item.content.params == f"{compact_count(analysis.nodes[item.node_id].params)} params"

    edit_ms = _median_ms(edit_inside, repeats=9)
    first = items[0]
    states = iter([True, False] * 20)

    def expand() -> None:
        first.set_expanded(next(states))
        view.scene()._reroute(first.node_id)
        view.viewport().repaint()
        app.processEvents()

    expand_ms = _median_ms(expand, repeats=8)
    for view in holder:
        view.close()
    return {"canvas_blocks_open_ms": round(open_ms, 1), "canvas_edit_inside_block_ms": round(edit_ms, 2),
            "canvas_expand_block_ms": round(expand_ms, 2)}


BENCHMARKS = {"block_canvas": canvas_figures}
