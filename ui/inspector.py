"""The inspector: editors for the selected node, generated from each parameter's kind.

Every change is one command pushed through `QtDocument.execute` (SetParams, RenameNode, SetNodeOptions), so
it is undoable and the canvas follows through the document's events. A value that does not pass
``Param.coerce`` never reaches the document: the field keeps what the user typed, with the reason in red
underneath, and the model keeps its last good value. Editors are chosen by ``ParamKind`` only; the model
stores no widget names."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent, QWheelEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from netbuilder.analysis import Analysis, Diagnostic
from netbuilder.document import DocumentError, Macro, Network, Node, RenameNode, SetNodeOptions, SetParams
from netbuilder.document.model import check_node_options
from netbuilder.specs import Param, ParamError, ParamKind
from netbuilder_ui.icons import category_color, category_icon, severity_icon
from netbuilder_ui.qt_document import QtDocument

_INT_LIMIT = 2**31 - 1
LABEL_WIDTH = 92

OPTION_LABELS = {
    "lr_mult": "LR multiplier",
    "l1": "L1 penalty",
    "l2": "L2 penalty",
}
OPTION_DOCS = {
    "trainable": "Untick to freeze this layer: its weights are not updated during training (transfer "
                 "learning).",
    "lr_mult": "Multiplies the learning rate for this layer's weights; 0.1 fine-tunes gently, 0 freezes.",
    "l1": "Adds this factor times the sum of absolute weights to the loss; pushes weights to exactly zero.",
    "l2": "Adds this factor times the sum of squared weights to the loss (weight decay for this layer).",
}


def human_count(number: int | float) -> str:
    """A count as people read it: 950, 12.5 K, 1.2 M, 3.4 G."""
    value = float(number)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            scaled = value / scale
            text = f"{scaled:.1f}" if abs(scaled) < 100 else f"{scaled:.0f}"
            return f"{text.removesuffix('.0')} {unit}"
    return str(int(value)) if value.is_integer() else f"{value:g}"


# ---- editor widgets ----------------------------------------------------------------------------------------

class _LineEdit(QLineEdit):
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


class _SpinBox(_WheelWhenFocused, QSpinBox):
    pass


class _ComboBox(_WheelWhenFocused, QComboBox):
    pass


class _DocLabel(QLabel):
    """A layer's doc: its first sentence, with More / Less to show the rest (long docs would push the editors
    out of sight)."""

    def __init__(self, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("specDoc")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.full = text.strip()
        head, dot, rest = self.full.partition(". ")
        self.short = head + dot.strip() if rest else self.full
        self.expanded = False
        self.linkActivated.connect(self.toggle)
        self._render()

    def toggle(self, _link: str = "") -> None:
        self.expanded = not self.expanded
        self._render()

    def _render(self) -> None:
        body = html.escape(self.full if self.expanded else self.short)
        if self.short != self.full:
            link = "Less" if self.expanded else "More"
            body += f" <a href='toggle' style='color:#2f6fde; text-decoration:none'>{link}</a>"
        self.setText(body)


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


class ParamEditor:
    """Binds one ``Param`` to a widget chosen by its kind. ``commit`` receives the raw user value."""

    def __init__(self, param: Param, commit: Callable[[Any], None], parent: QWidget):
        self.param = param
        self._commit = commit
        kind = param.kind
        tip = _param_tooltip(param)
        if kind is ParamKind.INT and not param.allow_none:
            spin = _SpinBox(parent)
            spin.setKeyboardTracking(False)  # one command when the user is done typing, not per digit
            low = int(param.minimum) if param.minimum is not None else -_INT_LIMIT
            high = int(param.maximum) if param.maximum is not None else _INT_LIMIT
            spin.setRange(max(low, -_INT_LIMIT), min(high, _INT_LIMIT))
            spin.lineEdit().setTextMargins(6, 0, 0, 0)  # the window's style hides the step buttons: keys step
            spin.valueChanged.connect(lambda value: self._commit(int(value)))
            self.widget: QWidget = spin
        elif kind is ParamKind.BOOL:
            box = QCheckBox(parent)
            box.toggled.connect(lambda checked: self._commit(bool(checked)))
            self.widget = box
        elif kind is ParamKind.CHOICE:
            combo = _ComboBox(parent)
            for choice in param.choices:
                combo.addItem(str(choice).replace("_", " "), choice)
            combo.activated.connect(lambda index: self._commit(combo.itemData(index)))
            self.widget = combo
        else:  # FLOAT, INTS, SHAPE, TEXT, and optional numbers: typed text, checked by Param.coerce
            edit = _LineEdit(parent)
            if param.allow_none:
                edit.setPlaceholderText("auto")
            elif kind is ParamKind.INTS:
                edit.setPlaceholderText(", ".join(["3"] * (param.length or 2)))
            elif kind is ParamKind.SHAPE:
                edit.setPlaceholderText("e.g. 1, 28, 28 or T")
            edit.editingFinished.connect(self._text_finished)
            self.widget = edit
        self.widget.setToolTip(tip)
        self.widget.setObjectName(f"param_{param.name}")

    def _text_finished(self) -> None:
        edit = self.widget
        assert isinstance(edit, _LineEdit)
        if edit.text() == edit.shown:
            return
        text = edit.text()
        if self.param.allow_none and text.strip().lower() in ("", "auto"):
            self._commit(None)
        else:
            self._commit(text)

    def set_value(self, value: Any) -> None:
        """Show the model's value without committing it back."""
        widget = self.widget
        blocked = widget.blockSignals(True)
        try:
            if isinstance(widget, QSpinBox):
                widget.setValue(int(value))
            elif isinstance(widget, QCheckBox):
                widget.setChecked(bool(value))
            elif isinstance(widget, QComboBox):
                index = widget.findData(value)
                widget.setCurrentIndex(index if index >= 0 else 0)
            elif isinstance(widget, _LineEdit):
                widget.show_text(self.param.format(value))
        finally:
            widget.blockSignals(blocked)

    def text(self) -> str:
        """What the editor shows, as text (for tests and accessibility)."""
        widget = self.widget
        if isinstance(widget, QSpinBox):
            return str(widget.value())
        if isinstance(widget, QCheckBox):
            return str(widget.isChecked()).lower()
        if isinstance(widget, QComboBox):
            return str(widget.currentData())
        assert isinstance(widget, QLineEdit)
        return widget.text()


