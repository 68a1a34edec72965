"""One category table: every layer category has a colour and an SVG glyph that renders; the canvas, the palette
and the inspector show the same colour; the style sheet is a resource the window loads."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtGui import QColor, QIcon, QImage
from PySide6.QtSvg import QSvgRenderer

from netbuilder.specs import all_specs
from netbuilder_ui import icons
from netbuilder_ui.canvas import style
from netbuilder_ui.style_sheet import app_style_sheet


def test_every_layer_category_has_a_colour_and_a_glyph_that_renders(qapp):
    categories = {spec.category for spec in all_specs()}
    assert categories <= set(icons.CATEGORIES), categories - set(icons.CATEGORIES)
    for category in [*icons.CATEGORIES, "Something new"]:
        path = icons.glyph_path(category)
        assert path.is_file(), path
        assert QSvgRenderer(str(path)).isValid(), path
        image = icons.category_icon(category).pixmap(QSize(48, 48)).toImage().convertToFormat(
            QImage.Format.Format_ARGB32)
        corner = image.pixelColor(6, 40)  # the tile, away from the glyph
        assert corner.name() == QColor(icons.category_of(category).color).name(), category
        whites = sum(image.pixelColor(x, y).lightness() > 240 for x in range(12, 36) for y in range(12, 36))
        assert whites > 15, category  # the white glyph is drawn on it
        assert not icons.category_icon(category).pixmap(QSize(16, 16), QIcon.Mode.Disabled).isNull()


def test_canvas_palette_and_inspector_read_the_same_colours(qapp):
    for category, entry in icons.CATEGORIES.items():
        assert style.CATEGORY_COLORS[category] == entry.color
        assert style.category_color(category).name() == icons.category_color(category).name()
    assert style.category_color("Something new").name() == icons.UNKNOWN_CATEGORY.color


def test_the_window_loads_its_style_sheet_from_the_resource(main_window):
    sheet = app_style_sheet()
    assert "QDockWidget" in sheet and "QPushButton#fixButton" in sheet and "@CHEVRON@" not in sheet
    assert main_window.styleSheet() == sheet
