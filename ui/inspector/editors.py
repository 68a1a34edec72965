"""Parameter editors: the one table that maps a spec parameter's kind to its editor widget.

Editors are chosen by ``ParamKind`` only (the model stores no widget names). Each editor class binds one
``Param`` to one widget: it shows the model's value without committing it back (``set_value``) and hands
the raw user value to ``commit`` when the user is done; ``Param.coerce`` decides whether it is accepted."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import QCheckBox, QComboBox, QLabel, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from netbuilder.specs import Param, ParamKind

_INT_LIMIT = 2**31 - 1


class LineEdit(QLineEdit):
    """Escape puts back the last committed text, so a half-typed bad value is easy to abandon."""

    reverted = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.shown = ""

    def show_text(self, text: str) -> None:
        """Show a committed value; Escape returns to it."""
        self.shown = text
        self.setText(text)
        self.setCursorPosition(0)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Escape and self.text() != self.shown:
            self.setText(self.shown)
            self.reverted.emit()
            return
        super().keyPressEvent(event)


class _WheelWhenFocused:
    """Ignores the mouse wheel unless focused, so scrolling the inspector never edits a value by accident.
    Mixed in before the Qt editor class."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)  # type: ignore[call-arg]
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # type: ignore[attr-defined]

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt override)
        if self.hasFocus():  # type: ignore[attr-defined]
            super().wheelEvent(event)  # type: ignore[misc]
        else:
            event.ignore()


class SpinBox(_WheelWhenFocused, QSpinBox):
    pass


class ComboBox(_WheelWhenFocused, QComboBox):
    pass


