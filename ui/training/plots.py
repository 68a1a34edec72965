"""Live training curves (pyqtgraph), drawn on the GUI thread only.

Three plots share one x axis in epochs: the loss (raw batch losses faintly, their moving average boldly, the
training and validation loss per epoch), the recipe's metric (accuracy, R², perplexity, reconstruction and KL
for a VAE, or generator against discriminator loss for a GAN) and the learning rate. Earlier runs of the same
network can be overlaid in grey. Data lives in `RunHistory`'s growing arrays; `refresh` hands pyqtgraph views of
them, and each curve decimates (peak downsampling, clipped to the view) so a 100,000-point run redraws in a few
milliseconds. Nothing here is called from the worker thread: the controller feeds it on a GUI timer.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401 - registers ImageExporter on pg.exporters
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from netbuilder_ui.training.series import GrowingSeries, RunHistory
from netbuilder_ui.training.widgets import EXTRA_COLORS, GREY, TRAIN_COLOR, VAL_COLOR, tick_font

MAX_OVERLAYS = 5
MIN_REFRESH_S = 0.04  # 25 Hz at most
# Redraws are coalesced while repainting would take more than PAINT_SHARE of the GUI thread's time, but no point
# waits longer than MAX_WAIT_S to be drawn, whatever the load: repaints are kept cheap (peak decimation, no item or
# legend rebuilt) so that this bound costs little, instead of rationing them into starvation.
PAINT_SHARE = 0.03
MAX_WAIT_S = 0.4
DECIMATION_PER_PIXEL = 1.0  # peak-decimated samples per pixel column (each gives a minimum and a maximum)
SYMBOL_LIMIT = 40  # epoch curves show their points as dots until they have this many
# The metric plot's title per recipe, known when a run starts (so the layout never changes mid-run).
PLANNED_METRIC = {"classification": "Accuracy", "sequence_classification": "Accuracy", "regression": "R²",
                  "forecasting": "R²", "language_model": "Perplexity", "vae": "Reconstruction and KL",
                  "gan": "Generator vs discriminator", "autoencoder": "R²", "ppo": "Episode return"}  # reconstructions in the data's units
NO_METRIC: tuple[str, ...] = ()
RISING = ("Accuracy", "R²", "Top-k accuracy", "Episode return")


@dataclass
class MetricGroup:
    title: str
    keys: list[str]  # epoch metric names, in drawing order


def metric_group(recipe: str, names: list[str]) -> MetricGroup | None:
    """What the metric plot shows for a recipe, given the epoch metrics seen so far (None: nothing to show)."""
    present = [n for n in names if n not in ("lr", "train_loss", "val_loss")]
    if recipe == "gan":
        return MetricGroup("Generator vs discriminator", [n for n in ("train_g_loss", "train_d_loss") if n in names])

    def pick(*wanted: str) -> list[str]:
        return [n for n in wanted if n in present]

    for title, keys in (("Episode return", pick("return_100", "val_return")),  # agents: last 100, greedy
                        ("Accuracy", pick("train_accuracy", "val_accuracy", "val_f1")),
                        ("Perplexity", pick("train_perplexity", "val_perplexity")),
                        ("Reconstruction and KL", pick("train_reconstruction", "val_reconstruction", "train_kl",
                                                       "val_kl")),
                        ("R²", pick("val_r2")),
                        ("Mean absolute error", pick("val_mae"))):
        if keys:
            return MetricGroup(title, keys)
    top = [n for n in present if n.startswith("val_top")]
    return MetricGroup("Top-k accuracy", top) if top else None


def _label(name: str) -> str:
    words = {"train": "train", "val": "val", "g": "generator", "d": "discriminator"}
    parts = name.split("_")
    head = words.get(parts[0], parts[0])
    rest = " ".join(words.get(p, p) for p in parts[1:])
    return f"{head} {rest}".strip()


def _metric_colors(keys: list[str]) -> dict[str, str]:
    """Training curves blue, the first validation curve orange, further ones in the extra colours; a VAE's KL
    pair gets its own colour so reconstruction and KL never look alike."""
    colors: dict[str, str] = {}
    extra = iter(EXTRA_COLORS * 2)
    first_val = True
    for key in keys:
        if "kl" in key:
            continue
        if key.startswith("train"):
            colors[key] = TRAIN_COLOR
        elif first_val:
            colors[key] = VAL_COLOR
            first_val = False
        else:
            colors[key] = next(extra)
    kl = next(extra)
    for key in keys:
        if "kl" in key:
            colors[key] = kl
    return colors


def _pen(color: str, width: float = 2.0, style: Qt.PenStyle = Qt.PenStyle.SolidLine, alpha: int = 255) -> QPen:
    qcolor = QColor(color)
    qcolor.setAlpha(alpha)
    pen = pg.mkPen(qcolor, width=width)
    pen.setStyle(style)
    pen.setCosmetic(True)
    return pen


class _Plot:
    """One PlotItem with its named curves."""

    def __init__(self, title: str, y_label: str = ""):
        self.item = pg.PlotItem()
        self.item.setTitle(f"<span style='color:#1f2630;font-size:10pt;font-weight:600'>{title}</span>")
        # No grid: pyqtgraph draws grid lines through the axes' pictures, which quadruples the repaint time of a
        # live plot (36 ms instead of 9 ms for three plots); the crosshair reads exact values instead.
        self.item.setMenuEnabled(True)
        self.item.hideButtons()
        # Decimation for every curve of the plot (a PlotItem applies its own setting to each item it adds).
        self.item.setDownsampling(auto=True, mode="peak")
        self.item.setClipToView(True)
        for axis in ("left", "bottom"):
            ax = self.item.getAxis(axis)
            ax.setPen(pg.mkPen("#c3c9d2"))
            ax.setTextPen(pg.mkPen("#5b6472"))
            ax.setStyle(tickFont=tick_font(8))
        self.item.getAxis("bottom").setLabel("epoch", color="#7a8391")
        if y_label:
            self.item.getAxis("left").setLabel(y_label, color="#7a8391")
        self.legend = self.item.addLegend(offset=(-8, 8), labelTextSize="8pt", labelTextColor="#4a5361",
                                          brush=pg.mkBrush(255, 255, 255, 215), pen=pg.mkPen("#e1e4e9"))
        self.curves: dict[str, tuple[pg.PlotDataItem, GrowingSeries, int]] = {}
        self.overlays: list[pg.PlotDataItem] = []  # [solid, dashed], made on first use
        self.overlay_runs = 0
        self.overlay_legend = title == "Loss"
        self.crosshair = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#8d96a3", width=1,
                                                                                style=Qt.PenStyle.DashLine))
        self.crosshair.setZValue(50)
        self.crosshair.hide()
        self.item.addItem(self.crosshair, ignoreBounds=True)
        self.title = title

    def set_legend_corner(self, corner: str) -> None:
        """Put the legend where curves usually are not: top right for falling curves (losses), bottom right
        for rising ones (accuracy)."""
        self.legend.anchor(itemPos=(1, 1 if corner == "bottom" else 0),
                           parentPos=(1, 1 if corner == "bottom" else 0),
                           offset=(-8, -8 if corner == "bottom" else 8))

    def fit_positive_range(self) -> None:
        """A y range from 0 to just above the largest value (a constant learning rate otherwise sits in a
        range centred on it, reading as noise around zero)."""
        top = 0.0
        for _item, series, _version in self.curves.values():
            if len(series):
                top = max(top, float(series.y.max()))
        for item in self.overlays:
            y = item.yData
            if y is not None and len(y) and np.isfinite(y).any():
                top = max(top, float(np.nanmax(y)))
        if top > 0:
            self.item.setYRange(0.0, top * 1.12, padding=0)

    def curve(self, key: str, series: GrowingSeries, label: str | None, pen: QPen, symbol: str | None = None,
              color: str | None = None, z: int = 0) -> pg.PlotDataItem:
        existing = self.curves.get(key)
        if existing is not None:
            return existing[0]
        item = pg.PlotDataItem(name=label, pen=pen)
        if symbol:
            item.setSymbol(symbol)
            item.setSymbolSize(5)
            item.setSymbolBrush(pg.mkBrush(color or pen.color()))
            item.setSymbolPen(pg.mkPen(None))
        item.setZValue(z)
        self.item.addItem(item)
        item.setDownsampling(auto=True, method="peak")
        # Peak decimation keeps each pixel column's minimum and maximum, which is all a line of that width can
        # show; pyqtgraph's default keeps five times as many points, and drawing them was most of a repaint.
        item.opts["autoDownsampleFactor"] = DECIMATION_PER_PIXEL
        item.setClipToView(True)
        if label is None:
            self.legend.removeItem(item)
        self.curves[key] = (item, series, -1)
        return item

    def refresh(self) -> bool:
        changed = False
        for key, (item, series, version) in list(self.curves.items()):
            if series.version != version:
                if len(series) > SYMBOL_LIMIT and item.opts.get("symbol") is not None:
                    item.setSymbol(None)  # dots on thousands of points only cost paint time
                item.setData(series.x, series.y)
                self.curves[key] = (item, series, series.version)
                changed = True
        return changed

    def unclip(self) -> None:
        """Drop the curves' clipped copies: drawn while zoomed in, they only hold the points of that x range, and
        auto-range fits what they hold, so it would never grow back to the whole run."""
        for item in [entry[0] for entry in self.curves.values()] + self.overlays:
            if item.opts.get("clipToView"):
                item.setClipToView(False)
                item.setClipToView(True)

    def clear(self) -> None:
        for item, _series, _version in self.curves.values():
            self.item.removeItem(item)
            self.legend.removeItem(item)
        self.curves.clear()

    def clear_overlays(self) -> None:
        for item in self.overlays:
            item.setData([], [])
        self.overlay_runs = 0

    def set_overlays(self, solid: list[tuple[list[float], list[float]]],
                     dashed: list[tuple[list[float], list[float]]], runs: int) -> None:
        """Earlier runs in grey: every solid curve in one item and every dashed one in another (NaN gaps keep
        them apart), so five earlier runs cost two items to draw, not twenty."""
        if not self.overlays:
            for index, style in enumerate((Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine)):
                item = pg.PlotDataItem(pen=_pen(GREY, 1.3, style, alpha=200), connect="finite",
                                       name="earlier runs" if index == 0 and self.overlay_legend else None)
                item.setZValue(-10)
                self.item.addItem(item)
                if not (index == 0 and self.overlay_legend):
                    self.legend.removeItem(item)
                self.overlays.append(item)
        for item, curves in zip(self.overlays, (solid, dashed), strict=True):
            xs: list[float] = []
            ys: list[float] = []
            for x, y in curves:
                if xs:
                    xs.append(float("nan"))
                    ys.append(float("nan"))
                xs.extend(x)
                ys.extend(y)
            item.setData(np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), connect="finite")
        self.overlay_runs = runs

    def values_at(self, x: float) -> list[tuple[str, float]]:
        result = []
        for key, (item, series, _version) in self.curves.items():
            point = series.value_at(x)
            if point is not None and item.name():
                result.append((item.name() or key, point[1]))
        return result


class _TimedLayout(pg.GraphicsLayoutWidget):
    """Records how long its last repaint took, so the panel can keep redraws within a share of the GUI thread."""

    def __init__(self) -> None:
        super().__init__()
        self.last_paint = 0.0
        self.paint_total = 0.0  # seconds spent repainting, ever
        self.paint_cpu_total = 0.0  # the GUI thread's CPU seconds in those repaints

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        started, started_cpu = time.perf_counter(), time.thread_time()
        super().paintEvent(event)
        self.last_paint = time.perf_counter() - started
        self.paint_total += self.last_paint
        self.paint_cpu_total += time.thread_time() - started_cpu


class TrainingPlots(QWidget):
    """The Plots panel: loss, metric and learning-rate plots with their toolbar."""

    exported = Signal(str)  # a path written

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("plotsPanel")
        self.history = RunHistory()
        self.recipe = ""
        self._overlay_runs: list[Any] = []
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        layout.setSpacing(2)

        bar = QHBoxLayout()
        bar.setSpacing(10)
        self.log_box = QCheckBox("Log scale")
        self.log_box.setToolTip("Show losses on a logarithmic axis (small late improvements become visible).")
        self.log_box.toggled.connect(self.set_log_scale)
        self.compare_box = QCheckBox("Earlier runs")
        self.compare_box.setChecked(True)
        self.compare_box.setToolTip("Overlay earlier runs of this same network in grey.")
        self.compare_box.toggled.connect(self._apply_overlays)
        self.readout = QLabel("")
        self.readout.setObjectName("hint")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # The crosshair's values change as the mouse moves: they must never widen the dock (and the window).
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.png_button = QPushButton("PNG…")
        self.png_button.setToolTip("Export the plots as a PNG image.")
        self.csv_button = QPushButton("CSV…")
        self.csv_button.setToolTip("Export the metrics of every epoch as a CSV table.")
        self.png_button.clicked.connect(self._ask_png)
        self.csv_button.clicked.connect(self._ask_csv)
        bar.addWidget(self.log_box)
        bar.addWidget(self.compare_box)
        bar.addWidget(self.readout, 1)
        bar.addWidget(self.png_button)
        bar.addWidget(self.csv_button)
        layout.addLayout(bar)

        self.graphics = _TimedLayout()
        self._last_refresh = 0.0
        self._paint_mark = 0.0
        self.graphics.setBackground("w")
        self.graphics.ci.layout.setSpacing(12)
        self.graphics.ci.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.graphics, 1)

        self.loss = _Plot("Loss")
        self.metric_plot = _Plot("Metric")
        self.lr = _Plot("Learning rate")
        self.lr.legend.hide()
        self.metric_plot.item.setXLink(self.loss.item)
        self.lr.item.setXLink(self.loss.item)
        self._metric_group: MetricGroup | None = None
        self._metric_names_seen = 0
        self._metric_title = ""
        self._show_metric = True
        self._arrange(show_metric=False)
        self._mouse = pg.SignalProxy(self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)
        for plot in self.plots.values():  # the context menu's "View All" fits the run and follows it again too
            view_all = plot.item.getViewBox().menu.viewAll
            view_all.triggered.disconnect()
            view_all.triggered.connect(self.follow_run)
            view_all.setText("View whole run")
        self.graphics.setToolTip("Drag to pan, wheel to zoom, right-click for options; double-click to fit the "
                                 "whole run again and follow it.")
        self.placeholder = pg.TextItem("Curves appear here when training starts (Train ▸ Start, F5).",
                                       color="#7a8391", anchor=(0.5, 0.5))
        self.loss.item.addItem(self.placeholder, ignoreBounds=True)
        self.placeholder.setPos(0.5, 0.5)
        self.loss.item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)

    # ---- layout ---------------------------------------------------------------------------------------------
    @property
    def metric_title(self) -> str:
        return self._metric_title

    @property
    def plots(self) -> dict[str, _Plot]:
        return {"loss": self.loss, "metric": self.metric_plot, "lr": self.lr}

    def _arrange(self, show_metric: bool) -> None:
        ci = self.graphics.ci
        for plot in (self.loss, self.metric_plot, self.lr):
            if plot.item.scene() is not None:
                ci.removeItem(plot.item)
        ci.addItem(self.loss.item, row=0, col=0)
        column = 1
        if show_metric:
            ci.addItem(self.metric_plot.item, row=0, col=column)
            column += 1
        ci.addItem(self.lr.item, row=0, col=column)
        layout = ci.layout
        for col in range(3):
            layout.setColumnStretchFactor(col, 0)
        layout.setColumnStretchFactor(0, 5)
        if show_metric:
            layout.setColumnStretchFactor(1, 4)
        layout.setColumnStretchFactor(column, 3)
        self._show_metric = show_metric

    def reset(self, recipe: str) -> None:
        """A new run begins: empty curves, plots for ``recipe``."""
        self.recipe = recipe
        self.history = RunHistory()
        for plot in self.plots.values():
            plot.clear()
        self.placeholder.hide()
        h = self.history
        self.loss.curve("batch", h.batch_loss, "batch", _pen(TRAIN_COLOR, 1.0, alpha=70), z=1)
        self.loss.curve("batch_smooth", h.batch_loss_smooth, "train (smoothed)", _pen(TRAIN_COLOR, 2.0), z=3)
        self.lr.curve("lr", h.batch_lr, "learning rate", _pen("#5b6472", 1.6))
        self._metric_group = None
        self._metric_names_seen = 0
        title = PLANNED_METRIC.get(recipe, "Metric")
        show = recipe not in NO_METRIC
        if show != self._show_metric:
            self._arrange(show_metric=show)
        if title != self._metric_title:
            self._metric_title = title
            self.metric_plot.item.setTitle(self._title(title))
            self.metric_plot.set_legend_corner("bottom" if title in RISING else "top")
        self._follow_data()
        self.set_log_scale(self.log_box.isChecked())
        self._apply_overlays()

    def _follow_data(self) -> None:
        """Auto-range: the loss plot fits both axes to its data; the metric and learning-rate plots fit only y
        and take x from the loss plot through the link. Were their x ranges automatic too, each would push its
        own range onto the loss plot through the link, which turns the loss plot's automatic x range off
        (pyqtgraph's ViewBox.linkedViewChanged) and, with clip-to-view, froze the curves at an early epoch while
        training went on."""
        self.loss.item.enableAutoRange()
        for plot in (self.metric_plot, self.lr):
            view = plot.item.getViewBox()
            view.enableAutoRange(pg.ViewBox.XAxis, False)
            view.enableAutoRange(pg.ViewBox.YAxis, True)
        for plot in self.plots.values():
            plot.unclip()

    @staticmethod
    def _title(text: str) -> str:
        return f"<span style='color:#1f2630;font-size:10pt;font-weight:600'>{text}</span>"

    # ---- data -----------------------------------------------------------------------------------------------
    def add_batch(self, event: Any) -> None:
        self.history.add_batch(event.epoch, event.batch, event.batches, event.loss, event.lr, event.losses)
        if self.recipe == "gan":
            for index, name in enumerate(("g_loss", "d_loss")):
                series = self.history.batch_parts_smooth.get(name)
                if series is not None and f"batch_{name}" not in self.metric_plot.curves:
                    color = (TRAIN_COLOR, VAL_COLOR)[index]
                    self.metric_plot.curve(f"batch_{name}", series, f"{_label(name)} (smoothed)", _pen(color, 1.8))

    def add_epoch(self, event: Any) -> None:
        self.history.add_epoch(event.epoch, event.metrics)
        h = self.history
        if "train_loss" in h.epoch and "train_loss" not in self.loss.curves:
            self.loss.curve("train_loss", h.epoch["train_loss"], "train (epoch)",
                            _pen(TRAIN_COLOR, 1.4, Qt.PenStyle.DashLine), symbol="o", color=TRAIN_COLOR, z=4)
        if "val_loss" in h.epoch and "val_loss" not in self.loss.curves:
            self.loss.curve("val_loss", h.epoch["val_loss"], "validation", _pen(VAL_COLOR, 2.0), symbol="o",
                            color=VAL_COLOR, z=5)
        if self.recipe == "gan":
            for index, name in enumerate(("train_g_loss", "train_d_loss")):
                if name in h.epoch and name not in self.metric_plot.curves:
                    color = (TRAIN_COLOR, VAL_COLOR)[index]
                    self.metric_plot.curve(name, h.epoch[name], None, _pen(color, 1.0, Qt.PenStyle.DashLine),
                                      symbol="o", color=color, z=4)
            return
        names = h.metric_names()
        if len(names) == self._metric_names_seen:
            return  # the same metrics as last epoch: the curves exist already
        self._metric_names_seen = len(names)
        group = metric_group(self.recipe, names)
        if group is None:
            return
        if self._metric_group is None or group.keys != self._metric_group.keys:
            if not self._show_metric:
                self._arrange(show_metric=True)
            self._metric_group = group
            if group.title != self._metric_title:
                self._metric_title = group.title
                self.metric_plot.item.setTitle(self._title(group.title))
                self.metric_plot.set_legend_corner("bottom" if group.title in RISING else "top")
            colors = _metric_colors(group.keys)
            for key in group.keys:
                if key in self.metric_plot.curves:
                    continue
                style = Qt.PenStyle.DashLine if key.startswith("train") else Qt.PenStyle.SolidLine
                self.metric_plot.curve(key, h.epoch[key], _label(key), _pen(colors[key], 1.8, style), symbol="o",
                                  color=colors[key])
            self._apply_overlays()

    def refresh(self, force: bool = False) -> bool:
        """Hand the curves their new data (views, no copies); True if anything changed.

        ``force`` (a pause, the end of a run) and a panel coming on screen redraw now. Otherwise redraws wait
        while repainting would take more than `PAINT_SHARE` of the GUI thread, but never more than `MAX_WAIT_S`:
        on a loaded machine the curves lag the run by well under a second instead of starving. A hidden panel
        does not redraw until it is shown. Training never waits for any of this, and no data is dropped: only
        pictures are coalesced (the controller asks again on its next tick while points wait)."""
        now = time.perf_counter()
        if not force:
            if not self.isVisible():
                return False
            # Every repaint since the last refresh counts (a refresh can cause more than one: pyqtgraph applies
            # auto-range while painting and repaints the axes it moved).
            painted = self.graphics.paint_total - self._paint_mark
            wait = min(MAX_WAIT_S, max(MIN_REFRESH_S, painted / PAINT_SHARE))
            if now - self._last_refresh < wait:
                return False
        changed = False
        for plot in self.plots.values():
            changed = plot.refresh() or changed
        if changed:
            self._last_refresh = now
            self._paint_mark = self.graphics.paint_total
            self.lr.fit_positive_range()
        return changed

    def has_undrawn_data(self) -> bool:
        """Points arrived that no curve has been given yet (the controller asks again on its next tick)."""
        return any(series.version != version for plot in self.plots.values()
                   for _item, series, version in plot.curves.values())

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.refresh(force=True)

    def point_count(self, plot: str = "loss", curve: str = "batch_smooth") -> int:
        """How many points a curve holds now (what tests and benchmarks check)."""
        entry = self.plots[plot].curves.get(curve)
        if entry is None:
            return 0
        x = entry[0].xData
        return 0 if x is None else len(x)

    def curve_names(self, plot: str) -> list[str]:
        return list(self.plots[plot].curves)

    # ---- options --------------------------------------------------------------------------------------------
    def set_log_scale(self, on: bool) -> None:
        if self.log_box.isChecked() != on:
            self.log_box.setChecked(on)
            return
        self.loss.item.setLogMode(False, on)
        if self.recipe == "gan":
            self.metric_plot.item.setLogMode(False, on)
        else:
            self.metric_plot.item.setLogMode(False, False)

    def set_earlier_runs(self, runs: list[Any]) -> None:
        """Runs to overlay (netbuilder.train.Run objects with ``metrics`` rows), newest last."""
        self._overlay_runs = list(runs)[-MAX_OVERLAYS:]
        self._apply_overlays()

    def _apply_overlays(self, *_: Any) -> None:
        if not self.compare_box.isChecked() or not self._overlay_runs:
            for plot in self.plots.values():
                plot.clear_overlays()
            return
        group = self._metric_group
        lines: dict[str, dict[bool, list[tuple[list[float], list[float]]]]] = {
            name: {False: [], True: []} for name in self.plots}
        for run in self._overlay_runs:
            rows = [r for r in getattr(run, "metrics", []) if isinstance(r, dict)]

            def column(key: str, rows: list[dict[str, Any]] = rows) -> tuple[list[float], list[float]]:
                pairs = [(float(r["epoch"]), float(r[key])) for r in rows
                         if isinstance(r.get(key), int | float) and isinstance(r.get("epoch"), int | float)]
                return [p[0] for p in pairs], [p[1] for p in pairs]

            wanted = [("loss", "train_loss", True), ("loss", "val_loss", False), ("lr", "lr", False)]
            if group is not None:
                wanted += [("metric", key, key.startswith("train")) for key in group.keys]
            for plot, key, dashed in wanted:
                xs, ys = column(key)
                if xs:
                    lines[plot][dashed].append((xs, ys))
        count = len(self._overlay_runs)
        for name, plot in self.plots.items():
            plot.set_overlays(lines[name][False], lines[name][True], count)

    def overlay_count(self) -> int:
        """How many earlier runs the loss plot shows in grey."""
        return self.loss.overlay_runs if self.loss.overlays and self.compare_box.isChecked() else 0

    # ---- zoom and pan, crosshair ----------------------------------------------------------------------------
    def _on_click(self, event: Any) -> None:
        if event.double():
            self.follow_run()

    def follow_run(self) -> None:
        """Undo any zoom or pan (double-click, or "View whole run" in a plot's menu): every plot fits the run
        again and follows new data."""
        self._follow_data()
        if self.lr.curves:
            self.lr.fit_positive_range()

    def _on_mouse(self, args: tuple[Any, ...]) -> None:
        position = args[0]
        for plot in self.plots.values():
            if plot.item.scene() is not None and plot.item.sceneBoundingRect().contains(position):
                point = plot.item.vb.mapSceneToView(position)
                self.show_crosshair(point.x(), plot)
                return
        self.hide_crosshair()

    def show_crosshair(self, x: float, plot: _Plot | str | None = None) -> str:
        """Draw the vertical line at epoch ``x`` on every plot and read the values of ``plot``'s curves there."""
        target = self.plots[plot] if isinstance(plot, str) else (plot or self.loss)
        for each in self.plots.values():
            each.crosshair.setPos(x)
            each.crosshair.show()
        values = target.values_at(x)
        log = target.item.ctrl.logYCheck.isChecked()
        parts = [f"{name} {10 ** value if log else value:.4g}" for name, value in values]
        text = f"epoch {x:.2f}" + (" · " + " · ".join(parts) if parts else "")
        self.readout.setText(text)
        return text

    def hide_crosshair(self) -> None:
        for each in self.plots.values():
            each.crosshair.hide()
        self.readout.setText("")

    # ---- export ---------------------------------------------------------------------------------------------
    def export_png(self, path: str | os.PathLike[str]) -> Path:
        """The three plots as one PNG at twice the screen resolution."""
        exporter = pg.exporters.ImageExporter(self.graphics.scene())
        width = int(max(400, self.graphics.width()) * 2)
        exporter.parameters()["width"] = width
        exporter.parameters()["antialias"] = True
        exporter.export(str(path))
        self.exported.emit(str(path))
        return Path(path)

    def export_csv(self, path: str | os.PathLike[str]) -> Path:
        self.history.write_csv(path)
        self.exported.emit(str(path))
        return Path(path)

    def _ask_png(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Export plots", "training-curves.png", "PNG image (*.png)")
        if path:
            self._export_safely(self.export_png, path)

    def _ask_csv(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "metrics.csv", "CSV table (*.csv)")
        if path:
            self._export_safely(self.export_csv, path)

    def _export_safely(self, export: Any, path: str) -> None:
        from PySide6.QtWidgets import QMessageBox

        try:
            export(path)
        except OSError as error:
            QMessageBox.warning(self, "Export failed", f"Could not write {path}: {error.strerror or error}.")

