"""Where nodes go and how wires run between them on a canvas: graph geometry, no Qt.

`layered_positions` arranges a network in columns by depth (or rows, top to bottom), wrapped to fit a view's shape;
`route_wire` finds a path for a wire that keeps clear of nodes. The canvas, the image export and the template
builder all use these, so a network looks the same wherever it is drawn.
"""

from netbuilder.layout.layered import (
    DEFAULT_ASPECT,
    FLOW_SETTING,
    FLOWS,
    SizeFn,
    check_flow,
    document_flow,
    layered_positions,
)
from netbuilder.layout.routing import (
    LEFT_TO_RIGHT,
    TOP_TO_BOTTOM,
    ObstacleFn,
    Point,
    Rect,
    label_spot,
    rect_clear,
    route_wire,
)

__all__ = ["DEFAULT_ASPECT", "FLOWS", "FLOW_SETTING", "LEFT_TO_RIGHT", "TOP_TO_BOTTOM", "ObstacleFn", "Point", "Rect",
           "SizeFn", "check_flow", "document_flow", "label_spot", "layered_positions", "rect_clear", "route_wire"]
