"""The Data panel: which data the network trains on, what it looks like, and whether it fits the network.

Bundled sample data or the user's own files (CSV, NumPy, image folders, IDX, text) with their loader options;
the split; a preview (images with labels, a table, a text excerpt, class counts); and the compatibility check
against the network's Input and Output nodes, with a one-click Fix when one parameter change solves a problem
(applied as one undoable SetParams). The choice is stored in ``settings["data"]`` through SetSetting.

Data is loaded on a short-lived thread, so opening a large image folder never freezes the window. A file named
by a document that was just opened is not read at all until the user asks for it (shows this panel, presses
Preview, changes the data, or starts training): opening a document must never read whatever its settings point at.
Relative paths resolve against the document's folder, and the panel shows the resolved path.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.data import DataError, Fit, check_compatibility, detect_format, list_datasets
from netbuilder.data.sources import is_bundled, resolve_options, resolve_source
from netbuilder.dataformats import is_environment
from netbuilder.document import DocumentError, SetParams, SetSetting
from netbuilder.fs.limits import FileRefused, check_readable
from netbuilder.fs.paths import document_folder
from netbuilder.specs import ParamError
from netbuilder.train import ConfigError, DataConfig, TrainConfig, TrainError, choose_recipe
from netbuilder.train.recipes import pick_network
from netbuilder_ui.background import BackgroundTask, Cancelled, Step
from netbuilder_ui.qt_document import QtDocument
from netbuilder_ui.training.outcomes import image_batch, tile
from netbuilder_ui.training.settings import data_settings, read_config
from netbuilder_ui.training.widgets import (
    PANEL_STYLE,
    Banner,
    PixelImage,
    field_label,
    hint,
    repolish,
    scrolled_panel,
    section_title,
)

PREVIEW_SAMPLES = 8
FORMAT_LABELS = {"csv": "CSV table", "npy": "NumPy array", "npz": "NumPy archive", "idx": "IDX (MNIST format)",
                 "images": "Image folder", "text": "Plain text"}
FILE_FILTER = ("Data files (*.csv *.tsv *.npy *.npz *.txt *.text *.md *.gz *-ubyte *.idx);;CSV tables (*.csv *.tsv);;"
               "NumPy (*.npy *.npz);;IDX files (*-ubyte *.idx *.gz);;Text (*.txt *.text *.md);;All files (*)")


def _load_preview(source: Any, options: dict[str, Any], step: Step) -> Any:
    """Load one data source and its preview (on a worker thread). Returns the preview or an error message (str).
    ``step`` raises `Cancelled` between the stages once the load was cancelled or replaced."""
    step("Loading PyTorch…")
    import torch

    from netbuilder.data import load_data, preview

    torch.set_num_threads(1)  # a short-lived thread: no thread pool of its own (see _guard)
    try:
        step("Reading the data…")
        dataset = load_data(source, **options)
        step("Making the preview…")
        return preview(dataset, PREVIEW_SAMPLES)
    except (DataError, OSError, ValueError) as error:
        return str(error)
    except Cancelled:
        raise
    except Exception as error:  # noqa: BLE001 - a loader bug must not take the window down
        return f"The data could not be read: {type(error).__name__}: {error}."


class FitCard(QFrame):
    """One compatibility problem with its suggestion and, when there is one, a Fix button."""

    def __init__(self, fit: Fit | None, on_fix: Any = None, ok_text: str = ""):
        super().__init__()
        self.setObjectName("fitCard")
        self.setProperty("state", "ok" if fit is None else "problem")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 7, 8, 7)
        text = QLabel(ok_text if fit is None else f"<b>{_escape(fit.message)}</b><br>{_escape(fit.suggestion)}")
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(text, 1)
        self.fix_button: QPushButton | None = None
        if fit is not None and fit.fix is not None and on_fix is not None:
            self.fix_button = QPushButton("Fix")
            self.fix_button.setObjectName("fixButton")
            self.fix_button.setToolTip(f"{fit.suggestion} (one undoable edit)")
            self.fix_button.clicked.connect(lambda: on_fix(fit))
            layout.addWidget(self.fix_button, 0, Qt.AlignmentFlag.AlignTop)
        repolish(self)


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def csv_columns(path: str) -> list[str]:
    """The header names of a CSV/TSV file (numbers when it has no header), read from its first lines only."""
    try:
        check_readable(path, "table")  # never open a FIFO or a device (open would block or read forever)
        with open(path, encoding="utf-8", errors="replace", newline="") as stream:
            sample = stream.read(16_384)
    except (OSError, FileRefused):
        return []
    lines = sample.splitlines()
    if not lines:
        return []
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
    first = next(csv.reader([lines[0]], delimiter=delimiter))

    def numeric(cell: str) -> bool:
        try:
            float(cell)
            return True
        except ValueError:
            return False

    if first and all(numeric(cell) for cell in first if cell.strip()):
        return [str(i) for i in range(len(first))]
    return [cell.strip() for cell in first]


class DataPanel(QWidget):
    """Choose, preview and check the training data. ``dataInfoChanged`` carries the DataInfo once loaded."""

    dataInfoChanged = Signal(object)

    def __init__(self, qt_doc: QtDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.qt_doc = qt_doc
        self.setObjectName("dataPanel")
        self.setStyleSheet(PANEL_STYLE)
        self.preview_data: Any = None
        self.fits: list[Fit] = []
        self._generation = 0
        self._task: BackgroundTask | None = None
        self._loading = False
        self._locked = False
        self._loaded_key: Any = None
        # A file source named by a freshly opened document waits for the user: nothing is read until then.
        self._held = False
        self._armed = False  # the panel was hidden after the document opened: showing it is the user's request

        layout = scrolled_panel(self, "dataPanel")

        # ---- source ----------------------------------------------------------------------------------------
        layout.addWidget(section_title("Source"))
        self.source_box = QComboBox()
        self.source_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.source_box.setMinimumContentsLength(14)
        self.source_box.setToolTip("Sample data that ships with NetBuilder, or your own file.")
        self._bundled = {info.id: info for info in list_datasets()}
        for info in self._bundled.values():
            self.source_box.addItem(info.title, info.id)
            self.source_box.setItemData(self.source_box.count() - 1, info.description, Qt.ItemDataRole.ToolTipRole)
        layout.addWidget(self.source_box)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.file_button = QPushButton("Open file…")
        self.file_button.setToolTip("CSV/TSV table, NumPy .npy/.npz, IDX (MNIST format) or plain text.")
        self.folder_button = QPushButton("Open image folder…")
        self.folder_button.setToolTip("A folder with one sub-folder of images per class.")
        buttons.addWidget(self.file_button)
        buttons.addWidget(self.folder_button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.description = hint()
        layout.addWidget(self.description)

        self.options_widget = QWidget()
        self.options_form = QFormLayout(self.options_widget)
        self.options_form.setContentsMargins(0, 0, 0, 0)
        self.options_form.setHorizontalSpacing(12)
        self.options_form.setVerticalSpacing(6)
        self.target_box = QComboBox()
        self.target_box.setToolTip("The column to predict; the other columns are the inputs.")
        self.task_box = QComboBox()
        for value, label in (("auto", "Automatic"), ("classification", "Classification"),
                             ("regression", "Regression")):
            self.task_box.addItem(label, value)
        self.image_size = QSpinBox()
        self.image_size.setRange(0, 4096)
        self.image_size.setSpecialValueText("as the images")
        self.image_size.setSuffix(" px")
        self.image_size.setToolTip("Resize every image to this many pixels square (0 keeps the first image's size).")
        self.grayscale = QComboBox()
        for value, label in ((None, "As the images"), (True, "Grayscale"), (False, "Colour (RGB)")):
            self.grayscale.addItem(label, value)
        self.seq_len = QSpinBox()
        self.seq_len.setRange(2, 100_000)
        self.seq_len.setValue(64)
        self.seq_len.setToolTip("Characters per training window.")
        self.labels_button = QPushButton("Choose labels file…")
        self.labels_label = hint("no labels: unsupervised")
        self._option_rows: dict[str, list[QWidget]] = {}
        self._add_option("target", "Target column", self.target_box)
        self._add_option("task", "Task", self.task_box)
        self._add_option("size", "Image size", self.image_size)
        self._add_option("grayscale", "Colours", self.grayscale)
        self._add_option("seq_len", "Window", self.seq_len)
        labels_row = QWidget()
        labels_layout = QVBoxLayout(labels_row)
        labels_layout.setContentsMargins(0, 0, 0, 0)
        labels_layout.setSpacing(2)
        labels_layout.addWidget(self.labels_button)
        labels_layout.addWidget(self.labels_label)
        self._add_option("labels", "Labels", labels_row)
        layout.addWidget(self.options_widget)

        layout.addWidget(section_title("Split"))
        split_form = QFormLayout()
        split_form.setHorizontalSpacing(12)
        split_form.setVerticalSpacing(6)
        self.val_percent = QSpinBox()
        self.val_percent.setRange(0, 90)
        self.val_percent.setSuffix(" %")
        self.val_percent.setToolTip("Held out to measure progress after each epoch.")
        self.test_percent = QSpinBox()
        self.test_percent.setRange(0, 90)
        self.test_percent.setSuffix(" %")
        self.test_percent.setToolTip("Held out for a final evaluation only (netbuilder evaluate).")
        self.normalize = QCheckBox("Standardise inputs")
        self.normalize.setToolTip("Scale every input feature (or image channel) to mean 0 and standard deviation 1, "
                                  "with statistics fitted on the training part only.")
        split_form.addRow(field_label("Validation"), self.val_percent)
        split_form.addRow(field_label("Test"), self.test_percent)
        split_form.addRow("", self.normalize)
        layout.addLayout(split_form)

        # ---- fit check --------------------------------------------------------------------------------------
        layout.addWidget(section_title("Fit with the network"))
        self.fit_box = QVBoxLayout()
        self.fit_box.setSpacing(6)
        layout.addLayout(self.fit_box)

        # ---- preview ---------------------------------------------------------------------------------------
        layout.addWidget(section_title("Preview"))
        self.status = Banner()
        layout.addWidget(self.status)
        self.preview_button = QPushButton("Read and preview")
        self.preview_button.setToolTip("Read the data file now and show its first samples.")
        self.preview_button.hide()
        layout.addWidget(self.preview_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.cancel_button = QPushButton("Cancel loading")
        self.cancel_button.setToolTip("Stop reading this data source (it is read again when you choose it).")
        self.cancel_button.clicked.connect(self.cancel_loading)
        self.cancel_button.hide()
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary)
        self.samples_widget = QWidget()
        self.samples_grid = QGridLayout(self.samples_widget)
        self.samples_grid.setContentsMargins(0, 0, 0, 0)
        self.samples_grid.setSpacing(6)
        layout.addWidget(self.samples_widget)
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setMinimumHeight(140)
        self.table.hide()
        layout.addWidget(self.table)
        self.text_view = QPlainTextEdit()
        self.text_view.setReadOnly(True)
        self.text_view.setObjectName("generatedText")
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text_view.setFont(font)
        self.text_view.setMinimumHeight(120)
        self.text_view.hide()
        layout.addWidget(self.text_view)
        self.counts_title = field_label("Samples per class")
        self.counts_plot = pg.PlotWidget(background="w")
        self.counts_plot.setMinimumHeight(150)
        self.counts_plot.setMouseEnabled(False, False)
        self.counts_plot.hideButtons()
        self.counts_plot.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            self.counts_plot.getAxis(axis).setPen(pg.mkPen("#c3c9d2"))
            self.counts_plot.getAxis(axis).setTextPen(pg.mkPen("#5b6472"))
        layout.addWidget(self.counts_title)
        layout.addWidget(self.counts_plot)
        layout.addStretch(1)

        # ---- wiring ---------------------------------------------------------------------------------------
        self.source_box.currentIndexChanged.connect(self._on_source_chosen)
        self.file_button.clicked.connect(self.choose_file)
        self.folder_button.clicked.connect(self.choose_folder)
        self.labels_button.clicked.connect(self._choose_labels)
        self.target_box.currentIndexChanged.connect(lambda: self._commit_option("target", self.target_box.currentData()))
        self.task_box.currentIndexChanged.connect(lambda: self._commit_option("task", self.task_box.currentData()))
        self.grayscale.currentIndexChanged.connect(
            lambda: self._commit_option("grayscale", self.grayscale.currentData()))
        self.image_size.editingFinished.connect(
            lambda: self._commit_option("size", self.image_size.value() or None))
        self.seq_len.editingFinished.connect(lambda: self._commit_option("seq_len", self.seq_len.value()))
        self.val_percent.valueChanged.connect(lambda v: self._commit_split("val_fraction", v / 100))
        self.test_percent.valueChanged.connect(lambda v: self._commit_split("test_fraction", v / 100))
        self.normalize.toggled.connect(lambda on: self._commit_split("normalize", on))
        qt_doc.settingsChanged.connect(self._on_settings_changed)
        qt_doc.documentReplaced.connect(self._on_document_replaced)
        self.preview_button.clicked.connect(self.release_hold)
        qt_doc.analysisChanged.connect(lambda _network: self.check_fit())
        qt_doc.lockChanged.connect(self._on_lock_changed)
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self._check_fit_now)
        self._on_document_replaced()

    def _add_option(self, key: str, label: str, widget: QWidget) -> None:
        title = field_label(label)
        self.options_form.addRow(title, widget)
        self._option_rows[key] = [title, widget]

    # ---- reading only when asked -----------------------------------------------------------------------------
    def _on_document_replaced(self) -> None:
        """A document was opened: hold back its data file until the user asks for it."""
        self._held = True
        self._armed = False
        self._loaded_key = None
        QTimer.singleShot(0, self._arm_if_hidden)
        self.load_settings()

    def _arm_if_hidden(self) -> None:
        if not self.isVisible():
            self._armed = True

    def hideEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        if self._held:
            self._armed = True
        super().hideEvent(event)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._held and self._armed:  # the user brought the panel up: that is asking to see the data
            self.release_hold()

    def release_hold(self) -> None:
        """Read the data from now on (Preview pressed, panel shown, training started, data changed)."""
        if not self._held:
            return
        self._held = False
        self.preview_button.hide()
        self.load_settings()

    def is_held(self) -> bool:
        """True while a file named by the opened document is waiting to be read."""
        return self._held and self._file_source() is not None

    def _file_source(self) -> str | None:
        """The data file or folder the settings name, resolved against the document's folder (None: bundled
        data or none)."""
        data = self.settings()
        source = str(data.get("source") or "")
        fmt = str(data.get("format") or "") or None
        if not source or is_bundled(source, fmt) or is_environment(source, fmt):  # nothing to hold back
            return None
        return resolve_source(source, fmt, self._folder())

    def _folder(self) -> Path | None:
        return document_folder(self.qt_doc.document)

    # ---- settings <-> widgets ------------------------------------------------------------------------------
    def settings(self) -> dict[str, Any]:
        return data_settings(self.qt_doc.document.settings)

    def load_settings(self) -> None:
        self._loading = True
        try:
            data = self.settings()
            source = str(data.get("source") or "")
            options = dict(data.get("options") or {})
            self._set_source_item(source)
            fmt = self._format(data)
            resolved = self._file_source()
            self.description.setText(self._describe(source, fmt, resolved))
            for key, widgets in self._option_rows.items():
                visible = key in self._keys_for(fmt)
                for widget in widgets:
                    widget.setVisible(visible)
            if fmt == "csv":
                self._fill_targets(resolved or source, options.get("target", -1), read=not self.is_held())
                index = self.task_box.findData(options.get("task", "auto"))
                self.task_box.setCurrentIndex(max(0, index))
            size = options.get("size")
            self.image_size.setValue(int(size[0] if isinstance(size, list | tuple) else size or 0))
            index = self.grayscale.findData(options.get("grayscale"))
            self.grayscale.setCurrentIndex(max(0, index))
            self.seq_len.setValue(int(options.get("seq_len", 64) or 64))
            labels = options.get("target_path") or options.get("labels")
            self.labels_label.setText(Path(str(labels)).name if labels else "no labels: unsupervised")
            self.val_percent.setValue(int(round(float(data.get("val_fraction", 0.15)) * 100)))
            self.test_percent.setValue(int(round(_test_fraction(data) * 100)))
            self.normalize.setChecked(bool(data.get("normalize", True)))
        finally:
            self._loading = False
        self._reload_if_needed()

    def _on_settings_changed(self, key: str) -> None:
        if self._loading:
            return
        if key == "data":
            self.load_settings()
        elif key == "training":
            self.check_fit()

    def _set_source_item(self, source: str) -> None:
        """Select ``source`` in the list; the user's own file gets an entry of its own (item data: the source)."""
        for index in range(self.source_box.count()):
            if self.source_box.itemData(index) not in self._bundled:
                self.source_box.removeItem(index)
                break
        if source in self._bundled:
            self.source_box.setCurrentIndex(self.source_box.findData(source))
        elif source:
            self.source_box.addItem(f"{Path(source).name}  (your data)", source)
            self.source_box.setItemData(self.source_box.count() - 1, source, Qt.ItemDataRole.ToolTipRole)
            self.source_box.setCurrentIndex(self.source_box.count() - 1)
        else:
            self.source_box.setCurrentIndex(-1)

    def _format(self, data: dict[str, Any]) -> str:
        source = str(data.get("source") or "")
        if not source or source in self._bundled:
            return "bundled"
        if data.get("format"):
            return str(data["format"])
        try:
            return detect_format(source)
        except DataError:
            return ""

    @staticmethod
    def _keys_for(fmt: str) -> tuple[str, ...]:
        return {"csv": ("target", "task"), "images": ("size", "grayscale"), "text": ("seq_len",),
                "npy": ("labels", "task"), "npz": ("task",), "idx": ("labels",)}.get(fmt, ())

    def _describe(self, source: str, fmt: str, resolved: str | None = None) -> str:
        if source in self._bundled:
            return self._bundled[source].description
        if not source:
            return "No data chosen yet: pick sample data above or open your own file."
        return f"{FORMAT_LABELS.get(fmt, 'File')}: {resolved or source}"

    def _fill_targets(self, source: str, target: Any, read: bool = True) -> None:
        self.target_box.clear()
        self.target_box.addItem("Last column", -1)
        for name in csv_columns(source) if read else []:
            self.target_box.addItem(name, name)
        self.target_box.addItem("None (unsupervised)", None)
        index = self.target_box.findData(target)
        if index < 0 and isinstance(target, int) and target >= 0:
            index = target + 1 if target + 1 < self.target_box.count() - 1 else -1
        if index < 0 and target is not None and target != -1:
            self.target_box.addItem(str(target), target)
            index = self.target_box.count() - 1
        self.target_box.setCurrentIndex(max(0, index))

    def _write(self, data: dict[str, Any]) -> bool:
        """Store settings["data"] with one undoable SetSetting, keeping keys this panel does not edit. The user
        chose this data, so it is read from now on."""
        self._held = False
        self.preview_button.hide()
        try:
            TrainConfig.from_dict(None, data)
        except ConfigError as error:
            self.status.show_message("error", "This data setting cannot be used.", str(error))
            return False
        self._loading = True
        try:
            self.qt_doc.execute(SetSetting("data", data))
        except DocumentError as error:
            self.status.show_message("warning", "The data was not changed.", str(error))
            return False
        finally:
            self._loading = False
        self.load_settings()
        return True

    def _on_source_chosen(self, index: int) -> None:
        if self._loading or index < 0:
            return
        value = str(self.source_box.itemData(index))
        current = self.settings()
        if current.get("source") == value:
            return
        self.set_source(value, fmt=None if value in self._bundled else current.get("format"))

    def set_source(self, source: str, fmt: str | None = None, options: dict[str, Any] | None = None) -> bool:
        """Train on ``source`` (a bundled id or a path); loader options start empty unless given."""
        current = self.settings()
        data = {k: v for k, v in current.items() if k not in ("source", "format", "options")}
        data["source"] = source
        if fmt:
            data["format"] = fmt
        if options:
            data["options"] = dict(options)
        return self._write(data)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open data", "", FILE_FILTER)
        if path:
            try:
                fmt = detect_format(path)
            except DataError as error:
                self.status.show_message("error", "This file cannot be used as data.", str(error))
                return
            self.set_source(path, None if fmt != "idx" or path.endswith(("ubyte", ".gz")) else fmt)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder (one sub-folder per class)")
        if path:
            self.set_source(path, "images")

    def _choose_labels(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose labels", "", FILE_FILTER)
        if not path:
            return
        fmt = self._format(self.settings())
        self._commit_option("target_path" if fmt == "npy" else "labels", path)

    def _commit_option(self, key: str, value: Any) -> None:
        if self._loading:
            return
        data = self.settings()
        options = dict(data.get("options") or {})
        defaults = {"target": -1, "task": "auto", "grayscale": None, "size": None, "seq_len": 64}
        if key in defaults and value == defaults[key] and key != "target" or key == "target" and value == -1:
            if key not in options:
                return
            options.pop(key)
        else:
            if options.get(key, object()) == value:
                return
            options[key] = value
        data["options"] = options
        if not options:
            data.pop("options")
        self._write(data)

    def _commit_split(self, key: str, value: Any) -> None:
        if self._loading:
            return
        data = self.settings()
        if data.get(key) == value:
            return
        data[key] = value
        self._write(data)

    def _on_lock_changed(self, reason: str) -> None:
        self._locked = bool(reason)
        for widget in (self.source_box, self.file_button, self.folder_button, self.options_widget,
                       self.val_percent, self.test_percent, self.normalize):
            widget.setEnabled(not self._locked)
        self._render_fits()

    # ---- loading and preview --------------------------------------------------------------------------------
    def _reload_if_needed(self) -> None:
        data = self.settings()
        source = str(data.get("source") or "")
        options = resolve_options(dict(data.get("options") or {}), self._folder())
        resolved = self._file_source()
        if data.get("format"):
            options = {"format": data["format"], **options}
        if resolved is not None and self._held:
            self._show_held(resolved)
            return
        self.preview_button.hide()
        key = (resolved or source, repr(sorted(options.items())))
        if key == self._loaded_key:
            return
        self._loaded_key = key
        if not source:
            self._show_preview(None, None)
            return
        self.reload(resolved or source, options)

    def _show_held(self, resolved: str) -> None:
        """The data file is known but not read yet: say which file, and how to read it."""
        self._loaded_key = None
        self._show_preview(None, None)
        self.status.show_message("info", "The data is not read yet.",
                                 f"{resolved}\nIt is read when you press Read and preview, or start training.")
        self.preview_button.show()

    def reload(self, source: str, options: dict[str, Any]) -> None:
        self._generation += 1
        self.status.show_message("info", "Loading the data…", "")
        fmt = options.pop("format", None)
        load_source: Any = {"path": source, "format": fmt} if fmt else source
        if self._task is not None:  # its result is not wanted any more; it stops at its next stage
            self._task.detach()
            self._task.deleteLater()
        generation = self._generation
        task = BackgroundTask(lambda step: _load_preview(load_source, options, step), "netbuilder-data", self)
        task.progressed.connect(lambda text: self._on_progress(generation, text))
        task.succeeded.connect(lambda value: self._on_loaded(generation, *(
            (None, value) if isinstance(value, str) else (value, None))))
        task.failed.connect(lambda error: self._on_loaded(generation, None, f"The data could not be read: "
                                                                             f"{type(error).__name__}: {error}."))
        task.cancelled.connect(lambda: self._on_cancelled(generation))
        task.ended.connect(lambda: self._forget(task))
        self._task = task
        self.cancel_button.show()
        task.start()

    def _on_progress(self, generation: int, text: str) -> None:
        if generation == self._generation:
            self.status.show_message("info", "Loading the data…", text)

    def _forget(self, task: BackgroundTask) -> None:
        if self._task is task:
            self._task = None
            self.cancel_button.hide()
        task.deleteLater()

    def is_loading(self) -> bool:
        return self._task is not None

    def cancel_loading(self) -> None:
        """Cancel: the load stops at its next stage and the panel says so; choosing the data again reloads it."""
        if self._task is not None:
            self._task.cancel()
            self.status.show_message("info", "Cancelling…", "The data source is being closed.")

    def _on_cancelled(self, generation: int) -> None:
        if generation != self._generation:
            return
        self._loaded_key = None  # not loaded: the next look at the settings reads it again
        self._show_preview(None, None)
        self.status.show_message("warning", "Loading was cancelled.", "Choose the data again to read it.")

    def shutdown(self, milliseconds: int = 3000) -> None:
        """The window closes: stop any load at its next stage and wait a little for it. A load that takes longer
        (a huge file being read) is left to finish on its own thread; nothing is delivered from it, and there is no
        QThread whose destruction could abort the process."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            task.wait(milliseconds / 1000)
            task.detach()

    def _on_loaded(self, generation: int, result: Any, error: str | None) -> None:
        if generation != self._generation:
            return
        self._show_preview(result, error)

    def _show_preview(self, result: Any, error: str | None) -> None:
        self.preview_data = result
        self._clear_samples()
        self.table.hide()
        self.text_view.hide()
        self.counts_title.hide()
        self.counts_plot.hide()
        if error:
            self.status.show_message("error", "The data cannot be used.", error)
            self.summary.setText("")
            self.dataInfoChanged.emit(None)
            self.check_fit()
            return
        self.status.clear()
        if result is None:
            self.summary.setText("")
            self.dataInfoChanged.emit(None)
            self.check_fit()
            return
        info = result.info
        shape = "×".join(str(d) for d in info.sample_shape) or "scalar"
        parts = [f"<b>{result.count:,}</b> samples of <b>{shape}</b> ({info.dtype})",
                 info.task.replace("_", " ")]
        if info.kind == "environment":  # an agent's data: what it observes and how many actions it has
            parts = [f"Environment <b>{info.title}</b>: observations of <b>{shape}</b>, "
                     f"<b>{info.num_classes}</b> actions", "first observations of a few episodes below"]
        elif info.num_classes:
            parts.append(f"{info.num_classes} classes")
        if info.target_shape:
            parts.append(f"targets {'×'.join(map(str, info.target_shape))}")
        self.summary.setText(" · ".join(parts))
        if result.warnings:  # one message: how many files were skipped, and the first few by name
            self.status.show_message("warning", "Some files were skipped.", "\n".join(result.warnings[:3]))
        images = image_batch(result.x, info) if result.x.is_floating_point() or info.kind == "images" else None
        if info.kind == "text" and result.text:
            self.text_view.setPlainText(result.text)
            self.text_view.show()
        elif images is not None:
            self._show_images(images, result)
        else:
            self._show_table(result)
        if result.class_counts:
            self._show_counts(result.class_counts)
        self.dataInfoChanged.emit(info)
        self.check_fit()

    def _clear_samples(self) -> None:
        while self.samples_grid.count():
            item = self.samples_grid.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()
        self.samples_widget.hide()

    def _show_images(self, images: np.ndarray, result: Any) -> None:
        names = result.info.class_names or []
        columns = 4
        for index in range(min(len(images), PREVIEW_SAMPLES)):
            cell = QWidget()
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.setSpacing(1)
            picture = PixelImage(max_scale=12)
            picture.setMinimumSize(56, 56)
            picture.set_array(tile(images[index:index + 1], 1, pad=0))
            caption = QLabel(self._label_text(result, index, names))
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            caption.setObjectName("hint")
            box.addWidget(picture, 1)
            box.addWidget(caption)
            self.samples_grid.addWidget(cell, index // columns, index % columns)
        self.samples_widget.setMinimumHeight(2 * 80)
        self.samples_widget.show()

    @staticmethod
    def _label_text(result: Any, index: int, names: list[str]) -> str:
        y = result.y
        if y is None or index >= len(y):
            return f"#{index + 1}"
        value = y[index]
        if value.numel() == 1 and not value.is_floating_point():
            number = int(value)
            return names[number] if number < len(names) else str(number)
        if value.numel() == 1:
            return f"{float(value):.3g}"
        return f"#{index + 1}"

    def _show_table(self, result: Any) -> None:
        x = result.x.reshape(result.x.shape[0], -1) if result.x.dim() > 1 else result.x.reshape(-1, 1)
        columns = list(result.columns or [f"x{i}" for i in range(x.shape[1])])[:x.shape[1]]
        columns = columns + [f"x{i}" for i in range(len(columns), x.shape[1])]
        shown = columns[:12]
        has_y = result.y is not None
        headers = shown + (["target"] if has_y else [])
        self.table.clear()
        self.table.setColumnCount(len(headers))
        self.table.setRowCount(x.shape[0])
        self.table.setHorizontalHeaderLabels(headers)
        names = result.info.class_names or []
        for row in range(x.shape[0]):
            for col in range(len(shown)):
                value = x[row, col]
                text = f"{float(value):.4g}" if value.is_floating_point() else str(int(value))
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, col, item)
            if has_y:
                self.table.setItem(row, len(shown), QTableWidgetItem(self._label_text(result, row, names)))
        self.table.resizeColumnsToContents()
        self.table.show()

    def _show_counts(self, counts: dict[str, int]) -> None:
        plot = self.counts_plot
        plot.clear()
        plot.disableAutoRange()
        names = list(counts)
        values = [counts[n] for n in names]
        bars = pg.BarGraphItem(x=np.arange(len(values)), height=values, width=0.7, brush=pg.mkBrush("#2f6fde"),
                               pen=pg.mkPen(None))
        plot.addItem(bars)
        axis = plot.getAxis("bottom")
        step = max(1, len(names) // 12)
        axis.setTicks([[(i, names[i][:10]) for i in range(0, len(names), step)]])
        plot.setXRange(-0.6, len(values) - 0.4, padding=0)
        plot.setYRange(0, max(values or [1]) * 1.1, padding=0)
        self.counts_title.show()
        plot.show()

    # ---- fit with the network ---------------------------------------------------------------------------------
    def check_fit(self) -> None:
        """Re-check (coalesced: many edits in one event-loop turn check once)."""
        self._fit_timer.start()

    def _check_fit_now(self) -> None:
        self.fits = self.compatibility()
        self._render_fits()

    def target_network(self) -> tuple[str | None, str]:
        """(network the data feeds, recipe) as training will pick them."""
        document = self.qt_doc.document
        info = self.preview_data.info if self.preview_data is not None else None
        try:
            config, _notes = read_config(document.settings)
        except ConfigError:
            config = TrainConfig()
        try:
            recipe = choose_recipe(document, config, info)
            if recipe == "gan":
                return ("discriminator" if "discriminator" in document.networks else None), recipe
            return pick_network(document, config).name, recipe
        except (TrainError, KeyError):
            return None, ""

    def compatibility(self) -> list[Fit]:
        if self.preview_data is None:
            return []
        info = self.preview_data.info
        network, recipe = self.target_network()
        if network is None:
            return [Fit("The document has no network this data could train.")]
        if recipe in ("gan", "autoencoder", "vae") and info.task != "unsupervised":
            info = dataclasses.replace(info, task="unsupervised")  # labels are not used: only the input counts
        try:
            return check_compatibility(info, self.qt_doc.document.network(network))
        except Exception as error:  # noqa: BLE001 - the check is advice; it must never break the panel
            return [Fit(f"The fit could not be checked: {type(error).__name__}: {error}.")]

    def _render_fits(self) -> None:
        while self.fit_box.count():
            item = self.fit_box.takeAt(0)
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()
        if self.preview_data is None:
            self.fit_box.addWidget(hint("Read the data to check it against the network." if self.is_held()
                                        else "Choose data to check it against the network."))
            return
        network, _recipe = self.target_network()
        if not self.fits:
            self.fit_box.addWidget(FitCard(None, ok_text=f"The data fits network <b>{_escape(network or '')}</b>: "
                                                         "its Input and Output match the samples and targets."))
            return
        for fit in self.fits:
            card = FitCard(fit, None if self._locked else self.apply_fix)
            self.fit_box.addWidget(card)

    def fix_buttons(self) -> list[QPushButton]:
        buttons = []
        for index in range(self.fit_box.count()):
            widget = self.fit_box.itemAt(index).widget()
            if isinstance(widget, FitCard) and widget.fix_button is not None:
                buttons.append(widget.fix_button)
        return buttons

    def apply_fix(self, fit: Fit) -> bool:
        """Apply a fit's one-click fix as one undoable SetParams on the node it names."""
        if fit.fix is None:
            return False
        network, _recipe = self.target_network()
        if network is None:
            return False
        try:
            self.qt_doc.execute(SetParams(network, fit.fix["node"], dict(fit.fix["params"])))
        except (DocumentError, ParamError, KeyError) as error:
            self.status.show_message("error", "The fix could not be applied.", str(error))
            return False
        self.check_fit()
        return True


def _test_fraction(data: dict[str, Any]) -> float:
    """The test share a run will hold out: the setting, or when it is not set the default for this source
    (bundled data keeps a test split, your own files none)."""
    try:
        return DataConfig.from_dict(data).resolved_test_fraction()
    except ConfigError:  # the panel shows what is wrong elsewhere; the field shows no test split meanwhile
        return 0.0
