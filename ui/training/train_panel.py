"""The Training panel: how to train (recipe, optimiser, schedule, losses, regularisation, device, seed), the
Start / Pause / Stop buttons, and the progress of the run.

Every setting is stored in the document's ``settings["training"]`` through the undoable SetSetting command, so a
setting is saved with the file, undone with Ctrl+Z and restored by the panel when the document changes. Values
are checked with the training engine's own validation before they are written; a bad value is marked on its
field and explained, never stored.
"""

from __future__ import annotations

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
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from netbuilder.document import DocumentError, SetSetting
from netbuilder.train import ConfigError, TrainConfig, TrainError, choose_recipe, schema
from netbuilder.train.recipes import pick_network
from netbuilder_ui.qt_document import QtDocument
from netbuilder_ui.training.setting_editors import NumberField, SettingEditor, combo, select
from netbuilder_ui.training.settings import (
    DATA_PANEL_SETTINGS,
    LOSS_LABELS,
    RECIPE_LABELS,
    data_settings,
    device_choices,
    normalized_training,
    read_config,
)
from netbuilder_ui.training.widgets import (
    PANEL_STYLE,
    Banner,
    field_label,
    hint,
    scrolled_panel,
    section_title,
)

__all__ = ["NumberField", "TrainingPanel"]