def _param_tooltip(param: Param) -> str:
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


# ---- the inspector -----------------------------------------------------------------------------------------

class _Stat(QWidget):
    """A caption over a value, as in the header's figures row."""

    def __init__(self, caption: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.caption = QLabel(caption.upper(), self)
        self.caption.setObjectName("statCaption")
        self.value = QLabel("–", self)
        self.value.setObjectName("statValue")
        self.value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(1)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)


class InspectorWidget(QScrollArea):
    """Shows and edits the selected node(s) of one network, or the network itself when nothing is selected."""

    # Enter committed an edit (editors commit it themselves and let the key travel up here): the window hands
    # keyboard focus back to the canvas, so Delete and Ctrl+Z act on the layers again at once.
    editCommitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers() & ~(
                Qt.KeyboardModifier.KeypadModifier):
            event.accept()
            self.editCommitted.emit()
            return
        super().keyPressEvent(event)

    def __init__(self, qt_doc: QtDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("inspector")
        self.qt_doc = qt_doc
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.network_name: str | None = None
        self.node_ids: list[str] = []
        self.editors: dict[str, ParamEditor] = {}
        self.fields: dict[str, Field] = {}
        self.name_edit: _LineEdit | None = None
        self.option_edits: dict[str, _LineEdit] = {}
        self.trainable_box: QCheckBox | None = None
        self._stats: dict[str, _Stat] = {}
        self._diagnostics_box: QVBoxLayout | None = None
        self._title: QLabel | None = None
        self._subtitle: QLabel | None = None
        self._info_labels: dict[str, QLabel] = {}
        self._content: QWidget | None = None
        self._training: QWidget | None = None
        self._no_weights: QLabel | None = None
        qt_doc.nodeChanged.connect(self._on_node_changed)
        qt_doc.nodeRemoved.connect(self._on_node_removed)
        qt_doc.analysisChanged.connect(self._on_analysis_changed)
        qt_doc.documentReplaced.connect(self._on_document_replaced)
        qt_doc.networksChanged.connect(self._on_networks_changed)
        self.set_target(None)

    # ---- public --------------------------------------------------------------------------------------------
    def set_target(self, network: str | None, node_ids: Sequence[str] = ()) -> None:
        """Inspect these nodes of ``network``; no nodes shows the network; None shows nothing."""
        ids = [i for i in node_ids if network and network in self.qt_doc.document.networks
               and i in self.qt_doc.document.network(network)]
        if network == self.network_name and ids == self.node_ids and self._content is not None:
            return
        self._commit_pending()
        self.network_name = network if network in self.qt_doc.document.networks else None
        self.node_ids = ids
        self._rebuild()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(300, 500)

    @property
    def network(self) -> Network | None:
        """The inspected network, if it still exists."""
        if self.network_name is None or self.network_name not in self.qt_doc.document.networks:
            return None
        return self.qt_doc.document.network(self.network_name)

    @property
    def node(self) -> Node | None:
        """The inspected node when exactly one is selected."""
        net = self.network
        if net is None or len(self.node_ids) != 1 or self.node_ids[0] not in net:
            return None
        return net.node(self.node_ids[0])

    def field(self, name: str) -> Field:
        """The field of a parameter, ``"name"`` for the node name, or an option (lr_mult, l1, l2)."""
        return self.fields[name]

    def header_text(self) -> str:
        """The title, subtitle and figures shown at the top, as plain text (tests, accessibility)."""
        parts = [self._title.text() if self._title else "", self._subtitle.text() if self._subtitle else ""]
        parts += [f"{s.caption.text()} {s.value.text()}" for s in self._stats.values()]
        return "\n".join(p for p in parts if p)

    # ---- building ------------------------------------------------------------------------------------------
    def _rebuild(self) -> None:
        old = self._content
        if old is not None:
            for child in old.findChildren(QWidget):
                child.blockSignals(True)  # a dying editor must not commit into the new target
        self.editors.clear()
        self.fields.clear()
        self.option_edits.clear()
        self._stats.clear()
        self._info_labels.clear()
        self.name_edit = None
        self.trainable_box = None
        self._diagnostics_box = None
        self._training = None
        self._no_weights = None
        content = QWidget()
        content.setObjectName("inspectorContent")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(10)
        self._content = content
        net = self.network
        if net is None:
            self._build_empty(layout)
        elif len(self.node_ids) == 1:
            self._build_node(layout, net, net.node(self.node_ids[0]))
        elif self.node_ids:
            self._build_multi(layout, net)
        else:
            self._build_network(layout, net)
        layout.addStretch(1)
        self.setWidget(content)  # deletes the previous content widget
        self._refresh_analysis()

    def _header(self, layout: QVBoxLayout, title: str, subtitle: str, icon_category: str | None,
                stats: Sequence[str]) -> None:
        top = QHBoxLayout()
        top.setSpacing(10)
        if icon_category:
            tile = QLabel()
            tile.setPixmap(category_icon(icon_category).pixmap(QSize(32, 32)))
            tile.setFixedSize(32, 32)
            top.addWidget(tile, 0, Qt.AlignmentFlag.AlignTop)
        texts = QVBoxLayout()
        texts.setSpacing(0)
        self._title = QLabel(title)
        self._title.setObjectName("inspectorTitle")
        self._title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._subtitle = QLabel(subtitle)
        self._subtitle.setObjectName("inspectorSubtitle")
        self._subtitle.setWordWrap(True)
        texts.addWidget(self._title)
        texts.addWidget(self._subtitle)
        top.addLayout(texts, 1)
        layout.addLayout(top)
        if stats:
            card = QFrame()
            card.setObjectName("statsCard")
            grid = QGridLayout(card)
            grid.setContentsMargins(10, 8, 10, 8)
            grid.setHorizontalSpacing(14)
            grid.setVerticalSpacing(8)
            for i, caption in enumerate(stats):
                stat = _Stat(caption)
                self._stats[caption] = stat
                grid.addWidget(stat, i // 2, i % 2)
            layout.addWidget(card)
        diagnostics = QVBoxLayout()
        diagnostics.setSpacing(6)
        self._diagnostics_box = diagnostics
        layout.addLayout(diagnostics)

    @staticmethod
    def _section_title(layout: QVBoxLayout, title: str) -> None:
        label = QLabel(title.upper())
        label.setObjectName("sectionTitle")
        layout.addSpacing(4)
        layout.addWidget(label)

    @staticmethod
    def _form(parent: QWidget | None = None) -> QFormLayout:
        form = QFormLayout(parent) if parent is not None else QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        return form

    def _section(self, layout: QVBoxLayout, title: str) -> QFormLayout:
        self._section_title(layout, title)
        form = self._form()
        layout.addLayout(form)
        return form

    @staticmethod
    def _form_label(text: str, tip: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("fieldLabel")
        label.setToolTip(tip)
        label.setMinimumWidth(LABEL_WIDTH)  # the same field column in every section
        return label

    def _build_empty(self, layout: QVBoxLayout) -> None:
        label = QLabel("Open or create a network to inspect it.")
        label.setObjectName("placeholder")
        label.setWordWrap(True)
        layout.addWidget(label)

    def _build_node(self, layout: QVBoxLayout, net: Network, node: Node) -> None:
        spec = node.spec
        self._header(layout, node.name, f"{spec.title} · {spec.category}", spec.category,
                     ("Output", "Parameters", "Multiply-adds", "Trainable"))
        layout.addWidget(_DocLabel(spec.doc))

        form = self._section(layout, "Layer")
        self.name_edit = _LineEdit()
        self.name_edit.setObjectName("nodeName")
        self.name_edit.show_text(node.name)
        self.name_edit.setToolTip("The layer's name: used in diagnostics, exported code and ONNX. Letters, "
                                  "digits and _; unique in the network.")
        name_field = Field(self.name_edit)
        self.fields["name"] = name_field
        self.name_edit.textEdited.connect(self._check_name)
        self.name_edit.editingFinished.connect(self._commit_name)
        self.name_edit.reverted.connect(lambda: name_field.set_input_error(""))
        form.addRow(self._form_label("Name", self.name_edit.toolTip()), name_field)

        form = self._section(layout, "Parameters")
        if not spec.params:
            none = QLabel("This layer has no parameters to set.")
            none.setObjectName("hint")
            form.addRow(none)
        for param in spec.params:
            editor = ParamEditor(param, self._param_committer(net.name, node.id, param), self)
            editor.set_value(node.params.get(param.name, param.default))
            field = Field(editor.widget)
            self.editors[param.name] = editor
            self.fields[param.name] = field
            if isinstance(editor.widget, _LineEdit):
                editor.widget.reverted.connect(lambda f=field: f.set_input_error(""))
            form.addRow(self._form_label(param.title, editor.widget.toolTip()), field)

        self._section_title(layout, "Training")
        self._no_weights = QLabel("This layer has no weights, so there is nothing to train or regularise.")
        self._no_weights.setObjectName("hint")
        self._no_weights.setWordWrap(True)
        self._no_weights.hide()
        layout.addWidget(self._no_weights)
        self._training = QWidget()
        form = self._form(self._training)
        layout.addWidget(self._training)
        self.trainable_box = QCheckBox("Update weights")
        self.trainable_box.setObjectName("option_trainable")
        self.trainable_box.setToolTip(OPTION_DOCS["trainable"])
        self.trainable_box.setChecked(node.trainable)
        self.trainable_box.toggled.connect(self._commit_trainable)
        form.addRow(self._form_label("Trainable", OPTION_DOCS["trainable"]), self.trainable_box)
        for key, label in OPTION_LABELS.items():
            edit = _LineEdit()
            edit.setObjectName(f"option_{key}")
            edit.setToolTip(OPTION_DOCS[key])
            edit.show_text(_format_number(getattr(node, key)))
            field = Field(edit)
            self.option_edits[key] = edit
            self.fields[key] = field
            edit.editingFinished.connect(lambda k=key: self._commit_option(k))
            edit.reverted.connect(lambda f=field: f.set_input_error(""))
            form.addRow(self._form_label(label, OPTION_DOCS[key]), field)

    def _build_multi(self, layout: QVBoxLayout, net: Network) -> None:
        nodes = [net.node(i) for i in self.node_ids]
        names = ", ".join(n.name for n in nodes[:6]) + ("…" if len(nodes) > 6 else "")
        self._header(layout, f"{len(nodes)} layers selected", names, None, ("Parameters", "Multiply-adds"))
        form = self._section(layout, "Training")
        box = QCheckBox("Update weights")
        box.setObjectName("option_trainable")
        box.setToolTip("Freeze or unfreeze every selected layer at once (one undo step).")
        states = {n.trainable for n in nodes}
        box.setTristate(len(states) > 1)
        box.setCheckState(Qt.CheckState.PartiallyChecked if len(states) > 1 else
                          Qt.CheckState.Checked if states == {True} else Qt.CheckState.Unchecked)
        box.clicked.connect(self._commit_trainable_all)
        self.trainable_box = box
        form.addRow(self._form_label("Trainable", box.toolTip()), box)
        hint = QLabel("Select a single layer to edit its parameters.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        layout.addWidget(hint)

    def _build_network(self, layout: QVBoxLayout, net: Network) -> None:
        wires = len(net.wires)
        subtitle = (f"Network · {len(net)} layer{'s' if len(net) != 1 else ''} · "
                    f"{wires} wire{'s' if wires != 1 else ''}")
        self._header(layout, net.name, subtitle, None,
                     ("Parameters", "Trainable", "Multiply-adds", "Validation"))
        info = self.qt_doc.document.info
        if info.title or info.description:
            about = QLabel(f"<b>{html.escape(info.title)}</b><br>{html.escape(info.description)}"
                           if info.title else html.escape(info.description))
            about.setObjectName("specDoc")
            about.setWordWrap(True)
            layout.addWidget(about)
        for section in ("Inputs", "Outputs"):
            form = self._section(layout, section)
            label = QLabel()
            label.setObjectName("ioList")
            label.setWordWrap(True)
            label.setTextFormat(Qt.TextFormat.RichText)
            self._info_labels[section] = label
            form.addRow(label)
        hint = QLabel("Select a layer on the canvas to edit it. Drag layers in from the palette, and wire an "
                      "output port to an input port.")
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        layout.addSpacing(4)
        layout.addWidget(hint)

    # ---- refreshing from the document ----------------------------------------------------------------------
    def _analysis(self) -> Analysis | None:
        net = self.network
        return self.qt_doc.analysis(net.name) if net is not None else None

    def _refresh_analysis(self) -> None:
        net = self.network
        analysis = self._analysis()
        if net is None or analysis is None:
            return
        diagnostics: list[Diagnostic]
        if len(self.node_ids) == 1:
            node = net.node(self.node_ids[0])
            info = analysis.nodes.get(node.id)
            out = ", ".join(str(t) for t in info.outputs.values()) if info and info.outputs else "–"
            self._set_stat("Output", out)
            self._set_stat("Parameters", _count_text(info.params) if info and info.outputs else "–")
            self._set_stat("Multiply-adds", _count_text(info.macs) if info and info.outputs else "–")
            has_weights = not (info and info.outputs and info.params == 0)
            trainable = ("yes" if node.trainable else "frozen") if has_weights else "no weights"
            self._set_stat("Trainable", trainable)
            if self._training is not None and self._no_weights is not None:
                self._training.setVisible(has_weights)
                self._no_weights.setVisible(not has_weights)
            diagnostics = list(info.diagnostics) if info else []
            diagnostics += [d for d in analysis.diagnostics if d.node_id == node.id and d not in diagnostics]
            if info and info.blocked and not diagnostics:
                waiting = "Waiting for a problem upstream to be fixed before its shape is known."
                diagnostics = [Diagnostic(waiting, net.name, node.id, node.name, severity="warning")]
            by_param = {d.param: d for d in diagnostics if d.param}
            for name, field in self.fields.items():
                diag = by_param.get(name)
                field.set_diagnostic(_diag_text(diag) if diag else "")
        elif self.node_ids:
            infos = [analysis.nodes.get(i) for i in self.node_ids]
            self._set_stat("Parameters", _count_text(sum(i.params for i in infos if i)))
            self._set_stat("Multiply-adds", _count_text(sum(i.macs for i in infos if i)))
            diagnostics = [d for d in analysis.diagnostics if d.node_id in self.node_ids]
        else:
            trainable = sum(info.params for node_id, info in analysis.nodes.items()
                            if node_id in net and net.node(node_id).trainable)
            self._set_stat("Parameters", _count_text(analysis.total_params))
            self._set_stat("Trainable", _count_text(trainable))
            self._set_stat("Multiply-adds", _count_text(analysis.total_macs))
            errors, warnings = len(analysis.errors), len(analysis.warnings)
            self._set_stat("Validation", "Valid" if not errors else f"{errors} problem{'s' * (errors != 1)}")
            if not errors and warnings:
                self._stats["Validation"].value.setText(f"Valid, {warnings} warning{'s' * (warnings != 1)}")
            self._stats["Validation"].value.setProperty("state", "error" if errors else "ok")
            _repolish(self._stats["Validation"].value)
            self._info_labels["Inputs"].setText(_io_list(net, analysis, "Input"))
            self._info_labels["Outputs"].setText(_io_list(net, analysis, "Output"))
            diagnostics = []  # the network's problems are listed in the Problems panel
        self._show_diagnostics(diagnostics)

    def _set_stat(self, caption: str, text: str) -> None:
        stat = self._stats.get(caption)
        if stat is not None:
            stat.value.setText(text)

    def _show_diagnostics(self, diagnostics: Sequence[Diagnostic]) -> None:
        box = self._diagnostics_box
        if box is None:
            return
        while box.count():
            item = box.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for diag in diagnostics[:8]:
            row = QFrame()
            row.setObjectName("diagnostic")
            row.setProperty("severity", diag.severity)
            line = QHBoxLayout(row)
            line.setContentsMargins(8, 6, 8, 6)
            line.setSpacing(8)
            icon = QLabel()
            icon.setPixmap(severity_icon(diag.severity).pixmap(QSize(16, 16)))
            icon.setFixedWidth(16)
            line.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
            text = html.escape(diag.message)
            if diag.suggestion:
                text += f"<br><span style='color:#5d6673'>{html.escape(diag.suggestion)}</span>"
            label = QLabel(text)
            label.setObjectName("diagnosticText")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            line.addWidget(label, 1)
            box.addWidget(row)

    def _refresh_values(self) -> None:
        node = self.node
        if node is None:
            return
        if self._title is not None:
            self._title.setText(node.name)
        if self.name_edit is not None and not self.fields["name"].input_error:
            self.name_edit.show_text(node.name)
        for name, editor in self.editors.items():
            editor.set_value(node.params.get(name, editor.param.default))
            self.fields[name].set_input_error("")
        if self.trainable_box is not None:
            blocked = self.trainable_box.blockSignals(True)
            self.trainable_box.setChecked(node.trainable)
            self.trainable_box.blockSignals(blocked)
        for key, edit in self.option_edits.items():
            edit.show_text(_format_number(getattr(node, key)))
            self.fields[key].set_input_error("")

    def _on_node_changed(self, network: str, node_id: str, field: str) -> None:
        if network != self.network_name or node_id not in self.node_ids:
            return
        if len(self.node_ids) == 1:
            if field == "name":
                self.fields["name"].set_input_error("")
            self._refresh_values()
        elif field == "options":
            self._rebuild()
        if field == "options":
            self._refresh_analysis()

    def _on_node_removed(self, network: str, node_id: str) -> None:
        if network == self.network_name and node_id in self.node_ids:
            self.node_ids = [i for i in self.node_ids if i != node_id]
            self._rebuild()

    def _on_analysis_changed(self, network: str) -> None:
        if network == self.network_name:
            if not self.node_ids and self._content is not None and self.network is not None:
                net = self.network
                wires = len(net.wires)
                if self._subtitle is not None:
                    self._subtitle.setText(f"Network · {len(net)} layer{'s' if len(net) != 1 else ''} · "
                                           f"{wires} wire{'s' if wires != 1 else ''}")
            self._refresh_analysis()

    def _on_document_replaced(self) -> None:
        # Text typed into the old document's editors must not be committed into the new one.
        self.editors.clear()
        self.option_edits.clear()
        self.name_edit = None
        self.set_target(None)

    def _on_networks_changed(self) -> None:
        if self.network_name is not None and self.network_name not in self.qt_doc.document.networks:
            self.set_target(None)

    # ---- committing edits ----------------------------------------------------------------------------------
    def _param_committer(self, network: str, node_id: str, param: Param) -> Callable[[Any], None]:
        def commit(raw: Any) -> None:
            self._commit_param(network, node_id, param, raw)
        return commit

    def _commit_param(self, network: str, node_id: str, param: Param, raw: Any) -> None:
        field = self.fields.get(param.name) if node_id in self.node_ids else None
        try:
            value = param.coerce(raw)
            node = self.qt_doc.document.network(network).node(node_id)
            if value == node.params.get(param.name):
                if field is not None:
                    field.set_input_error("")
                    self.editors[param.name].set_value(value)  # show the canonical form, e.g. "3" -> "3, 3"
                return
            self.qt_doc.execute(SetParams(network, node_id, {param.name: value}))
        except (ParamError, DocumentError) as error:
            if field is not None:
                field.set_input_error(str(error))

    def _check_name(self, text: str) -> None:
        net, node = self.network, self.node
        if net is None or node is None:
            return
        try:
            net.check_name(text.strip(), node.id)
        except DocumentError as error:
            self.fields["name"].set_input_error(str(error))
        else:
            self.fields["name"].set_input_error("")

    def _commit_name(self) -> None:
        net, node, edit = self.network, self.node, self.name_edit
        if net is None or node is None or edit is None:
            return
        text = edit.text().strip()
        if text == node.name:
            self.fields["name"].set_input_error("")
            return
        try:
            self.qt_doc.execute(RenameNode(net.name, node.id, text))
        except (DocumentError, ParamError) as error:
            self.fields["name"].set_input_error(str(error))

    def _commit_trainable(self, checked: bool) -> None:
        net, node = self.network, self.node
        if net is None or node is None or node.trainable == checked:
            return
        self.qt_doc.execute(SetNodeOptions(net.name, node.id, {"trainable": bool(checked)}))

    def _commit_trainable_all(self) -> None:
        net, box = self.network, self.trainable_box
        if net is None or box is None:
            return
        wanted = box.checkState() != Qt.CheckState.Unchecked
        box.setTristate(False)
        box.setChecked(wanted)
        commands = [SetNodeOptions(net.name, i, {"trainable": wanted}) for i in self.node_ids
                    if net.node(i).trainable != wanted]
        if commands:
            verb = "Unfreeze" if wanted else "Freeze"
            self.qt_doc.execute(Macro(f"{verb} {len(commands)} layers", commands))

    def _commit_option(self, key: str) -> None:
        net, node = self.network, self.node
        edit = self.option_edits.get(key)
        if net is None or node is None or edit is None or edit.text() == edit.shown:
            return
        label = OPTION_LABELS[key]
        field = self.fields[key]
        try:
            try:
                value = float(edit.text().strip())
            except ValueError:
                typed = edit.text().strip()
                raise ParamError(f"{label} must be a number, such as 0.001; got {typed!r}.") from None
            try:
                check_node_options({key: value})
            except ParamError as error:
                raise ParamError(str(error).replace(key, label, 1)) from None
            if value == getattr(node, key):
                field.set_input_error("")
                edit.show_text(_format_number(value))
                return
            self.qt_doc.execute(SetNodeOptions(net.name, node.id, {key: value}))
        except (ParamError, DocumentError) as error:
            field.set_input_error(str(error))

    def _commit_pending(self) -> None:
        """Before the target changes, commit text the user typed but did not confirm with Enter (if valid)."""
        for editor in list(self.editors.values()):
            widget = editor.widget
            if isinstance(widget, _LineEdit) and widget.text() != widget.shown:
                editor._text_finished()
            elif isinstance(widget, QSpinBox) and widget.text() != widget.textFromValue(widget.value()):
                widget.interpretText()  # emits valueChanged (keyboard tracking is off), which commits
        if self.name_edit is not None and self.name_edit.text() != self.name_edit.shown:
            self._commit_name()
        for key, edit in list(self.option_edits.items()):
            if edit.text() != edit.shown:
                self._commit_option(key)


def _format_number(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same number


def _count_text(number: int) -> str:
    return f"{human_count(number)}" if number >= 1000 else str(number)


def _diag_text(diag: Diagnostic) -> str:
    return f"{diag.message} {diag.suggestion}" if diag.suggestion else diag.message


def _repolish(widget: QWidget) -> None:
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def _io_list(net: Network, analysis: Analysis, kind: str) -> str:
    nodes = net.inputs() if kind == "Input" else net.outputs()
    if not nodes:
        return f"<span style='color:#b03a3a'>No {kind} node yet.</span>"
    rows = []
    for node in nodes:
        info = analysis.nodes.get(node.id)
        shape = str(info.output) if info and info.output else "?"
        role = f" <span style='color:#6b7480'>({html.escape(node.params.get('role', ''))})</span>" \
            if kind == "Output" else ""
        swatch = category_color(node.spec.category).name()
        rows.append(f"<span style='color:{swatch}'>●</span> <b>{html.escape(node.name)}</b>{role}"
                    f" &nbsp;<code>{html.escape(shape)}</code>")
    return "<br>".join(rows)
