"""Plot axes get a real font: a tick font with no family (``QFont("", 8)``) crashed PySide6 6.9.3-6.11.3 with a
segmentation fault on the first repaint of a plot with data (see netbuilder_ui.training.widgets.tick_font)."""

from __future__ import annotations

import re
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtWidgets import QApplication

from netbuilder_ui.training.plots import TrainingPlots
from netbuilder_ui.training.results.common import style_plot
from netbuilder_ui.training.widgets import tick_font

UI = Path(__file__).resolve().parents[2] / "ui"


def axes_of(widget) -> list[pg.AxisItem]:
    views = [widget] if isinstance(widget, pg.GraphicsView) else widget.findChildren(pg.GraphicsView)
    return [item for view in views for item in view.scene().items() if isinstance(item, pg.AxisItem)]


def test_tick_font_names_a_family_and_keeps_the_size(qtbot):  # the application's font exists with the app
    font = tick_font(8)
    assert font.families() and font.family()
    assert font.pointSize() == 8


def test_every_axis_of_the_plots_panel_and_the_results_plots_has_a_family(qtbot):
    panel = TrainingPlots()
    qtbot.addWidget(panel)
    results_plot = pg.PlotWidget()
    qtbot.addWidget(results_plot)
    style_plot(results_plot.getPlotItem(), "Output")
    axes = axes_of(panel) + axes_of(results_plot)
    assert len(axes) >= 4
    for axis in axes:
        font = axis.style["tickFont"]
        if font is not None:
            assert font.families(), f"an axis of {axis.parentItem()} has a tick font without a family"


def test_a_styled_plot_with_data_paints_its_axes(qtbot):
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    style_plot(widget.getPlotItem(), "Loss")
    widget.plot([0.0, 1.0, 2.0], [0.9, 0.4, 0.2])
    widget.resize(320, 200)
    widget.show()
    qtbot.waitExposed(widget)
    for _ in range(2):  # the axes record their tick labels into a QPicture on the first paint, replay it after
        QApplication.processEvents()
        image = widget.grab().toImage()
    assert not image.isNull() and image.width() > 0


def test_no_font_without_a_family_anywhere_in_the_app():
    empty_family = re.compile(r"""QFont\(\s*(""|'')""")
    offenders = [f"{path.relative_to(UI)}:{number}" for path in sorted(UI.rglob("*.py"))
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if empty_family.search(line)]
    assert offenders == []
