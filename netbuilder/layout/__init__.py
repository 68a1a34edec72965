"""Where nodes go and how wires run between them on a canvas: graph geometry, no Qt.

`layered_positions` arranges a network in columns by depth, wrapped into rows to fit a view's shape;
`route_wire` finds a path for a wire that keeps clear of nodes. The canvas, the image export and the template
builder all use these, so a network looks the same wherever it is drawn.
"""

from netbuilder.layout.layered import DEFAULT_ASPECT, SizeFn, layered_positions
from netbuilder.layout.routing import ObstacleFn, Point, Rect, label_spot, rect_clear, route_wire

__all__ = ["DEFAULT_ASPECT", "ObstacleFn", "Point", "Rect", "SizeFn", "label_spot", "layered_positions", "rect_clear",
           "route_wire"]
