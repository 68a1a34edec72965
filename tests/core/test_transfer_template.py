"""The transfer-digits template shows what it teaches: pre-trained on digits 0-4, its LeNet learns digits 5-9 from
10 examples each far better than the same network trained from scratch with the same data and settings
(issue 10: it used to show negative transfer, 88.3 % against 95.0 % from scratch)."""

from __future__ import annotations

import copy

from netbuilder.templates import load_template
from netbuilder.train import TrainConfig, train

MARGIN = 0.20  # measured: 72.1 % against 27.4 % (seed 0); seeds 1 and 2 win by 28 and 40 points


def test_transfer_beats_the_same_network_from_scratch_on_the_small_target_set() -> None:
    doc = load_template("transfer-digits")
    settings = copy.deepcopy(doc.settings)
    settings["training"]["device"] = "cpu"
    assert settings["data"]["per_class"] <= 20 and settings["data"]["classes"] == [5, 6, 7, 8, 9]
    transfer = train(doc, TrainConfig.from_settings(settings), write=False)
    assert transfer.kind == "done", transfer

    scratch_doc = load_template("transfer-digits")
    net = scratch_doc.network()
    for node in net.nodes:
        net.set_options(node.name, trainable=True, lr_mult=1.0)
    scratch_settings = copy.deepcopy(settings)
    del scratch_settings["training"]["transfer"]
    scratch = train(scratch_doc, TrainConfig.from_settings(scratch_settings), write=False)
    assert scratch.kind == "done", scratch

    with_transfer, from_scratch = transfer.metrics["val_accuracy"], scratch.metrics["val_accuracy"]
    assert with_transfer >= from_scratch + MARGIN, (with_transfer, from_scratch)
    described = doc.info.description
    assert "72.1 %" in described and "27.4 %" in described  # the figures this test measures
    assert abs(with_transfer - 0.721) < 0.05 and abs(from_scratch - 0.274) < 0.05
