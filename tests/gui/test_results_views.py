"""The Results views on their own (no training run): grids are kept per the sample event's key, never per its
caption, and reconstructions are laid out as a row of inputs over a row of outputs."""

from __future__ import annotations

import numpy as np

from netbuilder_ui.training.results import GeneratedView


def _images(count: int, size: int = 8) -> np.ndarray:
    return np.random.default_rng(0).random((count, 1, size, size)).astype(np.float32)


def test_generated_view_keeps_one_grid_per_event_key_whatever_the_caption(qtbot) -> None:
    view = GeneratedView()
    qtbot.addWidget(view)
    view.show()
    view.add_samples(1, _images(8), "top: 4 inputs; bottom: their reconstructions", key="reconstructions")
    view.add_samples(1, _images(16), "16 samples decoded from N(0, 1) latents", key="samples")
    view.add_samples(2, _images(16), "16 samples: epoch 2, a caption worded differently", key="samples")
    view.lazy.flush()
    assert set(view.grids) == {"reconstructions", "samples"}
    title, picture = view.grids["samples"]
    assert "Epoch 2" in title.text() and "worded differently" in title.text()
    image = picture.image()
    assert (image.width(), image.height()) == (4 * 9 + 1, 4 * 9 + 1)  # 16 samples as a 4×4 grid
    pairs = view.grids["reconstructions"][1].image()
    assert (pairs.width(), pairs.height()) == (4 * 9 + 1, 2 * 9 + 1)  # 4 inputs over their 4 reconstructions
