"""The problems list: every diagnostic of the current network, with where it is and what to do about it, one row
per root cause (`netbuilder.analysis.group_by_cause`) with its consequences folded inside it.

It only reads the cached analysis (`QtDocument.analysis`) and refreshes on the coalesced ``analysisChanged``
signal, so a burst of edits costs one refresh. Clicking a row asks the window to show that node
(``nodeActivated``); the window centres the canvas on it. A shape problem with a one-click fix
(`netbuilder.analysis.fixes`) shows the best one as a button in the "How to fix it" column (the advice stays in
the tooltip; other fixes are in the layer's context menu): one undoable step.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from netbuilder.analysis import Diagnostic, ProblemGroup, group_by_cause
from netbuilder.analysis.fixes import Fix, fixes_for_node
from netbuilder.document import DocumentError
from netbuilder.specs import ParamError
from netbuilder_ui.icons import severity_icon
from netbuilder_ui.qt_document import QtDocument

NODE_ROLE = Qt.ItemDataRole.UserRole + 1


class ProblemsWidget(QWidget):
    """The problems as root causes; ``countChanged(errors, warnings)`` counts rows (causes), as the status bar
    does."""

    nodeActivated = Signal(str, str)  # noqa: N815  network, node id
    countChanged = Signal(int, int)  # noqa: N815  errors, warnings
    message = Signal(str)  # what a fix did, or why it could not

    def __init__(self, qt_doc: QtDocument, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("problems")
        self.qt_doc = qt_doc
        self.network_name: str | None = None
        self.diagnostics: list[Diagnostic] = []
        self.groups: list[ProblemGroup] = []
        self.fixes: list[list[Fix]] = []  # per root cause (top-level row): its one-click fixes

        self.tree = QTreeWidget(self)
        self.tree.setObjectName("problemsList")
        self.tree.setColumnCount(3)
        self.tree.setHeaderLabels(["Layer", "Problem", "How to fix it"])
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setIconSize(QSize(16, 16))
        self.tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.tree.setWordWrap(False)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.resizeSection(0, 170)
        header.resizeSection(1, 420)
        self.tree.itemClicked.connect(self._on_item)
        self.tree.itemActivated.connect(self._on_item)

        self.placeholder = QLabel(self)
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)

        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.tree)
        self.stack.addWidget(self.placeholder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

        qt_doc.analysisChanged.connect(self._on_analysis_changed)
        qt_doc.documentReplaced.connect(self._on_document_replaced)
        self.set_network(None)

    def set_network(self, network: str | None) -> None:
        """List the problems of ``network`` (None: nothing open)."""
        self.network_name = network
        self.refresh()

    def refresh(self) -> None:
        """Rebuild the list from the current analysis."""
        doc = self.qt_doc.document
        name = self.network_name
        if name is None or (name not in doc.networks and name not in doc.blocks):  # or an opened block
            self.diagnostics, self.groups, self.fixes = [], [], []
        else:
            analysis = self.qt_doc.analysis(name)
            network = doc.network(name)
            self.groups = group_by_cause(network, analysis)
            self.diagnostics = [d for g in self.groups for d in (g.root, *g.consequences)]
            self.fixes = [fixes_for_node(network, g.root.node_id, analysis) if g.root.node_id else []
                          for g in self.groups]
        self.tree.clear()
        for group, fixes in zip(self.groups, self.fixes, strict=True):
            item = self._row(group.root)
            self.tree.addTopLevelItem(item)
            if fixes:
                self.tree.setItemWidget(item, 2, self._fix_button(fixes[0]))
            parent = item
            if group.summary:
                parent = QTreeWidgetItem(["", group.summary, ""])
                parent.setData(0, NODE_ROLE, "")
                item.addChild(parent)
            for consequence in group.consequences:
                parent.addChild(self._row(consequence))
        errors = sum(g.severity == "error" for g in self.groups)
        warnings = len(self.groups) - errors
        if self.diagnostics:
            self.stack.setCurrentWidget(self.tree)
        else:
            self.placeholder.setText("No problems: the network is valid." if name else "No network is open.")
            self.stack.setCurrentWidget(self.placeholder)
        self.countChanged.emit(errors, warnings)

    @staticmethod
    def _row(diag: Diagnostic) -> QTreeWidgetItem:
        item = QTreeWidgetItem([diag.node_name or "(network)", diag.message, diag.suggestion or ""])
        item.setIcon(0, severity_icon(diag.severity))
        item.setData(0, NODE_ROLE, diag.node_id or "")
        tip = str(diag)
        for column in range(3):
            item.setToolTip(column, tip)
        return item

    def _fix_button(self, fix: Fix) -> QWidget:
        box = QWidget()
        box.setAutoFillBackground(True)  # covers the advice text of the cell (it stays in the tooltip)
        layout = QHBoxLayout(box)
        layout.setContentsMargins(2, 0, 2, 0)
        button = QPushButton(fix.title, box)
        button.setObjectName("fixButton")
        button.setToolTip(f"{fix.title} (one step; Ctrl+Z undoes it)")
        button.clicked.connect(lambda _=False: self.apply_fix(fix))
        layout.addWidget(button)
        layout.addStretch(1)
        return box

    def apply_fix(self, fix: Fix) -> bool:
        """Make a one-click fix as one undoable step; False (and why, on ``message``) when it cannot be made now
        (a run is training, or the network changed since)."""
        try:
            self.qt_doc.execute(fix.command())
        except (DocumentError, ParamError) as error:
            self.message.emit(f"Could not {fix.title[0].lower()}{fix.title[1:]}: {error}")
            return False
        self.message.emit(f"{fix.title}: done (Ctrl+Z undoes it).")
        return True

    def rows(self) -> list[tuple[str, str, str]]:
        """(layer, problem, suggestion) per root cause (top-level row), as displayed."""
        return [(self.tree.topLevelItem(i).text(0), self.tree.topLevelItem(i).text(1),
                 self.tree.topLevelItem(i).text(2)) for i in range(self.tree.topLevelItemCount())]

    def activate_row(self, row: int) -> None:
        """Act as if the user clicked row ``row``."""
        item = self.tree.topLevelItem(row)
        if item is not None:
            self.tree.setCurrentItem(item)
            self._on_item(item, 0)

    def select_next(self, step: int = 1) -> bool:
        """Go to the next (or previous, ``step=-1``) problem with a node; False when there is none."""
        count = self.tree.topLevelItemCount()
        if not count:
            return False
        current = self.tree.indexOfTopLevelItem(self.tree.currentItem()) if self.tree.currentItem() else -1
        for offset in range(1, count + 1):
            row = (current + step * offset) % count
            if self.tree.topLevelItem(row).data(0, NODE_ROLE):
                self.activate_row(row)
                return True
        return False

    def _on_item(self, item: QTreeWidgetItem, _column: int) -> None:
        node_id = item.data(0, NODE_ROLE)
        if node_id and self.network_name:
            self.nodeActivated.emit(self.network_name, node_id)

    def _on_document_replaced(self) -> None:
        self.set_network(None)

    def _on_analysis_changed(self, network: str) -> None:
        if network == self.network_name:
            self.refresh()
