"""Canvas legibility and opening speed in the real main window (offscreen, 1600 x 1000, default docks).

- ``canvas_fit_legible_fraction``: after Fit (Ctrl+0), the share of nodes whose title is drawn whole and at least
  9 screen pixels tall, over every network of every template (goal 1.0); ``canvas_fit_legible_fraction_200`` the
  same for a generated 200-layer residual network; ``canvas_fit_legible_worst`` names the worst template network.
- ``canvas_open_200_nodes_ms``: open that 200-layer network in the window, lay it out and paint it once (< 500).
- ``canvas_insert_on_wire_ms``: median time to drop a layer onto a wire of it, inserted and analysed (< 30);
  ``canvas_insert_on_wire_window_ms`` the same in the main window, with its panels following.
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


def settle() -> None:
    """Let Qt delete the views of closed documents, as the running app's event loop does between user actions
    (processEvents alone leaves them, and their scenes would rebuild with every later document)."""
    from PySide6.QtCore import QCoreApplication, QEvent

    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def fit_legible_fraction(window, network: str) -> float:  # noqa: ANN001
    from PySide6.QtWidgets import QApplication

    names = [window.tabs.tabText(i) for i in range(window.tabs.count())]
    window.tabs.setCurrentIndex(names.index(network))
    QApplication.processEvents()
    view = window.current_view()
    view.fit_all()
    return view.legible_fraction()


def insert_on_wire_ms(view, qt_doc) -> float:  # noqa: ANN001
    """Median time to drop an Identity layer onto a wire a third of the way into the network (10 drops)."""
    from PySide6.QtCore import QMimeData

    from netbuilder_ui.canvas import LAYER_MIME

    network = qt_doc.document.network(view.network)
    mime = QMimeData()
    mime.setData(LAYER_MIME, b"Identity")
    times = []
    for step in range(10):
        wire = network.wires[len(network.wires) // 3 + step * 7]
        spot = view.scene().wire_items[wire.key].path.pointAtPercent(0.5)
        start = time.perf_counter()
        inserted = view.handle_drop(mime, spot)
        qt_doc.flush()
        times.append((time.perf_counter() - start) * 1000)
        assert inserted is not None and wire not in network.wires
    return round(sorted(times)[len(times) // 2], 2)


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
        settle()
        for network in list(window.qt_doc.document.networks):
            fractions[f"{info.id}/{network}"] = fit_legible_fraction(window, network)
    figures["canvas_fit_legible_fraction"] = round(min(fractions.values()), 3)
    figures["canvas_fit_legible_mean"] = round(sum(fractions.values()) / len(fractions), 3)
    worst = min(fractions, key=fractions.__getitem__)
    figures["canvas_fit_legible_worst"] = f"{worst} {fractions[worst]:.2f}"

    document = build_document(200)
    settle()
    start = time.perf_counter()
    window.load_document(document, "residual-200")
    QApplication.processEvents()
    window.current_view().viewport().repaint()
    figures["canvas_open_200_nodes_ms"] = round((time.perf_counter() - start) * 1000, 1)
    figures["canvas_fit_legible_fraction_200"] = round(fit_legible_fraction(window, "model"), 3)

    # Drop a layer onto a wire mid-network: trial check, one command, items and analysis updated; on the canvas
    # alone (as the other canvas figures) and in the window (where the inspector follows the new selection).
    from netbuilder_ui.canvas import CanvasView
    from netbuilder_ui.qt_document import QtDocument

    qt_doc = QtDocument(build_document(200))
    view = CanvasView(qt_doc, "model")
    view.resize(1100, 700)
    view.show()
    QApplication.processEvents()
    figures["canvas_insert_on_wire_ms"] = insert_on_wire_ms(view, qt_doc)
    view.close()
    view.deleteLater()
    figures["canvas_insert_on_wire_window_ms"] = insert_on_wire_ms(window.current_view(), window.qt_doc)
    window.qt_doc.undo_stack.setClean()
    window.close()
    window.deleteLater()
    QApplication.processEvents()
    return figures
