"""The Results panel: what a run learned, in pictures.

Tabs: the confusion matrix with per-class precision and recall (live, from each validation); a gallery of
validation predictions, wrong ones first; inputs next to their reconstructions (autoencoders and VAEs); the grid
of generated samples (GANs, VAEs), refreshed each epoch; generated text (language models); the layer view (a
clicked node's output on a chosen sample, its weights and gradients); and the list of runs with their settings and
final metrics. Every view is fed on the GUI thread by the controller; none of them trains or loads anything.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices, QFont, QIcon, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder_ui.training.outcomes import Gallery, Probe, Reconstructions, image_batch, tile
from netbuilder_ui.training.widgets import (
    EXTRA_COLORS,
    PANEL_STYLE,
    TRAIN_COLOR,
    VAL_COLOR,
    PixelImage,
    hint,
    to_qimage,
)

RIGHT = "#2e9e5b"
WRONG = "#d14343"
MAX_MAPS = 32


def _page() -> tuple[QWidget, QVBoxLayout]:
    page = QWidget()
    page.setObjectName("resultsPage")
    layout = QVBoxLayout(page)
    layout.setContentsMargins(10, 8, 10, 8)
    layout.setSpacing(6)
    return page, layout


def _style_plot(plot: pg.PlotItem, title: str = "") -> None:
    if title:
        plot.setTitle(f"<span style='color:#1f2630;font-size:9pt;font-weight:600'>{title}</span>")
    plot.showGrid(x=False, y=True, alpha=0.15)
    plot.hideButtons()
    for axis in ("left", "bottom"):
        ax = plot.getAxis(axis)
        ax.setPen(pg.mkPen("#c3c9d2"))
        ax.setTextPen(pg.mkPen("#5b6472"))
        ax.setStyle(tickFont=QFont("", 8))


def _colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) as RGB uint8 through viridis."""
    table = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=False)
    index = np.clip((np.nan_to_num(values) * 255).astype(np.int64), 0, 255)
    return table[index][..., :3].astype(np.uint8)


def feature_map_grid(activation: np.ndarray) -> np.ndarray:
    """C×H×W feature maps (each stretched to its own range) as one RGB grid; T×F matrices as one heat map."""
    if activation.ndim == 2:
        a = activation
        low, high = float(a.min()), float(a.max())
        return _colormap((a - low) / max(high - low, 1e-8))
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
    colored = _colormap(scaled)
    for index in range(count):
        r, c = divmod(index, columns)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top:top + height, left:left + width] = colored[index]
    return grid


class LazyRender:
    """Draw the latest data only while the view is on screen, at most ``interval`` seconds apart. Training may
    send a confusion matrix 50 times a second; a hidden view draws none of them and a visible one a few, always
    ending on the latest."""

    def __init__(self, view: QWidget, draw: Any, interval: float = 0.5):
        self.view, self.draw, self.interval = view, draw, interval
        self.pending: tuple[Any, ...] | None = None
        self.last = 0.0
        self.timer = QTimer(view)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.flush)

    def submit(self, *args: Any) -> None:
        self.pending = args
        if not self.view.isVisible():
            return
        wait = self.interval - (time.perf_counter() - self.last)
        if wait <= 0:
            self.flush()
        elif not self.timer.isActive():
            self.timer.start(int(wait * 1000) + 1)

    def flush(self) -> None:
        """Draw what is pending now (tests and showEvent call this)."""
        self.timer.stop()
        if self.pending is None:
            return
        args, self.pending = self.pending, None
        self.last = time.perf_counter()
        self.draw(*args)

    def clear(self) -> None:
        self.pending = None
        self.timer.stop()


# ---------------------------------------------------------------------------------------------------------------


