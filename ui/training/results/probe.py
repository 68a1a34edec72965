"""The layer view: a clicked node's output on a chosen sample, its weights and its gradients."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSpinBox, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from netbuilder_ui.training.outcomes import Probe
from netbuilder_ui.training.results.common import colormap, style_plot, title_html
from netbuilder_ui.training.widgets import EXTRA_COLORS, TRAIN_COLOR, VAL_COLOR, PixelImage, hint

MAX_MAPS = 32


def feature_map_grid(activation: np.ndarray) -> np.ndarray:
    """C×H×W feature maps (each stretched to its own range) as one RGB grid; T×F matrices as one heat map."""
    if activation.ndim == 2:
        a = activation
        low, high = float(a.min()), float(a.max())
        return colormap((a - low) / max(high - low, 1e-8))
    maps = activation[:MAX_MAPS]
    count, height, width = maps.shape
    flat = maps.reshape(count, -1)
    low = flat.min(axis=1).reshape(-1, 1, 1)
    high = flat.max(axis=1).reshape(-1, 1, 1)
    scaled = (maps - low) / np.maximum(high - low, 1e-8)
    columns = max(1, math.ceil(math.sqrt(count * 1.6)))
    rows = math.ceil(count / columns)
    pad = max(1, min(height, width) // 8)
    grid = np.ones((rows * (height + pad) + pad, columns * (width + pad) + pad, 3), dtype=np.uint8) * 255
    colored = colormap(scaled)
    for index in range(count):
        r, c = divmod(index, columns)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top:top + height, left:left + width] = colored[index]
    return grid


class LayerView(QWidget):
    """One node of a trained network: its output on a chosen sample, its weights and gradients."""

    sampleChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        head = QHBoxLayout()
        self.title = QLabel("Click a layer on the canvas after training to see what it does.")
        self.title.setObjectName("hint")
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.sample = QSpinBox()
        self.sample.setPrefix("Sample ")
        self.sample.setRange(1, 1)
        self.sample.setToolTip("Which validation sample to feed the network.")
        self.sample.valueChanged.connect(lambda v: self.sampleChanged.emit(v - 1))
        head.addWidget(self.title, 1)
        head.addWidget(self.sample)
        layout.addLayout(head)
        self.notes = hint()
        layout.addWidget(self.notes)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.output_stack = QStackedWidget()
        self.maps = PixelImage()
        self.bars = pg.PlotWidget(background="w")
        style_plot(self.bars.getPlotItem(), "Output")
        self.output_stack.addWidget(self.maps)
        self.output_stack.addWidget(self.bars)
        output_box = QWidget()
        output_layout = QVBoxLayout(output_box)
        output_layout.setContentsMargins(0, 0, 0, 0)
        output_layout.setSpacing(2)
        self.output_caption = hint()
        output_layout.addWidget(self.output_caption)
        output_layout.addWidget(self.output_stack, 1)
        self.histograms = QWidget()
        column = QVBoxLayout(self.histograms)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        self.weight_key = QLabel()
        self.grad_key = QLabel()
        self.weight_widget = pg.PlotWidget(background="w")
        self.grad_widget = pg.PlotWidget(background="w")
        self.weight_plot = self.weight_widget.getPlotItem()
        self.grad_plot = self.grad_widget.getPlotItem()
        for key, widget in ((self.weight_key, self.weight_widget), (self.grad_key, self.grad_widget)):
            key.setWordWrap(True)
            key.setTextFormat(Qt.TextFormat.RichText)
            style_plot(widget.getPlotItem())
            widget.getPlotItem().getAxis("left").setStyle(showValues=False)
            widget.getPlotItem().getAxis("left").setWidth(8)
            widget.setMinimumHeight(90)
            column.addWidget(key)
            column.addWidget(widget, 1)
        splitter.addWidget(output_box)
        splitter.addWidget(self.histograms)
        splitter.setSizes([500, 400])
        layout.addWidget(splitter, 1)
        self.probe: Probe | None = None

    def set_sample_count(self, count: int) -> None:
        blocked = self.sample.blockSignals(True)
        self.sample.setRange(1, max(1, count))
        self.sample.blockSignals(blocked)

    def set_message(self, text: str) -> None:
        self.probe = None
        self.title.setText(text)
        self.notes.setText("")
        self.output_caption.setText("")
        self.maps.set_array(None)
        self.bars.getPlotItem().clear()
        self.weight_plot.clear()
        self.grad_plot.clear()
        self.weight_key.clear()
        self.grad_key.clear()

    def set_probe(self, probe: Probe) -> None:
        self.probe = probe
        self.title.setText(f"<b style='color:#1f2630'>{probe.title or 'Layer'}</b>"
                           + (f" · output {probe.shape_text}" if probe.shape_text else ""))
        self.notes.setText(" ".join(probe.notes))
        self.notes.setVisible(bool(probe.notes))
        self.output_caption.setText(probe.sample_text)
        activation = probe.activation
        if activation is not None and probe.kind in ("maps", "matrix"):
            self.maps.set_array(feature_map_grid(activation))
            self.output_stack.setCurrentWidget(self.maps)
            extra = f" (first {MAX_MAPS} of {activation.shape[0]})" if probe.kind == "maps" and \
                activation.shape[0] > MAX_MAPS else ""
            self.output_caption.setText(f"{probe.sample_text} · feature maps{extra}, viridis, each on its own "
                                        "scale" if probe.kind == "maps" else f"{probe.sample_text} · heat map")
        elif activation is not None:
            values = activation.reshape(-1)
            plot = self.bars.getPlotItem()
            plot.clear()
            brushes = [pg.mkBrush(TRAIN_COLOR if v >= 0 else VAL_COLOR) for v in values]
            plot.addItem(pg.BarGraphItem(x=np.arange(values.size), height=values, width=0.8, brushes=brushes,
                                         pen=pg.mkPen(None)))
            plot.setTitle(title_html(f"Output ({values.size} values)"))
            plot.autoRange()
            self.output_stack.setCurrentWidget(self.bars)
        else:
            self.maps.set_array(None)
            self.output_stack.setCurrentWidget(self.maps)
        self._histogram(self.weight_plot, self.weight_key, "Weights", probe.weights, "this layer has no weights")
        self._histogram(self.grad_plot, self.grad_key, "Gradients on one validation batch", probe.grads,
                        "none")

    @staticmethod
    def _histogram(plot: pg.PlotItem, label: QLabel, title: str, values: dict[str, np.ndarray],
                   empty: str) -> None:
        """One density histogram per parameter (so a 128-value bias is as visible as an 8,192-value weight);
        the colour key is in the title, where it never covers the bars."""
        plot.clear()
        colors = (TRAIN_COLOR, VAL_COLOR, *EXTRA_COLORS)
        keys = []
        for index, (name, data) in enumerate(values.items()):
            finite = data[np.isfinite(data)]
            if finite.size == 0:
                continue
            bins = max(8, min(60, int(math.sqrt(finite.size))))
            if float(finite.max() - finite.min()) == 0.0:
                span = abs(float(finite[0])) * 0.05 or 1e-3
                counts, edges = np.histogram(finite, bins=bins, range=(finite[0] - span, finite[0] + span),
                                             density=True)
            else:
                counts, edges = np.histogram(finite, bins=bins, density=True)
            color = QColor(colors[index % len(colors)])
            fill = QColor(color)
            fill.setAlpha(80)
            plot.plot(edges, counts, stepMode="center", fillLevel=0, brush=pg.mkBrush(fill),
                      pen=pg.mkPen(color, width=1.5))
            keys.append(f"<span style='color:{color.name()}'>■</span> {name} ({finite.size:,}, "
                        f"σ {float(finite.std()):.2g})")
        suffix = " &nbsp; ".join(keys) if keys else f"<span style='color:#7a8391'>{empty}</span>"
        label.setText(f"<span style='color:#1f2630;font-weight:600'>{title}</span>"
                      f"<span style='color:#4a5361'>&nbsp;&nbsp;{suffix}</span>")

    def clear_view(self) -> None:
        self.set_message("Click a layer on the canvas after training to see what it does.")
