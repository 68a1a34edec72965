"""The core layout: long networks wrap into rows that fit a view, skip connections stay in their row, nodes never
overlap; wire routes keep clear of nodes; the node index answers like a scan. No Qt."""

from __future__ import annotations

import random

from netbuilder.document import Document, Network
from netbuilder.layout import layered_positions, route_wire
from netbuilder.layout.routing import curve_points, free_lane
from netbuilder.layout.spatial import RectIndex

WIDTH, HEIGHT = 200.0, 70.0


def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
    return WIDTH, HEIGHT, {"in": 35.0, "in1": 35.0, "in2": 53.0}, {"out": 35.0}


def chain(count: int) -> tuple[Network, list[str]]:
    net = Document().network()
    ids = [net.add("Input", shape=(8,))]
    for _ in range(count - 2):
        ids.append(net.add("ReLU"))
    ids.append(net.add("Output"))
    net.chain(*ids)
    return net, ids


def residual(blocks: int) -> tuple[Network, list[tuple[str, str]]]:
    """Input, then blocks of Linear -> ReLU -> Linear -> Add(+skip), then Output; returns the skip wires."""
    net = Document().network()
    previous = net.add("Input", shape=(8,))
    skips = []
    for _ in range(blocks):
        a, b, c = net.add("Linear", units=8), net.add("ReLU"), net.add("Linear", units=8)
        add = net.add("Add")
        net.chain(previous, a, b, c)
        net.connect(c, add, dst_port="in1")
        net.connect(previous, add, dst_port="in2")
        skips.append((previous, add))
        previous = add
    net.connect(previous, net.add("Output"))
    return net, skips


def bounds(positions: dict[str, tuple[float, float]]) -> tuple[float, float]:
    xs = [x for x, _ in positions.values()]
    ys = [y for _, y in positions.values()]
    return max(xs) + WIDTH - min(xs), max(ys) + HEIGHT - min(ys)


def overlaps(positions: dict[str, tuple[float, float]]) -> list[tuple[str, str]]:
    items = list(positions.items())
    return [(a, b) for i, (a, (ax, ay)) in enumerate(items) for b, (bx, by) in items[i + 1:]
            if abs(ax - bx) < WIDTH and abs(ay - by) < HEIGHT]


def test_a_long_chain_wraps_into_rows_shaped_like_the_view():
    net, ids = chain(30)
    one_row = layered_positions(net, size_of, aspect=None)
    assert len({y for _, y in one_row.values()}) == 1
    wrapped = layered_positions(net, size_of, aspect=1.6)
    width, height = bounds(wrapped)
    assert 0.8 <= width / height <= 3.2, (width, height)
    assert not overlaps(wrapped)
    rows = sorted({y for _, y in wrapped.values()})
    assert len(rows) >= 3
    # Read row by row, left to right, the layers come in network order.
    reading = sorted(ids, key=lambda i: (wrapped[i][1], wrapped[i][0]))
    assert reading == ids


def test_wrapping_fits_a_view_better_than_one_row():
    net, _ = chain(30)
    aspect = 1.6
    for positions in (layered_positions(net, size_of, aspect=None), layered_positions(net, size_of, aspect=aspect)):
        width, height = bounds(positions)
        scale = min(aspect / width, 1 / height)
        assert scale > 0
    w1, h1 = bounds(layered_positions(net, size_of, aspect=None))
    w2, h2 = bounds(layered_positions(net, size_of, aspect=aspect))
    assert min(aspect / w2, 1 / h2) > 3 * min(aspect / w1, 1 / h1)  # drawn over three times larger


def rows_of(positions: dict[str, tuple[float, float]]) -> list[list[str]]:
    """Nodes grouped into wrapped rows (bands that do not overlap vertically), each sorted left to right."""
    rows: list[list[str]] = []
    bottom = 0.0
    for node_id in sorted(positions, key=lambda n: positions[n][1]):
        y = positions[node_id][1]
        if not rows or y > bottom + 20:
            rows.append([])
            bottom = y + HEIGHT
        rows[-1].append(node_id)
        bottom = max(bottom, y + HEIGHT)
    return [sorted(row, key=lambda n: positions[n][0]) for row in rows]