class TrainingPanel(QWidget):
    """Settings, controls and progress of training. The controller connects the three request signals."""

    startRequested = Signal()
    pauseRequested = Signal()  # pause or resume, depending on the state
    stopRequested = Signal()
    lrFindRequested = Signal()  # the "Find…" button beside the learning rate

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

        self.editors: dict[str, SettingEditor] = {}
        self._build_settings(form_layout)
        layout.addWidget(self.settings_widget)
        layout.addStretch(1)

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

    def _build_settings(self, form_layout: QVBoxLayout) -> None:
        """One editor per setting of the schema, in the schema's groups; the rarely changed groups sit under
        "More settings". The Data panel edits the data source, its options and the split fractions."""
        shown = [e for e in schema.SETTINGS if e.id not in DATA_PANEL_SETTINGS]
        more = QWidget()
        more_layout = QVBoxLayout(more)
        more_layout.setContentsMargins(0, 0, 0, 0)
        more_layout.setSpacing(8)
        for group in schema.GROUPS:
            entries = [e for e in shown if e.group == group]
            if not entries:
                continue
            target = more_layout if all(e.advanced for e in entries) else form_layout
            if group == "Losses":
                self.loss_title = section_title("Loss per output")
                target.addWidget(self.loss_title)
                self.loss_form = self._form()
                target.addLayout(self.loss_form)
                continue
            target.addWidget(section_title(group))
            form = self._form()
            for entry in entries:
                editor = SettingEditor(entry, device_choices)
                editor.edited.connect(lambda e=editor: self._commit_editor(e))
                self.editors[entry.id] = editor
                row: QWidget = editor.widget
                if entry.id == "training.transfer.source":
                    self.transfer_button = QPushButton("Browse…")
                    self.transfer_button.clicked.connect(self._browse_transfer)
                    row = _with_button(editor.widget, self.transfer_button)
                if entry.id == "training.lr":
                    self.lr_find_button = QPushButton("Find…")
                    self.lr_find_button.setToolTip("Learning-rate range test: train a copy briefly with a growing "
                                                   "rate, show the loss curve and suggest a rate.")
                    self.lr_find_button.clicked.connect(self.lrFindRequested)
                    row = _with_button(editor.widget, self.lr_find_button)
                form.addRow(field_label(entry.label), row)
                if entry.id == "training.recipe":
                    self.recipe_hint = hint()
                    form.addRow("", self.recipe_hint)
            target.addLayout(form)
        self.more_button = QToolButton()
        self.more_button.setText("More settings")
        self.more_button.setCheckable(True)
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setArrowType(Qt.ArrowType.RightArrow)
        self.more_button.setAutoRaise(True)
        self.more_button.setToolTip("Optimiser and schedule details, early stopping, metrics, checkpoints, the "
                                    "settings of VAEs, GANs and language models, transfer learning and the split.")
        self.more_settings = more
        more.setVisible(False)
        self.more_button.toggled.connect(self._show_more)
        form_layout.addWidget(self.more_button)
        form_layout.addWidget(more)
        # the panel's most used editors by name
        for name, key in (("recipe", "recipe"), ("epochs", "epochs"), ("batch_size", "batch_size"),
                          ("patience", "early_stopping.patience"), ("optimizer", "optimizer"), ("lr", "lr"),
                          ("schedule", "schedule"), ("warmup", "warmup_steps"), ("weight_decay", "weight_decay"),
                          ("l1", "l1"), ("l2", "l2"), ("grad_clip", "grad_clip"), ("dropout", "dropout"),
                          ("device", "device"), ("seed", "seed"), ("threads", "threads"),
                          ("transfer", "transfer.source")):
            setattr(self, name, self.editors[f"training.{key}"].widget)

    def _show_more(self, shown: bool) -> None:
        self.more_settings.setVisible(shown)
        self.more_button.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

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
            for setting_id, editor in self.editors.items():
                editor.set_value(config.get(setting_id))
            self._refresh_outputs(config)
            self._update_recipe_hint(config)
        finally:
            self._loading = False

    def _on_settings_changed(self, key: str) -> None:
        if key in ("training", "data") and not self._loading:
            self.load_settings()

    def _commit(self, changes: dict[str, Any], training: dict[str, Any] | None = None) -> bool:
        """Merge ``changes`` into settings["training"] (or ``training``, already changed) and store it with one
        undoable SetSetting."""
        if self._loading:
            return False
        if training is None:
            training, _notes = normalized_training(self.qt_doc.document.settings)
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

    def _commit_editor(self, editor: SettingEditor) -> None:
        """Store what the user set in one editor (checked by the schema first; a bad value is marked and kept out
        of the document)."""
        if self._loading:
            return
        entry = editor.entry
        try:
            value = editor.value()
        except ConfigError as error:
            editor.set_invalid(True)
            _where, _sep, text = str(error).partition(": ")
            self.show_message("error", f"{entry.label}: {text}", f"'{editor.text()}' is not used; the stored value "
                                                                  "is kept.")
            return
        editor.set_invalid(False)
        try:
            if self.config()[0].get(entry.id) == value:
                return  # nothing changed (e.g. the focus left a field)
        except ConfigError:
            pass
        if entry.section == "data":
            self._commit_data(entry, value)
            return
        training, _ = normalized_training(self.qt_doc.document.settings)
        schema.set_path(training, entry.path, value)
        if entry.id == "training.transfer.source" and value and isinstance(training.get("transfer"), dict):
            training["transfer"].pop("pretrain", None)  # one way to start from other weights
        self._commit({}, training)

    def _commit_data(self, entry: schema.Setting, value: Any) -> None:
        data = data_settings(self.qt_doc.document.settings)
        schema.set_path(data, entry.path, value)
        training, _ = normalized_training(self.qt_doc.document.settings)
        try:
            TrainConfig.from_dict(training, data)
        except ConfigError as error:
            self.show_message("error", "This setting cannot be used.", str(error))
            self.load_settings_later()
            return
        try:
            self._loading = True
            self.qt_doc.execute(SetSetting("data", data))
        except DocumentError as error:
            self.show_message("warning", "The setting was not changed.", str(error))
        finally:
            self._loading = False
        self.load_settings()

    def _commit_transfer(self) -> None:
        self._commit_editor(self.editors["training.transfer.source"])

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
                box = combo(LOSS_LABELS)
                box.setToolTip(f"The loss that trains Output '{name}'. Automatic follows the Output's role.")
                box.currentIndexChanged.connect(lambda _i, n=name: self._commit_loss(n))
                self.loss_form.addRow(field_label(name), box)
                self._loss_boxes[name] = box
        was = self._loading
        self._loading = True
        try:
            for name, box in self._loss_boxes.items():
                select(box, chosen.get(name, "auto"))
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


def _with_button(widget: QWidget, button: QPushButton) -> QWidget:
    """One form row: the editor stretched, a button beside it."""
    row = QWidget()
    line = QHBoxLayout(row)
    line.setContentsMargins(0, 0, 0, 0)
    line.setSpacing(4)
    line.addWidget(widget, 1)
    line.addWidget(button)
    return row
