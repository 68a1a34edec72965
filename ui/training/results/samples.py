"""What a generative run makes: reconstructions, image grids per epoch and generated text."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QSpinBox, QVBoxLayout, QWidget

from netbuilder_ui.training.outcomes import Reconstructions, tile
from netbuilder_ui.training.results.common import LazyRender, style_plot
from netbuilder_ui.training.widgets import TRAIN_COLOR, VAL_COLOR, PixelImage, hint


class ReconstructionView(QWidget):
    """Inputs (top) and what the autoencoder makes of them (bottom); vectors as a line plot per sample."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = hint("Reconstructions appear when an autoencoder or VAE has finished training.")
        self.image = PixelImage()
        self.plot = pg.PlotWidget(background="w")
        style_plot(self.plot.getPlotItem(), "Input and reconstruction")
        self.plot.addLegend(offset=(-8, 8), labelTextSize="8pt")
        self.sample = QSpinBox()
        self.sample.setPrefix("Sample ")
        self.sample.valueChanged.connect(self._draw_vector)
        layout.addWidget(self.summary)
        layout.addWidget(self.sample, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.image, 1)
        layout.addWidget(self.plot, 1)
        self.image.hide()
        self.plot.hide()
        self.sample.hide()
        self.data: Reconstructions | None = None

    def set_reconstructions(self, data: Reconstructions) -> None:
        self.data = data
        count = data.inputs.shape[0]
        if data.images_in is not None and data.images_out is not None:
            both = np.concatenate([data.images_in, data.images_out])
            self.image.set_array(tile(both, columns=count, pad=1))
            self.summary.setText(f"Top: {count} validation inputs. Bottom: what '{data.output_name}' reconstructs "
                                 "from each.")
            self.image.show()
            self.plot.hide()
            self.sample.hide()
        else:
            self.summary.setText(f"{count} validation samples and their reconstruction by '{data.output_name}'.")
            self.sample.setRange(1, count)
            self.image.hide()
            self.plot.show()
            self.sample.show()
            self._draw_vector()

    def _draw_vector(self, *_: Any) -> None:
        if self.data is None or self.data.images_in is not None:
            return
        index = self.sample.value() - 1
        x = self.data.inputs[index].reshape(-1)
        y = self.data.outputs[index].reshape(-1)
        plot = self.plot.getPlotItem()
        plot.clear()
        plot.plot(np.arange(x.size), x, pen=pg.mkPen(TRAIN_COLOR, width=2), name="input")
        plot.plot(np.arange(y.size), y, pen=pg.mkPen(VAL_COLOR, width=2, style=Qt.PenStyle.DashLine),
                  name="reconstruction")

    def clear_view(self) -> None:
        self.data = None
        self.image.set_array(None)
        self.image.hide()
        self.plot.hide()
        self.sample.hide()
        self.summary.setText("Reconstructions appear when an autoencoder or VAE has finished training.")


class GeneratedView(QWidget):
    """The latest image grids a run generates (one per kind: GAN samples, VAE samples, reconstructions)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.layout_ = QHBoxLayout(self)
        self.layout_.setContentsMargins(0, 0, 0, 0)
        self.layout_.setSpacing(12)
        self.placeholder = hint("Generated samples appear after each epoch of a GAN or VAE.")
        self.layout_.addWidget(self.placeholder)
        self.grids: dict[str, tuple[QLabel, PixelImage]] = {}
        self.pending: dict[str, tuple[int, np.ndarray, str]] = {}
        self.lazy = LazyRender(self, self._draw, 0.25)
        self.last_epoch = 0
        self.updates = 0

    def add_samples(self, epoch: int, images: Any, caption: str, key: str = "samples") -> None:
        """Keep the latest grid of each ``key`` (the event's stable id); grids are drawn when (and while) the view
        is on screen. ``caption`` is only shown."""
        array = images.detach().float().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
        if array.ndim != 4:
            return
        self.pending[key] = (epoch, array, caption)
        self.last_epoch = epoch
        self.updates += 1
        self.lazy.submit()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.lazy.flush()

    def _draw(self) -> None:
        pending, self.pending = self.pending, {}
        for key, (epoch, array, caption) in pending.items():
            self._draw_grid(key, epoch, array, caption)

    def _draw_grid(self, key: str, epoch: int, array: np.ndarray, caption: str) -> None:
        if key not in self.grids:
            box = QWidget()
            column = QVBoxLayout(box)
            column.setContentsMargins(0, 0, 0, 0)
            column.setSpacing(4)
            title = QLabel()
            title.setObjectName("hint")
            title.setWordWrap(True)
            picture = PixelImage()
            column.addWidget(title)
            column.addWidget(picture, 1)
            self.layout_.addWidget(box, 1)
            self.grids[key] = (title, picture)
        self.placeholder.hide()
        title, picture = self.grids[key]
        # Reconstructions come as inputs then outputs: one row of each, so every output sits under its input.
        columns = array.shape[0] // 2 if key == "reconstructions" else math.ceil(math.sqrt(array.shape[0]))
        picture.set_array(tile(np.clip(array, 0, 1), columns=max(1, columns), pad=1))
        title.setText(f"<b>Epoch {epoch}</b> · {caption}")

    def grid_image(self) -> Any:
        self.lazy.flush()
        self._draw()
        for _title, picture in self.grids.values():
            return picture.image()
        return None

    def clear_view(self) -> None:
        for title, picture in self.grids.values():
            title.parent().deleteLater()
            del picture
        self.grids.clear()
        self.pending.clear()
        self.lazy.clear()
        self.placeholder.show()
        self.last_epoch = 0
        self.updates = 0


class TextView(QWidget):
    """Text a language model writes after each epoch, newest first."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.summary = hint("A language model writes a sample of text here after each epoch.")
        self.text = QPlainTextEdit()
        self.text.setObjectName("generatedText")
        self.text.setReadOnly(True)
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        self.text.setFont(font)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        self.entries: list[str] = []
        self.latest_epoch = 0
        self.lazy = LazyRender(self, self._draw, 0.5)

    def add_text(self, epoch: int, texts: list[str], caption: str) -> None:
        body = "\n\n".join(str(t) for t in texts)
        self.entries.insert(0, f"— Epoch {epoch} ({caption}) —\n{body}")
        del self.entries[20:]
        self.latest_epoch = epoch
        self.lazy.submit()

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt override)
        super().showEvent(event)
        self.lazy.flush()

    def _draw(self) -> None:
        self.text.setPlainText("\n\n".join(self.entries))
        self.summary.setText(f"Latest: epoch {self.latest_epoch}. Newest first.")

    def clear_view(self) -> None:
        self.entries.clear()
        self.lazy.clear()
        self.text.clear()
        self.summary.setText("A language model writes a sample of text here after each epoch.")
