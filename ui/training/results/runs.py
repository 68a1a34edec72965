"""The Runs view: a sortable table of run folders that shows the settings that differ between them, overlays the
curves of the selected runs with a legend naming what differs, and exports the table as CSV.

The rows come from `netbuilder.experiments.compare` (the same table ``netbuilder runs --csv`` writes), so the app
and the command line never disagree about which settings differ.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.experiments import compare
from netbuilder.experiments.sweep import sweep_graph_hash
from netbuilder_ui.training.results.common import RIGHT, WRONG, style_plot, title_html
from netbuilder_ui.training.widgets import hint

# Curve colours for overlaid runs (distinct on white, colour-blind friendly order: Okabe-Ito).
RUN_COLORS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#d55e00", "#56b4e9", "#000000", "#f0e442")
PRUNED = "#8a6d00"


class _Item(QTableWidgetItem):
    """A cell that sorts by its value (numbers as numbers, missing values last), not by its text."""

    def __init__(self, text: str, key: Any):
        super().__init__(text)
        self.key = key
        self.setFlags(self.flags() & ~Qt.ItemFlag.ItemIsEditable)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.key, getattr(other, "key", None)
        if isinstance(mine, int | float) and isinstance(theirs, int | float):
            return float(mine) < float(theirs)
        if mine is None or theirs is None:
            return theirs is None and mine is not None
        return str(mine) < str(theirs)


def _cell_text(header: str, value: Any) -> str:
    if value is None:
        return ""
    if header == "date":
        return str(value)[:19].replace("T", " ")
    if header == "duration s" and isinstance(value, int | float):
        return f"{value:.1f}"
    return compare.format_value(value)


class RunsView(QWidget):
    """Every run folder under the run root (and inside sweep folders there) as a sortable table."""

    refreshRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        bar = QHBoxLayout()
        self.only_this = QCheckBox("Only this network")
        self.only_this.setChecked(True)
        self.only_this.setToolTip("Show only runs of the network as it is now (same graph hash), and the trials of "
                                 "sweeps started from it.")
        self.only_this.toggled.connect(lambda _on: self._fill())
        self.refresh_button = QPushButton("Refresh")
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save this table (the runs shown) as a CSV file.")
        self.open_button = QPushButton("Open folder")
        self.open_button.setEnabled(False)
        self.refresh_button.clicked.connect(self.refreshRequested)
        self.export_button.clicked.connect(self._ask_export)
        self.open_button.clicked.connect(self._open_folder)
        self.root_label = hint()
        for widget in (self.only_this, self.root_label):
            bar.addWidget(widget, 1 if widget is self.root_label else 0)
        for button in (self.refresh_button, self.export_button, self.open_button):
            bar.addWidget(button)
        layout.addLayout(bar)

        self.table = QTableWidget()
        self.table.setObjectName("runTable")
        self.table.setAlternatingRowColors(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.setSortingEnabled(True)
        self.table.setToolTip("Select several runs (Ctrl or Shift + click) to overlay their curves.")
        self.table.itemSelectionChanged.connect(self._on_selection)

        lower = QSplitter(Qt.Orientation.Horizontal)
        curves = QWidget()
        curves_layout = QVBoxLayout(curves)
        curves_layout.setContentsMargins(0, 0, 0, 0)
        picker = QHBoxLayout()
        picker.addWidget(QLabel("Curve:"))
        self.metric_box = QComboBox()
        self.metric_box.setObjectName("runMetric")
        self.metric_box.currentTextChanged.connect(lambda _text: self._plot_selected())
        picker.addWidget(self.metric_box, 1)
        curves_layout.addLayout(picker)
        self.plot_widget = pg.PlotWidget(background="w")
        self.plot_widget.setMinimumHeight(160)
        self.plot = self.plot_widget.getPlotItem()
        style_plot(self.plot)
        self.plot.setLabel("bottom", "epoch")
        self.legend = self.plot.addLegend(offset=(-8, 8), labelTextColor="#1f2630", labelTextSize="8pt")
        curves_layout.addWidget(self.plot_widget, 1)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setObjectName("generatedText")
        self.details.setPlaceholderText("Select a run to see its settings and final metrics.")
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)  # the comparison is a table
        lower.addWidget(curves)
        lower.addWidget(self.details)
        lower.setSizes([600, 300])

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(lower)
        splitter.setSizes([260, 260])
        layout.addWidget(splitter, 1)
        self.runs: list[Any] = []
        self.rows: list[compare.RunSummary] = []  # the runs shown, in their table order before sorting
        self.keys: list[str] = []  # the settings that differ between the runs shown
        self.graph_hash = ""
        self.header: list[str] = []
        self.curve_labels: list[str] = []  # the legend's entries, in order (tests read them)
        self._summaries: dict[tuple[str, Any], compare.RunSummary] = {}
        self._sweep_hashes: dict[str, str] = {}

    # ---- filling ----------------------------------------------------------------------------------------------
    def set_runs(self, runs: list[Any], graph_hash: str, root: str) -> None:
        self.runs = list(runs)
        self._sweep_hashes.clear()
        self.graph_hash = graph_hash
        self.root_label.setText(f"Runs are saved in {root}")
        self._fill()

    def shown_runs(self) -> list[Any]:
        if self.only_this.isChecked() and self.graph_hash:
            return [run for run in self.runs
                    if self.graph_hash in (run.graph_sha256, self._sweep_hash(run))]
        return list(self.runs)

    def _sweep_hash(self, run: Any) -> str:
        """The graph a sweep trial's sweep started from (read once per sweep folder)."""
        folder = str(run.path.parent)
        if folder not in self._sweep_hashes:
            self._sweep_hashes[folder] = sweep_graph_hash(run.path)
        return self._sweep_hashes[folder]

    def _summary(self, run: Any) -> compare.RunSummary:
        """Cached per run folder and summary: reading graph.nbg again for every refresh would be wasted."""
        key = (str(run.path), json.dumps(run.summary, sort_keys=True, default=str), len(run.metrics))
        summary = self._summaries.get(key)
        if summary is None:
            summary = self._summaries[key] = compare.summarize(run)
        return summary

    def _fill(self) -> None:
        selected = {row.name for row in self.selected_rows()}
        self.rows = [self._summary(run) for run in reversed(self.shown_runs())]  # newest first
        self.keys = compare.differing_keys(self.rows)
        header, body = compare.table(self.rows, self.keys)
        self.header = header
        table = self.table
        table.blockSignals(True)
        table.setSortingEnabled(False)
        table.clear()
        table.setColumnCount(len(header))
        table.setRowCount(len(body))
        table.setHorizontalHeaderLabels([self._title(h) for h in header])
        status_column = header.index("status")
        for row_index, (summary, line) in enumerate(zip(self.rows, body, strict=True)):
            for column, (name, value) in enumerate(zip(header, line, strict=True)):
                item = _Item(_cell_text(name, value), value)
                if column == 0:
                    item.setData(Qt.ItemDataRole.UserRole, str(summary.path))
                    item.setToolTip(str(summary.path))
                if column == status_column:
                    color = {"error": WRONG, "done": RIGHT, "pruned": PRUNED}.get(str(value))
                    if color:
                        item.setForeground(QBrush(QColor(color)))
                table.setItem(row_index, column, item)
        table.setSortingEnabled(True)
        table.resizeColumnsToContents()
        table.blockSignals(False)
        self._fill_metrics()
        if selected:
            self.select_runs([name for name in self.run_names() if name in selected])
        elif table.rowCount():
            table.selectRow(0)
        self._on_selection()

    @staticmethod
    def _title(header: str) -> str:
        """Column titles: settings without their "training." prefix, the rest capitalised."""
        if header.startswith("training."):
            return header.removeprefix("training.")
        if "." in header or "/" in header:
            return header
        return header[:1].upper() + header[1:]

    def _fill_metrics(self) -> None:
        names: list[str] = []
        for row in self.rows:
            for epoch in row.curves:
                names.extend(k for k, v in epoch.items() if k not in names and k != "epoch"
                             and isinstance(v, int | float))
        current = self.metric_box.currentText()
        self.metric_box.blockSignals(True)
        self.metric_box.clear()
        self.metric_box.addItems(names)
        preferred = current if current in names else next((m for m in ("val_loss", "train_loss") if m in names),
                                                          names[0] if names else "")
        self.metric_box.setCurrentText(preferred)
        self.metric_box.blockSignals(False)

    # ---- reading the table ------------------------------------------------------------------------------------
    def run_names(self) -> list[str]:
        """The runs' folder names in the table's current order."""
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount()) if self.table.item(r, 0)]

    def _row_of(self, table_row: int) -> compare.RunSummary | None:
        item = self.table.item(table_row, 0)
        path = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        return next((row for row in self.rows if str(row.path) == path), None)

    def selected_rows(self) -> list[compare.RunSummary]:
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()}) \
            if self.table.selectionModel() is not None else []
        return [summary for r in rows if (summary := self._row_of(r)) is not None]

    def select_runs(self, names: list[str]) -> None:
        """Select these runs (by folder name), as Ctrl+click would."""
        self.table.clearSelection()
        model = self.table.selectionModel()
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).text() in names:
                model.select(self.table.model().index(r, 0), model.SelectionFlag.Select | model.SelectionFlag.Rows)

    # ---- reacting ---------------------------------------------------------------------------------------------
    def _on_selection(self) -> None:
        rows = self.selected_rows()
        self.open_button.setEnabled(len(rows) == 1)
        self.export_button.setEnabled(bool(self.rows))
        self._show_details(rows)
        self._plot_selected()

    def _plot_selected(self) -> None:
        rows = self.selected_rows()
        metric = self.metric_box.currentText()
        self.plot.clear()
        self.legend.clear()
        self.curve_labels = []
        if not rows or not metric:
            return
        keys = compare.differing_keys(rows) if len(rows) > 1 else []
        for index, row in enumerate(rows):
            points = [(e.get("epoch"), e.get(metric)) for e in row.curves]
            points = [(float(x), float(y)) for x, y in points if isinstance(x, int | float)
                      and isinstance(y, int | float) and math.isfinite(y)]
            if not points:
                continue
            label = compare.label(row, keys) if keys else row.name
            if row.status == "pruned":
                label += " (pruned)"
            color = RUN_COLORS[index % len(RUN_COLORS)]
            xs, ys = zip(*points, strict=True)
            self.plot.plot(list(xs), list(ys), pen=pg.mkPen(color, width=2), symbol="o", symbolSize=4,
                           symbolBrush=color, symbolPen=None, name=label)
            self.curve_labels.append(label)
        self.plot.setTitle(title_html(metric))

    def _show_details(self, rows: list[compare.RunSummary]) -> None:
        if not rows:
            self.details.clear()
            return
        if len(rows) > 1:
            self.details.setPlainText(compare.compare_text(rows, full_paths=False))
            return
        row = rows[0]
        lines = [row.name, f"status: {row.status}", f"folder: {row.path}", ""]
        if row.best:
            lines.append(f"best: {row.best[2]} {compare.format_value(row.best[1])} at epoch {row.best[0]}")
        lines += ["final metrics:"] + [f"  {k}: {compare.format_value(v)}" for k, v in row.final.items()]
        wanted = ("training.recipe", "training.epochs", "training.batch_size", "training.optimizer", "training.lr",
                  "training.schedule", "training.weight_decay", "training.seed", "data.source")
        lines += ["", "settings:"] + [f"  {k.removeprefix('training.')}: {compare.format_value(row.settings[k])}"
                                      for k in wanted if k in row.settings]
        message = row.run.summary.get("message") or row.run.summary.get("note")
        if message:
            lines += ["", str(message), str(row.run.summary.get("suggestion", ""))]
        self.details.setPlainText("\n".join(lines).rstrip())

    def export_csv(self, path: str) -> None:
        """Write the table of the runs shown (OSError / SaveError when it cannot be written)."""
        compare.write_csv(path, self.rows, self.keys)

    def _ask_export(self) -> None:
        path, _filter = QFileDialog.getSaveFileName(self, "Export runs as CSV", "runs.csv", "CSV files (*.csv)")
        if not path:
            return
        try:
            self.export_csv(path)
        except Exception as error:  # noqa: BLE001 - SaveError or OSError, shown to the user in words
            QMessageBox.warning(self, "Export CSV", f"Could not write {path}: {error}")

    def _open_folder(self) -> None:
        rows = self.selected_rows()
        if len(rows) == 1:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(rows[0].path)))
