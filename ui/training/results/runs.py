"""The list of run folders with their settings and final metrics."""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder_ui.training.results.common import RIGHT, WRONG
from netbuilder_ui.training.widgets import hint


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
