"""Wire routes that keep clear of nodes. Pure geometry, no Qt.

A wire leaves its output port to the right and enters its input port from the left. Between neighbouring columns a
smooth S-curve is enough (``route_wire`` returns None: draw the curve). A wire that would pass under another node —
a skip connection across several columns, or a wire going back to the start of the next wrapped row — instead runs
in a lane: right out of its port, up or down to a horizontal line that no node covers, along it, and back into its
input port. The lane nearest the ports wins, so a skip connection hugs the layers it jumps over.

Top to bottom (``flow`` TOP_TO_BOTTOM) a wire leaves downwards and enters from above; the routes are the same ones
worked out on the transposed drawing (x and y swapped), so lanes there are vertical.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # left, top, right, bottom

LEFT_TO_RIGHT = "left-to-right"  # the same names as `layered` (which imports this module's types)
TOP_TO_BOTTOM = "top-to-bottom"

CLEARANCE = 14.0  # how far a lane keeps from a node's edge
STUB = 24.0  # straight run out of a port before a routed wire turns


def _t(point: Point) -> Point:
    return (point[1], point[0])


def _t_rect(rect: Rect) -> Rect:
    return (rect[1], rect[0], rect[3], rect[2])


def curve_points(p1: Point, p2: Point, samples: int = 24, flow: str = LEFT_TO_RIGHT) -> list[Point]:
    """Points along the default S-curve between two ports (the same curve the canvas draws)."""
    if flow == TOP_TO_BOTTOM:
        return [_t(p) for p in curve_points(_t(p1), _t(p2), samples)]
    (x1, y1), (x2, y2) = p1, p2
    dx = x2 - x1
    reach = max(abs(dx) * 0.5, 40.0) if dx >= 0 else max(80.0, min(-dx * 0.5, 200.0) + abs(y2 - y1) * 0.2)
    c1, c2 = (x1 + reach, y1), (x2 - reach, y2)
    result = []
    for i in range(samples + 1):
        t = i / samples
        u = 1 - t
        a, b, c, d = u * u * u, 3 * u * u * t, 3 * u * t * t, t * t * t
        result.append((a * x1 + b * c1[0] + c * c2[0] + d * x2, a * y1 + b * c1[1] + c * c2[1] + d * y2))
    return result


def _inside(point: Point, rect: Rect, margin: float) -> bool:
    x, y = point
    return rect[0] - margin < x < rect[2] + margin and rect[1] - margin < y < rect[3] + margin


ObstacleFn = Callable[[Rect], list[Rect]]  # node rectangles meeting an area


def route_wire(p1: Point, p2: Point, obstacles_in: ObstacleFn, ends: Sequence[Rect] = (),
               flow: str = LEFT_TO_RIGHT) -> list[Point] | None:
    """A polyline for the wire from output port ``p1`` to input port ``p2`` that passes under no node, or None
    when the plain S-curve already does.

    ``obstacles_in(area)`` gives the node rectangles meeting an area; ``ends`` are the rectangles of the wire's own
    two nodes (the curve may touch those at its ends, a lane may not cross them).
    """
    if flow == TOP_TO_BOTTOM:
        def transposed(area: Rect) -> list[Rect]:
            return [_t_rect(r) for r in obstacles_in(_t_rect(area))]

        route = route_wire(_t(p1), _t(p2), transposed, [_t_rect(r) for r in ends])
        return None if route is None else [_t(p) for p in route]
    forward = p2[0] - p1[0] >= 2 * STUB
    if forward:
        # The curve lies inside the box of its control points: when no other node meets that box (the usual case,
        # a wire to the next column), it is clear without sampling it.
        reach = max((p2[0] - p1[0]) * 0.5, 40.0)
        hull = (p1[0] - 2.0, min(p1[1], p2[1]) - 2.0, max(p2[0], p1[0] + reach) + 2.0, max(p1[1], p2[1]) + 2.0)
        blockers = [r for r in obstacles_in(hull) if r not in ends]
        if not blockers:
            return None
        points = curve_points(p1, p2)
        if not any(_inside(pt, r, 2.0) for pt in points for r in blockers):
            return None
    left, right = (p1[0] + STUB, p2[0] - STUB) if forward else (p2[0] - STUB, p1[0] + STUB)
    column = obstacles_in((left, -1e7, right, 1e7))
    walls = [r for r in column if (r not in ends or not forward) and r[2] > left and r[0] < right]
    target = (p1[1] + p2[1]) / 2
    lane = free_lane(walls, target)
    x1, x2 = p1[0] + STUB, p2[0] - STUB
    return [p1, (x1, p1[1]), (x1, lane), (x2, lane), (x2, p2[1]), p2]


def free_lane(walls: Sequence[Rect], target: float) -> float:
    """The y nearest ``target`` that is at least CLEARANCE away from every wall (by its vertical extent)."""
    spans = sorted((r[1] - CLEARANCE, r[3] + CLEARANCE) for r in walls)
    merged: list[list[float]] = []
    for top, bottom in spans:
        if merged and top <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], bottom)
        else:
            merged.append([top, bottom])
    for top, bottom in merged:
        if top < target < bottom:
            return top if target - top <= bottom - target else bottom
    return target


def label_spot(route: Sequence[Point] | None, p1: Point, p2: Point) -> Point:
    """Where a wire's label goes: the middle of a routed wire's lane, or of the curve."""
    if route:
        (ax, ay), (bx, by) = route[2], route[3]
        return ((ax + bx) / 2, (ay + by) / 2)
    points = curve_points(p1, p2, 2)
    return points[1]


def rect_clear(rect: Rect, obstacles: Sequence[Rect], margin: float) -> bool:
    """True when ``rect`` keeps ``margin`` away from every obstacle (a label that covers no node or port)."""
    return not any(rect[0] < r[2] + margin and rect[2] > r[0] - margin and rect[1] < r[3] + margin
                   and rect[3] > r[1] - margin for r in obstacles)
