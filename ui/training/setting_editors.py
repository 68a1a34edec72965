"""One editor per setting of the schema, chosen by the setting's type (never by a widget name stored anywhere).

An editor shows a value as the file holds it (`set_value`), reads back what the user typed through the schema's
own parser (`value`, ConfigError when it cannot be used), and emits ``edited`` when the user has finished a
change. The Training panel lays the editors out by the schema's groups and stores their values with SetSetting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from netbuilder.train import schema
from netbuilder.train import settings_check as check
from netbuilder_ui.training.widgets import repolish

SPIN_MAX = 2_147_483_647  # QSpinBox holds a C int


class NumberField(QLineEdit):
    """A float typed as text (0.001, 1e-4): friendlier than a spin box for values spanning decades."""

    def __init__(self, minimum: float = 0.0, maximum: float | None = None, allow_zero: bool = True):
        super().__init__()
        self.minimum, self.maximum, self.allow_zero = minimum, maximum, allow_zero
        self.setMaximumWidth(120)

    def set_value(self, value: float | None) -> None:
        self.setText("" if value is None else f"{value:g}")
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


def combo(items: dict[str, str] | list[tuple[str, str]]) -> QComboBox:
    """A combo box of (value, label) pairs."""
    box = QComboBox()
    pairs = list(items.items()) if isinstance(items, dict) else items
    for value, label in pairs:
        box.addItem(label, value)
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(8)
    return box


def select(box: QComboBox, value: Any) -> None:
    """Show ``value`` in a combo box, adding it when the box does not offer it (a value from a newer file)."""
    index = box.findData(value)
    if index < 0:
        box.addItem(str(value), value)
        index = box.count() - 1
    box.setCurrentIndex(index)


class SettingEditor(QObject):
    """The editor of one schema entry: ``widget`` is what the panel lays out."""

    edited = Signal()

    def __init__(self, entry: schema.Setting, device_choices: Callable[[], list[tuple[str, str]]] | None = None):
        super().__init__()
        self.entry = entry
        kind = entry.type
        self.widget: QWidget
        if kind == "choice":
            self.widget = combo([(c, entry.label_of(c)) for c in entry.choices])
            self.widget.currentIndexChanged.connect(lambda _i: self.edited.emit())
        elif kind == "device":
            self.widget = combo(device_choices() if device_choices else [("auto", "Automatic"), ("cpu", "CPU")])
            self.widget.currentIndexChanged.connect(lambda _i: self.edited.emit())
        elif kind == "bool":
            self.widget = QCheckBox()
            self.widget.toggled.connect(lambda _on: self.edited.emit())
        elif kind == "int" and not entry.nullable:
            spin = QSpinBox()
            spin.setRange(int(entry.low or 0), int(min(entry.high if entry.high is not None else SPIN_MAX, SPIN_MAX)))
            if entry.zero_text and (entry.low or 0) == 0:
                spin.setSpecialValueText(entry.zero_text)
            if entry.key == "warmup_steps":
                spin.setSuffix(" batches")
            spin.valueChanged.connect(lambda _v: self.edited.emit())
            self.widget = spin
        elif kind == "float":
            low = entry.low if entry.low is not None else -math.inf
            field = NumberField(low, entry.high, allow_zero=not (entry.low_open and entry.low == 0))
            field.editingFinished.connect(self.edited.emit)
            self.widget = field
        else:  # text, lists, mappings and numbers that may be empty: typed as text
            line = QLineEdit()
            line.editingFinished.connect(self.edited.emit)
            self.widget = line
        if isinstance(self.widget, QLineEdit):
            placeholder = entry.null_text if entry.nullable else {
                "names": "comma-separated names", "ints": "comma-separated class ids", "floats": "comma-separated",
                "metrics": "e.g. top3, f1", "mapping": "JSON, e.g. " + json.dumps(entry.example())}.get(kind, "")
            if entry.id == "training.transfer.source":
                placeholder = "random initial weights"
            self.widget.setPlaceholderText(placeholder)
        self.widget.setToolTip(entry.doc)
        self.widget.setObjectName(f"setting:{entry.id}")

    # ---- value <-> widget ----------------------------------------------------------------------------------
    def set_value(self, value: Any) -> None:
        """Show a value as the file holds it (already checked)."""
        w = self.widget
        if isinstance(w, QComboBox):
            select(w, value)
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(min(int(value), w.maximum()))
        elif isinstance(w, NumberField):
            w.set_value(value)
        else:
            assert isinstance(w, QLineEdit)
            w.setText(self._text(value))
            self.set_invalid(False)

    def _text(self, value: Any) -> str:
        if value is None:
            return ""
        if self.entry.type == "mapping":
            return json.dumps(value) if value else ""
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    def value(self) -> Any:
        """The value typed, checked by the schema (ConfigError naming the setting when it cannot be used)."""
        w = self.widget
        if isinstance(w, QComboBox):
            raw: Any = w.currentData()
        elif isinstance(w, QCheckBox):
            raw = w.isChecked()
        elif isinstance(w, QSpinBox):
            raw = w.value()
        else:
            assert isinstance(w, QLineEdit)
            raw = w.text().strip()
            if raw == "" and not self.entry.nullable and self.entry.type in ("int", "float"):
                raise schema.ConfigError(f"settings.{self.entry.id}: must be a number; it is empty.")
        return check.parse(self.entry, raw)

    def set_invalid(self, invalid: bool) -> None:
        if isinstance(self.widget, NumberField):
            self.widget.set_invalid(invalid)
        elif isinstance(self.widget, QLineEdit) and bool(self.widget.property("invalid")) != invalid:
            self.widget.setProperty("invalid", invalid)
            repolish(self.widget)

    def text(self) -> str:
        """What the user typed, for messages."""
        w = self.widget
        return w.text() if isinstance(w, QLineEdit) else str(self.value())
