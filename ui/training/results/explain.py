"""The Explain view: which inputs drove a prediction of the finished run, as a heat map over the chosen sample for
the chosen class (images) or one bar per feature (tables), with integrated gradients' verdict on itself.

The computation is `netbuilder.explain` (Captum) through `TrainedModel.explain`; this view only asks for it
(``explainRequested``) and shows what comes back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from netbuilder_ui.training.results.common import RIGHT, style_plot
from netbuilder_ui.training.widgets import PixelImage, hint

METHOD_CHOICES = (("ig", "Integrated gradients"), ("saliency", "Saliency"), ("occlusion", "Occlusion"))
BARS_SHOWN = 24
UNTRUSTED = "#9a6400"
EMPTY_TEXT = "Explanations appear when a classifier or regression network has finished training."


class ExplainView(QWidget):
    """Sample, class and method on top; the sample and its heat map (or feature bars) below; the verdict last."""

    explainRequested = Signal(int, object, str)  # sample (0-based), class (None: the predicted one), method

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        head = QHBoxLayout()
        self.sample = QSpinBox()
        self.sample.setPrefix("Sample ")
        self.sample.setRange(1, 1)
        self.sample.setToolTip("Which validation sample to explain (numbered as in the Predictions tab).")
        self.target = QComboBox()
        self.target.setToolTip("The class whose score is explained: red inputs raise it, blue ones lower it.")
        self.method = QComboBox()
        for key, title in METHOD_CHOICES:
            self.method.addItem(title, key)
        self.method.setToolTip("Integrated gradients (checked by its convergence delta), saliency (gradient size) "
                               "or occlusion (what covering each patch changes).")
        self.explain_button = QPushButton("Explain")
        self.explain_button.clicked.connect(self.request)
        for widget in (self.sample, self.target, self.method, self.explain_button):
            head.addWidget(widget)
        head.addStretch(1)
        layout.addLayout(head)
        self.summary = hint(EMPTY_TEXT)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.summary)
        self.stack = QStackedWidget()
        pictures = QWidget()
        row = QHBoxLayout(pictures)
        row.setContentsMargins(0, 0, 0, 0)
        self.input_image = PixelImage()
        self.heat_image = PixelImage()
        for title, picture in (("The sample", self.input_image),
                               ("Heat map: red for the class, blue against it, white no effect", self.heat_image)):
            column = QVBoxLayout()
            column.addWidget(hint(title))
            column.addWidget(picture, 1)
            row.addLayout(column, 1)
        self.bars = pg.PlotWidget(background="w")
        style_plot(self.bars.getPlotItem(), "Attribution per feature (largest first)")
        self.bars.setMouseEnabled(False, False)
        self.bars.setMenuEnabled(False)
        self.stack.addWidget(pictures)
        self.stack.addWidget(self.bars)
        layout.addWidget(self.stack, 1)
        self.verdict = QLabel("")
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.verdict)
        self.explanation: Any = None
        self._ready = False
        # Any change of sample, class or method explains again once the event loop is free (one request for a
        # burst of changes, e.g. a spin box held down).
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(0)
        self._debounce.timeout.connect(self.request)
        self.sample.valueChanged.connect(lambda _v: self._changed())
        self.target.currentIndexChanged.connect(lambda _i: self._changed())
        self.method.currentIndexChanged.connect(lambda _i: self._changed())
        self._enable(False)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        """The first time the tab is opened after a run, the chosen sample is explained (not before: the first
        explanation loads Captum, which the end of every run should not wait for)."""
        super().showEvent(event)
        if self._ready and self.explanation is None:
            self._debounce.start()

    # ---- input ---------------------------------------------------------------------------------------------
    def set_source(self, samples: int, class_names: list[str] | None, outputs: int = 0) -> None:
        """A finished run can be explained: ``samples`` validation samples, its classes (or output units)."""
        self._ready = False
        self.sample.setRange(1, max(1, samples))
        self.target.clear()
        self.target.addItem("Predicted class", None)
        names = list(class_names or [str(i) for i in range(outputs)])
        for index, name in enumerate(names):
            self.target.addItem(name if name == str(index) else f"{index}: {name}", index)
        self._enable(True)
        self._ready = True

    def show_sample(self, sample: int) -> None:
        """Explain validation sample ``sample`` (0-based), e.g. one picked in the Predictions tab."""
        self.sample.setValue(sample + 1)
        self.request()

    def request(self) -> None:
        if self._ready:
            self._debounce.stop()
            self.explainRequested.emit(self.sample.value() - 1, self.target.currentData(),
                                       str(self.method.currentData()))

    def _changed(self) -> None:
        if self._ready:
            self._debounce.start()

    def _enable(self, on: bool) -> None:
        for widget in (self.sample, self.target, self.method, self.explain_button):
            widget.setEnabled(on)

    # ---- output --------------------------------------------------------------------------------------------
    def set_explanation(self, explanation: Any) -> None:
        from netbuilder.explain import diverging_rgb, input_rgb

        self.explanation = explanation
        weights = f" With the {explanation.weights}." if explanation.weights else ""
        self.summary.setText(explanation.summary() + weights)
        heat = explanation.heatmap()
        if explanation.image is not None:
            self.input_image.set_array(input_rgb(explanation.image))
            self.heat_image.set_array(diverging_rgb(heat))
            self.stack.setCurrentIndex(0)
        else:
            self._draw_bars(explanation)
            self.stack.setCurrentIndex(1)
        trusted = explanation.trusted
        color = "#4a5361" if trusted is None else RIGHT if trusted else UNTRUSTED
        self.verdict.setText(f"<span style='color:{color}'>{explanation.trust()}</span>")

    def _draw_bars(self, explanation: Any) -> None:
        top = explanation.top_features(BARS_SHOWN)[::-1]  # largest at the top
        plot = self.bars.getPlotItem()
        plot.clear()
        values = np.array([value for _name, value in top], dtype=float)
        rows = np.arange(len(top))
        brushes = [pg.mkBrush("#d62728" if v >= 0 else "#1f77b4") for v in values]
        plot.addItem(pg.BarGraphItem(x0=np.minimum(values, 0), y=rows, width=np.abs(values), height=0.7,
                                     brushes=brushes, pen=pg.mkPen(None)))
        plot.getAxis("left").setTicks([[(int(i), name) for i, (name, _v) in enumerate(top)]])
        plot.getAxis("left").setStyle(showValues=True)
        plot.autoRange()

    def set_message(self, text: str) -> None:
        """Nothing to show (no run yet, or what went wrong explaining)."""
        self.explanation = None
        self.summary.setText(text)
        self.verdict.setText("")
        self.input_image.set_array(None)
        self.heat_image.set_array(None)
        self.bars.getPlotItem().clear()

    def clear_view(self) -> None:
        self._ready = False
        self._enable(False)
        self.set_message(EMPTY_TEXT)
