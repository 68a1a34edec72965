"""The palette's "Blocks" section: the document's block definitions, then the user library's, each draggable
onto a canvas like a layer (or added with a double-click / Enter). A library block dropped into a document is
first copied into it; both happen in one undo step."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QTreeWidgetItem

from netbuilder.document import Document, DocumentError, Macro
from netbuilder.document.block_commands import AddBlockNode
from netbuilder.document.blocks import BLOCK_CATEGORY
from netbuilder.io import block_library
from netbuilder.io.nbg import LoadError
from netbuilder_ui.canvas import style
from netbuilder_ui.icons import category_icon
from netbuilder_ui.palette import BLOCK_ROLE, PaletteWidget
from netbuilder_ui.qt_document import QtDocument

if TYPE_CHECKING:
    from netbuilder_ui.canvas.view import CanvasView

SECTION_TITLE = "Blocks"


class BlockPaletteSection:
    """Keeps the palette's Blocks header in step with the document's blocks and the library folder."""

    def __init__(self, palette: PaletteWidget, qt_doc: QtDocument):
        self.palette = palette
        self.qt_doc = qt_doc
        self.header = QTreeWidgetItem([SECTION_TITLE])
        font = QFont(palette.font())
        font.setBold(True)
        self.header.setFont(0, font)
        self.header.setIcon(0, category_icon(BLOCK_CATEGORY))
        self.header.setFlags(Qt.ItemFlag.ItemIsEnabled)
        palette.tree.insertTopLevelItem(0, self.header)
        self.items: dict[str, QTreeWidgetItem] = {}  # payload -> entry
        self._shown_counts: dict[str, int] = {}
        self.unreadable: list[QTreeWidgetItem] = []  # library files that did not load, with the reason
        self.refresh()
        self.header.setExpanded(True)
        qt_doc.blocksChanged.connect(self.refresh)
        qt_doc.documentReplaced.connect(self.refresh)
        # Use counts change as block nodes come and go: refreshed once per batch of edits.
        qt_doc.analysisChanged.connect(self._counts_may_change)
        palette.search.textChanged.connect(self._apply_filter)

    def refresh(self) -> None:
        """List the document's blocks, then the library's that the document does not hold already."""
        self.header.takeChildren()
        self.items.clear()
        self.unreadable.clear()
        doc = self.qt_doc.document
        self._shown_counts = counts = self._counts()
        for name, definition in doc.blocks.items():
            users = counts[name]
            layers = len(definition.network)
            detail = f"{layers} layer{'s' * (layers != 1)} · used {users}×"
            self._add(f"doc:{name}", name, detail, definition.doc, "in this document")
        for entry in block_library.list_library():
            if entry.problem:  # listed, greyed out, with the reason: a file that vanished silently would puzzle
                self._add_unreadable(entry.path.name, entry.problem)
                continue
            ports = f"{len(entry.inputs)} in, {len(entry.outputs)} out"
            self._add(f"lib:{entry.path}", entry.name, f"library · {ports}", entry.doc,
                      f"library file {entry.path.name}")
        if not self.items and not self.unreadable:
            hint = QTreeWidgetItem(["Select layers and press Ctrl+G"])
            hint.setFlags(Qt.ItemFlag.ItemIsEnabled)
            hint.setForeground(0, QColor(style.TEXT_MUTED))
            hint.setToolTip(0, "Group layers into a block (Edit > Group into Block) and it is listed here, "
                               "ready to be dragged into any network.")
            self.header.addChild(hint)
        self.header.setText(0, SECTION_TITLE)
        self._apply_filter(self.palette.search.text())

    def _counts_may_change(self, _network: str) -> None:
        if self.qt_doc.document.blocks:
            counts = self._counts()
            if counts != self._shown_counts:
                self.refresh()

    def _counts(self) -> dict[str, int]:
        doc = self.qt_doc.document
        counts = dict.fromkeys(doc.blocks, 0)
        for net in list(doc.networks.values()) + [d.network for d in doc.blocks.values()]:
            for node in net.nodes:
                if node.block in counts:
                    counts[node.block] += 1
        return counts

    def _add(self, payload: str, name: str, detail: str, doc: str, where: str) -> None:
        item = QTreeWidgetItem([f"{name}  ·  {detail}"])
        item.setData(0, BLOCK_ROLE, payload)
        item.setIcon(0, category_icon(BLOCK_CATEGORY))
        text = html.escape(doc) if doc else "A sub-network with its own inputs and outputs."
        item.setToolTip(0, f"<b>{html.escape(name)}</b> <span style='color:#6b7480'>· block, {where}</span>"
                           f"<p style='white-space:pre-wrap'>{text}</p>"
                           "<p style='color:#6b7480'>Drag onto a canvas, or double-click to add it.</p>")
        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
        self.header.addChild(item)
        self.items[payload] = item

    def _add_unreadable(self, file_name: str, problem: str) -> None:
        item = QTreeWidgetItem([f"{file_name}  ·  unreadable"])
        item.setFlags(Qt.ItemFlag.ItemIsEnabled)
        item.setForeground(0, QColor(style.TEXT_MUTED))
        item.setToolTip(0, f"<b>{html.escape(file_name)}</b> in your block library cannot be used: "
                           f"{html.escape(problem)}")
        self.header.addChild(item)
        self.unreadable.append(item)

    def _apply_filter(self, text: str) -> None:
        words = text.lower().split()
        shown = 0
        for item in self.items.values():
            visible = all(w in item.text(0).lower() for w in words)
            item.setHidden(not visible)
            shown += visible
        self.header.setHidden(bool(words) and shown == 0)
        if words and shown:
            self.palette.tree.setVisible(True)
            self.palette.empty.setVisible(False)
            self.header.setExpanded(True)

    def payloads(self) -> list[str]:
        """Every listed block entry's payload, in display order."""
        return list(self.items)


def block_placement(doc: Document, view: CanvasView, payload: str, scene_pos: QPointF | None) -> tuple[Any, str]:
    """The command that places the block named by a palette payload in the canvas's network, and the new node's
    id. ``lib:`` payloads copy the library's definition into the document first (same command)."""
    kind, _, value = payload.partition(":")
    commands: list[Any] = []
    if kind == "doc":
        name = value
        if name not in doc.blocks:
            raise DocumentError(f"This document has no block named {name!r} any more.")
    elif kind == "lib":
        try:
            define, name = block_library.import_command(doc, Path(value))
        except LoadError as error:
            raise DocumentError(f"Cannot use the library file {Path(value).name}: {error}") from None
        if define.commands:  # nothing to copy when the document holds the same block already
            commands.append(define)
    else:
        raise DocumentError(f"Cannot add {payload!r}: it is neither a document block nor a library block.")
    network = doc.network(view.network)
    node_id = network.new_id()
    scene = view.scene()
    if scene_pos is None:
        scene_pos = view.mapToScene(view.viewport().rect().center())
    m = style.metrics()
    top_left = scene.snap(QPointF(scene_pos.x() - m.node_width * 0.75, scene_pos.y() - m.header / 2))
    commands.append(AddBlockNode(view.network, name, position=(top_left.x(), top_left.y()), node_id=node_id))
    command = commands[0] if len(commands) == 1 else Macro(f"Add {name} from the library", commands)
    return command, node_id
