"""The Episode tab: a PPO run from the cartpole template shows its return curves and replays an episode."""

from __future__ import annotations

import pytest
import torch
from test_training import (  # the training tests' window helpers and fixtures
    _stop_training_after_each_test,  # noqa: F401 - an autouse fixture: ends what a failed test left running
    close_window,
    no_dialogs,  # noqa: F401 - a fixture
    open_window,
    set_training,
    shot,
    show_results,
    wait_finished,
)

from netbuilder.train.episodes import replay


def test_episode_view_plays_frames_and_draws_traces(qtbot):
    from netbuilder_ui.training.episode_view import EpisodeView

    view = EpisodeView()
    qtbot.addWidget(view)
    view.show()
    episode = replay("CartPole-v1", lambda x: (torch.tensor([[0.0, 1.0]]), None), seed=1)  # always push right
    view.set_episode(episode)
    assert f"return {episode.total_return:g} in {episode.length} steps" in view.summary.text()
    assert len(view.traces.getPlotItem().listDataItems()) == 4 + 1  # four observed values and the actions
    if episode.frames is None:  # no renderer here: traces only, and the reason is shown
        assert episode.render_note in view.summary.text() and not view.slider.isVisible()
        return
    assert view.slider.maximum() == len(episode.frames) - 1 and view.playing
    qtbot.waitUntil(lambda: not view.playing, timeout=5_000)  # stops at the last frame
    assert view.slider.value() == view.slider.maximum() and view.play_button.text() == "Play"
    assert view.frame.image().width() == episode.frames[-1].shape[1]
    assert f"step {episode.length} / {episode.length}" == view.step_label.text()
    view.clear_view()
    assert view.episode is None and not view.slider.isVisible()


@pytest.mark.usefixtures("no_dialogs")
def test_cartpole_trains_in_the_app_and_replays_an_episode(qtbot, tmp_path):
    window, ui = open_window(qtbot, tmp_path, "cartpole")
    summary = ui.data_panel.summary.text()
    assert "Environment <b>CartPole-v1</b>" in summary and "<b>2</b> actions" in summary
    set_training(window, epochs=2, rl={"steps_per_epoch": 512, "update_epochs": 2, "eval_episodes": 2,
                                       "test_episodes": 2})
    assert ui.start()
    wait_finished(qtbot, ui, timeout=60_000)
    assert ui.last_outcome == "done", ui.train_panel.message_banner.message()
    assert ui.plots.metric_title == "Episode return"
    assert {"return_100", "val_return"} <= set(ui.plots.curve_names("metric"))
    qtbot.waitUntil(lambda: ui.episode_view.episode is not None, timeout=30_000)
    assert ui.results.current_page() == "episode"
    assert ui.episode_view.episode.length == ui.episode_view.episode.total_return > 0
    show_results(window, ui, "episode", height=420)
    shot(window, "training-cartpole-episode.png")
    close_window(window, ui)
