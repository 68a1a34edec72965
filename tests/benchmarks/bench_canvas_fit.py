"""Canvas legibility and opening speed in the real main window (offscreen, 1600 x 1000, default docks).

- ``canvas_fit_legible_fraction``: after Fit (Ctrl+0), the share of nodes whose title is drawn whole and at least
  9 screen pixels tall, over every network of every template (goal 1.0); ``canvas_fit_legible_fraction_200`` the
  same for a generated 200-layer residual network; ``canvas_fit_legible_worst`` names the worst template network.
- ``canvas_open_200_nodes_ms``: open that 200-layer network in the window, lay it out and paint it once (< 500).
- ``canvas_insert_on_wire_ms``: median time to drop a layer onto a wire of it, inserted and analysed (< 30).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WINDOW = (1600, 1000)


def make_window():  # noqa: ANN201 (a MainWindow; Qt is imported lazily)
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from netbuilder_ui.main_window import MainWindow

    QApplication.instance() or QApplication([])
    folder = Path(tempfile.mkdtemp(prefix="nb-bench-"))
    window = MainWindow(settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat),
                        recovery_dir=folder / "recovery", autosave_interval_ms=3_600_000, run_root=folder / "runs")
    window.resize(*WINDOW)
    window.show()
    QApplication.processEvents()
    return window


def fit_legible_fraction(window, network: str) -> float:  # noqa: ANN001
    from PySide6.QtWidgets import QApplication

    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    window.tabs.setCurrentIndex(names.index(network))
    QApplication.processEvents()
    view = window.current_view()
    view.fit_all()
    return view.legible_fraction()


def bench_canvas_fit(build_document) -> dict[str, float | str]:  # noqa: ANN001 (bench_gui.build_document)
    """Figures of the canvas group (run from bench_gui.bench_canvas, which passes its network builder)."""
    from PySide6.QtWidgets import QApplication

    from netbuilder.templates import list_templates

    window = make_window()
    figures: dict[str, float | str] = {}
    fractions: dict[str, float] = {}
    for info in list_templates():
        window.open_template(info.id, ask=False)
        QApplication.processEvents()
        for network in list(window.qt_doc.document.networks):
            fractions[f"{info.id}/{network}"] = fit_legible_fraction(window, network)
    figures["canvas_fit_legible_fraction"] = round(min(fractions.values()), 3)
    figures["canvas_fit_legible_mean"] = round(sum(fractions.values()) / len(fractions), 3)
    worst = min(fractions, key=fractions.__getitem__)
    figures["canvas_fit_legible_worst"] = f"{worst} {fractions[worst]:.2f}"

    document = build_document(200)
    start = time.perf_counter()
    window.load_document(document, "residual-200")
    QApplication.processEvents()
    window.current_view().viewport().repaint()
    figures["canvas_open_200_nodes_ms"] = round((time.perf_counter() - start) * 1000, 1)
    figures["canvas_fit_legible_fraction_200"] = round(fit_legible_fraction(window, "model"), 3)

    # Drop a layer onto a wire mid-network: trial check, one command, items and analysis updated.
    from PySide6.QtCore import QMimeData

    from netbuilder_ui.canvas import LAYER_MIME

    view = window.current_view()
    network = window.qt_doc.document.network("model")
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"Identity")
    times = []
    for step in range(10):
        wire = network.wires[len(network.wires) // 3 + step * 7]
        spot = view.scene().wire_items[wire.key].path.pointAtPercent(0.5)
        start = time.perf_counter()
        inserted = view.handle_drop(mime, spot)
        window.qt_doc.flush()
        times.append((time.perf_counter() - start) * 1000)
        assert inserted is not None and wire not in network.wires
    figures["canvas_insert_on_wire_ms"] = round(sorted(times)[len(times) // 2], 2)
    window.qt_doc.undo_stack.setClean()
    window.close()
    window.deleteLater()
    QApplication.processEvents()
    return figures
