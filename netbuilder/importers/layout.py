"""Placing an imported network on the canvas with the app's own auto-layout (`netbuilder.layout`), without Qt.

The canvas measures nodes with Qt fonts; an import runs in the core (and on the command line), so node sizes are
estimated from the same inputs the canvas uses: the title and name widen a node (up to 1.6 standard widths), a
title row, a summary row when the layer has one, and one row per port; a block node lists its inputs, then its
outputs, then its parameters and shape. An estimate narrower than the drawn node eats the gap between columns,
and the wire between them has to loop round (tests/gui/test_import_model.py compares the two).
"""

from __future__ import annotations

import math

from netbuilder.document import Network, Node
from netbuilder.document.blocks import BLOCK_TYPE
from netbuilder.layout import DEFAULT_ASPECT, layered_positions

WIDTH = 180.0  # the canvas's standard node width
MAX_WIDTH = WIDTH * 1.6
GRID = 20.0
TITLE = 30.0
ROW = 18.0
PAD = 8.0
# Average advance of a character in the canvas's title (bold) and name fonts, and the room around them.
TITLE_CHAR = 8.3
NAME_CHAR = 6.2
TEXT_ROOM = 2 * 11.0 + 12.0


def estimated_width(title: str, name: str) -> float:
    """The canvas's node width for this title and name: the standard one, widened on the grid to fit them."""
    need = math.ceil((TITLE_CHAR * len(title) + NAME_CHAR * len(name) + TEXT_ROOM) / GRID) * GRID
    return min(max(need, WIDTH), MAX_WIDTH)


def _node_size(node: Node) -> tuple[float, float, dict[str, float], dict[str, float]]:
    spec = node.spec
    ins = [p.name for p in spec.input_ports(node.params)]
    outs = [p.name for p in spec.output_ports(node.params)]
    if node.type == BLOCK_TYPE:
        width = estimated_width(str(node.block), node.name)
        rows = len(ins) + len(outs)
        return (width, TITLE + (rows + 2) * ROW + PAD,
                {p: TITLE + (i + 0.5) * ROW for i, p in enumerate(ins)},
                {p: TITLE + (len(ins) + i + 0.5) * ROW for i, p in enumerate(outs)})
    summary = ROW if spec.summary(node.params) else 0.0
    rows = max(len(ins), len(outs), 1)
    top = TITLE + summary
    return (estimated_width(spec.title, node.name), top + rows * ROW + PAD,
            {p: top + (i + 0.5) * ROW for i, p in enumerate(ins)},
            {p: top + (i + 0.5) * ROW for i, p in enumerate(outs)})


def _size_of(network: Network):  # noqa: ANN202 (a layout.SizeFn)
    def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
        return _node_size(network.node(node_id))

    return size_of


def lay_out(network: Network, aspect: float = DEFAULT_ASPECT) -> None:
    """Give every node a position (columns by depth, wrapped into rows of about ``aspect``); not undoable: an
    import is a new document."""
    for node_id, position in layered_positions(network, _size_of(network), GRID, aspect).items():
        network.node(node_id).position = position