class Field(QWidget):
    """One editor with its inline message underneath: a rejected input (red) or a diagnostic about it
    (amber)."""

    def __init__(self, editor: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.editor = editor
        self.message = QLabel(self)
        self.message.setObjectName("fieldError")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(editor)
        layout.addWidget(self.message)
        self.input_error = ""
        self.diagnostic = ""

    def set_input_error(self, text: str) -> None:
        """Why the typed value was refused ("" clears it); it wins over a diagnostic."""
        self.input_error = text
        self._render()

    def set_diagnostic(self, text: str) -> None:
        """A problem the analysis reports for this parameter ("" clears it)."""
        self.diagnostic = text
        self._render()

    def message_text(self) -> str:
        """The message shown under the field, or ""."""
        return self.message.text() if self.message.isVisibleTo(self) else ""

    def _render(self) -> None:
        text = self.input_error or self.diagnostic
        self.message.setProperty("severity", "error" if self.input_error else "warning")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setText(text)
        self.message.setVisible(bool(text))
        self.editor.setProperty("invalid", bool(self.input_error))
        self.editor.style().unpolish(self.editor)
        self.editor.style().polish(self.editor)


# ---- one editor class per kind of parameter -------------------------------------------------------------

class ParamEditor:
    """Binds one ``Param`` to a widget; subclasses make the widget. ``commit`` receives the raw user value."""

    def __init__(self, param: Param, commit: Callable[[Any], None], parent: QWidget):
        self.param = param
        self._commit = commit
        self.widget: QWidget = self._make_widget(parent)
        self.widget.setToolTip(param_tooltip(param))
        self.widget.setObjectName(f"param_{param.name}")

    def _make_widget(self, parent: QWidget) -> QWidget:
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        """Show the model's value without committing it back."""
        blocked = self.widget.blockSignals(True)
        try:
            self._show(value)
        finally:
            self.widget.blockSignals(blocked)

    def _show(self, value: Any) -> None:
        raise NotImplementedError

    def text(self) -> str:
        """What the editor shows, as text (for tests and accessibility)."""
        raise NotImplementedError

    def commit_pending(self) -> None:
        """Commit what the user typed but did not confirm (before the inspector changes target)."""


class IntEditor(ParamEditor):
    """A spin box bounded by the parameter's range; the keyboard steps it (the style hides the buttons)."""

    widget: SpinBox

    def _make_widget(self, parent: QWidget) -> QWidget:
        spin = SpinBox(parent)
        spin.setKeyboardTracking(False)  # one command when the user is done typing, not per digit
        param = self.param
        low = int(param.minimum) if param.minimum is not None else -_INT_LIMIT
        high = int(param.maximum) if param.maximum is not None else _INT_LIMIT
        spin.setRange(max(low, -_INT_LIMIT), min(high, _INT_LIMIT))
        spin.lineEdit().setTextMargins(6, 0, 0, 0)  # the window's style hides the step buttons: keys step
        spin.valueChanged.connect(lambda value: self._commit(int(value)))
        return spin

    def _show(self, value: Any) -> None:
        self.widget.setValue(int(value))

    def text(self) -> str:
        return str(self.widget.value())

    def commit_pending(self) -> None:
        spin = self.widget
        if spin.text() != spin.textFromValue(spin.value()):
            spin.interpretText()  # emits valueChanged (keyboard tracking is off), which commits


class BoolEditor(ParamEditor):
    """A check box: one command per click."""

    widget: QCheckBox

    def _make_widget(self, parent: QWidget) -> QWidget:
        box = QCheckBox(parent)
        box.toggled.connect(lambda checked: self._commit(bool(checked)))
        return box

    def _show(self, value: Any) -> None:
        self.widget.setChecked(bool(value))

    def text(self) -> str:
        return str(self.widget.isChecked()).lower()


class ChoiceEditor(ParamEditor):
    """A drop-down of the parameter's choices, shown with spaces for underscores."""

    widget: ComboBox

    def _make_widget(self, parent: QWidget) -> QWidget:
        combo = ComboBox(parent)
        for choice in self.param.choices:
            combo.addItem(str(choice).replace("_", " "), choice)
        combo.activated.connect(lambda index: self._commit(combo.itemData(index)))
        return combo

    def _show(self, value: Any) -> None:
        index = self.widget.findData(value)
        self.widget.setCurrentIndex(index if index >= 0 else 0)

    def text(self) -> str:
        return str(self.widget.currentData())


class TextEditor(ParamEditor):
    """Typed text, checked by ``Param.coerce`` when the user presses Enter or leaves the field."""

    widget: LineEdit

    def _make_widget(self, parent: QWidget) -> QWidget:
        edit = LineEdit(parent)
        param = self.param
        if param.allow_none:
            edit.setPlaceholderText("auto")
        elif param.kind is ParamKind.INTS:
            edit.setPlaceholderText(", ".join(["3"] * (param.length or 2)))
        elif param.kind is ParamKind.SHAPE:
            edit.setPlaceholderText("e.g. 1, 28, 28 or T")
        edit.editingFinished.connect(self._text_finished)
        return edit

    def _text_finished(self) -> None:
        edit = self.widget
        if edit.text() == edit.shown:
            return
        text = edit.text()
        if self.param.allow_none and text.strip().lower() in ("", "auto"):
            self._commit(None)
        else:
            self._commit(text)

    def _show(self, value: Any) -> None:
        self.widget.show_text(self.param.format(value))

    def text(self) -> str:
        return self.widget.text()

    def commit_pending(self) -> None:
        if self.widget.text() != self.widget.shown:
            self._text_finished()


# The one place that maps a parameter kind to its editor. An optional value ("auto") is always typed text,
# whatever its kind, so an empty field can mean None.
EDITOR_FOR_KIND: dict[ParamKind, type[ParamEditor]] = {
    ParamKind.INT: IntEditor,
    ParamKind.FLOAT: TextEditor,
    ParamKind.BOOL: BoolEditor,
    ParamKind.CHOICE: ChoiceEditor,
    ParamKind.INTS: TextEditor,
    ParamKind.SHAPE: TextEditor,
    ParamKind.TEXT: TextEditor,
}


def make_editor(param: Param, commit: Callable[[Any], None], parent: QWidget) -> ParamEditor:
    """The editor for ``param``, chosen by its kind (``EDITOR_FOR_KIND``)."""
    cls = TextEditor if param.allow_none else EDITOR_FOR_KIND[param.kind]
    return cls(param, commit, parent)


def param_tooltip(param: Param) -> str:
    """The parameter's title, doc, range and whether it may be left empty, as rich text."""
    parts = [f"<b>{html.escape(param.title)}</b>"]
    if param.doc:
        parts.append(html.escape(param.doc))
    if param.minimum is not None or param.maximum is not None:
        low = "−∞" if param.minimum is None else f"{param.minimum:g}"
        high = "∞" if param.maximum is None else f"{param.maximum:g}"
        parts.append(f"<span style='color:#6b7480'>Range {low} … {high}</span>")
    if param.allow_none:
        parts.append("<span style='color:#6b7480'>Leave empty for auto.</span>")
    return "<br>".join(parts)
