"""What every inspector page shares: the header with its figures, titled sections, forms and the
diagnostics list, plus the small text helpers the pages use.

A page is built once for one target (a node, several nodes, a network...) and refreshed from the document's
events by ``InspectorWidget``; the page owns its editors, so the widget only picks the page and routes
events to it."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QVBoxLayout,
    QWidget,
)

from netbuilder.analysis import Analysis, Diagnostic
from netbuilder_ui.icons import category_icon, severity_icon
from netbuilder_ui.inspector.editors import Field, LineEdit, ParamEditor

if TYPE_CHECKING:
    from netbuilder_ui.inspector.widget import InspectorWidget

LABEL_WIDTH = 92


def human_count(number: int | float) -> str:
    """A count as people read it: 950, 12.5 K, 1.2 M, 3.4 G."""
    value = float(number)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(value) >= scale:
            scaled = value / scale
            text = f"{scaled:.1f}" if abs(scaled) < 100 else f"{scaled:.0f}"
            return f"{text.removesuffix('.0')} {unit}"
    return str(int(value)) if value.is_integer() else f"{value:g}"


def count_text(number: int) -> str:
    return f"{human_count(number)}" if number >= 1000 else str(number)


def format_number(value: float) -> str:
    return repr(float(value))  # the shortest text that reads back as the same number


def diag_text(diag: Diagnostic) -> str:
    return f"{diag.message} {diag.suggestion}" if diag.suggestion else diag.message


def repolish(widget: QWidget) -> None:
    widget.style().unpolish(widget)
    widget.style().polish(widget)


class DocLabel(QLabel):
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


class Stat(QWidget):
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


class Page:
    """The inspector's content for one target. Subclasses build it and refresh it from the analysis."""

    def __init__(self, inspector: InspectorWidget):
        self.inspector = inspector
        self.qt_doc = inspector.qt_doc
        self.editors: dict[str, ParamEditor] = {}
        self.fields: dict[str, Field] = {}
        self.name_edit: LineEdit | None = None
        self.option_edits: dict[str, LineEdit] = {}
        self.trainable_box: QCheckBox | None = None
        self.stats: dict[str, Stat] = {}
        self.info_labels: dict[str, QLabel] = {}
        self.title: QLabel | None = None
        self.subtitle: QLabel | None = None
        self.diagnostics_box: QVBoxLayout | None = None

    # ---- what subclasses provide ---------------------------------------------------------------------------
    def build(self, layout: QVBoxLayout) -> None:
        """Add this page's widgets to ``layout``."""
        raise NotImplementedError

    def refresh_analysis(self, analysis: Analysis) -> None:
        """Show the figures and problems of the latest analysis."""

    def refresh_values(self) -> None:
        """Show the document's current values in the editors (after an edit or an undo)."""

    def node_changed(self, node_id: str, field: str) -> bool:
        """A node of the target changed; True asks the inspector to rebuild the page."""
        return False

    def analysis_changed(self) -> None:
        """The target network was re-analysed (before ``refresh_analysis``)."""

    def commit_pending(self) -> None:
        """Before the target changes, commit text the user typed but did not confirm with Enter (if valid)."""
        for editor in list(self.editors.values()):
            editor.commit_pending()

    def forget_pending(self) -> None:
        """Drop the editors without committing them (their document is gone)."""
        self.editors.clear()
        self.option_edits.clear()
        self.name_edit = None

    # ---- building blocks -----------------------------------------------------------------------------------
    def header(self, layout: QVBoxLayout, title: str, subtitle: str, icon_category: str | None,
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
        self.title = QLabel(title)
        self.title.setObjectName("inspectorTitle")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.subtitle = QLabel(subtitle)
        self.subtitle.setObjectName("inspectorSubtitle")
        self.subtitle.setWordWrap(True)
        texts.addWidget(self.title)
        texts.addWidget(self.subtitle)
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
                stat = Stat(caption)
                self.stats[caption] = stat
                grid.addWidget(stat, i // 2, i % 2)
            layout.addWidget(card)
        diagnostics = QVBoxLayout()
        diagnostics.setSpacing(6)
        self.diagnostics_box = diagnostics
        layout.addLayout(diagnostics)

    @staticmethod
    def section_title(layout: QVBoxLayout, title: str) -> None:
        label = QLabel(title.upper())
        label.setObjectName("sectionTitle")
        layout.addSpacing(4)
        layout.addWidget(label)

    @staticmethod
    def form(parent: QWidget | None = None) -> QFormLayout:
        form = QFormLayout(parent) if parent is not None else QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(8)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        return form

    def section(self, layout: QVBoxLayout, title: str) -> QFormLayout:
        self.section_title(layout, title)
        form = self.form()
        layout.addLayout(form)
        return form

    @staticmethod
    def form_label(text: str, tip: str) -> QLabel:
        label = QLabel(text)
        label.setObjectName("fieldLabel")
        label.setToolTip(tip)
        label.setMinimumWidth(LABEL_WIDTH)  # the same field column in every section
        return label

    def add_param_field(self, form: QFormLayout, editor: ParamEditor) -> Field:
        """Put ``editor`` in ``form`` under its parameter's title, with its inline message field."""
        field = Field(editor.widget)
        self.editors[editor.param.name] = editor
        self.fields[editor.param.name] = field
        if isinstance(editor.widget, LineEdit):
            editor.widget.reverted.connect(lambda f=field: f.set_input_error(""))
        form.addRow(self.form_label(editor.param.title, editor.widget.toolTip()), field)
        return field

    def set_stat(self, caption: str, text: str) -> None:
        stat = self.stats.get(caption)
        if stat is not None:
            stat.value.setText(text)

    def show_diagnostics(self, diagnostics: Sequence[Diagnostic]) -> None:
        box = self.diagnostics_box
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
            label.setTextFormat(Qt.TextFormat.RichText)  # the text is escaped: quotes must not show as &#x27;
            label.setObjectName("diagnosticText")
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            line.addWidget(label, 1)
            box.addWidget(row)

    def header_text(self) -> str:
        """The title, subtitle and figures shown at the top, as plain text (tests, accessibility)."""
        parts = [self.title.text() if self.title else "", self.subtitle.text() if self.subtitle else ""]
        parts += [f"{s.caption.text()} {s.value.text()}" for s in self.stats.values()]
        return "\n".join(p for p in parts if p)


class EmptyPage(Page):
    """Nothing to inspect: no network is open."""

    def build(self, layout: QVBoxLayout) -> None:
        label = QLabel("Open or create a network to inspect it.")
        label.setObjectName("placeholder")
        label.setWordWrap(True)
        layout.addWidget(label)
