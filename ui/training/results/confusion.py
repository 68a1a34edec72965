"""The confusion matrix with per-class precision and recall, redrawn from each validation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder_ui.training.results.common import RIGHT, WRONG, LazyRender, style_plot
from netbuilder_ui.training.widgets import TRAIN_COLOR, VAL_COLOR


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
        style_plot(self.bars.getPlotItem(), "Precision and recall per class")
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
            table.setItem(r, n, self._score_item(recall[r], bold))
        for c in range(n):
            table.setItem(n, c, self._score_item(precision[c], bold))
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

    @classmethod
    def _score_item(cls, value: float, font: QFont) -> QTableWidgetItem:
        """A recall or precision cell: the share in bold, coloured by how good it is, on a pale background."""
        item = QTableWidgetItem(f"{value:.0%}")
        item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        item.setFont(font)
        item.setForeground(QBrush(QColor(cls._score_color(value))))
        item.setBackground(QBrush(QColor("#f6f8fa")))
        return item

    def clear_view(self) -> None:
        self.matrix = None
        self.lazy.clear()
        self.bars.getPlotItem().clear()
        self.bars_legend.clear()
        self.table.clear()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.summary.setText("The confusion matrix appears after the first validation of a classifier.")
