"""The Results panel's Episode tab: a trained agent replaying one greedy episode.

After a PPO run the controller replays episode seed 0 with the run's best weights (``netbuilder predict`` does the
same) and shows it here: the frames as an animation with a step slider when the environment can draw itself, and
always the traces, each observed value and the chosen action over the steps, with the episode's return. The tab
is added to the panel from outside (`add_episode_tab`), so the panel's own module stays as it is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from netbuilder_ui.training.widgets import EXTRA_COLORS, TRAIN_COLOR, PixelImage, hint

FRAME_MS = 60  # animation speed: about 16 frames a second


class EpisodeView(QWidget):
    """One replayed episode (a `netbuilder.train.episodes.Episode`): frames and traces."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.episode: Any = None
        layout = QVBoxLayout(self)
        self.summary = hint("Train an agent (PPO on an environment) to see it play an episode here.")
        layout.addWidget(self.summary)
        self.frame = PixelImage(max_scale=2)
        self.frame.setMinimumSize(300, 200)
        layout.addWidget(self.frame, 3)
        controls = QHBoxLayout()
        self.play_button = QPushButton("Pause")
        self.play_button.setObjectName("episodePlay")
        self.play_button.clicked.connect(self.toggle_play)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("episodeStep")
        self.slider.valueChanged.connect(self._show_frame)
        self.step_label = QLabel("")
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.step_label)
        layout.addLayout(controls)
        self.traces = pg.PlotWidget()
        self.traces.setMinimumHeight(180)
        self.traces.addLegend(offset=(-10, 10))
        self.traces.setLabel("bottom", "step")
        layout.addWidget(self.traces, 2)
        self.timer = QTimer(self)
        self.timer.setInterval(FRAME_MS)
        self.timer.timeout.connect(self._advance)
        self._set_frames_visible(False)

    # ---- feeding ------------------------------------------------------------------------------------------------
    def set_episode(self, episode: Any) -> None:
        """Show ``episode``; the animation starts at once when it has frames."""
        self.episode = episode
        note = f" {episode.render_note}" if episode.render_note else ""
        self.summary.setText(f"{episode.env_id}, episode seed {episode.seed}: return {episode.total_return:g} in "
                             f"{episode.length} steps, greedy actions of the best weights.{note}")
        self._plot_traces(episode)
        has_frames = episode.frames is not None and len(episode.frames) > 0
        self._set_frames_visible(has_frames)
        if has_frames:
            self.slider.blockSignals(True)
            self.slider.setRange(0, len(episode.frames) - 1)
            self.slider.setValue(0)
            self.slider.blockSignals(False)
            self._show_frame(0)
            self.play()
        else:
            self.timer.stop()

    def clear_view(self) -> None:
        self.timer.stop()
        self.episode = None
        self.summary.setText("Train an agent (PPO on an environment) to see it play an episode here.")
        self.frame.set_array(None)
        self.traces.clear()
        self._set_frames_visible(False)

    # ---- animation ------------------------------------------------------------------------------------------------
    def play(self) -> None:
        self.timer.start()
        self.play_button.setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        self.play_button.setText("Play")

    def toggle_play(self) -> None:
        if self.timer.isActive():
            self.pause()
        else:
            if self.slider.value() >= self.slider.maximum():
                self.slider.setValue(0)
            self.play()

    @property
    def playing(self) -> bool:
        return self.timer.isActive()

    def _advance(self) -> None:
        if not self.isVisible():
            return  # a hidden tab costs nothing
        if self.slider.value() >= self.slider.maximum():
            self.pause()
            return
        self.slider.setValue(self.slider.value() + 1)

    def _show_frame(self, index: int) -> None:
        episode = self.episode
        if episode is None or episode.frames is None or not 0 <= index < len(episode.frames):
            return
        self.frame.set_array(episode.frames[index])
        step = episode.frame_steps[index] if index < len(episode.frame_steps) else index
        self.step_label.setText(f"step {step} / {episode.length}")

    def _set_frames_visible(self, visible: bool) -> None:
        for widget in (self.frame, self.play_button, self.slider, self.step_label):
            widget.setVisible(visible)

    # ---- traces ---------------------------------------------------------------------------------------------------
    def _plot_traces(self, episode: Any) -> None:
        plot = self.traces
        plot.clear()
        steps = np.arange(episode.length)
        observations = np.asarray(episode.observations, dtype=np.float64)
        colors = [TRAIN_COLOR, *EXTRA_COLORS]
        for column in range(observations.shape[1]):
            plot.plot(steps, observations[:, column], pen=pg.mkPen(colors[column % len(colors)], width=1.5),
                      name=f"observation {column}")
        actions = np.asarray(episode.actions, dtype=np.float64)
        plot.plot(steps, actions, pen=None, symbol="o", symbolSize=3, symbolBrush="#888888",
                  name="action (" + ", ".join(f"{i} = {n}" for i, n in enumerate(episode.action_names)) + ")")


def add_episode_tab(results: Any) -> EpisodeView:
    """Add the Episode tab to a `ResultsPanel` (hidden until an agent's run starts) and return its view."""
    view = EpisodeView()
    scroll = QScrollArea()
    scroll.setObjectName("resultsScroll")
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(view)
    results.tabs.addTab(scroll, "Episode")
    results.pages["episode"] = scroll
    results.tabs.setTabVisible(results.tabs.indexOf(scroll), False)
    return view
