"""Reinforcement learning: GAE and the clipped objective against values worked by hand, the environment data
source and its fit check, a short run that learns, reproducibility and resume, evaluate and predict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from netbuilder.data import DataError, check_compatibility, load_data
from netbuilder.data.environments import EnvCopies
from netbuilder.templates import load_template
from netbuilder.train import TrainConfig, TrainError
from netbuilder.train import events as ev
from netbuilder.train.evaluate import evaluate, predict
from netbuilder.train.loop import Trainer
from netbuilder.train.recipes.reinforcement import clipped_policy_loss, gae
from netbuilder.train.sample_files import write_prediction

# ---- by hand --------------------------------------------------------------------------------------------------


def test_gae_matches_the_recursion_worked_by_hand():
    # gamma 0.9, lambda 0.8; the episode ends at the last step, so the last value (9) is never bootstrapped.
    # t=2: delta = 1 - 0.3 = 0.7                      A = 0.7
    # t=1: delta = 1 + 0.9*0.3 - 0.4 = 0.87            A = 0.87 + 0.72*0.7 = 1.374
    # t=0: delta = 1 + 0.9*0.4 - 0.5 = 0.86            A = 0.86 + 0.72*1.374 = 1.84928
    rewards = torch.tensor([[1.0], [1.0], [1.0]])
    values = torch.tensor([[0.5], [0.4], [0.3]])
    done = torch.tensor([[False], [False], [True]])
    adv, ret = gae(rewards, values, done, torch.tensor([9.0]), gamma=0.9, lam=0.8)
    assert adv.reshape(-1).tolist() == pytest.approx([1.84928, 1.374, 0.7])
    assert ret.reshape(-1).tolist() == pytest.approx([2.34928, 1.774, 1.0])


def test_gae_with_lambda_one_gives_discounted_returns_and_bootstraps_an_unfinished_episode():
    # lambda 1: A_t + V_t is the discounted return, here with the last value 2 standing for the rest.
    # G1 = 1 + 0.5*2 = 2, G0 = 0 + 0.5*2 = 1.
    adv, ret = gae(torch.tensor([[0.0], [1.0]]), torch.zeros(2, 1), torch.zeros(2, 1, dtype=torch.bool),
                   torch.tensor([2.0]), gamma=0.5, lam=1.0)
    assert ret.reshape(-1).tolist() == pytest.approx([1.0, 2.0])
    assert adv.reshape(-1).tolist() == pytest.approx([1.0, 2.0])


def test_gae_does_not_leak_across_an_episode_boundary_or_between_copies():
    # Copy 0 ends an episode at t=0, so t=0 sees only its own reward; copy 1 runs on and bootstraps 10.
    rewards = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    done = torch.tensor([[True, False], [False, False]])
    adv, _ = gae(rewards, torch.zeros(2, 2), done, torch.tensor([0.0, 10.0]), gamma=1.0, lam=1.0)
    assert adv[:, 0].tolist() == pytest.approx([1.0, 2.0])
    assert adv[:, 1].tolist() == pytest.approx([10.0, 10.0])


def test_clipped_objective_takes_the_pessimistic_side():
    # ratio 1.5, A=+1: min(1.5, 1.2) = 1.2 gained; ratio 0.5, A=+1: min(0.5, 0.8) = 0.5; ratio 1.5, A=-1:
    # min(-1.5, -1.2) = -1.5. The loss is minus their mean: -(1.2 + 0.5 - 1.5) / 3.
    new = torch.log(torch.tensor([1.5, 0.5, 1.5]))
    loss = clipped_policy_loss(new, torch.zeros(3), torch.tensor([1.0, 1.0, -1.0]), clip=0.2)
    assert loss.item() == pytest.approx(-(1.2 + 0.5 - 1.5) / 3)


def test_copies_reset_at_once_and_count_each_episode_s_return():
    envs = EnvCopies("CartPole-v1", 2)
    envs.reset(seed=3)
    finished, rewards = [], 0.0
    for _ in range(60):
        result = envs.step(np.zeros(2, dtype=np.int64))  # always push left: episodes end within ~10 steps
        finished += result.finished
        rewards += float(result.rewards.sum())
        assert result.observations.shape == (2, 4)
    envs.close()
    assert len(finished) >= 6
    assert all(ret == length for ret, length in finished)  # CartPole pays 1 per step
    assert sum(r for r, _ in finished) <= rewards


# ---- the environment as data ------------------------------------------------------------------------------------


def test_an_environment_source_describes_what_the_network_must_fit():
    info = load_data("gym:CartPole-v1").info
    assert (info.task, info.sample_shape, info.num_classes) == ("reinforcement", (4,), 2)
    assert info.class_names == ["push left", "push right"] and "475" in info.description


def test_a_misspelt_environment_is_named_with_the_closest_one():
    with pytest.raises(DataError, match="gym:CartPole-v1"):
        load_data("gym:CartPole-v2")
    with pytest.raises(DataError, match="no data options"):
        load_data("gym:CartPole-v1", seq_len=3)


def test_the_fit_check_fills_in_the_input_and_the_action_count():
    doc = load_template("cartpole")
    net = doc.network()
    info = load_data("gym:Acrobot-v1").info
    fits = check_compatibility(info, net)
    fixes = {f.node_name: f.fix["params"] for f in fits if f.fix}
    assert fixes == {"observation": {"shape": (6,)}, "action_scores": {"units": 3}}


def test_an_agent_without_a_state_value_is_told_what_to_add():
    doc = load_template("cartpole")
    net = doc.network()
    net.set_params(net.find("value").id, role="features")
    fits = check_compatibility(load_data("gym:CartPole-v1").info, net)
    assert len(fits) == 1 and "state_value" in fits[0].message and "Linear of 1 unit" in fits[0].suggestion


# ---- training ---------------------------------------------------------------------------------------------------


def small(epochs: int, steps: int, **rl):
    doc = load_template("cartpole")
    doc.settings["training"].update({"epochs": epochs, "threads": 1})
    doc.settings["training"]["rl"] = {"steps_per_epoch": steps, "eval_episodes": 3, "test_episodes": 0, **rl}
    return doc


def epochs_of(trainer: Trainer) -> list[dict]:
    ends = [e for e in trainer.events() if isinstance(e, ev.EpochEnd | ev.Error)]
    assert all(isinstance(e, ev.EpochEnd) for e in ends), ends
    return [e.metrics for e in ends]


def test_a_short_run_learns_to_balance_longer():
    """A random policy balances about 22 steps. After 4,608 steps of PPO (seconds) the greedy policy balances
    several times longer, and the running mean of the training episodes (which still holds the first, random
    ones) has risen clearly. Measured: return_100 25.5 -> 40.6, val_return 68.7 -> 194.3."""
    doc = small(3, 1536, update_epochs=10)
    doc.settings["training"].update({"lr": 3e-3, "schedule": "none"})
    metrics = epochs_of(Trainer(doc, write=False))
    first, last = metrics[0], metrics[-1]
    assert first["return_100"] < 30
    assert last["return_100"] > 1.4 * first["return_100"]
    assert last["val_return"] > 100  # the greedy policy, on fixed evaluation seeds
    assert last["env_steps"] == 3 * 1536 and last["episodes"] > 50
    assert all(math.isfinite(m["train_loss"]) for m in metrics)


def test_the_same_seed_gives_the_same_run():
    runs = [epochs_of(Trainer(small(1, 512, update_epochs=2), write=False)) for _ in range(2)]
    assert runs[0] == runs[1]


def test_ppo_refuses_a_data_set_with_what_to_set():
    doc = small(1, 256)
    doc.settings["data"] = {"source": "digits"}
    done = Trainer(doc, write=False).run()
    assert isinstance(done, ev.Error) and "gym:CartPole-v1" in (done.message + done.suggestion)


def test_resumed_run_continues_exactly(tmp_path):
    """Two epochs in one go, or one epoch and a resume from its checkpoint: the second epoch is the same (the
    environments restart from the epoch's seed; the running returns travel in the checkpoint)."""
    def doc(epochs: int):
        document = small(epochs, 512, update_epochs=2)
        document.settings["training"]["schedule"] = "none"  # a cosine over 1 epoch would differ from one over 2
        return document

    whole = epochs_of(Trainer(doc(2), run_root=tmp_path / "a"))
    first = Trainer(doc(1), run_root=tmp_path / "b")
    epochs_of(first)
    longer = doc(2)
    resumed = Trainer(longer, TrainConfig.from_settings(longer.settings), resume_from=first.run_dir)
    assert epochs_of(resumed) == whole[1:]


def test_evaluate_reports_the_mean_return_and_predict_replays_an_episode(tmp_path):
    doc = small(1, 512, update_epochs=2)
    trainer = Trainer(doc, run_root=tmp_path)
    epochs_of(trainer)
    with pytest.raises(TrainError, match="split test"):
        evaluate(doc, trainer.run_dir, split="train", device="cpu")
    result = evaluate(doc, trainer.run_dir, episodes=4, device="cpu")
    assert result["split"] == "test" and result["samples"] == 4 and result["unit"] == "episodes"
    assert result["test_return"] == result["test_episode_length"] > 0  # CartPole: one point per step

    prediction = predict(doc, trainer.run_dir, "7", device="cpu")
    episode = prediction.episode
    assert episode.length == episode.total_return == prediction.outputs["action"].shape[0]
    assert prediction.outputs["value"].shape == (episode.length, 1)
    assert episode.logits.argmax(axis=1).tolist() == episode.actions.tolist()  # greedy
    again = predict(doc, trainer.run_dir, 7, device="cpu").episode
    assert again.actions.tolist() == episode.actions.tolist()

    trace = json.loads(json.dumps(prediction.to_dict()))["episode"]
    assert trace["length"] == episode.length and len(trace["observations"]) == episode.length
    assert "Wrote" in write_prediction(prediction, tmp_path / "episode.json")
    if episode.frames is not None:  # the renderer (pygame) is installed
        assert "GIF" in write_prediction(prediction, tmp_path / "episode.gif")
        assert (tmp_path / "episode.gif").read_bytes()[:6] == b"GIF89a"
        assert "PNG strip" in write_prediction(prediction, tmp_path / "episode.png")


def test_without_a_monitor_setting_the_best_epoch_is_the_best_greedy_return():
    doc = small(2, 512, update_epochs=2)
    del doc.settings["training"]["early_stopping"]  # the default monitor, val_loss, which an agent does not report
    trainer = Trainer(doc, write=False)
    metrics = epochs_of(trainer)
    best = max(range(2), key=lambda i: metrics[i]["val_return"])
    assert trainer.plateau.best == metrics[best]["val_return"] and trainer.plateau.best_epoch == best + 1
