"""Blocks in the app: block nodes on the canvas (`node_item`), opening a definition with a breadcrumb and the
Group / Ungroup / Make unique commands (`controller`) and the palette's Blocks section with the user's block library
(`palette_section`, over `netbuilder.io.block_library`). `install_blocks_ui` wires them into a main window."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netbuilder_ui.blocks.controller import BlocksController
    from netbuilder_ui.main_window import MainWindow


def install_blocks_ui(window: MainWindow) -> BlocksController:
    """Add block navigation, the Edit menu's block commands and the palette's Blocks section to ``window``."""
    from PySide6.QtWidgets import QMenu

    from netbuilder_ui.blocks.controller import BlocksController
    from netbuilder_ui.blocks.palette_section import BlockPaletteSection

    controller = BlocksController(window)
    for action in window.menuBar().actions():
        menu = action.menu()
        if isinstance(menu, QMenu) and action.text().replace("&", "") == "Edit":
            controller.add_to_menu(menu)
            break
    controller.palette_section = BlockPaletteSection(window.palette_panel, window.qt_doc)
    window.palette_panel.blockActivated.connect(controller.add_block_to_current)
    window.inspector.openBlockRequested.connect(controller.open_block_in)
    return controller