class ConfusionView(QWidget):
    """Rows: true class; columns: predicted class; each cell shaded by its share of the row. The last column is
    each class's recall, the last row its precision."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.summary = QLabel("The confusion matrix appears after the first validation of a classifier.")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.table.setShowGrid(False)
        self.table.horizontalHeader().setDefaultSectionSize(44)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.table.setToolTip("Rows: the true class. Columns: what the network predicted.")
        self.bars = pg.PlotWidget(background="w")
        _style_plot(self.bars.getPlotItem(), "Precision and recall per class")
        self.bars.setMouseEnabled(False, False)
        self.bars.setMenuEnabled(False)
        self.bars.getPlotItem().setYRange(0, 1.05, padding=0)
        self.bars_legend = self.bars.addLegend(offset=(-8, 4), labelTextSize="8pt", colCount=2,
                                               brush=pg.mkBrush(255, 255, 255, 230), pen=pg.mkPen("#e1e4e9"))
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(self.bars)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)
        self.matrix: np.ndarray | None = None
        self.class_names: list[str] = []
        self.lazy = LazyRender(self, self._draw)

    def set_confusion(self, matrix: list[list[int]], class_names: list[str] | None, epoch: int | None) -> None:
        """Keep the latest matrix; it is drawn when (and while) the view is on screen."""
        self.matrix = np.asarray(matrix, dtype=np.int64)
        self.lazy.submit(matrix, class_names, epoch)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.lazy.flush()

    def _draw(self, matrix: list[list[int]], class_names: list[str] | None, epoch: int | None) -> None:
        m = np.asarray(matrix, dtype=np.int64)
        self.matrix = m
        n = m.shape[0]
        names = list(class_names or [str(i) for i in range(n)])[:n]
        names += [str(i) for i in range(len(names), n)]
        self.class_names = names
        rows = m.sum(axis=1)
        cols = m.sum(axis=0)
        recall = np.divide(np.diag(m), rows, out=np.zeros(n), where=rows > 0)
        precision = np.divide(np.diag(m), cols, out=np.zeros(n), where=cols > 0)
        total = int(m.sum())
        accuracy = float(np.trace(m)) / total if total else 0.0
        self.summary.setText(
            f"<b>Validation{f', epoch {epoch}' if epoch else ''}</b> · {total:,} samples · accuracy "
            f"<b>{accuracy:.1%}</b> · macro precision {precision.mean():.1%} · macro recall {recall.mean():.1%}. "
            "Rows are the true class, columns the prediction.")
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        table = self.table
        table.clear()
        table.setRowCount(n + 1)
        table.setColumnCount(n + 1)
        short = [name if len(name) <= 8 else name[:7] + "…" for name in names]
        table.setHorizontalHeaderLabels(short + ["Recall"])
        table.setVerticalHeaderLabels(short + ["Precision"])
        bold = QFont()
        bold.setBold(True)
        for r in range(n):
            for c in range(n):
                value = int(m[r, c])
                share = value / rows[r] if rows[r] else 0.0
                item = QTableWidgetItem(str(value) if value else "")
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                item.setBackground(QBrush(self._shade(share, r == c)))
                item.setForeground(QBrush(QColor("#ffffff" if share > 0.55 else "#1f2630")))
                item.setToolTip(f"true {names[r]}, predicted {names[c]}: {value} ({share:.0%} of {names[r]})")
                table.setItem(r, c, item)
            item = QTableWidgetItem(f"{recall[r]:.0%}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setFont(bold)
            item.setForeground(QBrush(QColor(self._score_color(recall[r]))))
            item.setBackground(QBrush(QColor("#f6f8fa")))
            table.setItem(r, n, item)
        for c in range(n):
            item = QTableWidgetItem(f"{precision[c]:.0%}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            item.setFont(bold)
            item.setForeground(QBrush(QColor(self._score_color(precision[c]))))
            item.setBackground(QBrush(QColor("#f6f8fa")))
            table.setItem(n, c, item)
        corner = QTableWidgetItem(f"{accuracy:.0%}")
        corner.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        corner.setFont(bold)
        corner.setToolTip("Accuracy")
        corner.setBackground(QBrush(QColor("#eef1f5")))
        table.setItem(n, n, corner)
        table.setColumnWidth(n, 64)
        self.precision, self.recall = precision, recall
        plot = self.bars.getPlotItem()
        plot.clear()
        self.bars_legend.clear()
        x = np.arange(n)
        precision_bars = pg.BarGraphItem(x=x - 0.19, height=precision, width=0.36, brush=pg.mkBrush(TRAIN_COLOR),
                                         pen=pg.mkPen(None), name="precision")
        recall_bars = pg.BarGraphItem(x=x + 0.19, height=recall, width=0.36, brush=pg.mkBrush(VAL_COLOR),
                                      pen=pg.mkPen(None), name="recall")
        plot.addItem(precision_bars)  # named items join the legend by themselves
        plot.addItem(recall_bars)
        step = max(1, n // 14)
        plot.getAxis("bottom").setTicks([[(i, short[i]) for i in range(0, n, step)]])
        plot.getAxis("left").setTicks([[(v / 4, f"{v * 25}%") for v in range(5)]])
        plot.setXRange(-0.6, n - 0.4, padding=0)
        plot.setYRange(0, 1.25, padding=0)
        width = self.table.verticalHeader().width() + sum(self.table.columnWidth(c) for c in range(n + 1))
        self.table.setMinimumWidth(min(width + 6, 760))

    @staticmethod
    def _shade(share: float, diagonal: bool) -> QColor:
        base = QColor(TRAIN_COLOR if diagonal else WRONG)
        if share <= 0:
            return QColor("#ffffff")
        strength = 0.12 + 0.88 * share if diagonal else 0.15 + 0.85 * min(1.0, share * 2.5)
        white = QColor("#ffffff")
        return QColor(int(white.red() + (base.red() - white.red()) * strength),
                      int(white.green() + (base.green() - white.green()) * strength),
                      int(white.blue() + (base.blue() - white.blue()) * strength))

    @staticmethod
    def _score_color(value: float) -> str:
        return RIGHT if value >= 0.9 else "#9a6400" if value >= 0.7 else WRONG

    def clear_view(self) -> None:
        self.matrix = None
        self.lazy.clear()
        self.bars.getPlotItem().clear()
        self.bars_legend.clear()
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.summary.setText("The confusion matrix appears after the first validation of a classifier.")


class GalleryView(QWidget):
    """Validation predictions after a run: image tiles with a green (right) or red (wrong) frame, or a table."""

    ICON = 72

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.summary = QLabel("Sample predictions appear when a classifier has finished training.")
        self.summary.setObjectName("hint")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.stack = QStackedWidget()
        self.list = QListWidget()
        self.list.setObjectName("gallery")
        self.list.setViewMode(QListView.ViewMode.IconMode)
        self.list.setIconSize(QSize(self.ICON, self.ICON))
        self.list.setGridSize(QSize(self.ICON + 30, self.ICON + 40))
        self.list.setResizeMode(QListView.ResizeMode.Adjust)
        self.list.setMovement(QListView.Movement.Static)
        self.list.setWordWrap(True)
        self.list.setSpacing(2)
        self.list.setUniformItemSizes(True)
        self.table = QTableWidget()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.stack.addWidget(self.list)
        self.stack.addWidget(self.table)
        layout.addWidget(self.summary)
        layout.addWidget(self.stack, 1)
        self.gallery: Gallery | None = None

    def set_gallery(self, gallery: Gallery) -> None:
        self.gallery = gallery
        wrong = gallery.total - gallery.correct
        order = (f"the {wrong} wrong predictions first (most confident first), then the right ones the network "
                 "was least sure of" if wrong else "the right predictions the network was least sure of first")
        self.summary.setText(
            f"<b>{gallery.correct:,} of {gallery.total:,}</b> validation samples right "
            f"({gallery.correct / max(1, gallery.total):.1%}). Showing {len(gallery.items)}: {order}.")
        if gallery.images is not None:
            self._fill_icons(gallery)
            self.stack.setCurrentWidget(self.list)
        else:
            self._fill_table(gallery)
            self.stack.setCurrentWidget(self.table)

    def _fill_icons(self, gallery: Gallery) -> None:
        assert gallery.images is not None
        self.list.clear()
        for item in gallery.items:
            rgb = tile(gallery.images[item.index:item.index + 1], 1, pad=0)
            pixmap = QPixmap(self.ICON, self.ICON)
            pixmap.fill(QColor("#ffffff"))
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
            painter.drawImage(pixmap.rect().adjusted(4, 4, -4, -4), to_qimage(rgb))
            painter.setPen(QPen(QColor(RIGHT if item.correct else WRONG), 4))
            painter.drawRect(pixmap.rect().adjusted(2, 2, -2, -2))
            painter.end()
            text = f"{item.true} → {item.predicted}\n{item.confidence:.0%}"
            entry = QListWidgetItem(QIcon(pixmap), text)
            entry.setToolTip(f"Validation sample {item.index + 1}: true {item.true}, predicted {item.predicted} "
                             f"with {item.confidence:.1%} (true class: {item.true_probability:.1%}).")
            entry.setForeground(QBrush(QColor(WRONG if not item.correct else "#28303b")))
            self.list.addItem(entry)

    def _fill_table(self, gallery: Gallery) -> None:
        table = self.table
        features = gallery.feature_names or []
        width = min(6, len(gallery.items[0].features) if gallery.items and gallery.items[0].features is not None
                    else 0)
        headers = ["#", "True", "Predicted", "Confidence"] + [
            (features[i] if i < len(features) else f"x{i}") for i in range(width)]
        table.clear()
        table.setColumnCount(len(headers))
        table.setRowCount(len(gallery.items))
        table.setHorizontalHeaderLabels(headers)
        for row, item in enumerate(gallery.items):
            values = [str(item.index + 1), item.true, item.predicted, f"{item.confidence:.0%}"]
            if item.features is not None:
                values += [f"{float(v):.3g}" for v in item.features[:width]]
            for col, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if col == 2:
                    cell.setForeground(QBrush(QColor(RIGHT if item.correct else WRONG)))
                table.setItem(row, col, cell)
        table.resizeColumnsToContents()

    def clear_view(self) -> None:
        self.gallery = None
        self.list.clear()
        self.table.clear()
        self.summary.setText("Sample predictions appear when a classifier has finished training.")


class ReconstructionView(QWidget):
    """Inputs (top) and what the autoencoder makes of them (bottom); vectors as a line plot per sample."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = hint("Reconstructions appear when an autoencoder or VAE has finished training.")
        self.image = PixelImage()
        self.plot = pg.PlotWidget(background="w")
        _style_plot(self.plot.getPlotItem(), "Input and reconstruction")
        self.plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.sample = QSpinBox()
        self.sample.setPrefix("Sample ")
        self.sample.valueChanged.connect(self._draw_vector)
        layout.addWidget(self.summary)
        layout.addWidget(self.sample, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.plot, 1)
        self.image.hide()
        self.plot.hide()
        self.sample.hide()
        self.data: Reconstructions | None = None

    def set_reconstructions(self, data: Reconstructions) -> None:
        self.data = data
        count = data.inputs.shape[0]
        if data.images_in is not None and data.images_out is not None:
            both = np.concatenate([data.images_in, data.images_out])
            self.image.set_array(tile(both, columns=count, pad=1))
            self.summary.setText(f"Top: {count} validation inputs. Bottom: what '{data.output_name}' reconstructs "
                                 "from each.")
            self.image.show()
            self.plot.hide()
            self.sample.hide()
        else:
            self.summary.setText(f"{count} validation samples and their reconstruction by '{data.output_name}'.")
            self.sample.setRange(1, count)
            self.image.hide()
            self.plot.show()
            self.sample.show()
            self._draw_vector()

    def _draw_vector(self, *_: Any) -> None:
        if self.data is None or self.data.images_in is not None:
            return
        index = self.sample.value() - 1
        x = self.data.inputs[index].reshape(-1)
        y = self.data.outputs[index].reshape(-1)
        plot = self.plot.getPlotItem()
        plot.clear()
        plot.plot(np.arange(x.size), x, pen=pg.mkPen(TRAIN_COLOR, width=2), name="input")
        plot.plot(np.arange(y.size), y, pen=pg.mkPen(VAL_COLOR, width=2, style=Qt.PenStyle.DashLine),
                  name="reconstruction")

    def clear_view(self) -> None:
        self.data = None
        self.image.set_array(None)
        self.image.hide()
        self.plot.hide()
        self.sample.hide()
        self.summary.setText("Reconstructions appear when an autoencoder or VAE has finished training.")