def test_residual_blocks_wrap_only_between_blocks():
    net, skips = residual(8)
    positions = layered_positions(net, size_of, aspect=1.6)
    assert not overlaps(positions)
    rows = rows_of(positions)
    assert len(rows) > 2  # it did wrap
    row_of = {n: i for i, row in enumerate(rows) for n in row}
    for row in rows:  # every row ends at an Add (the end of a block) or the Output: none breaks inside a block
        assert net.node(row[-1]).type in ("Add", "Output"), [net.node(n).type for n in row]
    for src, dst in skips:  # a skip runs forward inside its row, or leaves from the Add that ends a row
        if row_of[src] == row_of[dst]:
            assert positions[dst][0] > positions[src][0]
        else:
            assert row_of[dst] == row_of[src] + 1 and rows[row_of[src]][-1] == src


def test_a_wire_across_a_node_is_routed_around_it_and_a_clear_one_is_not():
    node = (300.0, 0.0, 500.0, 70.0)
    ends = ((0.0, 0.0, 200.0, 70.0), (600.0, 0.0, 800.0, 70.0))
    everything = [node, *ends]

    def obstacles_in(area):
        return [r for r in everything if r[0] < area[2] and r[2] > area[0] and r[1] < area[3] and r[3] > area[1]]

    route = route_wire((200.0, 35.0), (600.0, 35.0), obstacles_in, ends)
    assert route is not None and route[0] == (200.0, 35.0) and route[-1] == (600.0, 35.0)
    lane = route[2][1]
    assert lane <= node[1] - 10 or lane >= node[3] + 10
    for (ax, ay), (bx, by) in zip(route, route[1:], strict=False):  # no segment crosses the node in between
        for t in (i / 20 for i in range(21)):
            x, y = ax + (bx - ax) * t, ay + (by - ay) * t
            assert not (node[0] < x < node[2] and node[1] < y < node[3])
    assert route_wire((200.0, 35.0), (300.0, 35.0), obstacles_in, (ends[0], node)) is None


def test_a_wire_back_to_the_next_row_runs_between_the_rows():
    top_row = [(0.0, 0.0, 200.0, 70.0), (300.0, 0.0, 500.0, 70.0)]
    bottom_row = [(0.0, 160.0, 200.0, 230.0), (300.0, 160.0, 500.0, 230.0)]
    everything = top_row + bottom_row

    def obstacles_in(area):
        return [r for r in everything if r[0] < area[2] and r[2] > area[0] and r[1] < area[3] and r[3] > area[1]]

    route = route_wire((500.0, 35.0), (0.0, 195.0), obstacles_in, (top_row[1], bottom_row[0]))
    assert route is not None
    assert 70 < route[2][1] < 160 and route[2][1] == route[3][1]


def test_free_lane_keeps_clear_of_every_wall():
    walls = [(0, 0, 10, 50), (0, 40, 10, 120), (0, 200, 10, 260)]
    lane = free_lane(walls, 60.0)
    assert all(not (w[1] - 14 < lane < w[3] + 14) for w in walls)
    assert free_lane(walls, 160.0) == 160.0
    assert len(curve_points((0, 0), (100, 50), 8)) == 9


def test_the_rect_index_answers_like_a_scan():
    rng = random.Random(3)
    index = RectIndex(cell=100)
    rects = {}
    for key in range(300):
        x, y = rng.uniform(-2000, 2000), rng.uniform(-2000, 2000)
        rects[key] = (x, y, x + rng.uniform(10, 300), y + rng.uniform(10, 120))
        index.put(key, rects[key])
    for key in range(0, 300, 3):  # move a third, remove a few
        x, y = rng.uniform(-2000, 2000), rng.uniform(-2000, 2000)
        rects[key] = (x, y, x + 200, y + 70)
        index.put(key, rects[key])
    for key in range(1, 300, 25):
        index.remove(key)
        del rects[key]
    for _ in range(200):
        x, y = rng.uniform(-2200, 2200), rng.uniform(-2200, 2200)
        tall = rng.random() < 0.3
        area = (x, -1e7 if tall else y, x + rng.uniform(1, 800), 1e7 if tall else y + rng.uniform(1, 800))
        expected = sorted(r for r in rects.values()
                          if r[0] < area[2] and r[2] > area[0] and r[1] < area[3] and r[3] > area[1])
        assert sorted(index.query(area)) == expected
