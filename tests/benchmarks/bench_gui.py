"""Canvas benchmarks on a 500-node network (offscreen): open, repaint after a zoom, and one parameter edit.

Targets (issue 4): open < 1000 ms, repaint < 30 ms, edit < 20 ms.
"""

from __future__ import annotations

import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

NODES = 500


def build_document(nodes: int = NODES):
    """A valid network of ``nodes`` layers: Input, residual blocks (Linear, ReLU, Linear, Add with a skip wire)
    and an Output, laid out by the canvas's auto-layout. Built with one InsertNodes, not 500 commands."""
    from netbuilder.document import Document, InsertNodes, Node, Wire
    from netbuilder.layout import layered_positions
    from netbuilder_ui.canvas.visuals import geometry_of, node_content

    made: list[Node] = []
    wires: list[Wire] = []

    def node(type_id: str, **params: object) -> str:
        from netbuilder.specs import get_spec

        spec = get_spec(type_id)
        node_id = f"n{len(made) + 1}"
        made.append(Node(node_id, type_id, f"{type_id.lower()}{len(made) + 1}", spec.coerce_params(params)))
        return node_id

    previous = node("Input", shape=(64,))
    while len(made) + 4 + 1 <= nodes:
        a = node("Linear", units=64)
        b = node("ReLU")
        c = node("Linear", units=64)
        d = node("Add")
        wires += [Wire(previous, "out", a, "in"), Wire(a, "out", b, "in"), Wire(b, "out", c, "in"),
                  Wire(c, "out", d, "in1"), Wire(previous, "out", d, "in2")]
        previous = d
    while len(made) < nodes - 1:
        extra = node("ReLU")
        wires.append(Wire(previous, "out", extra, "in"))
        previous = extra
    out = node("Output")
    wires.append(Wire(previous, "out", out, "in"))

    document = Document()
    document.execute(InsertNodes("model", made, wires))
    network = document.network("model")

    def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
        content = node_content(network.node(node_id), None)
        g = geometry_of(content)
        return g.width, g.height, g.inputs, g.outputs

    for node_id, position in layered_positions(network, size_of).items():
        network.node(node_id).position = position
    return document


def bench_canvas() -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from netbuilder.document import SetParams
    from netbuilder_ui.canvas import CanvasView
    from netbuilder_ui.qt_document import QtDocument

    figures: dict[str, float] = {}
    document = build_document()
    qt_doc = QtDocument(document)
    app.processEvents()

    start = time.perf_counter()
    view = CanvasView(qt_doc, "model")
    view.resize(1600, 1000)
    view.show()
    app.processEvents()  # first layout and paint
    figures["canvas_open_500_nodes_ms"] = round((time.perf_counter() - start) * 1000, 1)
    assert len(view.scene().node_items) == NODES

    # Repaint after a zoom, on the worst case: the 500 nodes packed in a 25 x 20 grid (one MoveNodes), so fitting
    # shows every node and wire at once; then zoom levels from there to 150 %, each a full viewport repaint (a zoom
    # invalidates the cached background and every visible item).
    from netbuilder.document import MoveNodes

    network = document.network("model")
    grid = {n.id: ((i % 25) * 280.0, (i // 25) * 120.0) for i, n in enumerate(network.nodes)}
    qt_doc.execute(MoveNodes("model", grid))
    view.fit_all()
    fitted = view.zoom()
    times = []
    for level in (fitted, fitted * 1.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.5):
        view.set_zoom(level)
        app.processEvents()
        start = time.perf_counter()
        view.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000)
    figures["canvas_repaint_500_nodes_ms"] = round(statistics.median(times), 2)
    figures["canvas_repaint_500_nodes_max_ms"] = round(max(times), 2)
    qt_doc.undo_stack.undo()

    # Edit one parameter mid-chain: command, coalesced analysis, items updated (node text, downstream wires).
    scene = view.scene()
    linears = [n.id for n in network.nodes if n.type == "Linear"]
    target = linears[len(linears) // 2]
    downstream = [w for w in network.wires_out_of(target)][0]
    times = []
    for units in (48, 64, 80, 64, 96, 64, 32, 64, 72, 64):
        start = time.perf_counter()
        qt_doc.execute(SetParams("model", target, {"units": units}))
        qt_doc.flush()
        times.append((time.perf_counter() - start) * 1000)
        assert scene.wire_items[downstream.key].label == f"N×{units}"
    figures["canvas_edit_param_ms"] = round(statistics.median(times), 2)
    view.close()
    view.deleteLater()
    qt_doc.deleteLater()
    app.processEvents()
    return figures


def bench_canvas_group() -> dict[str, float | str]:
    """The whole canvas group: the 500-node figures above, then legibility after Fit and opening 200 nodes."""
    import importlib.util
    from pathlib import Path

    figures: dict[str, float | str] = dict(bench_canvas())
    spec = importlib.util.spec_from_file_location("netbuilder_bench_canvas_fit",
                                                  Path(__file__).with_name("bench_canvas_fit.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures.update(module.bench_canvas_fit(build_document))
    return figures


BENCHMARKS = {"canvas": bench_canvas_group}
