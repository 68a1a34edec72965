"""Placing an imported network on the canvas with the app's own auto-layout (`netbuilder.layout`), without Qt.

The canvas measures nodes with Qt fonts; an import runs in the core (and on the command line), so node sizes are
estimated from the same inputs the canvas uses: a title row, a summary row when the layer has one, and one row
per port. The app re-measures when it draws, so an estimate a few pixels off only shifts the gaps.
"""

from __future__ import annotations

from netbuilder.document import Network
from netbuilder.layout import DEFAULT_ASPECT, layered_positions

WIDTH = 160.0
TITLE = 30.0
ROW = 18.0
PAD = 8.0


def _size_of(network: Network):  # noqa: ANN202 (a layout.SizeFn)
    def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
        node = network.node(node_id)
        spec = node.spec
        ins = [p.name for p in spec.input_ports(node.params)]
        outs = [p.name for p in spec.output_ports(node.params)]
        summary = ROW if spec.summary(node.params) else 0.0
        rows = max(len(ins), len(outs), 1)
        height = TITLE + summary + rows * ROW + PAD
        top = TITLE + summary
        return (WIDTH, height, {p: top + (i + 0.5) * ROW for i, p in enumerate(ins)},
                {p: top + (i + 0.5) * ROW for i, p in enumerate(outs)})

    return size_of


def lay_out(network: Network, aspect: float = DEFAULT_ASPECT) -> None:
    """Give every node a position (columns by depth, wrapped into rows of about ``aspect``); not undoable: an
    import is a new document."""
    for node_id, position in layered_positions(network, _size_of(network), 20.0, aspect).items():
        network.node(node_id).position = position
