"""The output role registry: one entry per role, and the core asks it instead of comparing role strings."""

from __future__ import annotations

import pytest

from netbuilder.analysis import analyze
from netbuilder.data.compat import ROLES as TASK_ROLES
from netbuilder.document.model import Document
from netbuilder.specs import get_spec, roles
from netbuilder.train.losses import default_loss

# What the losses were before the registry existed (role, task, units) -> loss: the registry must not change them.
EARLIER_DEFAULTS = {
    ("logits", "classification", 10): "cross_entropy", ("logits", "classification", 1): "bce_logits",
    ("probabilities", "classification", 3): "nll", ("probabilities", "classification", 1): "bce",
    ("logits", "regression", 1): "mse", ("probabilities", "forecasting", 4): "mse",
    ("regression", "regression", 1): "mse", ("reconstruction", "unsupervised", 64): "mse",
    ("token_logits", "language_model", 50): "cross_entropy", ("score", "classification", 1): "bce_logits",
    ("generated", "unsupervised", 64): "none", ("features", "classification", 8): "none",
}


@pytest.mark.parametrize(("key", "loss"), EARLIER_DEFAULTS.items())
def test_default_losses_are_unchanged(key, loss):
    role, task, units = key
    assert default_loss(role, task, units, None) == loss


def test_the_output_spec_offers_every_registered_role_and_nothing_else():
    choices = next(p for p in get_spec("Output").params if p.name == "role").choices
    assert tuple(choices) == tuple(roles.ROLES)
    assert {"action_logits", "state_value"} <= set(choices)


def test_every_role_is_fully_declared():
    losses = {"none", "mse", "cross_entropy", "nll", "bce", "bce_logits"}
    for entry in roles.ROLES.values():
        assert entry.title and entry.doc.endswith(".")
        assert entry.loss in losses and (entry.loss_one_unit is None or entry.loss_one_unit in losses)
        assert entry.inverts in ("", "targets", "inputs")
        assert not (entry.takes_logits and entry.is_probability)


def test_task_roles_put_the_task_s_own_role_first():
    assert TASK_ROLES["classification"] == ("logits", "probabilities")
    assert TASK_ROLES["language_model"] == ("token_logits", "logits")
    assert TASK_ROLES["reinforcement"] == ("action_logits", "state_value")


def test_unknown_roles_are_named():
    with pytest.raises(roles.UnknownRoleError, match="'q_values'.*action_logits"):
        roles.role("q_values")
    assert roles.get("q_values") is None


def test_a_softmax_before_action_logits_is_flagged_with_the_agent_s_fix():
    net = Document().network()
    net.chain(net.add("Input", shape=(4,)), net.add("Linear", units=2), net.add("Softmax"),
              net.add("Output", name="pi", role="action_logits"))
    flagged = [d for d in analyze(net).warnings if "Softmax before Output 'pi'" in d.message]
    assert len(flagged) == 1
    assert "the agent turns action logits into probabilities itself" in flagged[0].suggestion
