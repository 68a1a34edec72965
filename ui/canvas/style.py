"""The canvas look, defined in one place: category colours, the neutral palette, fonts and node metrics.

Colours are plain hex strings so they work in style sheets as well as in ``QColor(...)``; category colours come
from the one category table in `netbuilder_ui.icons`, so a layer has the same colour in the palette and on the
canvas. Fonts derive from the
application font (point sizes, never pixels) so text follows the platform and High-DPI settings, and node metrics
derive from the fonts so nothing overlaps on a platform with larger default text.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont, QFontMetricsF, QGuiApplication

from netbuilder_ui.icons import CATEGORIES, UNKNOWN_CATEGORY

# One colour per layer category, from the one category table (`netbuilder_ui.icons.CATEGORIES`) that the palette,
# the inspector and the gallery read too.
CATEGORY_COLORS: dict[str, str] = {name: category.color for name, category in CATEGORIES.items()}
UNKNOWN_CATEGORY_COLOR = UNKNOWN_CATEGORY.color

# Neutral palette.
CANVAS_BACKGROUND = "#f6f7f9"
GRID_MINOR = "#eef0f3"
GRID_MAJOR = "#e3e6eb"
NODE_BODY = "#ffffff"
NODE_BORDER = "#c3c9d2"
TEXT = "#1f2630"
TEXT_MUTED = "#6b7482"
TITLE_TEXT = "#ffffff"
WIRE = "#8692a3"
WIRE_HOVER = "#5f6b7c"
ACCENT = "#2f6fde"  # selection, wire being dragged
COMPATIBLE = "#22a06b"  # ports a dragged wire may connect to
ERROR = "#dc3d43"
WARNING = "#e5a000"
LABEL_BACKGROUND = "#ffffff"
TOAST_BACKGROUND = "#fff4f4"
TOAST_BORDER = "#e8a3a6"

GRID = 20.0  # scene units between grid lines; snapping uses the same step
MAJOR_GRID_EVERY = 5

MIN_ZOOM = 0.05
MAX_ZOOM = 4.0
# Level of detail, chosen by measuring 500-node networks: text smaller than ~6 px is unreadable, so far out nodes
# are plain coloured boxes and wires carry no label; 1-pixel wires stroke several times faster than wider ones.
DETAIL_ZOOM = 0.5  # below: nodes without text
LABEL_ZOOM = 0.55  # below: wires without shape labels
THIN_WIRE_ZOOM = 0.6  # below: wires drawn 1 pixel wide


def category_color(category: str) -> QColor:
    return QColor(CATEGORY_COLORS.get(category, UNKNOWN_CATEGORY_COLOR))


@dataclass(frozen=True)
class Metrics:
    """Fonts and sizes for nodes and wires, measured once from the application font."""

    title_font: QFont
    body_font: QFont
    small_font: QFont
    label_font: QFont
    node_width: float
    header: float  # height of the coloured title band
    row: float  # height of one text or port row
    pad: float  # vertical padding below the header and at the bottom
    inset: float  # horizontal text inset from the node's edge
    radius: float  # corner radius
    port_radius: float
    port_hit: float  # how far from a port's centre a press still grabs it


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """The shared metrics; needs a QGuiApplication (fonts), so it is built on first use."""
    global _metrics
    if _metrics is None:
        base = QGuiApplication.font()
        size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
        title = QFont(base)
        title.setPointSizeF(size)
        title.setWeight(QFont.Weight.DemiBold)
        body = QFont(base)
        body.setPointSizeF(size * 0.95)
        small = QFont(base)
        small.setPointSizeF(size * 0.85)
        label = QFont(base)
        label.setPointSizeF(size * 0.82)
        for font in (title, body, small, label):
            font.setHintingPreference(QFont.HintingPreference.PreferNoHinting)  # same layout at every zoom
        body_metrics = QFontMetricsF(body)
        row = max(18.0, round(body_metrics.height() + 5))
        header = max(24.0, round(QFontMetricsF(title).height() + 10))
        width = max(180.0, GRID * round(body_metrics.averageCharWidth() * 27 / GRID))
        _metrics = Metrics(title, body, small, label, node_width=width, header=header, row=row, pad=5.0,
                           inset=11.0, radius=6.0, port_radius=4.5, port_hit=11.0)
    return _metrics


# The flow the current document is drawn in (`netbuilder.layout` LEFT_TO_RIGHT or TOP_TO_BOTTOM): ports on the left
# and right edges, or on the top and bottom. The app shows one document at a time, and the document records its
# flow (its positions were laid out for it), so the canvas sets this when a document opens or its flow changes and
# rebuilds its items; everything that measures or draws a node or a wire reads it.
_flow = "left-to-right"


def flow() -> str:
    return _flow


def set_flow(value: str) -> bool:
    """Draw in ``value`` from now on; True when that is a change (the caller rebuilds what is drawn)."""
    from netbuilder.layout import check_flow

    global _flow
    changed = check_flow(value) != _flow
    _flow = value
    return changed


@contextmanager
def drawing_in(value: str) -> Iterator[None]:
    """Measure and draw in ``value`` for a while (an image export of a document in another flow), then go back."""
    global _flow
    before = _flow
    set_flow(value)
    try:
        yield
    finally:
        _flow = before
