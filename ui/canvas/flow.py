"""View > Flow: draw networks left to right or top to bottom.

The flow belongs to the document (its ``canvas_flow`` setting), because its node positions were laid out for it:
choosing the other flow lays every network out again in that flow and records it, as one undoable step. The last
choice is remembered (QSettings ``canvas/flow``) and applies to new documents (a blank network, a template, the
example the app opens on), which are laid out in it before they are shown; files keep the flow they were saved in.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu

from netbuilder.document import Document, Macro, MoveNodes, Network, SetSetting
from netbuilder.layout import (
    DEFAULT_ASPECT,
    FLOW_SETTING,
    LEFT_TO_RIGHT,
    TOP_TO_BOTTOM,
    check_flow,
    document_flow,
    layered_positions,
)
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.visuals import geometry_of, node_content
from netbuilder_ui.qt_document import QtDocument

SETTINGS_KEY = "canvas/flow"
FLOW_TITLES = {LEFT_TO_RIGHT: "&Left to Right", TOP_TO_BOTTOM: "&Top to Bottom"}
FLOW_WORDS = {LEFT_TO_RIGHT: "left to right", TOP_TO_BOTTOM: "top to bottom"}


def preferred_flow(settings: QSettings) -> str:
    """The flow last chosen in View > Flow (left to right when never chosen, or unreadable)."""
    value = settings.value(SETTINGS_KEY, LEFT_TO_RIGHT)
    return value if value in FLOW_TITLES else LEFT_TO_RIGHT


def layout_positions(network: Network, flow: str, aspect: float = DEFAULT_ASPECT, grid: float = style.GRID
                     ) -> dict[str, tuple[float, float]]:
    """Auto-layout positions of ``network`` in ``flow``, measured with the node sizes drawn in that flow, kept at
    the network's current top-left corner."""
    if len(network) == 0:
        return {}

    def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
        g = geometry_of(node_content(network.node(node_id), None), flow)
        return g.width, g.height, g.inputs, g.outputs

    layout = layered_positions(network, size_of, grid, aspect, flow)
    left = round(min(n.position[0] for n in network.nodes) / grid) * grid
    top = round(min(n.position[1] for n in network.nodes) / grid) * grid
    return {node_id: (x + left, y + top) for node_id, (x, y) in layout.items()}


def change_flow_command(doc: Document, flow: str, aspect: float = DEFAULT_ASPECT) -> Macro:
    """One undoable step: record ``flow`` on the document and lay each of its networks and block definitions out
    in it (a block opened or expanded reads in the same direction as the network around it)."""
    check_flow(flow)
    commands: list = [SetSetting(FLOW_SETTING, flow)]
    for name, network in [*doc.networks.items(), *((n, d.network) for n, d in doc.blocks.items())]:
        positions = {k: v for k, v in layout_positions(network, flow, aspect).items()
                     if network.node(k).position != v}
        if positions:
            commands.append(MoveNodes(name, positions, text="Auto-layout"))
    return Macro(f"Lay out {FLOW_WORDS[flow]}", commands)


class FlowController(QObject):
    """The View > Flow actions of a window, kept in step with the document's flow."""

    def __init__(self, qt_doc: QtDocument, settings: QSettings, aspect: Callable[[], float | None],
                 parent: QObject | None = None):
        super().__init__(parent)
        self.qt_doc = qt_doc
        self.settings = settings
        self.aspect = aspect  # the current canvas's width / height, None when there is none
        self.group = QActionGroup(self)
        self.group.setExclusive(True)
        self.actions: dict[str, QAction] = {}
        for flow, title in FLOW_TITLES.items():
            action = QAction(title, self)
            action.setCheckable(True)
            action.setObjectName(f"flow-{flow}")
            action.setStatusTip(f"Lay the network out {FLOW_WORDS[flow]} (undoable) and draw new ones that way.")
            action.triggered.connect(lambda _checked=False, f=flow: self.choose(f))
            self.group.addAction(action)
            self.actions[flow] = action
        qt_doc.documentReplaced.connect(self._on_document_replaced)
        qt_doc.settingsChanged.connect(self._on_settings_changed)
        self._on_document_replaced()

    def install(self, menu: QMenu) -> QMenu:
        """Add the Flow submenu to ``menu`` (View)."""
        sub = menu.addMenu("F&low")
        sub.addActions(list(self.actions.values()))
        return sub

    @property
    def flow(self) -> str:
        return document_flow(self.qt_doc.document.settings)

    def choose(self, flow: str) -> bool:
        """Lay the document out in ``flow`` (one undo step) and remember it for new documents; False when it
        already is in that flow or the document is locked (a run is training)."""
        self.settings.setValue(SETTINGS_KEY, flow)
        if flow == self.flow or self.qt_doc.lock_reason:
            self._sync_actions()
            return False
        self.qt_doc.execute(change_flow_command(self.qt_doc.document, flow, self.aspect() or DEFAULT_ASPECT))
        return True

    def _on_document_replaced(self) -> None:
        doc = self.qt_doc.document
        wanted = preferred_flow(self.settings)
        fresh = doc.path is None and self.qt_doc.undo_stack.count() == 0 and FLOW_SETTING not in doc.settings
        if fresh and wanted != LEFT_TO_RIGHT:
            # A new document (not a file): lay it out in the preferred flow before it is shown, outside the undo
            # history, so it opens unmodified.
            change_flow_command(doc, wanted, self.aspect() or DEFAULT_ASPECT).do(doc)
        style.set_flow(self.flow)
        self._sync_actions()

    def _on_settings_changed(self, key: str) -> None:
        if key == FLOW_SETTING:
            style.set_flow(self.flow)
            self._sync_actions()

    def _sync_actions(self) -> None:
        self.actions[self.flow].setChecked(True)


def install_flow_menu(window: object, menu: QMenu) -> FlowController:
    """Give a main window (with ``qt_doc``, ``settings`` and ``current_view()``) its View > Flow submenu."""

    def aspect() -> float | None:
        view = window.current_view()  # type: ignore[attr-defined]
        if view is None:
            return None
        rect = view.viewport().rect()
        return rect.width() / rect.height() if rect.width() > 50 and rect.height() > 50 else None

    controller = FlowController(window.qt_doc, window.settings, aspect, window)  # type: ignore[attr-defined]
    controller.install(menu)
    return controller
