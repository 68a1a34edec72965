"""The Sweep panel: search hyper-parameters with Optuna from the app, as ``netbuilder sweep`` does.

The space is a list of ``name = values`` rows in the CLI's ``--param`` syntax (checked when Start is pressed, with
the first bad row named). The sweep runs on a background thread (`BackgroundTask`); its plain events go through a
queue that a GUI timer drains, so the trial table, the best-so-far plot and the parameter-importance plot update
live on the GUI thread. Cancel stops the running trial after its current batch and starts no other. Every trial
is an ordinary run folder in a sweep folder under the run root, so the Runs view lists and compares them.
"""

from __future__ import annotations

import contextlib
import queue
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.document.model import Document
from netbuilder.experiments import sweep as sweeps
from netbuilder.experiments.space import Dimension, SpaceError, parse_space
from netbuilder_ui.background import BackgroundTask
from netbuilder_ui.training.results.common import RIGHT, WRONG, style_plot, title_html
from netbuilder_ui.training.widgets import PANEL_STYLE, hint

DEFAULT_SPACE = (("lr", "1e-4..1e-1:log"), ("batch_size", "32,64,128"))
STATE_COLORS = {"complete": RIGHT, "pruned": "#8a6d00", "failed": WRONG, "running": "#2f6fde"}
POLL_MS = 100


def snapshot(document: Document) -> Document:
    """A copy of the document for the worker thread (the user may go on editing the original)."""
    from netbuilder.io import document_from_dict, document_to_dict

    copy = document_from_dict(document_to_dict(document))
    copy.path = document.path
    return copy


