"""The Training panel: how to train (recipe, optimiser, schedule, losses, regularisation, device, seed), the
Start / Pause / Stop buttons, and the progress of the run.

Every setting is stored in the document's ``settings["training"]`` through the undoable SetSetting command, so a
setting is saved with the file, undone with Ctrl+Z and restored by the panel when the document changes. Values
are checked with the training engine's own validation before they are written; a bad value is marked on its
field and explained, never stored.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from netbuilder.document import DocumentError, SetSetting
from netbuilder.train import ConfigError, TrainConfig, TrainError, choose_recipe
from netbuilder.train.recipes import pick_network
from netbuilder_ui.qt_document import QtDocument
from netbuilder_ui.training.settings import (
    LOSS_LABELS,
    OPTIMIZER_LABELS,
    RECIPE_LABELS,
    SCHEDULE_LABELS,
    device_choices,
    normalized_training,
    read_config,
)
from netbuilder_ui.training.widgets import (
    PANEL_STYLE,
    Banner,
    field_label,
    hint,
    repolish,
    scrolled_panel,
    section_title,
)


class NumberField(QLineEdit):
    """A float typed as text (0.001, 1e-4): friendlier than a spin box for values spanning decades."""

    def __init__(self, minimum: float = 0.0, maximum: float | None = None, allow_zero: bool = True):
        super().__init__()
        self.minimum, self.maximum, self.allow_zero = minimum, maximum, allow_zero
        self.setMaximumWidth(120)

    def set_value(self, value: float) -> None:
        self.setText(f"{value:g}")
        self.set_invalid(False)

    def value(self) -> float | None:
        try:
            number = float(self.text().strip())
        except ValueError:
            return None
        if not math.isfinite(number) or number < self.minimum or (self.maximum is not None and number > self.maximum):
            return None
        if number == 0 and not self.allow_zero:
            return None
        return number

    def set_invalid(self, invalid: bool) -> None:
        if bool(self.property("invalid")) != invalid:
            self.setProperty("invalid", invalid)
            repolish(self)


def _combo(items: dict[str, str] | list[tuple[str, str]]) -> QComboBox:
    combo = QComboBox()
    pairs = list(items.items()) if isinstance(items, dict) else items
    for value, label in pairs:
        combo.addItem(label, value)
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(8)
    return combo


def _select(combo: QComboBox, value: Any) -> None:
    index = combo.findData(value)
    if index < 0:
        combo.addItem(str(value), value)
        index = combo.count() - 1
    combo.setCurrentIndex(index)


class TrainingPanel(QWidget):
    """Settings, controls and progress of training. The controller connects the three request signals."""

    startRequested = Signal()
    pauseRequested = Signal()  # pause or resume, depending on the state
    stopRequested = Signal()

    def __init__(self, qt_doc: QtDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.qt_doc = qt_doc
        self.setObjectName("trainingPanel")
        self.setStyleSheet(PANEL_STYLE)
        self.data_info: Any = None
        self._loading = False
        self._running = False
        self._output_names: list[str] = []
        self._loss_boxes: dict[str, QComboBox] = {}

        layout = scrolled_panel(self, "trainingPanel")

        # ---- controls and progress ----------------------------------------------------------------------
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("primaryButton")
        self.start_button.setToolTip("Train the network with these settings (F5).")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Pause between two batches; Resume carries on exactly where it paused.")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("dangerButton")
        self.stop_button.setToolTip("Stop after the batch in progress; the weights so far are saved (Shift+F5).")
        self.start_button.clicked.connect(self.startRequested)
        self.pause_button.clicked.connect(self.pauseRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)

        self.lock_banner = Banner()
        layout.addWidget(self.lock_banner)
        self.message_banner = Banner()
        layout.addWidget(self.message_banner)

        card = QFrame()
        card.setObjectName("progressCard")
        card_layout = QVBoxLayout(card)
        card_layout.setContentsMargins(12, 10, 12, 10)
        card_layout.setSpacing(6)
        self.headline = QLabel("Ready to train")
        self.headline.setObjectName("progressHeadline")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(True)
        self.progress.setFormat("%p%")
        self.progress.setFixedHeight(16)
        self.detail = QLabel("Press Start (F5) to train with the settings below.")
        self.detail.setObjectName("progressDetail")
        self.detail.setWordWrap(True)
        stats = QGridLayout()
        stats.setHorizontalSpacing(14)
        stats.setVerticalSpacing(0)
        self.stat_values: dict[str, QLabel] = {}
        for index, (key, caption) in enumerate((("speed", "SAMPLES/S"), ("elapsed", "ELAPSED"), ("eta", "ETA"),
                                                ("metric", "LATEST"))):
            cap = QLabel(caption)
            cap.setObjectName("statCaption")
            value = QLabel("–")
            value.setObjectName("statValue")
            row, column = divmod(index, 2)
            stats.addWidget(cap, row * 2, column)
            stats.addWidget(value, row * 2 + 1, column)
            self.stat_values[key] = value
        stats.setVerticalSpacing(1)
        stats.setColumnStretch(0, 1)
        stats.setColumnStretch(1, 1)
        card_layout.addWidget(self.headline)
        card_layout.addWidget(self.progress)
        card_layout.addLayout(stats)
        card_layout.addWidget(self.detail)
        layout.addWidget(card)

        # ---- settings -------------------------------------------------------------------------------------
        self.settings_widget = QWidget()
        form_layout = QVBoxLayout(self.settings_widget)
        form_layout.setContentsMargins(0, 0, 0, 0)
        form_layout.setSpacing(8)
        self.notes = hint()
        self.notes.hide()
        form_layout.addWidget(self.notes)

        form_layout.addWidget(section_title("Recipe"))
        recipe_form = self._form()
        self.recipe = _combo(RECIPE_LABELS)
        self.recipe.setToolTip("What training means for this network; Automatic decides from the network and "
                               "the data.")
        self.recipe_hint = hint()
        recipe_form.addRow(field_label("Recipe"), self.recipe)
        recipe_form.addRow("", self.recipe_hint)
        self.epochs = QSpinBox()
        self.epochs.setRange(1, 1_000_000)
        self.batch_size = QSpinBox()
        self.batch_size.setRange(1, 1_000_000)
        self.patience = QSpinBox()
        self.patience.setRange(0, 100_000)
        self.patience.setSpecialValueText("off")
        self.patience.setToolTip("Stop when the validation loss has not improved for this many epochs.")
        recipe_form.addRow(field_label("Epochs"), self.epochs)
        recipe_form.addRow(field_label("Batch size"), self.batch_size)
        recipe_form.addRow(field_label("Early stop"), self.patience)
        self.transfer = QLineEdit()
        self.transfer.setPlaceholderText("random initial weights")
        self.transfer.setToolTip("Transfer learning: start from an earlier run folder or a .safetensors file "
                                 "(layers matched by name and shape).")
        self.transfer_button = QPushButton("Browse…")
        transfer_row = QWidget()
        row = QHBoxLayout(transfer_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(4)
        row.addWidget(self.transfer, 1)
        row.addWidget(self.transfer_button)
        recipe_form.addRow(field_label("Start from"), transfer_row)
        form_layout.addLayout(recipe_form)

        form_layout.addWidget(section_title("Optimisation"))
        opt_form = self._form()
        self.optimizer = _combo(OPTIMIZER_LABELS)
        self.lr = NumberField(0.0, None, allow_zero=False)
        self.lr.setToolTip("Learning rate: the size of each step (Adam: 0.001 is a good start).")
        self.schedule = _combo(SCHEDULE_LABELS)
        self.warmup = QSpinBox()
        self.warmup.setRange(0, 100_000_000)
        self.warmup.setSuffix(" batches")
        self.warmup.setToolTip("Raise the learning rate linearly from 0 over this many batches first.")
        opt_form.addRow(field_label("Optimizer"), self.optimizer)
        opt_form.addRow(field_label("Learning rate"), self.lr)
        opt_form.addRow(field_label("Schedule"), self.schedule)
        opt_form.addRow(field_label("Warm-up"), self.warmup)
        form_layout.addLayout(opt_form)

        self.loss_title = section_title("Loss per output")
        form_layout.addWidget(self.loss_title)
        self.loss_form = self._form()
        form_layout.addLayout(self.loss_form)

        form_layout.addWidget(section_title("Regularisation"))
        reg_form = self._form()
        self.weight_decay = NumberField(0.0, 10.0)
        self.weight_decay.setToolTip("Decoupled weight decay applied by the optimiser (AdamW-style for AdamW).")
        self.l1 = NumberField(0.0, 1e6)
        self.l1.setToolTip("L1 penalty on every weight matrix and kernel (drives weights to exactly zero).")
        self.l2 = NumberField(0.0, 1e6)
        self.l2.setToolTip("L2 penalty on every weight matrix and kernel.")
        self.grad_clip = NumberField(0.0, None)
        self.grad_clip.setToolTip("Clip the global gradient norm to this value (0 = off); steadies training.")
        reg_form.addRow(field_label("Weight decay"), self.weight_decay)
        reg_form.addRow(field_label("L1 penalty"), self.l1)
        reg_form.addRow(field_label("L2 penalty"), self.l2)
        reg_form.addRow(field_label("Gradient clip"), self.grad_clip)
        form_layout.addLayout(reg_form)

        form_layout.addWidget(section_title("Device and seed"))
        hw_form = self._form()
        self.device = _combo(device_choices())
        self.device.setToolTip("Where to train. Automatic picks a GPU when there is one.")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2_147_483_647)
        self.seed.setToolTip("The same seed, data and settings give the same run, loss for loss.")
        hw_form.addRow(field_label("Device"), self.device)
        hw_form.addRow(field_label("Seed"), self.seed)
        form_layout.addLayout(hw_form)
        layout.addWidget(self.settings_widget)
        layout.addStretch(1)

        # ---- wiring ---------------------------------------------------------------------------------------
        self.recipe.currentIndexChanged.connect(lambda: self._commit({"recipe": self.recipe.currentData()}))
        self.optimizer.currentIndexChanged.connect(
            lambda: self._commit({"optimizer": self.optimizer.currentData()}))
        self.schedule.currentIndexChanged.connect(lambda: self._commit({"schedule": self.schedule.currentData()}))
        self.device.currentIndexChanged.connect(lambda: self._commit({"device": self.device.currentData()}))
        self.epochs.valueChanged.connect(lambda v: self._commit({"epochs": v}))
        self.batch_size.valueChanged.connect(lambda v: self._commit({"batch_size": v}))
        self.warmup.valueChanged.connect(lambda v: self._commit({"warmup_steps": v}))
        self.seed.valueChanged.connect(lambda v: self._commit({"seed": v}))
        self.patience.valueChanged.connect(self._commit_patience)
        for key, field in (("lr", self.lr), ("weight_decay", self.weight_decay), ("l1", self.l1), ("l2", self.l2),
                           ("grad_clip", self.grad_clip)):
            field.editingFinished.connect(lambda k=key, f=field: self._commit_number(k, f))
        self.transfer.editingFinished.connect(self._commit_transfer)
        self.transfer_button.clicked.connect(self._browse_transfer)

        qt_doc.settingsChanged.connect(self._on_settings_changed)
        qt_doc.documentReplaced.connect(self.load_settings)
        qt_doc.analysisChanged.connect(lambda _network: self._refresh_outputs())
        qt_doc.networksChanged.connect(self._refresh_outputs)
        qt_doc.lockChanged.connect(self._on_lock_changed)
        self.set_state(running=False, paused=False)
        self.load_settings()

    @staticmethod
    def _form() -> QFormLayout:
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(6)
        return form

    # ---- settings <-> widgets ------------------------------------------------------------------------------
    def config(self) -> tuple[TrainConfig, list[str]]:
        """The document's training settings as the engine will read them (ConfigError if invalid)."""
        return read_config(self.qt_doc.document.settings)

    def load_settings(self) -> None:
        """Show the document's settings (after opening, undo, or an edit elsewhere)."""
        self._loading = True
        try:
            try:
                config, notes = self.config()
                self.show_message("", "")
            except ConfigError as error:
                config, notes = TrainConfig(), []
                self.show_message("error", "The training settings of this document are not valid.",
                                  f"{error} Change the setting below to replace it.")
            self.notes.setText(" ".join(notes))
            self.notes.setVisible(bool(notes))
            _select(self.recipe, config.recipe)
            _select(self.optimizer, config.optimizer)
            _select(self.schedule, config.schedule)
            _select(self.device, config.device)
            self.epochs.setValue(config.epochs)
            self.batch_size.setValue(config.batch_size)
            self.warmup.setValue(config.warmup_steps)
            self.seed.setValue(min(config.seed, self.seed.maximum()))
            self.patience.setValue(config.early_stopping.patience)
            self.lr.set_value(config.lr)
            self.weight_decay.set_value(config.weight_decay)
            self.l1.set_value(config.l1)
            self.l2.set_value(config.l2)
            self.grad_clip.set_value(config.grad_clip)
            self.transfer.setText(config.transfer.source)
            self._refresh_outputs(config)
            self._update_recipe_hint(config)
        finally:
            self._loading = False

    def _on_settings_changed(self, key: str) -> None:
        if key in ("training", "data") and not self._loading:
            self.load_settings()

    def _commit(self, changes: dict[str, Any]) -> bool:
        """Merge ``changes`` into settings["training"] and store it with one undoable SetSetting."""
        if self._loading:
            return False
        settings = self.qt_doc.document.settings
        training, _notes = normalized_training(settings)
        training.update(changes)
        try:
            TrainConfig.from_dict(training)  # validates every field (the data settings are the Data panel's)
        except ConfigError as error:
            self.show_message("error", "This setting cannot be used.", str(error))
            self.load_settings_later()
            return False
        try:
            self._loading = True
            self.qt_doc.execute(SetSetting("training", training))
        except DocumentError as error:
            self._loading = False
            self.show_message("warning", "The setting was not changed.", str(error))
            self.load_settings_later()
            return False
        finally:
            self._loading = False
        self.load_settings()
        return True

    def load_settings_later(self) -> None:
        from PySide6.QtCore import QTimer

        QTimer.singleShot(0, self, self._reload_keep_message)

    def _reload_keep_message(self) -> None:
        message = (self.message_banner.severity, self.message_banner.title.text(), self.message_banner.text.text())
        visible = self.message_banner.isVisible()
        self.load_settings()
        if visible:
            self.show_message(*message)

    def _commit_number(self, key: str, field: NumberField) -> None:
        value = field.value()
        if value is None:
            field.set_invalid(True)
            bounds = f"from {field.minimum:g}" + (f" to {field.maximum:g}" if field.maximum is not None else "")
            zero = "" if field.allow_zero else ", above 0"
            self.show_message("error", f"{field_name(key)} must be a number {bounds}{zero}.",
                              f"'{field.text()}' is not; the stored value is kept.")
            return
        field.set_invalid(False)
        current, _ = normalized_training(self.qt_doc.document.settings)
        if current.get(key) == value or (key not in current and getattr(TrainConfig(), key) == value):
            return
        self._commit({key: value})

    def _commit_patience(self, value: int) -> None:
        training, _ = normalized_training(self.qt_doc.document.settings)
        early = dict(training.get("early_stopping") or {})
        early["patience"] = value
        self._commit({"early_stopping": early})

    def _commit_transfer(self) -> None:
        text = self.transfer.text().strip()
        training, _ = normalized_training(self.qt_doc.document.settings)
        transfer = dict(training.get("transfer") or {})
        if transfer.get("source", "") == text:
            return
        if text:
            transfer["source"] = text
            transfer.pop("pretrain", None)
        else:
            transfer.pop("source", None)
        self._commit({"transfer": transfer})

    def _browse_transfer(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Start from weights", "",
                                              "Weights (*.safetensors);;Run configuration (config.json)")
        if not path:
            return
        if path.endswith("config.json"):
            from pathlib import Path

            path = str(Path(path).parent)
        self.transfer.setText(path)
        self._commit_transfer()

    # ---- losses per Output node -----------------------------------------------------------------------------
    def _trained_outputs(self, config: TrainConfig | None) -> list[str]:
        document = self.qt_doc.document
        if config is None:
            try:
                config, _ = self.config()
            except ConfigError:
                return []
        try:
            recipe = choose_recipe(document, config, self.data_info)
            if recipe == "gan":
                return []
            network = pick_network(document, config)
        except (TrainError, KeyError):
            return []
        return [node.name for node in network.outputs()]

    def _refresh_outputs(self, config: TrainConfig | None = None) -> None:
        names = self._trained_outputs(config)
        if config is None:
            try:
                config, _ = self.config()
            except ConfigError:
                config = TrainConfig()
        chosen = {loss.output: loss.loss for loss in config.losses}
        if names != self._output_names:
            self._output_names = names
            while self.loss_form.rowCount():
                self.loss_form.removeRow(0)
            self._loss_boxes = {}
            for name in names:
                box = _combo(LOSS_LABELS)
                box.setToolTip(f"The loss that trains Output '{name}'. Automatic follows the Output's role.")
                box.currentIndexChanged.connect(lambda _i, n=name: self._commit_loss(n))
                self.loss_form.addRow(field_label(name), box)
                self._loss_boxes[name] = box
        was = self._loading
        self._loading = True
        try:
            for name, box in self._loss_boxes.items():
                _select(box, chosen.get(name, "auto"))
        finally:
            self._loading = was
        visible = bool(names)
        self.loss_title.setVisible(visible)
        self._update_recipe_hint(config)

    def _commit_loss(self, output: str) -> None:
        box = self._loss_boxes.get(output)
        if box is None or self._loading:
            return
        training, _ = normalized_training(self.qt_doc.document.settings)
        raw = training.get("losses") or []
        if isinstance(raw, dict):
            raw = [dict(v, output=k) if isinstance(v, dict) else {"output": k, "loss": v} for k, v in raw.items()]
        losses = [dict(item) for item in raw if isinstance(item, dict)]
        entry = next((item for item in losses if item.get("output") == output), None)
        value = box.currentData()
        if entry is None:
            if value == "auto":
                return
            losses.append({"output": output, "loss": value})
        else:
            entry["loss"] = value
            if value == "auto" and set(entry) <= {"output", "loss"}:
                losses.remove(entry)
        self._commit({"losses": losses})

    def _update_recipe_hint(self, config: TrainConfig) -> None:
        if config.recipe != "auto":
            self.recipe_hint.setText("")
            self.recipe_hint.hide()
            return
        try:
            chosen = choose_recipe(self.qt_doc.document, config, self.data_info)
        except (TrainError, KeyError):
            chosen = ""
        self.recipe_hint.setText(f"Chosen now: {RECIPE_LABELS.get(chosen, chosen).lower()}." if chosen else "")
        self.recipe_hint.setVisible(bool(chosen))

    def set_data_info(self, info: Any) -> None:
        """The data the document will train on (from the Data panel), which decides the automatic recipe."""
        self.data_info = info
        self._refresh_outputs()

    # ---- state ---------------------------------------------------------------------------------------------
    def set_state(self, running: bool, paused: bool) -> None:
        self._running = running
        self.start_button.setEnabled(not running)
        self.pause_button.setEnabled(running)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.stop_button.setEnabled(running)
        self.settings_widget.setEnabled(not running)

    def _on_lock_changed(self, reason: str) -> None:
        if reason:
            self.lock_banner.show_message("locked", "The network is locked while training runs.",
                                          "Layers and wires cannot be changed until you stop training; you can "
                                          "still select layers and inspect their parameters.")
        else:
            self.lock_banner.clear()

    def show_message(self, severity: str, title: str, text: str = "") -> None:
        """A message above the progress ("" severity clears it): errors, NaN advice, finished runs."""
        if not severity:
            self.message_banner.clear()
        else:
            self.message_banner.show_message(severity, title, text)

    def set_progress(self, fraction: float, headline: str, detail: str, stats: dict[str, str]) -> None:
        self.progress.setValue(int(round(max(0.0, min(1.0, fraction)) * 1000)))
        self.headline.setText(headline)
        self.detail.setText(detail)
        for key, label in self.stat_values.items():
            label.setText(stats.get(key, "–"))

    def progress_fraction(self) -> float:
        return self.progress.value() / 1000.0


def field_name(key: str) -> str:
    return {"lr": "The learning rate", "weight_decay": "Weight decay", "l1": "The L1 penalty",
            "l2": "The L2 penalty", "grad_clip": "Gradient clipping"}.get(key, key)
