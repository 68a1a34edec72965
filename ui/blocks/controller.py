"""Blocks in the main window: open a block node's definition in its canvas (breadcrumb "model › BasicBlock",
Esc or a breadcrumb link goes back), expand / collapse block nodes in place, drop blocks from the palette, and
the Edit menu's Group (Ctrl+G), Ungroup (Ctrl+Shift+G), Make Unique and Repeat Block….

Every edit is a core command pushed through `QtDocument.execute`, so it is undoable. Which block a canvas shows is
view state: each canvas keeps its path of opened blocks, its root being the network of its tab. Editing inside an
opened block edits the definition (the ordinary commands take the block's name as their network), so every
instance follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QMimeData, QObject, QPointF, Qt
from PySide6.QtGui import QAction, QDropEvent, QKeyEvent, QKeySequence, QMouseEvent
from PySide6.QtWidgets import QMenu

from netbuilder.analysis.blocks import group_command
from netbuilder.document import DocumentError
from netbuilder.document.block_commands import MakeUnique, SetExpanded, Ungroup, free_block_name
from netbuilder.document.blocks import BLOCK_TYPE
from netbuilder.layout import TOP_TO_BOTTOM
from netbuilder.specs import ParamError
from netbuilder_ui.blocks.breadcrumb import BreadcrumbBar
from netbuilder_ui.blocks.node_item import BlockNodeItem
from netbuilder_ui.canvas import style
from netbuilder_ui.canvas.items import BadgeItem, NodeItem
from netbuilder_ui.palette import BLOCK_MIME

if TYPE_CHECKING:
    from netbuilder_ui.canvas.view import CanvasView
    from netbuilder_ui.main_window import MainWindow



class BlocksController(QObject):
    """Block navigation, expansion and commands for one main window."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.qt_doc = window.qt_doc
        self._paths: dict[int, list[str]] = {}  # id(view) -> [tab network, block, inner block, ...]
        self._crumbs: dict[int, BreadcrumbBar] = {}
        self._views: dict[int, CanvasView] = {}
        self._viewports: dict[int, Any] = {}  # id(view) -> its viewport (kept: its wrapper must stay the same)
        self.acts: dict[str, QAction] = {}
        self.palette_section: object = None  # set by install_blocks_ui
        self._build_actions()
        self.qt_doc.networksChanged.connect(self._check_paths)
        self.qt_doc.blocksChanged.connect(self._check_paths)
        self.qt_doc.documentReplaced.connect(self._reset_paths)

    # ---- canvases ------------------------------------------------------------------------------------------
    def attach_view(self, view: CanvasView) -> None:
        """Give a new canvas its breadcrumb and the block gestures (double-click, Esc, drops of blocks)."""
        key = id(view)
        self._views[key] = view
        self._paths[key] = [view.network]
        crumb = BreadcrumbBar(view)
        crumb.levelChosen.connect(lambda depth, v=view: self.go_to_level(v, depth))
        self._crumbs[key] = crumb
        view.installEventFilter(self)
        viewport = view.viewport()
        viewport.installEventFilter(self)
        self._viewports[key] = viewport
        view.destroyed.connect(lambda _obj=None, k=key: self._forget(k))
        view.context_menu_hooks.append(lambda menu, ids, v=view: self._extend_menu(v, menu, ids))

    def _extend_menu(self, view: CanvasView, menu: QMenu, ids: list[str]) -> None:
        """A node's context menu: Open / Expand / Ungroup / Make unique for a block node, Group for layers."""
        network = self.qt_doc.document.network(view.network)
        blocks = [i for i in ids if i in network and network.node(i).type == BLOCK_TYPE]
        menu.addSeparator()
        if len(blocks) == 1 and len(ids) == 1:
            menu.addAction(self.acts["open_block"])
            menu.addAction(self.acts["make_unique"])
            menu.addAction(self.acts["repeat"])
            menu.addAction(self.acts["save_to_library"])
        if blocks:
            menu.addAction(self.acts["expand_block"])
            menu.addAction(self.acts["ungroup"])
        menu.addAction(self.acts["group"])

    def _forget(self, key: int) -> None:
        self._views.pop(key, None)
        self._paths.pop(key, None)
        self._crumbs.pop(key, None)
        self._viewports.pop(key, None)

    def path(self, view: CanvasView) -> list[str]:
        """The networks from the tab's network down to the block the canvas shows."""
        return list(self._paths.get(id(view), [view.network]))

    def breadcrumb(self, view: CanvasView) -> BreadcrumbBar:
        return self._crumbs[id(view)]

    def root_network(self, view: CanvasView) -> str:
        return self.path(view)[0]

    # ---- opening blocks ------------------------------------------------------------------------------------
    def open_block(self, view: CanvasView, node_id: str) -> bool:
        """Show the definition of a block node in its canvas; False (with a status message) for a layer."""
        network = self.qt_doc.document.network(view.network)
        if node_id not in network:
            return False
        node = network.node(node_id)
        if node.type != BLOCK_TYPE:
            self.window.show_message(f"{node.name} is a layer, not a block: there is nothing inside to open.")
            return False
        if node.block not in self.qt_doc.document.blocks:
            self.window.show_message(f"{node.name} uses the block {node.block!r}, which this document lacks.")
            return False
        path = self.path(view) + [node.block]
        self._show(view, path)
        self.window.show_message(f"Editing block {node.block}: changes apply to every {node.block} node. "
                                 "Esc goes back.")
        return True

    def go_up(self, view: CanvasView) -> bool:
        """Back to the network that holds the opened block (Esc); False at the top level."""
        path = self.path(view)
        if len(path) < 2:
            return False
        self.go_to_level(view, len(path) - 2)
        return True

    def go_to_level(self, view: CanvasView, depth: int) -> None:
        """Back to one level of the breadcrumb (0: the tab's network); the block node left is selected."""
        path = self.path(view)
        if not 0 <= depth < len(path) - 1:
            return
        left = path[depth + 1]
        self._show(view, path[:depth + 1])
        network = self.qt_doc.document.network(view.network)
        came_from = [n.id for n in network.nodes if n.type == BLOCK_TYPE and n.block == left]
        if came_from:
            view.select_nodes(came_from[:1])
            view.center_on_node(came_from[0])

    def _show(self, view: CanvasView, path: list[str]) -> None:
        self._paths[id(view)] = list(path)
        if view.network != path[-1]:
            view.select_nodes([])
            view.set_network(path[-1])
        self._crumbs[id(view)].set_path(path)
        if view is self.window.current_view():
            self.window.refresh_current_network()

    def _valid_path(self, path: list[str]) -> list[str]:
        doc = self.qt_doc.document
        kept = [path[0]] if path and path[0] in doc.networks else []
        for name in path[1:]:
            if name not in doc.blocks:
                break
            kept.append(name)
        return kept

    def _check_paths(self) -> None:
        """A block that a canvas shows was removed (undo of Group) or renamed: go back to what still exists."""
        for key, view in list(self._views.items()):
            path = self._paths.get(key, [])
            kept = self._valid_path(path)
            if kept != path and kept:
                self._show(view, kept)

    def _reset_paths(self) -> None:
        for key, view in list(self._views.items()):
            path = self._paths.get(key, [])
            if path and path[0] in self.qt_doc.document.networks:
                self._show(view, path[:1])

    # ---- expanding in place --------------------------------------------------------------------------------
    def block_items(self, view: CanvasView, node_ids: list[str] | None = None) -> list[BlockNodeItem]:
        scene = view.scene()
        ids = node_ids if node_ids is not None else view.selected_node_ids()
        return [item for i in ids if isinstance(item := scene.node_items.get(i), BlockNodeItem)]

    def set_expanded(self, view: CanvasView, node_ids: list[str], expanded: bool) -> int:
        """Expand or collapse block nodes in place (one undoable step, saved with the document: a file opens as
        it was left); returns how many changed. The canvas follows the document's change."""
        ids = [item.node_id for item in self.block_items(view, node_ids) if item.expanded != expanded]
        if not ids:
            return 0
        return len(ids) if self._run(SetExpanded(view.network, ids, expanded)) else 0

    def toggle_expanded(self, view: CanvasView | None = None) -> None:
        """Expand the selected block nodes, or collapse them when all are expanded."""
        view = view or self.window.current_view()
        if view is None:
            return
        items = self.block_items(view)
        if not items:
            self.window.show_message("Select a block node to expand or collapse it.")
            return
        expand = not all(item.expanded for item in items)
        self.set_expanded(view, [i.node_id for i in items], expand)

    # ---- commands ------------------------------------------------------------------------------------------
    def _run(self, command: object) -> bool:
        try:
            self.qt_doc.execute(command)  # type: ignore[arg-type]
        except (DocumentError, ParamError) as error:
            self.window.show_message(str(error))
            return False
        return True

    def group_selection(self) -> str | None:
        """Ctrl+G: put the selected layers into a new block, one block node in their place; returns its id."""
        view = self.window.current_view()
        if view is None:
            return None
        ids = view.selected_node_ids()
        if not ids:
            self.window.show_message("Select the layers to group into a block first.")
            return None
        network = view.network
        name = free_block_name(self.qt_doc.document, block_name_for(self.qt_doc.document.network(network), ids))
        net = self.qt_doc.document.network(network)
        command = group_command(net, ids, name, node_name=net.unique_name("block"),  # ports get the wires' shapes
                                vertical=style.flow() == TOP_TO_BOTTOM)  # and sit where the flow puts them
        if not self._run(command):
            return None
        node_id = command.instance.id if command.instance is not None else None
        if node_id:
            view.select_nodes([node_id])
        self.window.show_message(f"Grouped {len(ids)} layers into the block {name}; double-click it to open it.")
        return node_id

    def ungroup_selection(self) -> None:
        """Ctrl+Shift+G: put each selected block node's layers in its place."""
        view = self.window.current_view()
        if view is None:
            return
        network = self.qt_doc.document.network(view.network)
        blocks = [i for i in view.selected_node_ids() if network.node(i).type == BLOCK_TYPE]
        if not blocks:
            self.window.show_message("Select a block node to ungroup.")
            return
        before = {n.id for n in network.nodes}
        from netbuilder.document import Macro

        commands = [Ungroup(view.network, i) for i in blocks]
        command = commands[0] if len(commands) == 1 else Macro(f"Ungroup {len(commands)} blocks", commands)
        if self._run(command):
            view.select_nodes([n.id for n in network.nodes if n.id not in before])

    def make_unique(self, view: CanvasView | None = None, node_id: str | None = None) -> str | None:
        """Give a block node its own copy of its definition; returns the new block's name."""
        view = view or self.window.current_view()
        if view is None:
            return None
        if node_id is None:
            ids = view.selected_node_ids()
            node_id = ids[0] if len(ids) == 1 else None
        network = self.qt_doc.document.network(view.network)
        if node_id is None or node_id not in network or network.node(node_id).type != BLOCK_TYPE:
            self.window.show_message("Select one block node to make unique.")
            return None
        command = MakeUnique(view.network, node_id)
        if not self._run(command):
            return None
        return command.new_name

    def repeat(self, view: CanvasView | None = None, node_id: str | None = None, times: int | None = None
               ) -> str | None:
        """Repeat Block…: chain copies of the selected block node's block (asks how many when ``times`` is None);
        one undo step; returns the new block's name."""
        from netbuilder_ui.blocks.repeat import RepeatAndLayOut, ask_copies, repeat_problem

        view = view or self.window.current_view()
        if view is None:
            return None
        if node_id is None:
            ids = view.selected_node_ids()
            node_id = ids[0] if len(ids) == 1 else ""
        problem = repeat_problem(self.qt_doc.document, view.network, node_id)
        if problem:
            self.window.show_message(problem)
            return None
        node = self.qt_doc.document.network(view.network).node(node_id)
        if times is None:
            times = ask_copies(self.window, node.name, node.block)
            if times is None:
                return None
        try:
            command = RepeatAndLayOut(view.network, node_id, times)
        except DocumentError as error:
            self.window.show_message(str(error))
            return None
        old_block = node.block
        if not self._run(command):
            return None
        view.select_nodes([node_id])
        name = command.repeat.block_name
        self.window.show_message(f"{node.name} now holds {times} {old_block} blocks in a chain (block {name}); "
                                 "double-click it to see them.")
        return name

    def open_block_in(self, network: str, node_id: str) -> bool:
        """Open a block node of ``network`` in the current canvas (the inspector's Open block)."""
        view = self.window.current_view()
        if view is None or view.network != network:
            return False
        return self.open_block(view, node_id)

    def add_block_to_current(self, payload: str) -> str | None:
        """Add a palette block at the centre of the current canvas (double-click / Enter in the palette)."""
        view = self.window.current_view()
        if view is None:
            return None
        node_id = self.add_block(view, payload)
        view.setFocus(Qt.FocusReason.OtherFocusReason)
        return node_id

    def save_to_library(self, view: CanvasView | None = None) -> str | None:
        """Write the selected block node's definition to the user's block library; returns the file path."""
        from netbuilder.io.block_library import save_block

        view = view or self.window.current_view()
        ids = view.selected_node_ids() if view is not None else []
        network = self.qt_doc.document.network(view.network) if view is not None else None
        if network is None or len(ids) != 1 or network.node(ids[0]).type != BLOCK_TYPE:
            self.window.show_message("Select one block node to add to your block library.")
            return None
        name = network.node(ids[0]).block
        try:
            path = save_block(self.qt_doc.document, name)
        except (DocumentError, OSError, ValueError) as error:
            self.window.show_message(f"Could not save {name} to the library: {error}")
            return None
        self.window.show_message(f"Saved {name} to your block library ({path}).")
        if self.palette_section is not None:
            self.palette_section.refresh()  # type: ignore[attr-defined]
        return str(path)

    def open_selected(self) -> None:
        view = self.window.current_view()
        ids = view.selected_node_ids() if view is not None else []
        if view is None or len(ids) != 1:
            self.window.show_message("Select one block node to open.")
            return
        self.open_block(view, ids[0])

    def add_block(self, view: CanvasView, payload: str, scene_pos: QPointF | None = None) -> str | None:
        """Place a block from the palette (``doc:Name`` or ``lib:path``) in a canvas; returns the new node id.
        A library block is first copied into the document (the same undo step)."""
        from netbuilder_ui.blocks.palette_section import block_placement

        try:
            command, node_id = block_placement(self.qt_doc.document, view, payload, scene_pos)
        except (DocumentError, ParamError, OSError, ValueError) as error:
            self.window.show_message(str(error))
            return None
        if not self._run(command):
            return None
        view.select_nodes([node_id])
        return node_id

    # ---- gestures ------------------------------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        view = self._view_of(watched)
        if view is None:
            return False
        if kind == QEvent.Type.MouseButtonDblClick and isinstance(event, QMouseEvent) and \
                event.button() == Qt.MouseButton.LeftButton:
            item = self._node_at(view, event.position().toPoint())
            if isinstance(item, BlockNodeItem):
                self.open_block(view, item.node_id)
                return True
        elif kind == QEvent.Type.MouseButtonPress and isinstance(event, QMouseEvent) and \
                event.button() == Qt.MouseButton.LeftButton:
            item = self._node_at(view, event.position().toPoint())
            if isinstance(item, BlockNodeItem):
                local = item.mapFromScene(view.mapToScene(event.position().toPoint()))
                if item.toggle_rect().contains(local):
                    self.set_expanded(view, [item.node_id], not item.expanded)
                    return True
        elif kind == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and watched is view:
            if event.key() == Qt.Key.Key_Escape and not event.modifiers() and view.scene().interaction is None \
                    and self.go_up(view):
                return True
        elif kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and _has_block(event):
            event.acceptProposedAction()  # type: ignore[attr-defined]
            return True
        elif kind == QEvent.Type.Drop and _has_block(event):
            assert isinstance(event, QDropEvent)
            payload = bytes(event.mimeData().data(BLOCK_MIME).data()).decode("utf-8")
            if self.add_block(view, payload, view.mapToScene(event.position().toPoint())) is not None:
                event.acceptProposedAction()
                view.setFocus()
            else:
                event.ignore()
            return True
        return False

    def _view_of(self, watched: QObject) -> CanvasView | None:
        """The canvas that ``watched`` is (or whose viewport it is)."""
        for key, view in self._views.items():
            if watched is view or watched is self._viewports.get(key):
                return view
        return None

    @staticmethod
    def _node_at(view: CanvasView, pos: object) -> NodeItem | None:
        for item in view.items(pos):  # type: ignore[arg-type]
            if isinstance(item, BadgeItem):
                item = item.parentItem()
            if isinstance(item, NodeItem):
                return item
        return None

    # ---- menu ----------------------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        window = self.window
        specs = (
            ("group", "&Group into Block", self.group_selection, "Ctrl+G",
             "Put the selected layers into a new block; wires that cross the selection become its ports."),
            ("ungroup", "U&ngroup Block", self.ungroup_selection, "Ctrl+Shift+G",
             "Put the selected block node's layers back in its place."),
            ("make_unique", "Make Block &Unique", lambda: self.make_unique(), None,
             "Give the selected block node its own copy of its definition, so editing it leaves the others."),
            ("repeat", "&Repeat Block…", lambda: self.repeat(), None,
             "Chain copies of the selected block node's block (like nn.Sequential of blocks), in one step."),
            ("save_to_library", "Add Block to &Library", lambda: self.save_to_library(), None,
             "Save the selected block node's definition to your block library, to use it in other documents."),
            ("open_block", "&Open Block", self.open_selected, None,
             "Edit the selected block node's definition (double-click does the same; Esc goes back)."),
            ("expand_block", "E&xpand / Collapse Block", lambda: self.toggle_expanded(), None,
             "Show or hide the selected block nodes' layers in place."),
        )
        for key, text, slot, shortcut, tip in specs:
            action = QAction(text, window)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            action.setStatusTip(tip)
            action.setToolTip(tip)
            action.triggered.connect(lambda _checked=False, s=slot: s())
            window.addAction(action)
            self.acts[key] = action
            window.acts[f"block_{key}"] = action

    def add_to_menu(self, menu: QMenu) -> None:
        menu.addSeparator()
        for key in ("group", "ungroup", "make_unique", "repeat", "open_block", "expand_block", "save_to_library"):
            menu.addAction(self.acts[key])


def block_name_for(network: object, node_ids: list[str]) -> str:
    """A class-like name for a new block from its first layer type: Linear, ReLU -> ``LinearBlock`` (rename it in
    the inspector)."""
    types: list[str] = []
    for node_id in node_ids:
        node = network.node(node_id)  # type: ignore[attr-defined]
        kind = node.block if node.type == BLOCK_TYPE else node.type
        if kind not in types and kind not in ("Input", "Output"):
            types.append(kind)
    stem = next((t[:1].upper() + t[1:] for t in types if t.isidentifier()), "")
    return f"{stem.removesuffix('Block')}Block" if stem else "MyBlock"


def _has_block(event: QEvent) -> bool:
    mime = getattr(event, "mimeData", None)
    data: QMimeData | None = mime() if callable(mime) else None
    return data is not None and data.hasFormat(BLOCK_MIME)
