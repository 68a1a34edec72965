"""The layer palette: every layer spec, grouped by category, searchable, draggable onto the canvas.

The palette is generated from the spec registry, so a new layer type appears here without any UI change. It
never edits the document itself: dropping goes through the canvas, and double-click / Enter asks the window
(signal ``layerActivated``) to add the layer at the centre of the current canvas."""

from __future__ import annotations

import html

from PySide6.QtCore import QByteArray, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QFont, QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.specs import CATEGORY_ORDER, LayerSpec, all_specs
from netbuilder_ui.icons import category_icon

LAYER_MIME = "application/x-netbuilder-layer"
BLOCK_MIME = "application/x-netbuilder-block"  # payload: "doc:<block name>" or "lib:<block file path>"
SPEC_ROLE = Qt.ItemDataRole.UserRole + 1
BLOCK_ROLE = Qt.ItemDataRole.UserRole + 2  # a block entry's payload (see netbuilder_ui.blocks.palette_section)


def spec_matches(spec: LayerSpec, query: str) -> bool:
    """True when every word of ``query`` occurs in the spec's title, id or keywords (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return True
    haystack = " ".join((spec.title, spec.id, *spec.keywords)).lower()
    return all(word in haystack for word in words)


def spec_tooltip(spec: LayerSpec) -> str:
    """Rich-text tooltip: the title, the doc (wrapped), the parameters and the category."""
    params = ", ".join(html.escape(p.title.lower()) for p in spec.params) or "none"
    category = f"<span style='color:#6b7480'>· {html.escape(spec.category)}</span>"
    return (f"<b>{html.escape(spec.title)}</b> {category}"
            f"<p style='white-space:pre-wrap'>{html.escape(spec.doc)}</p>"
            f"<p style='color:#6b7480'>Parameters: {params}</p>")


class _LayerTree(QTreeWidget):
    """The tree of categories and layers; drags carry the spec id, Enter activates like a double-click."""

    activatedSpec = Signal(str)  # noqa: N815 (Qt signal naming)
    activatedBlock = Signal(str)  # noqa: N815  a block entry's payload

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setRootIsDecorated(False)
        self.setIndentation(10)
        self.setUniformRowHeights(True)
        self.setIconSize(QSize(20, 20))
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setExpandsOnDoubleClick(False)
        self.setAnimated(False)
        self.itemDoubleClicked.connect(self._on_double_click)
        self.itemClicked.connect(self._on_click)

    def mimeTypes(self) -> list[str]:  # noqa: N802 (Qt override)
        return [LAYER_MIME, BLOCK_MIME]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:  # noqa: N802 (Qt override)
        data = QMimeData()
        blocks = [item.data(0, BLOCK_ROLE) for item in items if item.data(0, BLOCK_ROLE)]
        if blocks:
            data.setData(BLOCK_MIME, QByteArray(blocks[0].encode()))
            data.setText(blocks[0])
            return data
        specs = [item.data(0, SPEC_ROLE) for item in items if item.data(0, SPEC_ROLE)]
        if specs:
            data.setData(LAYER_MIME, QByteArray(specs[0].encode()))
            data.setText(specs[0])
        return data

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802 (Qt override)
        return Qt.DropAction.CopyAction

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            item = self.currentItem()
            if item is not None and item.data(0, BLOCK_ROLE):
                self.activatedBlock.emit(item.data(0, BLOCK_ROLE))
            elif item is not None and item.data(0, SPEC_ROLE):
                self.activatedSpec.emit(item.data(0, SPEC_ROLE))
            elif item is not None:
                item.setExpanded(not item.isExpanded())
            event.accept()
            return
        super().keyPressEvent(event)

    def _on_double_click(self, item: QTreeWidgetItem, _column: int) -> None:
        spec_id = item.data(0, SPEC_ROLE)
        if spec_id:
            self.activatedSpec.emit(spec_id)
        elif item.data(0, BLOCK_ROLE):
            self.activatedBlock.emit(item.data(0, BLOCK_ROLE))

    def _on_click(self, item: QTreeWidgetItem, _column: int) -> None:
        if not item.data(0, SPEC_ROLE) and not item.data(0, BLOCK_ROLE):  # a category header folds on a click
            item.setExpanded(not item.isExpanded())


class _SearchField(QLineEdit):
    """Down arrow moves into the list; Enter adds the first match; Escape clears the search."""

    moveDown = Signal()  # noqa: N815
    accepted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Down:
            self.moveDown.emit()
            return
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.accepted.emit()
            return
        if event.key() == Qt.Key.Key_Escape and self.text():
            self.clear()
            return
        super().keyPressEvent(event)


class PaletteWidget(QWidget):
    """Search field over a category tree of every layer spec."""

    layerActivated = Signal(str)  # noqa: N815  spec id to add at the centre of the current canvas
    blockActivated = Signal(str)  # noqa: N815  block payload ("doc:Name" / "lib:path") to add likewise

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("palette")
        self.search = _SearchField(self)
        self.search.setObjectName("paletteSearch")
        self.search.setPlaceholderText("Search layers…")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Filter by name, type or keyword (Ctrl+F). Enter adds the first match.")
        self.tree = _LayerTree(self)
        self.tree.setObjectName("paletteTree")
        self.empty = QLabel("No layer matches this search.", self)
        self.empty.setObjectName("placeholder")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.hide()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)
        layout.addStretch(0)

        self._categories: dict[str, QTreeWidgetItem] = {}
        self._items: dict[str, QTreeWidgetItem] = {}
        self._specs: dict[str, LayerSpec] = {}
        self._populate()
        self.search.textChanged.connect(self.set_filter)
        self.search.moveDown.connect(self._focus_first)
        self.search.accepted.connect(self._activate_first)
        self.tree.activatedSpec.connect(self.layerActivated)
        self.tree.activatedBlock.connect(self.blockActivated)

    def _populate(self) -> None:
        header_font = QFont(self.font())
        header_font.setBold(True)
        by_category: dict[str, list[LayerSpec]] = {c: [] for c in CATEGORY_ORDER}
        for spec in all_specs():
            by_category.setdefault(spec.category, []).append(spec)
        for category, specs in by_category.items():
            if not specs:
                continue
            header = QTreeWidgetItem([category])
            header.setIcon(0, category_icon(category))
            header.setFont(0, header_font)
            header.setFlags(Qt.ItemFlag.ItemIsEnabled)
            header.setToolTip(0, f"{category}: {len(specs)} layer types")
            self.tree.addTopLevelItem(header)
            self._categories[category] = header
            for spec in specs:
                item = QTreeWidgetItem([spec.title])
                item.setData(0, SPEC_ROLE, spec.id)
                item.setToolTip(0, spec_tooltip(spec))
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable |
                              Qt.ItemFlag.ItemIsDragEnabled)
                item.setStatusTip(0, spec.doc)
                header.addChild(item)
                self._items[spec.id] = item
                self._specs[spec.id] = spec
            header.setExpanded(True)

    # ---- public --------------------------------------------------------------------------------------------
    def focus_search(self) -> None:
        """Ctrl+F: put the cursor in the search field with its text selected, ready to type over."""
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def set_filter(self, text: str) -> None:
        """Show only the layers matching ``text`` (all its words), and the categories that still hold one."""
        if self.search.text() != text:
            self.search.setText(text)  # re-enters through textChanged
            return
        any_visible = False
        for category, header in self._categories.items():
            shown = 0
            for i in range(header.childCount()):
                item = header.child(i)
                visible = spec_matches(self._specs[item.data(0, SPEC_ROLE)], text)
                item.setHidden(not visible)
                shown += visible
            header.setHidden(shown == 0)
            if text.strip() and shown:
                header.setExpanded(True)
            any_visible |= shown > 0
            header.setText(0, category if not text.strip() else f"{category}  ({shown})")
        self.empty.setVisible(not any_visible)
        self.tree.setVisible(any_visible)
        first = self._first_visible()
        if first is not None and text.strip():
            self.tree.setCurrentItem(first)

    def visible_spec_ids(self) -> list[str]:
        """The spec ids currently listed, in display order."""
        return [spec_id for spec_id, item in self._items.items()
                if not item.isHidden() and not item.parent().isHidden()]

    def spec_ids(self) -> list[str]:
        """Every spec id the palette offers."""
        return list(self._items)

    def item_for(self, spec_id: str) -> QTreeWidgetItem:
        """The list entry of one layer type."""
        return self._items[spec_id]

    def mime_data_for(self, spec_id: str) -> QMimeData:
        """The drag payload for one layer, as a drag from the palette carries it."""
        return self.tree.mimeData([self._items[spec_id]])

    # ---- keyboard flow -------------------------------------------------------------------------------------
    def _first_visible(self) -> QTreeWidgetItem | None:
        for spec_id in self.visible_spec_ids():
            return self._items[spec_id]
        return None

    def _focus_first(self) -> None:
        first = self._first_visible()
        if first is not None:
            self.tree.setCurrentItem(first)
        self.tree.setFocus()

    def _activate_first(self) -> None:
        current = self.tree.currentItem()
        if current is not None and not current.isHidden() and current.data(0, SPEC_ROLE):
            self.layerActivated.emit(current.data(0, SPEC_ROLE))
            return
        first = self._first_visible()
        if first is not None:
            self.layerActivated.emit(first.data(0, SPEC_ROLE))
