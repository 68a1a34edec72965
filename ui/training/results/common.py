"""What every Results view shares: page margins, plot styling, colours and lazy drawing."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QVBoxLayout, QWidget

from netbuilder_ui.training.widgets import tick_font

RIGHT = "#2e9e5b"
WRONG = "#d14343"


def make_page() -> tuple[QWidget, QVBoxLayout]:
    page = QWidget()
    page.setObjectName("resultsPage")
    layout = QVBoxLayout(page)
    layout.setContentsMargins(10, 8, 10, 8)
    layout.setSpacing(6)
    return page, layout


def title_html(title: str) -> str:
    """A plot title in the panel's style (rich text, for ``setTitle``)."""
    return f"<span style='color:#1f2630;font-size:9pt;font-weight:600'>{title}</span>"


def style_plot(plot: pg.PlotItem, title: str = "") -> None:
    if title:
        plot.setTitle(title_html(title))
    plot.showGrid(x=False, y=True, alpha=0.15)
    plot.hideButtons()
    for axis in ("left", "bottom"):
        ax = plot.getAxis(axis)
        ax.setPen(pg.mkPen("#c3c9d2"))
        ax.setTextPen(pg.mkPen("#5b6472"))
        ax.setStyle(tickFont=tick_font(8))


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) as RGB uint8 through viridis."""
    table = pg.colormap.get("viridis").getLookupTable(0.0, 1.0, 256, alpha=False)
    index = np.clip((np.nan_to_num(values) * 255).astype(np.int64), 0, 255)
    return table[index][..., :3].astype(np.uint8)


class LazyRender:
    """Draw the latest data only while the view is on screen, at most ``interval`` seconds apart. Training may
    send a confusion matrix 50 times a second; a hidden view draws none of them and a visible one a few, always
    ending on the latest."""

    def __init__(self, view: QWidget, draw: Any, interval: float = 0.5):
        self.view, self.draw, self.interval = view, draw, interval
        self.pending: tuple[Any, ...] | None = None
        self.last = 0.0
        self.timer = QTimer(view)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.flush)

    def submit(self, *args: Any) -> None:
        self.pending = args
        if not self.view.isVisible():
            return
        wait = self.interval - (time.perf_counter() - self.last)
        if wait <= 0:
            self.flush()
        elif not self.timer.isActive():
            self.timer.start(int(wait * 1000) + 1)

    def flush(self) -> None:
        """Draw what is pending now (tests and showEvent call this)."""
        self.timer.stop()
        if self.pending is None:
            return
        args, self.pending = self.pending, None
        self.last = time.perf_counter()
        self.draw(*args)

    def clear(self) -> None:
        self.pending = None
        self.timer.stop()
