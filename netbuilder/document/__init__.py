"""The document model: networks of layer nodes and wires, edited only through undoable commands."""

from netbuilder.document import block_commands, blocks, events
from netbuilder.document.commands import (
    AddNetwork,
    AddNode,
    AddWire,
    Command,
    InsertNodes,
    Macro,
    MoveNodes,
    RemoveNetwork,
    RemoveNodes,
    RemoveWires,
    RenameNetwork,
    RenameNode,
    SetNodeOptions,
    SetParams,
    SetSetting,
    UndoStack,
)
from netbuilder.document.model import Document, DocumentError, DocumentInfo, Network, Node, Wire

__all__ = [
    "AddNetwork", "AddNode", "AddWire", "Command", "Document", "DocumentError", "DocumentInfo", "InsertNodes",
    "Macro", "MoveNodes", "Network", "Node", "RemoveNetwork", "RemoveNodes", "RemoveWires", "RenameNetwork",
    "RenameNode", "SetNodeOptions", "SetParams", "SetSetting", "UndoStack", "Wire", "block_commands", "blocks", "events",
]
