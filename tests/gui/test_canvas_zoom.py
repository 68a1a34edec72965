"""Real networks on the canvas: zoomed out, nodes keep a readable title; labels never cover nodes or ports; wires
never run under nodes; every template (each tab) opens fitted and legible in a 1600 x 1000 main window."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication

from netbuilder.templates import list_templates, load_template
from netbuilder_ui.canvas import CanvasView, style
from netbuilder_ui.canvas.visuals import MIN_TITLE_PX, detail_zoom, title_screen_pixels
from netbuilder_ui.qt_document import QtDocument


def open_view(qtbot, document, network: str = "model", size=(1100, 700)) -> CanvasView:
    qt_doc = QtDocument(document)
    view = CanvasView(qt_doc, network)
    view._qt_doc_ref = qt_doc  # keep the document alive with the view
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    return view


def node_boxes(view: CanvasView) -> dict[str, QRectF]:
    return {node_id: item.mapRectToScene(item.visual.geometry.rect)
            for node_id, item in view.scene().node_items.items()}


@pytest.mark.parametrize("template_id", ["resnet-small", "lenet", "transformer-classifier"])
def test_shape_labels_never_cover_a_node_or_a_port(qtbot, template_id):
    view = open_view(qtbot, load_template(template_id))
    view.auto_layout()
    boxes = node_boxes(view)
    margin = style.metrics().port_radius + 2
    shown = 0
    for item in view.scene().wire_items.values():
        if not item.label or not item.label_fits:
            continue
        shown += 1
        for box in boxes.values():
            assert not item.label_rect.intersects(box.adjusted(-margin, 0, margin, 0)), (template_id, item.key)
    assert shown >= len(view.scene().wire_items) // 2  # most wires still show their shape


@pytest.mark.parametrize("template_id", ["resnet-small", "vae", "dcgan"])
def test_wires_never_run_under_a_node(qtbot, template_id):
    document = load_template(template_id)
    for network in document.networks:
        view = open_view(qtbot, load_template(template_id), network)
        boxes = node_boxes(view)
        for key, item in view.scene().wire_items.items():
            ends = {key[0], key[2]}
            for i in range(1, 60):
                point = item.path.pointAtPercent(i / 60)
                for node_id, box in boxes.items():
                    if node_id not in ends:
                        assert not box.adjusted(2, 2, -2, -2).contains(point), (template_id, key, node_id)


def test_zoomed_out_nodes_show_their_title_large_enough_to_read(qtbot):
    view = open_view(qtbot, load_template("resnet-small"))
    zoom = detail_zoom() * 0.6
    view.set_zoom(zoom)
    assert view.legible_fraction() == 1.0
    for item in view.scene().node_items.values():
        pixels, whole = title_screen_pixels(item.visual, zoom)
        assert pixels >= MIN_TITLE_PX and whole, item.visual.content.title
    # And on screen: the node is a box in its category colour with light title text inside, not a blank bar.
    item = next(i for i in view.scene().node_items.values() if i.visual.content.title == "Conv 2D")
    view.centerOn(item.sceneBoundingRect().center())
    QApplication.processEvents()
    image = view.viewport().grab().toImage()
    box = view.mapFromScene(item.mapRectToScene(item.visual.geometry.rect)).boundingRect().adjusted(3, 3, -3, -3)
    category = QColor(style.CATEGORY_COLORS[item.visual.content.category])
    coloured = light = 0
    for x in range(box.left(), box.right()):
        for y in range(box.top(), box.bottom()):
            pixel = QColor(image.pixel(x, y))
            if abs(pixel.red() - category.red()) + abs(pixel.green() - category.green()) < 30:
                coloured += 1
            elif pixel.lightness() > 200:
                light += 1
    area = box.width() * box.height()
    assert coloured > 0.5 * area and light > 0.02 * area, (coloured, light, area)


def test_a_long_title_widens_its_node_and_the_tooltip_names_it(qtbot):
    view = open_view(qtbot, load_template("transformer-classifier"))
    items = [i for i in view.scene().node_items.values() if i.visual.content.title == "Positional encoding"]
    assert items
    item = items[0]
    assert item.visual.geometry.width > style.metrics().node_width
    assert item.visual.title == "Positional encoding"  # drawn whole, not "Positional enc…"
    assert item.toolTip().startswith("Positional encoding")


def test_a_hidden_label_shows_on_hover(qtbot):
    view = open_view(qtbot, load_template("lenet"))
    view.set_zoom(detail_zoom() * 0.7)  # labels hidden this far out
    wire = next(i for i in view.scene().wire_items.values() if i.label)
    view.centerOn(wire.label_rect.center())
    QApplication.processEvents()
    area = view.mapFromScene(wire.label_rect).boundingRect()
    before = view.viewport().grab(area).toImage()
    wire.hoverEnterEvent(None)
    QApplication.processEvents()
    after = view.viewport().grab(area).toImage()
    assert before != after and wire.zValue() > 0
    wire.hoverLeaveEvent(None)
    assert wire.zValue() < 0


def test_moving_a_node_onto_a_wire_reroutes_the_wire_around_it(qtbot):
    from netbuilder.document import MoveNodes

    view = open_view(qtbot, load_template("lenet"))
    network = view.scene().network
    wires = list(view.scene().wire_items.values())
    wire = max(wires, key=lambda w: w.path.boundingRect().width())  # a long wire to put a node on
    mid = wire.path.pointAtPercent(0.5)
    stranger = next(n for n in network.nodes if n.id not in (wire.key[0], wire.key[2]))
    g = view.scene().node_items[stranger.id].visual.geometry
    view.qt_doc.execute(MoveNodes("model", {stranger.id: (mid.x() - g.width / 2, mid.y() - g.height / 2)}))
    box = node_boxes(view)[stranger.id].adjusted(2, 2, -2, -2)
    assert not any(box.contains(wire.path.pointAtPercent(i / 80)) for i in range(81))


# ---- the main window: every template opens fitted and legible, every tab ----------------------------------------

@pytest.fixture
def window(main_window):
    return main_window


def test_every_template_opens_fitted_and_legible_in_every_tab(window):
    for info in list_templates():
        window.open_template(info.id, ask=False)
        QApplication.processEvents()
        QApplication.processEvents()
        for index in range(window.tabs.count()):
            window.tabs.setCurrentIndex(index)
            QApplication.processEvents()
            view = window.current_view()
            where = f"{info.id}/{window.tabs.tabText(index)}"
            assert view.legible_fraction() == 1.0, where
            visible = view.mapToScene(view.viewport().rect()).boundingRect()
            assert visible.contains(view.scene().nodes_rect()), where  # the whole network is on screen
            view.fit_all()  # and Fit (Ctrl+0) keeps every title readable
            assert view.legible_fraction() == 1.0, where


def test_screenshots_show_whole_templates(window):
    out = Path(__file__).resolve().parent.parent / "artifacts"
    out.mkdir(exist_ok=True)
    for template_id, tab in (("resnet-small", None), ("lenet", None), ("dcgan", "discriminator")):
        window.open_template(template_id, ask=False)
        QApplication.processEvents()
        if tab is not None:
            window.tabs.setCurrentIndex([window.tabs.tabText(i) for i in range(window.tabs.count())].index(tab))
        QApplication.processEvents()
        window.current_view().fit_all()
        QApplication.processEvents()
        path = out / f"canvas-fit-{template_id}{'-' + tab if tab else ''}.png"
        assert window.grab().save(str(path))
        image = QImage(str(path))
        assert image.width() == 1600
        assert window.current_view().legible_fraction() == 1.0
