"""Help > Keyboard shortcuts: a searchable list generated from the window's actions, so it can never drift
from what the keys really do."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLineEdit,
    QMainWindow,
    QMenu,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)


def _clean(text: str) -> str:
    """Menu text without mnemonics and ellipses: "&Open…" -> "Open"."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip(".…").strip()


def _keys(action: QAction) -> str:
    """The action's shortcuts as the platform writes them; the first two (platforms add rarely used extras
    such as the Undo key)."""
    native = QKeySequence.SequenceFormat.NativeText
    sequences = [s.toString(native) for s in action.shortcuts() if not s.isEmpty()]
    return ", ".join(list(dict.fromkeys(s for s in sequences if s))[:2])


def _name(action: QAction) -> str:
    """What the action does. Actions whose text changes (Undo Add Linear) carry a fixed ``shortcutLabel``."""
    label = action.property("shortcutLabel")
    return str(label) if label else _clean(action.text())


def shortcut_rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """(menu, action, keys) for every action with a shortcut: the menus' actions in menu order, then actions
    that live on the window only (e.g. Find layer)."""
    rows: list[tuple[str, str, str]] = []
    seen: set[int] = set()

    def walk(menu: QMenu, group: str) -> None:
        for action in menu.actions():
            if action.isSeparator():
                continue
            if action.menu() is not None:
                walk(action.menu(), f"{group} › {_clean(action.text())}")
                continue
            seen.add(id(action))
            keys = _keys(action)
            if keys:
                rows.append((group, _name(action), keys))

    for action in window.menuBar().actions():
        if action.menu() is not None:
            walk(action.menu(), _clean(action.text()))
    for action in window.actions():
        if id(action) not in seen and _keys(action) and action.text():
            rows.append(("Other", _name(action), _keys(action)))
    return rows


class ShortcutsDialog(QDialog):
    """The shortcut list, grouped by menu, with a filter field."""

    def __init__(self, window: QMainWindow, parent: QWidget | None = None):
        super().__init__(parent or window)
        self.setObjectName("shortcutsDialog")
        self.setWindowTitle("Keyboard shortcuts")
        self.resize(520, 700)
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Filter by action or key…")
        self.search.setClearButtonEnabled(True)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Action", "Shortcut"])
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setStretchLastSection(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(buttons)
        self.rows = shortcut_rows(window)
        groups: dict[str, QTreeWidgetItem] = {}
        for group, name, keys in self.rows:
            parent_item = groups.get(group)
            if parent_item is None:
                parent_item = QTreeWidgetItem([group])
                font = parent_item.font(0)
                font.setBold(True)
                parent_item.setFont(0, font)
                parent_item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                parent_item.setFirstColumnSpanned(False)
                self.tree.addTopLevelItem(parent_item)
                groups[group] = parent_item
            parent_item.addChild(QTreeWidgetItem([name, keys]))
        self.tree.expandAll()
        self.search.textChanged.connect(self.set_filter)

    def set_filter(self, text: str) -> None:
        """Show only the rows whose action, key or menu contains ``text``."""
        needle = text.lower().strip()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            shown = 0
            for j in range(group.childCount()):
                child = group.child(j)
                visible = not needle or needle in child.text(0).lower() or needle in child.text(1).lower() \
                    or needle in group.text(0).lower()
                child.setHidden(not visible)
                shown += visible
            group.setHidden(shown == 0)
