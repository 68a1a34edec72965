"""The learning-rate finder dialog: runs the range test (`netbuilder.experiments.lr_find`) in the background,
draws the loss against the rate with the suggestion marked, and offers to apply the suggested rate.

The test trains a throw-away copy of the network for about a hundred batches; the document and its weights are
not touched until the user presses Apply, which sets the learning rate with one undoable command.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtWidgets import QDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from netbuilder.document.model import Document
from netbuilder.experiments.lr_find import LRFindResult, lr_find
from netbuilder_ui.background import BackgroundTask
from netbuilder_ui.training.results.common import WRONG, style_plot
from netbuilder_ui.training.sweep_panel import snapshot
from netbuilder_ui.training.widgets import PANEL_STYLE


class LRFinderDialog(QDialog):
    """Find a learning rate for the document as it is; ``apply(lr)`` stores the chosen one."""

    def __init__(self, document: Document, apply: Callable[[float], Any], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Find a learning rate")
        self.setObjectName("lrFinder")
        self.setStyleSheet(PANEL_STYLE)
        self.resize(620, 440)
        self._apply = apply
        self._document = snapshot(document)
        self._stop = threading.Event()
        self.found: LRFindResult | None = None
        layout = QVBoxLayout(self)
        self.status = QLabel("Training a copy of the network while the learning rate grows…")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot = self.plot_widget.getPlotItem()
        style_plot(self.plot, "Loss against learning rate")
        self.plot.setLogMode(x=True, y=False)
        self.plot.setLabel("bottom", "learning rate")
        self.plot.setLabel("left", "loss (smoothed)")
        layout.addWidget(self.plot_widget, 1)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setObjectName("primaryButton")
        self.apply_button.setEnabled(False)
        self.apply_button.clicked.connect(self._on_apply)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.close_button)
        layout.addLayout(buttons)
        self.task = BackgroundTask(lambda _step: lr_find(self._document, stop=self._stop), name="netbuilder-lr-find",
                                   parent=self)
        self.task.succeeded.connect(self._show)
        self.task.failed.connect(self._failed)

    def start(self) -> None:
        self.task.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        return self.task.wait(timeout_s)

    def _show(self, result: LRFindResult) -> None:
        self.found = result
        points = [(lr, loss) for lr, loss in zip(result.lrs, result.losses, strict=True) if math.isfinite(loss)]
        if points:
            xs, ys = zip(*points, strict=True)
            floor = min(ys)
            ceiling = min(max(ys), floor + 3 * (ys[0] - floor) if ys[0] > floor else max(ys))
            self.plot.plot(list(xs), list(ys), pen=pg.mkPen("#2f6fde", width=2))
            self.plot.setYRange(floor, ceiling)
        line = pg.InfiniteLine(pos=math.log10(result.suggestion), angle=90, pen=pg.mkPen("#d14343", width=1.5))
        self.plot.addItem(line)
        self.status.setText(f"Suggested learning rate: {result.suggestion:.2g} ({result.optimizer}): where the loss "
                            f"falls fastest. The loss was lowest at {result.min_loss_lr:.2g} and blew up above it.")
        self.apply_button.setText(f"Apply {result.suggestion:.2g}")
        self.apply_button.setEnabled(True)

    def _failed(self, error: BaseException) -> None:
        self.status.setText(f"The range test could not run: {error}")
        self.status.setStyleSheet(f"color: {WRONG};")

    def _on_apply(self) -> None:
        if self.found is not None:
            self._apply(float(f"{self.found.suggestion:.2g}"))
            self.accept()

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        self._stop.set()
        super().closeEvent(event)