class GeneratedView(QWidget):
    """The latest image grids a run generates (one per kind: GAN samples, VAE samples, reconstructions)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(12)
        self.placeholder = hint("Generated samples appear after each epoch of a GAN or VAE.")
        self.layout_.addWidget(self.placeholder)
        self.grids: dict[str, tuple[QLabel, PixelImage]] = {}
        self.pending: dict[str, tuple[int, np.ndarray, str]] = {}
        self.lazy = LazyRender(self, self._draw, 0.25)
        self.last_epoch = 0
        self.updates = 0

    def add_samples(self, epoch: int, images: Any, caption: str) -> None:
        """Keep the latest grid of each kind; grids are drawn when (and while) the view is on screen."""
        array = images.detach().float().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
        if array.ndim != 4:
            return
        key = caption.split(":")[0].split(" from ")[-1] if caption else "samples"
        self.pending[key] = (epoch, array, caption)
        self.last_epoch = epoch
        self.updates += 1
        self.lazy.submit()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.lazy.flush()

    def _draw(self) -> None:
        pending, self.pending = self.pending, {}
        for key, (epoch, array, caption) in pending.items():
            self._draw_grid(key, epoch, array, caption)

    def _draw_grid(self, key: str, epoch: int, array: np.ndarray, caption: str) -> None:
        if key not in self.grids:
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(4)
            title = QLabel()
            title.setObjectName("hint")
            title.setWordWrap(True)
            picture = PixelImage()
            column.addWidget(title)
            column.addWidget(picture, 1)
            self.layout_.addWidget(box, 1)
            self.grids[key] = (title, picture)
        self.placeholder.hide()
        title, picture = self.grids[key]
        columns = math.ceil(math.sqrt(array.shape[0])) if "top:" not in caption else array.shape[0] // 2
        picture.set_array(tile(np.clip(array, 0, 1), columns=max(1, columns), pad=1))
        title.setText(f"<b>Epoch {epoch}</b> · {caption}")

    def grid_image(self) -> Any:
        self.lazy.flush()
        self._draw()
        for _title, picture in self.grids.values():
            return picture.image()
        return None

    def clear_view(self) -> None:
        for title, picture in self.grids.values():
            title.parent().deleteLater()
            del picture
        self.grids.clear()
        self.pending.clear()
        self.lazy.clear()
        self.placeholder.show()
        self.last_epoch = 0
        self.updates = 0


class TextView(QWidget):
    """Text a language model writes after each epoch, newest first."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = hint("A language model writes a sample of text here after each epoch.")
        self.text = QPlainTextEdit()
        self.text.setObjectName("generatedText")
        self.text.setReadOnly(True)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        self.entries: list[str] = []
        self.latest_epoch = 0
        self.lazy = LazyRender(self, self._draw, 0.5)

    def add_text(self, epoch: int, texts: list[str], caption: str) -> None:
        body = "\n\n".join(str(t) for t in texts)
        self.entries.insert(0, f"— Epoch {epoch} ({caption}) —\n{body}")
        del self.entries[20:]
        self.latest_epoch = epoch
        self.lazy.submit()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.lazy.flush()

    def _draw(self) -> None:
        self.text.setPlainText("\n\n".join(self.entries))
        self.summary.setText(f"Latest: epoch {self.latest_epoch}. Newest first.")

    def clear_view(self) -> None:
        self.entries.clear()
        self.lazy.clear()
        self.text.clear()
        self.summary.setText("A language model writes a sample of text here after each epoch.")


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
        _style_plot(self.bars.getPlotItem(), "Output")
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
            _style_plot(widget.getPlotItem())
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
            plot.setTitle(f"<span style='color:#1f2630;font-size:9pt;font-weight:600'>Output ({values.size} "
                          "values)</span>")
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


