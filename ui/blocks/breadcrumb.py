"""The breadcrumb over a canvas showing an opened block: "model › BasicBlock". Each earlier part is a link
back to that level; the bar is hidden at the top level."""

from __future__ import annotations

import html

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QWidget


class BreadcrumbBar(QFrame):
    """A small bar in the canvas's top-left corner; ``levelChosen(depth)`` when a part is clicked (0 = top)."""

    levelChosen = Signal(int)  # noqa: N815 (Qt signal naming)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("blockBreadcrumb")
        self.setStyleSheet(
            "QFrame#blockBreadcrumb { background: #ffffff; border: 1px solid #c3c9d2; border-radius: 6px; }"
            "QLabel { color: #1f2630; }")
        self.label = QLabel(self)
        self.label.setObjectName("breadcrumbText")
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.LinksAccessibleByMouse)
        self.label.linkActivated.connect(lambda link: self.levelChosen.emit(int(link)))
        self.label.setToolTip("Click a level to go back to it (Esc goes up one level).")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 5, 10, 5)
        layout.addWidget(self.label)
        self.path: list[str] = []
        self.hide()

    def set_path(self, path: list[str]) -> None:
        """Show ``path`` (top-level network first); one level or none hides the bar."""
        self.path = list(path)
        parts = []
        for depth, name in enumerate(self.path):
            text = html.escape(name)
            if depth < len(self.path) - 1:
                parts.append(f"<a href='{depth}' style='color:#2f6fde; text-decoration:none'>{text}</a>")
            else:
                parts.append(f"<b>{text}</b>")
        self.label.setText(" &nbsp;›&nbsp; ".join(parts))
        self.setVisible(len(self.path) > 1)
        self.adjustSize()
        self.move(QPoint(10, 10))
        self.raise_()

    def text(self) -> str:
        """The path as plain text, "model › BasicBlock" (tests, accessibility)."""
        return " › ".join(self.path)
