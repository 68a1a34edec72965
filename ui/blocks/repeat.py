"""Edit > Repeat Block…: stack copies of a block node's block in sequence, as torchvision writes
``layer1 = nn.Sequential(BasicBlock(...), BasicBlock(...))``.

The core's `RepeatBlock` turns the node into an instance of a new block whose nodes ``0`` … ``N-1`` are the original
block chained; `RepeatAndLayOut` adds, in the same undo step, a layout of that new block in the document's flow, so
opening or expanding it shows the copies in a readable row (or column). `RepeatDialog` asks how many copies.
"""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

from netbuilder.document import Command, Document, MoveNodes
from netbuilder.document.block_commands import RepeatBlock
from netbuilder.document.blocks import BLOCK_TYPE
from netbuilder.layout import document_flow
from netbuilder_ui.canvas.flow import layout_positions

MIN_COPIES, MAX_COPIES = 2, 64


def repeat_problem(doc: Document, network: str, node_id: str) -> str:
    """Why this node cannot be repeated in sequence ("" when it can), in the words the status bar shows."""
    net = doc.network(network)
    if node_id not in net:
        return "Select one block node to repeat."
    node = net.node(node_id)
    if node.type != BLOCK_TYPE:
        return f"{node.name} is a layer; group it into a block first (Ctrl+G), then repeat the block."
    definition = doc.blocks.get(node.block)
    if definition is None:
        return f"{node.name} uses the block {node.block!r}, which this document lacks."
    ins, outs = len(definition.input_ports()), len(definition.output_ports())
    if ins != 1 or outs != 1:
        return (f"Block {definition.name} has {ins} input{'s' * (ins != 1)} and {outs} output{'s' * (outs != 1)}; "
                "only a block with one input and one output can be repeated in sequence.")
    return ""


class RepeatAndLayOut(Command):
    """`RepeatBlock`, then the new block's copies laid out in the document's flow: one undo step."""

    def __init__(self, network: str, node_id: str, times: int):
        self.repeat = RepeatBlock(network, node_id, times)  # refuses a count outside 2..1000 here
        self.layout: MoveNodes | None = None
        self.text = self.repeat.text

    def do(self, doc: Document) -> None:
        self.repeat.do(doc)
        try:
            name = self.repeat.block_name
            assert name is not None
            positions = layout_positions(doc.network(name), document_flow(doc.settings))
            self.layout = MoveNodes(name, positions, text="Auto-layout")
            self.layout.do(doc)
        except Exception:
            self.repeat.undo(doc)
            raise
        self.text = self.repeat.text

    def undo(self, doc: Document) -> None:
        if self.layout is not None:
            self.layout.undo(doc)
        self.repeat.undo(doc)


class RepeatDialog(QDialog):
    """How many copies of the block to chain (2 to 64)."""

    def __init__(self, parent: QWidget | None, node_name: str, block: str):
        super().__init__(parent)
        self.setWindowTitle("Repeat Block")
        self.setObjectName("repeatBlock")
        self.setMinimumWidth(380)  # room for the explanation on three lines
        self.node_name, self.block = node_name, block
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.count = QSpinBox()
        self.count.setObjectName("repeatCount")
        self.count.setRange(MIN_COPIES, MAX_COPIES)
        self.count.setValue(MIN_COPIES)
        self.count.setToolTip(f"How many {block} blocks to chain, output to input ({MIN_COPIES} to {MAX_COPIES}).")
        form.addRow("Copies in sequence:", self.count)
        layout.addLayout(form)
        self.detail = QLabel()
        self.detail.setObjectName("repeatDetail")
        self.detail.setWordWrap(True)
        layout.addWidget(self.detail)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Repeat")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.count.valueChanged.connect(lambda _value: self._sync())
        self._sync()

    def _sync(self) -> None:
        n = self.count.value()
        self.detail.setText(f"{self.node_name} becomes one block of {n} {self.block} blocks in a chain, each with "
                            f"its own weights ({self.node_name}.0 … {self.node_name}.{n - 1}) and the same "
                            "parameters. Undo brings back the single block.")


def ask_copies(parent: QWidget | None, node_name: str, block: str) -> int | None:
    """The number of copies the user chose, or None when cancelled."""
    dialog = RepeatDialog(parent, node_name, block)
    try:
        return dialog.count.value() if dialog.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dialog.deleteLater()


__all__ = ["MAX_COPIES", "MIN_COPIES", "RepeatAndLayOut", "RepeatDialog", "ask_copies", "repeat_problem"]