class RunsView(QWidget):
    """Every run folder under the run root: status, recipe, data, epochs and final metrics; details below."""

    refreshRequested = Signal()

    COLUMNS = ("Run", "Status", "Recipe", "Data", "Epochs", "Train loss", "Val loss", "Metric", "Created")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        bar = QHBoxLayout()
        self.only_this = QCheckBox("Only this network")
        self.only_this.setChecked(True)
        self.only_this.setToolTip("Show only runs of the network as it is now (same graph hash).")
        self.only_this.toggled.connect(lambda _on: self._fill())
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open folder")
        self.open_button.setEnabled(False)
        self.refresh_button.clicked.connect(self.refreshRequested)
        self.open_button.clicked.connect(self._open_folder)
        self.root_label = hint()
        bar.addWidget(self.only_this)
        bar.addWidget(self.root_label, 1)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.open_button)
        layout.addLayout(bar)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.tree = QTreeWidget()
        self.tree.setObjectName("runList")
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.currentItemChanged.connect(self._on_current)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setObjectName("generatedText")
        self.details.setPlaceholderText("Select a run to see its settings and final metrics.")
        splitter.addWidget(self.tree)
        splitter.addWidget(self.details)
        splitter.setSizes([700, 300])
        layout.addWidget(splitter, 1)
        self.runs: list[Any] = []
        self.graph_hash = ""

    def set_runs(self, runs: list[Any], graph_hash: str, root: str) -> None:
        self.runs = list(runs)
        self.graph_hash = graph_hash
        self.root_label.setText(f"Runs are saved in {root}")
        self._fill()

    def shown_runs(self) -> list[Any]:
        if self.only_this.isChecked() and self.graph_hash:
            return [run for run in self.runs if run.graph_sha256 == self.graph_hash]
        return list(self.runs)

    def _fill(self) -> None:
        self.tree.clear()
        for run in reversed(self.shown_runs()):
            metrics = run.final_metrics
            metric_name, metric = _headline_metric(metrics)
            created = str(run.record.get("created", ""))[:19].replace("T", " ")
            values = [run.name, run.status, str(run.record.get("recipe", "")),
                      str((run.record.get("data") or {}).get("id", "")), str(len(run.metrics)),
                      _fmt(metrics.get("train_loss")), _fmt(metrics.get("val_loss")),
                      f"{metric_name} {_fmt(metric, metric_name)}" if metric_name else "", created]
            item = QTreeWidgetItem(values)
            item.setData(0, Qt.ItemDataRole.UserRole, str(run.path))
            if run.status == "error":
                item.setForeground(1, QBrush(QColor(WRONG)))
            elif run.status == "done":
                item.setForeground(1, QBrush(QColor(RIGHT)))
            self.tree.addTopLevelItem(item)
        for column in range(len(self.COLUMNS)):
            self.tree.resizeColumnToContents(column)
        if self.tree.topLevelItemCount():
            self.tree.setCurrentItem(self.tree.topLevelItem(0))
        else:
            self.details.clear()

    def run_names(self) -> list[str]:
        return [self.tree.topLevelItem(i).text(0) for i in range(self.tree.topLevelItemCount())]

    def _selected_run(self) -> Any:
        item = self.tree.currentItem()
        if item is None:
            return None
        path = item.data(0, Qt.ItemDataRole.UserRole)
        return next((run for run in self.runs if str(run.path) == path), None)

    def _on_current(self, *_: Any) -> None:
        run = self._selected_run()
        self.open_button.setEnabled(run is not None)
        if run is None:
            self.details.clear()
            return
        config = dict(run.record.get("config") or {})
        keys = ("recipe", "epochs", "batch_size", "optimizer", "lr", "schedule", "weight_decay", "grad_clip",
                "device", "seed")
        summary = {key: config.get(key) for key in keys if key in config}
        data = config.get("data") or {}
        lines = [f"{run.name}", f"status: {run.status}", f"folder: {run.path}", "",
                 "settings:", json.dumps(summary, indent=2), "", f"data: {json.dumps(data)}", "",
                 "final metrics:", json.dumps({k: round(v, 6) if isinstance(v, float) else v
                                               for k, v in run.final_metrics.items()}, indent=2)]
        message = run.summary.get("message")
        if message:
            lines += ["", f"error: {message}", str(run.summary.get("suggestion", ""))]
        self.details.setPlainText("\n".join(lines))

    def _open_folder(self) -> None:
        run = self._selected_run()
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.path)))


