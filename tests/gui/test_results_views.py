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


def test_explain_view_draws_feature_bars_for_a_table_and_a_verdict(qtbot) -> None:
    """A table network's explanation is one bar per feature, largest at the top, signed colours; integrated
    gradients' verdict is coloured by whether it can be trusted."""
    import torch

    from netbuilder.compile import compile_network
    from netbuilder.document import Document
    from netbuilder.explain import explain_sample
    from netbuilder_ui.training.results import ExplainView

    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="x", shape=(5,)), net.add("Linear", name="out", units=3),
              net.add("Output", name="y", role="logits"))
    torch.manual_seed(0)
    module = compile_network(net)
    names = ["sepal length", "sepal width", "petal length", "petal width", "colour"]
    explanation = explain_sample(module, torch.tensor([1.0, -2.0, 0.5, 3.0, 0.0]), method="ig",
                                 class_names=["a", "b", "c"], feature_names=names, steps=64)
    view = ExplainView()
    qtbot.addWidget(view)
    view.show()
    requests: list[tuple[int, object, str]] = []
    view.explainRequested.connect(lambda *args: requests.append(args))
    view.set_source(10, ["a", "b", "c"])
    view.set_explanation(explanation)
    assert view.stack.currentIndex() == 1  # bars, not pictures
    bars = [item for item in view.bars.getPlotItem().items if type(item).__name__ == "BarGraphItem"]
    assert len(bars) == 1
    ticks = [name for _position, name in view.bars.getPlotItem().getAxis("left")._tickLevels[0]]
    assert ticks[-1] == explanation.top_features(1)[0][0]  # the largest attribution is the top bar
    assert set(ticks) == set(names)
    assert "Small enough to trust" in view.verdict.text() and "#2e9e5b" in view.verdict.text()
    view.target.setCurrentIndex(view.target.findData(2))
    qtbot.waitUntil(lambda: bool(requests))
    assert requests[-1] == (0, 2, "ig")
