"""The inspector panel: picks the page for the current target and routes the document's events to it."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QCheckBox, QFrame, QLabel, QScrollArea, QVBoxLayout, QWidget

from netbuilder.analysis import Analysis
from netbuilder.document import Network, Node
from netbuilder.document.blocks import BLOCK_TYPE
from netbuilder_ui.inspector.block_page import BlockDefinitionPage, BlockNodePage, InnerNodePage
from netbuilder_ui.inspector.editors import Field, LineEdit, ParamEditor
from netbuilder_ui.inspector.network_page import NetworkPage
from netbuilder_ui.inspector.node_page import MultiNodePage, NodePage
from netbuilder_ui.inspector.page import EmptyPage, Page
from netbuilder_ui.qt_document import QtDocument


class InspectorWidget(QScrollArea):
    """Shows and edits the selected node(s) of one network, or the network itself when nothing is selected."""

    # Enter committed an edit (editors commit it themselves and let the key travel up here): the window hands
    # keyboard focus back to the canvas, so Delete and Ctrl+Z act on the layers again at once.
    editCommitted = Signal()
    # The block page's "Open block": (network, block node id) to show the definition in the canvas.
    openBlockRequested = Signal(str, str)  # noqa: N815 (Qt signal naming)

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
        self.page: Page = EmptyPage(self)
        self._content: QWidget | None = None
        qt_doc.nodeChanged.connect(self._on_node_changed)
        qt_doc.nodeRemoved.connect(self._on_node_removed)
        qt_doc.analysisChanged.connect(self._on_analysis_changed)
        qt_doc.documentReplaced.connect(self._on_document_replaced)
        qt_doc.networksChanged.connect(self._on_networks_changed)
        qt_doc.blocksChanged.connect(self._on_blocks_changed)
        self.set_target(None)

    # ---- public --------------------------------------------------------------------------------------------
    def set_target(self, network: str | None, node_ids: Sequence[str] = ()) -> None:
        """Inspect these nodes of ``network``; no nodes shows the network; None shows nothing."""
        known = network is not None and self._exists(network)
        ids = [i for i in node_ids if known and i in self.qt_doc.document.network(network)]
        if network == self.network_name and ids == self.node_ids and self._content is not None:
            return
        self.page.commit_pending()
        self.network_name = network if known else None
        self.node_ids = ids
        self._rebuild()

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt override)
        return QSize(300, 500)

    def _exists(self, network: str) -> bool:
        """A network of the document, or the network of one of its block definitions."""
        doc = self.qt_doc.document
        return network in doc.networks or network in doc.blocks

    @property
    def network(self) -> Network | None:
        """The inspected network (or opened block definition), if it still exists."""
        if self.network_name is None or not self._exists(self.network_name):
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
        return self.page.fields[name]

    def header_text(self) -> str:
        """The title, subtitle and figures shown at the top, as plain text (tests, accessibility)."""
        return self.page.header_text()

    # The current page's editors, for the window, tests and accessibility.
    @property
    def editors(self) -> dict[str, ParamEditor]:
        return self.page.editors

    @property
    def fields(self) -> dict[str, Field]:
        return self.page.fields

    @property
    def name_edit(self) -> LineEdit | None:
        return self.page.name_edit

    @property
    def option_edits(self) -> dict[str, LineEdit]:
        return self.page.option_edits

    @property
    def trainable_box(self) -> QCheckBox | None:
        return self.page.trainable_box

    @property
    def _title(self) -> QLabel | None:
        return self.page.title

    @property
    def _info_labels(self) -> dict[str, QLabel]:
        return self.page.info_labels

    # ---- building ------------------------------------------------------------------------------------------
    def _make_page(self) -> Page:
        net = self.network
        if net is None:
            return EmptyPage(self)
        if len(self.node_ids) == 1:
            node = net.node(self.node_ids[0])
            if node.type == BLOCK_TYPE and node.block in self.qt_doc.document.blocks:
                return BlockNodePage(self, net, node)
            if net.name in self.qt_doc.document.blocks and node.type not in ("Input", "Output"):
                return InnerNodePage(self, net, node)  # inside an opened block: bindings to its parameters
            return NodePage(self, net, node)
        if self.node_ids:
            return MultiNodePage(self, net, self.node_ids)
        if net.name in self.qt_doc.document.blocks:
            return BlockDefinitionPage(self, net)
        return NetworkPage(self, net)

    def _rebuild(self) -> None:
        old = self._content
        if old is not None:
            for child in old.findChildren(QWidget):
                child.blockSignals(True)  # a dying editor must not commit into the new target
        content = QWidget()
        content.setObjectName("inspectorContent")
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(10)
        self._content = content
        self.page = self._make_page()
        self.page.build(layout)
        layout.addStretch(1)
        self.setWidget(content)  # deletes the previous content widget
        self._refresh_analysis()

    # ---- refreshing from the document ----------------------------------------------------------------------
    def _analysis(self) -> Analysis | None:
        net = self.network
        return self.qt_doc.analysis(net.name) if net is not None else None

    def _refresh_analysis(self) -> None:
        analysis = self._analysis()
        if self.network is None or analysis is None:
            return
        self.page.refresh_analysis(analysis)

    def _on_node_changed(self, network: str, node_id: str, field: str) -> None:
        if network != self.network_name or node_id not in self.node_ids:
            return
        if self.page.node_changed(node_id, field):
            self._rebuild()
        if field == "options":
            self._refresh_analysis()

    def _on_node_removed(self, network: str, node_id: str) -> None:
        if network == self.network_name and node_id in self.node_ids:
            self.node_ids = [i for i in self.node_ids if i != node_id]
            self._rebuild()

    def _on_analysis_changed(self, network: str) -> None:
        if network == self.network_name:
            if self._content is not None and self.network is not None:
                self.page.analysis_changed()
            self._refresh_analysis()

    def _on_document_replaced(self) -> None:
        # Text typed into the old document's editors must not be committed into the new one.
        self.page.forget_pending()
        self.set_target(None)

    def _on_networks_changed(self) -> None:
        if self.network_name is not None and not self._exists(self.network_name):
            self.set_target(None)

    def _on_blocks_changed(self) -> None:
        """A definition was added, removed, renamed or re-declared: pages naming blocks show the new state."""
        if self.network_name is not None and not self._exists(self.network_name):
            self.set_target(None)
        elif self._content is not None and isinstance(self.page, BlockNodePage | BlockDefinitionPage):
            self._rebuild()
