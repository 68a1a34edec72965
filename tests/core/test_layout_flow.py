"""Both flows of the core layout, on every template network: nodes never overlap, every wire is drawn clear of the
nodes it does not join (a plain curve or a routed lane), and top to bottom reads downwards. No Qt."""

from __future__ import annotations

import pytest

from netbuilder.document import Document, Network
from netbuilder.layout import (
    FLOW_SETTING,
    LEFT_TO_RIGHT,
    TOP_TO_BOTTOM,
    check_flow,
    document_flow,
    layered_positions,
    route_wire,
)
from netbuilder.layout.routing import curve_points
from netbuilder.templates import list_templates, load_template

ROW = 18.0


def sizes(network: Network, flow: str):  # noqa: ANN201 (a SizeFn)
    """Node sizes shaped like the canvas's: 200 wide, taller with more ports; ports along the flow's edges."""

    def size_of(node_id: str) -> tuple[float, float, dict[str, float], dict[str, float]]:
        node = network.node(node_id)
        ins = [p.name for p in node.spec.input_ports(node.params)]
        outs = [p.name for p in node.spec.output_ports(node.params)]
        width, height = 200.0, 60.0 + ROW * max(len(ins), len(outs), 1)
        if flow == TOP_TO_BOTTOM:
            return (width, height, {n: width * (i + 1) / (len(ins) + 1) for i, n in enumerate(ins)},
                    {n: width * (i + 1) / (len(outs) + 1) for i, n in enumerate(outs)})
        return (width, height, {n: 40.0 + ROW * i for i, n in enumerate(ins)},
                {n: 40.0 + ROW * i for i, n in enumerate(outs)})

    return size_of


def template_networks() -> list[tuple[str, Network]]:
    result = []
    for info in list_templates():
        for network in load_template(info.id):
            result.append((f"{info.id}/{network.name}", network))
    return result


NETWORKS = template_networks()


def boxes(network: Network, positions: dict[str, tuple[float, float]], flow: str) -> dict[str, tuple]:
    size_of = sizes(network, flow)
    result = {}
    for node_id, (x, y) in positions.items():
        width, height, _, _ = size_of(node_id)
        result[node_id] = (x, y, x + width, y + height)
    return result


def port(network: Network, box: tuple, node_id: str, name: str, is_input: bool, flow: str) -> tuple[float, float]:
    _, _, ins, outs = sizes(network, flow)(node_id)
    offset = (ins if is_input else outs)[name]
    if flow == TOP_TO_BOTTOM:
        return (box[0] + offset, box[1] if is_input else box[3])
    return (box[0] if is_input else box[2], box[1] + offset)


def crosses(points: list[tuple[float, float]], rect: tuple, margin: float = 2.0) -> bool:
    """Whether a polyline passes inside ``rect`` (shrunk by ``margin``), sampled finely along each segment."""
    for (ax, ay), (bx, by) in zip(points, points[1:], strict=False):
        for step in range(41):
            t = step / 40
            x, y = ax + (bx - ax) * t, ay + (by - ay) * t
            if rect[0] + margin < x < rect[2] - margin and rect[1] + margin < y < rect[3] - margin:
                return True
    return False


@pytest.mark.parametrize("flow", [LEFT_TO_RIGHT, TOP_TO_BOTTOM])
@pytest.mark.parametrize("name,network", NETWORKS, ids=[n for n, _ in NETWORKS])
def test_every_template_lays_out_without_overlaps_and_with_every_wire_clear(name, network, flow):
    positions = layered_positions(network, sizes(network, flow), aspect=1.6, flow=flow)
    assert set(positions) == {n.id for n in network.nodes}
    rects = boxes(network, positions, flow)
    items = list(rects.items())
    for i, (a, ra) in enumerate(items):  # no two nodes overlap
        for b, rb in items[i + 1:]:
            assert ra[2] <= rb[0] or rb[2] <= ra[0] or ra[3] <= rb[1] or rb[3] <= ra[1], (name, a, b)

    def obstacles_in(area: tuple) -> list[tuple]:
        return [r for r in rects.values() if r[0] < area[2] and r[2] > area[0] and r[1] < area[3] and r[3] > area[1]]

    for wire in network.wires:
        p1 = port(network, rects[wire.src], wire.src, wire.src_port, False, flow)
        p2 = port(network, rects[wire.dst], wire.dst, wire.dst_port, True, flow)
        ends = (rects[wire.src], rects[wire.dst])
        route = route_wire(p1, p2, obstacles_in, ends, flow)
        points = route if route is not None else curve_points(p1, p2, 48, flow)
        assert points[0] == pytest.approx(p1) and points[-1] == pytest.approx(p2)
        others = [r for node_id, r in rects.items() if node_id not in (wire.src, wire.dst)]
        assert not any(crosses(points, r) for r in others), (name, wire)


def chain(count: int) -> tuple[Network, list[str]]:
    net = Document().network()
    ids = [net.add("Input", shape=(8,))]
    for _ in range(count - 2):
        ids.append(net.add("ReLU"))
    ids.append(net.add("Output"))
    net.chain(*ids)
    return net, ids


def test_top_to_bottom_reads_down_each_column_and_columns_left_to_right():
    net, ids = chain(30)
    one_column = layered_positions(net, sizes(net, TOP_TO_BOTTOM), aspect=None, flow=TOP_TO_BOTTOM)
    assert len({x for x, _ in one_column.values()}) == 1
    assert [one_column[i][1] for i in ids] == sorted(one_column[i][1] for i in ids)
    wrapped = layered_positions(net, sizes(net, TOP_TO_BOTTOM), aspect=1.6, flow=TOP_TO_BOTTOM)
    columns = sorted({x for x, _ in wrapped.values()})
    assert len(columns) >= 3  # a 16:10 view: the long chain folds into several columns
    reading = sorted(ids, key=lambda i: (wrapped[i][0], wrapped[i][1]))
    assert reading == ids  # down the first column, then down the next
    xs = [x for x, _ in wrapped.values()]
    ys = [y for _, y in wrapped.values()]
    width, height = max(xs) + 200 - min(xs), max(ys) + 78 - min(ys)
    assert 0.8 <= width / height <= 3.2, (width, height)


def test_top_to_bottom_places_a_skip_connection_beside_the_layers_it_jumps():
    net = Document().network()
    x = net.add("Input", shape=(8,))
    a, b = net.add("Linear", units=8), net.add("Linear", units=8)
    add = net.add("Add")
    net.chain(x, a, b)
    net.connect(b, add, dst_port="in1")
    net.connect(x, add, dst_port="in2")
    net.connect(add, net.add("Output"))
    positions = layered_positions(net, sizes(net, TOP_TO_BOTTOM), aspect=None, flow=TOP_TO_BOTTOM)
    assert positions[x][1] < positions[a][1] < positions[b][1] < positions[add][1]


def test_the_document_flow_setting_is_read_safely():
    assert document_flow({}) == LEFT_TO_RIGHT
    assert document_flow({FLOW_SETTING: TOP_TO_BOTTOM}) == TOP_TO_BOTTOM
    assert document_flow({FLOW_SETTING: "diagonal"}) == LEFT_TO_RIGHT  # a damaged file still draws
    assert document_flow({FLOW_SETTING: 3}) == LEFT_TO_RIGHT
    with pytest.raises(ValueError, match="top-to-bottom"):
        check_flow("sideways")
    with pytest.raises(ValueError):
        layered_positions(Document().network(), sizes(Document().network(), LEFT_TO_RIGHT), flow="sideways")