def _headline_metric(metrics: dict[str, Any]) -> tuple[str, Any]:
    for key in ("val_accuracy", "val_r2", "val_perplexity", "val_mae", "train_g_loss"):
        if key in metrics:
            return key.replace("val_", "").replace("train_", ""), metrics[key]
    return "", None


def _fmt(value: Any, name: str = "") -> str:
    if not isinstance(value, int | float):
        return ""
    if name == "accuracy":
        return f"{value:.1%}"
    return f"{value:.4g}"


class ResultsPanel(QWidget):
    """The tabs of the Results dock; the controller shows the tabs that apply to the run's recipe."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("resultsPage")
        self.setStyleSheet(PANEL_STYLE)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("resultsTabs")
        self.tabs.setDocumentMode(True)
        layout.addWidget(self.tabs)
        self.confusion = ConfusionView()
        self.gallery = GalleryView()
        self.reconstructions = ReconstructionView()
        self.generated = GeneratedView()
        self.text = TextView()
        self.layer = LayerView()
        self.runs = RunsView()
        self.pages: dict[str, QWidget] = {}
        for key, title, view in (("confusion", "Confusion matrix", self.confusion),
                                 ("gallery", "Predictions", self.gallery),
                                 ("reconstructions", "Reconstructions", self.reconstructions),
                                 ("generated", "Generated", self.generated),
                                 ("text", "Generated text", self.text),
                                 ("layer", "Layer", self.layer),
                                 ("runs", "Runs", self.runs)):
            page, page_layout = _page()
            page_layout.addWidget(view)
            # Scrolled, so a small dock (a laptop screen, a user's layout) shows part of a view instead of
            # forcing the whole window to grow to the largest view's minimum size.
            scroll = QScrollArea()
            scroll.setObjectName("resultsScroll")
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QFrame.Shape.NoFrame)
            scroll.setWidget(page)
            self.tabs.addTab(scroll, title)
            self.pages[key] = scroll
        self.show_tabs_for("")

    def show_tabs_for(self, recipe: str) -> None:
        """Only the tabs that mean something for ``recipe`` ("" = before any run: layer view and runs)."""
        visible = {"layer", "runs"}
        if recipe in ("classification", "sequence_classification"):
            visible |= {"confusion", "gallery"}
        elif recipe in ("autoencoder", "vae"):
            visible |= {"reconstructions"}  # "generated" joins when the run sends image samples
        elif recipe == "gan":
            visible |= {"generated"}
        elif recipe == "language_model":
            visible |= {"text"}
        for key, page in self.pages.items():
            self.tabs.setTabVisible(self.tabs.indexOf(page), key in visible)
        if not self.tabs.isTabVisible(self.tabs.currentIndex()):
            for key in ("confusion", "generated", "text", "reconstructions", "runs"):
                if key in visible:
                    self.show_page(key)
                    break

    def reveal(self, key: str) -> None:
        """Make a tab visible (e.g. the first generated images of a VAE trained on image data)."""
        self.tabs.setTabVisible(self.tabs.indexOf(self.pages[key]), True)

    def show_page(self, key: str) -> None:
        self.tabs.setCurrentWidget(self.pages[key])

    def current_page(self) -> str:
        widget = self.tabs.currentWidget()
        return next((key for key, page in self.pages.items() if page is widget), "")

    def image_of_grid(self) -> Any:
        return self.generated.grid_image()

    def reset(self) -> None:
        for view in (self.confusion, self.gallery, self.reconstructions, self.generated, self.text):
            view.clear_view()


__all__ = ["ConfusionView", "GalleryView", "GeneratedView", "LayerView", "ReconstructionView", "ResultsPanel",
           "RunsView", "TextView", "feature_map_grid", "image_batch"]