class SweepPanel(QDialog):
    """Space, options, Start/Cancel, live trial table, best-so-far and importance plots, "Open best"."""

    openRequested = Signal(str)  # the path of a document to open (the best trial's network)
    sweepEnded = Signal()

    def __init__(self, document_source: Callable[[], Document], run_root: Callable[[], Path],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Sweep hyper-parameters")
        self.setObjectName("sweepPanel")
        self.setStyleSheet(PANEL_STYLE)
        self.resize(980, 640)
        self._document_source = document_source
        self._run_root = run_root
        self.sweep: sweeps.Sweep | None = None
        self.task: BackgroundTask | None = None
        self.dims: list[Dimension] = []
        self.sweep_result: sweeps.SweepResult | None = None
        self.rows: dict[int, dict[str, Any]] = {}  # trial number -> its row's data
        self.importance: dict[str, float] = {}
        self._events: queue.Queue[Any] = queue.Queue()
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._drain)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        layout.addLayout(top)

        # ---- the space ----------------------------------------------------------------------------------------
        space_box = QVBoxLayout()
        space_box.addWidget(QLabel("<b>Search space</b>"))
        self.space = QTableWidget(0, 2)
        self.space.setObjectName("sweepSpace")
        self.space.setHorizontalHeaderLabels(["Setting or layer.parameter", "Values"])
        self.space.horizontalHeader().setStretchLastSection(True)
        self.space.setColumnWidth(0, 190)
        self.space.verticalHeader().setVisible(False)
        self.space.setMinimumHeight(110)
        space_box.addWidget(self.space, 1)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add")
        self.remove_button = QPushButton("Remove")
        self.add_button.clicked.connect(lambda: self.add_row("", ""))
        self.remove_button.clicked.connect(self._remove_row)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        space_box.addLayout(buttons)
        syntax = hint("Values: LOW..HIGH (add :log for a log scale) or A,B,C. Names: any training setting (lr, "
                      "batch_size, optimizer, dropout, data.val_fraction) or a layer's parameter as node.param "
                      "(hidden1.units).")
        syntax.setWordWrap(True)
        space_box.addWidget(syntax)
        top.addLayout(space_box, 3)

        # ---- options and controls -----------------------------------------------------------------------------
        options = QFormLayout()
        self.trials = QSpinBox()
        self.trials.setRange(1, 10_000)
        self.trials.setValue(20)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1_000_000)
        self.epochs.setToolTip("Epochs of every trial (the pruner may stop a trial earlier).")
        self.pruner = QComboBox()
        self.pruner.addItem("Median (stop trials worse than the median)", "median")
        self.pruner.addItem("None (run every trial to the end)", "none")
        self.metric_edit = QLineEdit()
        self.metric_edit.setPlaceholderText("val_loss")
        self.metric_edit.setToolTip("The metric to optimise; smaller is better unless its name says accuracy, f1, "
                               "precision, recall or r2.")
        self.jobs = QSpinBox()
        self.jobs.setRange(1, 64)
        self.jobs.setToolTip("Trials trained at the same time.")
        options.addRow("Trials", self.trials)
        options.addRow("Epochs per trial", self.epochs)
        options.addRow("Pruner", self.pruner)
        options.addRow("Metric", self.metric_edit)
        options.addRow("Parallel trials", self.jobs)
        controls = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primaryButton")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("dangerButton")
        self.cancel_button.setEnabled(False)
        self.open_best_button = QPushButton("Open best as a network")
        self.open_best_button.setEnabled(False)
        self.open_best_button.setToolTip("Open the document with the best trial's values.")
        self.start_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_best_button.clicked.connect(self.open_best)
        for button in (self.start_button, self.cancel_button, self.open_best_button):
            controls.addWidget(button)
        right = QVBoxLayout()
        right.addLayout(options)
        right.addLayout(controls)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m trials")
        self.progress.setValue(0)
        right.addWidget(self.progress)
        self.status = QLabel("Set the space, then Start. Closing this window does not stop a sweep; Cancel does.")
        self.status.setObjectName("sweepStatus")
        self.status.setWordWrap(True)
        right.addWidget(self.status)
        right.addStretch(1)
        top.addLayout(right, 2)

        # ---- results ------------------------------------------------------------------------------------------
        lower = QSplitter(Qt.Orientation.Horizontal)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName("sweepTrials")
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        lower.addWidget(self.table)
        plots = QWidget()
        plots_layout = QVBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        self.best_plot_widget = pg.PlotWidget(background="w")
        self.best_plot = self.best_plot_widget.getPlotItem()
        style_plot(self.best_plot, "Best so far")
        self.best_plot.setLabel("bottom", "trial")
        self.importance_widget = pg.PlotWidget(background="w")
        self.importance_plot = self.importance_widget.getPlotItem()
        style_plot(self.importance_plot, "Parameter importance")
        self.importance_plot.getAxis("left").setStyle(tickTextWidth=110, autoExpandTextSpace=True)
        self._draw_importance()
        plots_layout.addWidget(self.best_plot_widget, 3)
        plots_layout.addWidget(self.importance_widget, 2)
        lower.addWidget(plots)
        lower.setSizes([560, 420])
        layout.addWidget(lower, 1)

        for name, values in DEFAULT_SPACE:
            self.add_row(name, values)
        self.load_defaults()

    # ---- the space ----------------------------------------------------------------------------------------------
    def add_row(self, name: str, values: str) -> None:
        row = self.space.rowCount()
        self.space.insertRow(row)
        self.space.setItem(row, 0, QTableWidgetItem(name))
        self.space.setItem(row, 1, QTableWidgetItem(values))

    def _remove_row(self) -> None:
        rows = sorted({index.row() for index in self.space.selectedIndexes()}, reverse=True) or \
            ([self.space.rowCount() - 1] if self.space.rowCount() else [])
        for row in rows:
            self.space.removeRow(row)

    def set_space(self, texts: list[str]) -> None:
        """Replace the space with ``--param`` texts (``name=values``)."""
        self.space.setRowCount(0)
        for text in texts:
            name, _sep, values = text.partition("=")
            self.add_row(name.strip(), values.strip())

    def space_texts(self) -> list[str]:
        texts = []
        for row in range(self.space.rowCount()):
            name = (self.space.item(row, 0).text() if self.space.item(row, 0) else "").strip()
            values = (self.space.item(row, 1).text() if self.space.item(row, 1) else "").strip()
            if name or values:
                texts.append(f"{name}={values}")
        return texts

    def load_defaults(self) -> None:
        """Epochs and metric from the document's training settings."""
        from netbuilder.train.config import ConfigError, TrainConfig

        try:
            config = TrainConfig.from_settings(self._document_source().settings)
        except ConfigError:
            return
        self.epochs.setValue(config.epochs)
        self.metric_edit.setPlaceholderText(config.early_stopping.monitor or "val_loss")

    # ---- running ------------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.task is not None and self.task.running

    def start(self) -> bool:
        """Check the space and start the sweep in the background; False (with the reason shown) if it cannot."""
        if self.running:
            return False
        document = snapshot(self._document_source())
        training = document.settings.get("training")
        training = dict(training) if isinstance(training, dict) else {}
        training["epochs"] = self.epochs.value()
        document.settings["training"] = training
        try:
            self.dims = parse_space(self.space_texts(), document)
        except SpaceError as error:
            self._show_status(str(error), WRONG)
            return False
        options = sweeps.SweepOptions(trials=self.trials.value(), jobs=self.jobs.value(),
                                      pruner=self.pruner.currentData(), metric=self.metric_edit.text().strip() or None,
                                      startup_trials=min(5, max(1, self.trials.value() // 4)))
        name = Path(document.path).stem if document.path else (document.info.title or "network")
        folder = sweeps.new_sweep_folder(self._run_root(), f"sweep-{name}")
        try:
            self.sweep = sweeps.Sweep(document, self.dims, folder, options, on_event=self._on_worker_event)
        except sweeps.SweepError as error:
            self._show_status(str(error), WRONG)
            return False
        self.sweep_result = None
        self.rows = {}
        self.importance = {}
        self._setup_table()
        self.best_plot.clear()
        self.importance_plot.clear()
        self.progress.setRange(0, options.trials)
        self.progress.setValue(0)
        self.open_best_button.setEnabled(False)
        sweep = self.sweep
        self.task = BackgroundTask(lambda _step: sweep.run(), name="netbuilder-sweep", parent=self)
        self.task.succeeded.connect(self._on_finished)
        self.task.failed.connect(lambda error: self._show_status(f"The sweep stopped: {error}", WRONG))
        self.task.ended.connect(self._on_ended)
        self._set_running(True)
        self._show_status(f"Sweeping {', '.join(d.name for d in self.dims)} in {folder}", "#1f2630")
        self.task.start()
        self._timer.start()
        return True

    def cancel(self) -> None:
        """Stop the running trial after its current batch; start no other."""
        if self.sweep is not None and self.running:
            self.sweep.stop()
            self._show_status("Cancelling after the current batch…", "#1f2630")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the sweep ends and show everything it reported (tests)."""
        if self.task is None:
            return True
        ended = self.task.wait(timeout_s)
        self._drain()
        return ended

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        for widget in (self.space, self.add_button, self.remove_button, self.trials, self.epochs, self.pruner,
                       self.metric_edit, self.jobs):
            widget.setEnabled(not running)

    def _on_finished(self, result: sweeps.SweepResult) -> None:
        self.sweep_result = result
        self._drain()
        best = result.best
        counts = f"{result.count('complete')} complete, {result.count('pruned')} pruned, " \
                 f"{result.count('failed')} failed"
        if best is None:
            self._show_status(f"No trial completed ({counts}).", WRONG)
        else:
            values = ", ".join(f"{k}={_fmt(v)}" for k, v in best["params"].items())
            self._show_status(f"{'Cancelled' if result.stopped else 'Done'}: {counts}. Best: trial "
                              f"{best['number']}, {result.metric} {_fmt(best['value'])} ({values}).", RIGHT)
        self.open_best_button.setEnabled(best is not None)

    def _on_ended(self) -> None:
        self._timer.stop()
        self._drain()
        self._set_running(False)
        self.sweepEnded.emit()

    def _show_status(self, text: str, color: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {color};")

    # ---- events ---------------------------------------------------------------------------------------------------
    def _on_worker_event(self, event: Any) -> None:
        """On the sweep's thread: queue the event; after a trial, also Optuna's importances (fANOVA takes a
        moment, which the GUI thread must not spend)."""
        self._events.put(event)
        if isinstance(event, sweeps.TrialEnded) and self.sweep is not None and self.sweep.study is not None:
            with contextlib.suppress(Exception):  # a failed estimate leaves the last bars on screen
                self._events.put(_Importances(sweeps.importances(self.sweep.study)))

    def _drain(self) -> None:
        changed = False
        while True:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            changed = True
            if isinstance(event, sweeps.TrialStarted):
                self.rows[event.number] = {"state": "running", "value": None, "params": event.params, "epochs": 0,
                                           "run_dir": event.run_dir}
            elif isinstance(event, sweeps.TrialEpoch):
                row = self.rows.setdefault(event.number, {"state": "running", "params": {}, "run_dir": ""})
                row.update(value=event.value, epochs=event.epoch)
            elif isinstance(event, sweeps.TrialEnded):
                self.rows[event.number] = {"state": event.state, "value": event.value, "params": event.params,
                                           "epochs": event.epochs, "run_dir": event.run_dir,
                                           "message": event.message}
            elif isinstance(event, _Importances):
                self.importance = event.values
                self._draw_importance()
        if changed:
            self._fill_table()
            self._draw_best()
            done = sum(1 for row in self.rows.values() if row["state"] != "running")
            self.progress.setValue(min(done, self.progress.maximum()))

    def _setup_table(self) -> None:
        headers = ["Trial", "State", "Value", "Epochs", *[d.name for d in self.dims]]
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setRowCount(0)

    def _fill_table(self) -> None:
        numbers = sorted(self.rows)
        self.table.setRowCount(len(numbers))
        for index, number in enumerate(numbers):
            row = self.rows[number]
            cells = [str(number), row["state"], _fmt(row.get("value")), str(row.get("epochs", 0)),
                     *[_fmt(row["params"].get(d.name)) for d in self.dims]]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 1:
                    item.setForeground(QBrush(QColor(STATE_COLORS.get(row["state"], "#1f2630"))))
                    if row.get("message"):
                        item.setToolTip(row["message"])
                self.table.setItem(index, column, item)
        self.table.resizeColumnsToContents()

    def best_curve(self) -> list[tuple[int, float]]:
        rows = [{"number": n, **row} for n, row in self.rows.items()]
        direction = self.sweep.direction if self.sweep is not None else "minimize"
        return sweeps.best_so_far(rows, direction)

    def _draw_best(self) -> None:
        plot = self.best_plot
        plot.clear()
        for state, color in (("complete", RIGHT), ("pruned", STATE_COLORS["pruned"])):
            points = [(n, row["value"]) for n, row in sorted(self.rows.items())
                      if row["state"] == state and sweeps.finite(row.get("value"))]
            if points:
                xs, ys = zip(*points, strict=True)
                plot.plot(list(xs), list(ys), pen=None, symbol="o", symbolSize=7, symbolBrush=color,
                          symbolPen=None)
        curve = self.best_curve()
        if curve:
            # The best value held over every finished trial since the first complete one: a falling staircase.
            finished = sorted(n for n, row in self.rows.items() if row["state"] != "running" and n >= curve[0][0])
            best = dict(curve)
            xs, ys, value = [], [], curve[0][1]
            for number in finished:
                value = best.get(number, value)
                xs.append(number)
                ys.append(value)
            plot.plot(xs, ys, pen=pg.mkPen("#2f6fde", width=2))
        metric = self.sweep.metric if self.sweep is not None else ""
        plot.setLabel("left", metric)

    def _draw_importance(self) -> None:
        """Optuna's fANOVA importances as horizontal bars, the most important on top."""
        plot = self.importance_plot
        plot.clear()
        if not self.importance:
            plot.setTitle(title_html("Parameter importance")
                          + "<span style='color:#6b7482;font-size:8pt'> (after two complete trials)</span>")
            return
        style_plot(plot, "Parameter importance")
        names = list(reversed(list(self.importance)))
        values = [self.importance[n] for n in names]
        plot.addItem(pg.BarGraphItem(x0=0, y=list(range(len(names))), height=0.6, width=values,
                                     brush="#2f6fde", pen=None))
        plot.getAxis("left").setTicks([list(enumerate(names))])
        plot.setXRange(0, max(values) * 1.05 if values else 1)

    def open_best(self) -> None:
        """Open the best trial's network (its values written into a copy of the document)."""
        if self.sweep is None:
            return
        result = self.sweep_result or self.sweep.result()
        if result.best is None:
            return
        path = result.best_document
        if path is None or not Path(path).is_file():
            from netbuilder.io import save_document

            path = self.sweep.folder / sweeps.BEST_FILE
            save_document(self.sweep.best_document(result.best["params"]), path)
        self.openRequested.emit(str(path))

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """The window closes: cancel the sweep and wait for its trial to stop (after the current batch), so the
        process can exit and the trial's run folder is complete."""
        self.cancel()
        if self.task is not None and self.task.running:
            self.wait(timeout_s)


class _Importances:
    def __init__(self, values: dict[str, float]):
        self.values = values


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
