"""Top-to-bottom flow and one-click fixes, in figures (group ``flow``: run.py --only flow).

- ``canvas_fit_legible_fraction_tb``: as ``canvas_fit_legible_fraction`` (bench_canvas_fit), with every template
  laid out top to bottom (View > Flow); goal 1.0. ``canvas_fit_legible_worst_tb`` names the worst network.
- ``fix_offer_200_nodes_ms``: finding the fixes of a Conv2d fed N×64 at the end of a 200-layer network (what the
  Problems list does after each edit while the problem stands), median of 5.
- ``wire_check_200_nodes_ms``: the trial check of a layer dropped onto a wire a third into that network.
"""

from __future__ import annotations

import importlib.util
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _module(name: str):  # noqa: ANN202 (a sibling benchmark module)
    spec = importlib.util.spec_from_file_location(f"netbuilder_bench_{name}", Path(__file__).with_name(f"{name}.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_canvas_flow() -> dict[str, float | str]:
    from PySide6.QtWidgets import QApplication

    from netbuilder.analysis import analyze
    from netbuilder.analysis.fixes import fixes_for_node
    from netbuilder.document import Node, Wire
    from netbuilder.templates import list_templates
    from netbuilder.wiring import edit_problem

    fit = _module("bench_canvas_fit")
    gui = _module("bench_gui")
    window = fit.make_window()
    window.settings.setValue("canvas/flow", "top-to-bottom")
    fractions: dict[str, float] = {}
    for info in list_templates():
        window.open_template(info.id, ask=False)
        QApplication.processEvents()
        fit.settle()
        for network in list(window.qt_doc.document.networks):
            fractions[f"{info.id}/{network}"] = fit.fit_legible_fraction(window, network)
    worst = min(fractions, key=fractions.__getitem__)
    figures: dict[str, float | str] = {
        "canvas_fit_legible_fraction_tb": round(min(fractions.values()), 3),
        "canvas_fit_legible_worst_tb": f"{worst} {fractions[worst]:.2f}",
    }
    window.qt_doc.undo_stack.setClean()
    window.close()
    window.deleteLater()
    QApplication.processEvents()

    document = gui.build_document(200)
    network = document.network("model")
    last = network.nodes[-2].id
    conv = network.add("Conv2d")
    network.connect(last, conv)
    analysis = analyze(network)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        fixes = fixes_for_node(network, conv, analysis)
        times.append((time.perf_counter() - start) * 1000)
    assert fixes, "a Conv2d after N×64 has a fix"
    figures["fix_offer_200_nodes_ms"] = round(statistics.median(times), 2)

    wires = network.wires
    times = []
    for step in range(10):
        wire = wires[len(wires) // 3 + step * 7]
        node = Node("bench", "Identity", "identity_bench", {}, (0.0, 0.0))
        start = time.perf_counter()
        problem = edit_problem(network, [node], [wire], [Wire(wire.src, wire.src_port, "bench", "in"),
                                                         Wire("bench", "out", wire.dst, wire.dst_port)], analysis)
        times.append((time.perf_counter() - start) * 1000)
        assert problem is None
    figures["wire_check_200_nodes_ms"] = round(statistics.median(times), 2)
    return figures


BENCHMARKS = {"flow": bench_canvas_flow}  # not "canvas_…": --only canvas would run it too
