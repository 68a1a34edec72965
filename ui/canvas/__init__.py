"""The network canvas: a QGraphicsView per network, kept in step with the document, where every gesture ends by
pushing one core command (see DESIGN.md, principles 2 and 7).

Public names the main window codes against: `CanvasView`, `NetworkScene`, `render_network` (PNG/SVG without a
window), the mime types `LAYER_MIME` (palette drags) and `NODES_MIME` (copied layers), and the shared colours in
`netbuilder_ui.canvas.style` (`CATEGORY_COLORS`).
"""



from netbuilder_ui.canvas.clipboard import NODES_MIME  # noqa: E402
from netbuilder_ui.canvas.render import render_network  # noqa: E402
from netbuilder_ui.canvas.scene import NetworkScene  # noqa: E402
from netbuilder_ui.canvas.style import CATEGORY_COLORS  # noqa: E402
from netbuilder_ui.canvas.view import LAYER_MIME, CanvasView  # noqa: E402

__all__ = ["CATEGORY_COLORS", "LAYER_MIME", "NODES_MIME", "CanvasView", "NetworkScene", "render_network"]
