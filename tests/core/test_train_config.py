"""Training settings, schedules, losses, metrics and per-node optimisation options (no training loops here)."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch

from netbuilder.compile import compile_network
from netbuilder.document import Document
from netbuilder.train import ConfigError, TrainConfig
from netbuilder.train.losses import ClassMetrics, LossError, RegressionMetrics, default_loss, make_loss
from netbuilder.train.optim import LRSchedule, Penalty, node_params, param_groups
from netbuilder.train.runs import canonical_graph, flatten_state, graph_hash, unflatten_state

# ---- config ------------------------------------------------------------------------------------------------------


def test_config_round_trips_through_json_and_document_settings() -> None:
    config = TrainConfig.from_dict(
        {"recipe": "classification", "epochs": 7, "optimizer": "sgd", "lr": 0.05, "nesterov": True,
         "schedule": "cosine", "warmup_steps": 10, "losses": [{"output": "y", "loss": "cross_entropy",
                                                                "label_smoothing": 0.1, "class_weights": [1, 2]}],
         "metrics": ["top3", "f1"], "early_stopping": {"patience": 3, "monitor": "val_accuracy"},
         "precision": "bf16", "gan": {"latent_size": 16}, "transfer": {"source": "runs/a", "nodes": "conv1, conv2"}},
        {"source": "digits", "val_fraction": 0.2, "classes": [5, 6]})
    text = json.dumps(config.to_settings())
    settings = json.loads(text)
    again = TrainConfig.from_settings(settings)
    assert again == config
    assert again.transfer.nodes == ["conv1", "conv2"]
    assert again.data.classes == [5, 6]
    assert again.early_stopping.direction() == "max"


def test_data_settings_accept_the_loader_layout() -> None:
    config = TrainConfig.from_settings({"data": {"path": "table.csv", "format": "csv", "target": "label",
                                                 "val_fraction": 0.1}})
    assert config.data.source == "table.csv"
    assert config.data.options == {"target": "label"}
    assert config.data.load_source() == {"path": "table.csv", "format": "csv"}
    assert TrainConfig.from_settings({"data": "iris"}).data.source == "iris"


@pytest.mark.parametrize(("training", "words"), [
    ({"epochs": 0}, "settings.training.epochs: must be at least 1; got 0."),
    ({"lr": -1}, "settings.training.lr: must be greater than 0"),
    ({"optimizer": "adma"}, "settings.training.optimizer: must be one of sgd, adam, adamw, rmsprop, adagrad; "
                            "got 'adma' — did you mean 'adam'?"),
    ({"device": "gpu"}, "settings.training.device: must be auto, cpu, cuda"),
    ({"betas": [0.9]}, "settings.training.betas: must be 2 numbers"),
    ({"losses": [{"output": "y", "loss": "hinge"}]}, "settings.training.losses[0].loss: must be one of"),
    ({"metrics": ["auc"]}, "settings.training.metrics: unknown metric 'auc'"),
    ({"epoch": 3}, "settings.training.epoch: unknown training setting — did you mean 'epochs'?"),
    ({"beta": 3}, "settings.training.beta: unknown training setting — it belongs in vae.beta"),
    ({"vae": {"betta": 1}}, "settings.training.vae.betta: unknown setting in vae — did you mean 'beta'?"),
    ({"optimizer": "sgd", "momentum": 0, "nesterov": True}, "settings.training.nesterov: needs a momentum"),
    ({"threads": -1}, "settings.training.threads: must be at least 0"),
    ({"dropout": 1.5}, "settings.training.dropout: must be at most 0.99"),
])
def test_bad_settings_name_the_field(training: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(words)):
        TrainConfig.from_dict(training)


def test_replace_validates_and_merges_data() -> None:
    config = TrainConfig.from_dict({}, {"source": "digits", "val_fraction": 0.3})
    changed = config.replace(epochs=3, data={"source": "iris"})
    assert (changed.epochs, changed.data.source, changed.data.val_fraction) == (3, "iris", 0.3)
    with pytest.raises(ConfigError):
        config.replace(batch_size=0)


# ---- schedules ----------------------------------------------------------------------------------------------------


def _schedule(**training: object) -> LRSchedule:
    return LRSchedule(TrainConfig.from_dict({"lr": 0.1, **training}), steps_per_epoch=10, epochs=10)


def test_warmup_step_cosine_and_onecycle_rates() -> None:
    warm = _schedule(warmup_steps=4)
    assert [warm.factor(s) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0]
    step = _schedule(schedule="step", step_size=3, gamma=0.5)
    factors = []
    for _ in range(7):
        factors.append(step.factor(0))
        step.end_epoch(None, "min")
    assert factors == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]
    cosine = _schedule(schedule="cosine", min_lr=0.01)
    assert cosine.factor(0) == pytest.approx(1.0)
    assert cosine.factor(50) == pytest.approx(0.1 + 0.9 * 0.5)
    assert cosine.factor(100) == pytest.approx(0.1)
    one = _schedule(schedule="onecycle")
    peak = max(range(100), key=one.factor)
    assert peak == 30 and one.factor(30) == pytest.approx(1.0)
    assert one.factor(0) == pytest.approx(1 / 25) and one.factor(100) < 1e-4


def test_plateau_reduces_after_patience_and_state_round_trips() -> None:
    plateau = _schedule(schedule="plateau", plateau_patience=1, plateau_factor=0.5)
    for value in (1.0, 0.9, 0.95, 0.95, 0.95):
        plateau.end_epoch(value, "min")
    assert plateau.factor(0) == 0.5
    copy = _schedule(schedule="plateau", plateau_patience=1, plateau_factor=0.5)
    copy.load_state_dict(json.loads(json.dumps(plateau.state_dict())))
    assert copy.factor(0) == 0.5 and copy.epoch == plateau.epoch


# ---- losses and metrics --------------------------------------------------------------------------------------


def test_default_losses_follow_role_and_task() -> None:
    assert default_loss("logits", "classification", 10, None) == "cross_entropy"
    assert default_loss("logits", "classification", 1, None) == "bce_logits"
    assert default_loss("probabilities", "classification", 3, "Softmax") == "nll"
    assert default_loss("regression", "regression", 1, None) == "mse"
    assert default_loss("reconstruction", "classification", 64, None) == "mse"
    assert default_loss("token_logits", "language_model", 50, None) == "cross_entropy"
    assert default_loss("features", "classification", 8, None) == "none"


def test_losses_accept_sequences_soft_labels_and_report_shape_mismatches() -> None:
    from netbuilder.train.config import LossConfig

    ce = make_loss("cross_entropy", LossConfig(label_smoothing=0.0), torch.device("cpu"))
    logits = torch.randn(2, 5, 7)
    targets = torch.randint(0, 7, (2, 5))
    expected = torch.nn.functional.cross_entropy(logits.reshape(10, 7), targets.reshape(10))
    assert ce(logits, targets).item() == pytest.approx(expected.item())
    soft = torch.softmax(torch.randn(4, 3), dim=1)
    assert ce(torch.randn(4, 3), soft).item() > 0
    nll_probs = make_loss("nll", LossConfig(), torch.device("cpu"), log_first=True)
    probs = torch.tensor([[0.9, 0.1], [0.2, 0.8]])
    assert nll_probs(probs, torch.tensor([0, 1])).item() == pytest.approx(-(math.log(0.9) + math.log(0.8)) / 2)
    mse = make_loss("mse", LossConfig(), torch.device("cpu"))
    assert mse(torch.zeros(4, 1), torch.ones(4)).item() == 1.0
    with pytest.raises(LossError, match="4×3 per batch but the targets are 4×2"):
        mse(torch.zeros(4, 3), torch.ones(4, 2))
    bce = make_loss("bce_logits", LossConfig(), torch.device("cpu"))
    assert bce(torch.zeros(2, 3), torch.tensor([0, 2])).item() == pytest.approx(math.log(2))


def test_class_metrics_match_hand_computed_values() -> None:
    metrics = ClassMetrics(3, torch.device("cpu"), topk=(2,))
    logits = torch.tensor([[3.0, 2, 0], [0, 3, 2], [0, 2, 3], [3, 0, 2], [1, 3, 2]])
    target = torch.tensor([0, 1, 2, 2, 0])
    metrics.update(logits[:3], target[:3])
    metrics.update(logits[3:], target[3:])
    values, confusion = metrics.compute("val_")
    assert confusion == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert values["val_accuracy"] == pytest.approx(3 / 5)
    assert values["val_top2"] == pytest.approx(4 / 5)
    precision = [1 / 2, 1 / 2, 1 / 1]
    recall = [1 / 2, 1 / 1, 1 / 2]
    f1 = [2 * p * r / (p + r) for p, r in zip(precision, recall, strict=True)]
    assert values["val_precision"] == pytest.approx(sum(precision) / 3)
    assert values["val_recall"] == pytest.approx(sum(recall) / 3)
    assert values["val_f1"] == pytest.approx(sum(f1) / 3)


def test_regression_metrics_mae_and_r2() -> None:
    metrics = RegressionMetrics(torch.device("cpu"))
    y = torch.tensor([[1.0], [2.0], [3.0], [4.0]])
    pred = torch.tensor([[1.5], [2.0], [2.5], [4.0]])
    metrics.update(pred[:2], y[:2])
    metrics.update(pred[2:], y[2:].reshape(-1))
    values = metrics.compute("val_")
    assert values["val_mae"] == pytest.approx(0.25)
    assert values["val_r2"] == pytest.approx(1 - 0.5 / 5.0)


# ---- per-node options -------------------------------------------------------------------------------------------


def _net() -> Document:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="x", shape=(4,)), net.add("Linear", name="a", units=3),
              net.add("Linear", name="b", units=2), net.add("Linear", name="c", units=2), net.add("Output", name="y"))
    net.set_options("a", trainable=False)
    net.set_options("b", lr_mult=0.1, l2=0.5)
    return doc


def test_param_groups_follow_freeze_and_lr_multipliers_and_penalties_skip_biases() -> None:
    doc = _net()
    module = compile_network(doc.network())
    nodes = node_params(module, doc.network())
    assert [n.name for n in nodes] == ["b", "c"]  # a is frozen
    groups = param_groups(nodes, lr=0.01)
    by_mult = {g["lr_mult"]: g for g in groups}
    assert by_mult[0.1]["lr"] == pytest.approx(0.001) and by_mult[0.1]["nodes"] == ["b"]
    assert by_mult[1.0]["nodes"] == ["c"]
    penalty = Penalty.build(nodes, l1=0.0, l2=0.0)
    weight_b = module.get_submodule("b").weight
    assert penalty().item() == pytest.approx(0.5 * weight_b.pow(2).sum().item())
    assert not Penalty.build(nodes, 0.0, 0.0).terms[1:]  # only b's weight matrix, never a bias


def test_optimizer_state_flattens_to_tensors_and_json() -> None:
    module = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    module(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    tensors, meta = flatten_state("optimizer/model", optimizer.state_dict())
    meta = json.loads(json.dumps(meta))
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.5)
    fresh.load_state_dict(unflatten_state("optimizer/model", tensors, meta))
    assert fresh.param_groups[0]["lr"] == 0.1
    assert torch.equal(fresh.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])


def test_graph_hash_ignores_positions_but_not_params() -> None:
    doc = _net()
    before = graph_hash(doc)
    net = doc.network()
    net.move("c", (500.0, 20.0))
    assert graph_hash(doc) == before
    net.set_param("c", "units", 3)
    assert graph_hash(doc) != before
    assert "positions" not in json.dumps(canonical_graph(doc))
