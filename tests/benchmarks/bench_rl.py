"""Reinforcement-learning figures: how fast the ``cartpole`` template solves CartPole-v1 on this machine.

The template (PPO, 8 environment copies, its own settings: 10 epochs of 10,240 steps, seed 0) trains through the
Trainer with its events, run folder off. ``rl_cartpole_seconds_to_solve`` is the wall time from the start of the run until the mean return
of the last 100 training episodes (the ``episode_return`` of the BatchEnd events, Gymnasium's solved window)
first reaches CartPole-v1's threshold, 475; ``rl_cartpole_env_steps_to_solve`` the environment steps taken by
then. Training stops there; the greedy policy is then played for 100 fresh evaluation episodes
(``rl_cartpole_greedy_return_100``, what ``netbuilder evaluate`` reports). If the template's epochs end first the
two figures are -1 (the template failed to solve). ``rl_cartpole_env_steps_per_second`` is the median speed of
the run's progress events: environment steps collected and trained on per second.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

THRESHOLD = 475.0


def bench_rl() -> dict[str, Any]:
    from netbuilder.data.environments import TEST_SEED_OFFSET, play
    from netbuilder.templates import load_template
    from netbuilder.train import events as ev
    from netbuilder.train.loop import Trainer

    doc = load_template("cartpole")
    doc.settings["training"]["rl"] = {**doc.settings["training"].get("rl", {}), "test_episodes": 0}
    trainer = Trainer(doc, write=False)
    started = time.perf_counter()
    solved_at, steps_at, speeds = -1.0, -1, []
    for event in trainer.events():
        if isinstance(event, ev.BatchEnd):
            speeds.append(event.samples_per_s)
            if solved_at < 0 and event.losses.get("episode_return", 0.0) >= THRESHOLD:
                solved_at = time.perf_counter() - started
                steps_at = trainer.recipe.env_steps
                trainer.stop()
        elif isinstance(event, ev.Error):
            raise RuntimeError(event.message)
    recipe = trainer.recipe
    recipe.set_train(False)
    returns = [r for r, _ in play("CartPole-v1", recipe.act_greedy, 100, TEST_SEED_OFFSET)]
    return {
        "rl_cartpole_seconds_to_solve": round(solved_at, 2),
        "rl_cartpole_env_steps_to_solve": steps_at,
        "rl_cartpole_greedy_return_100": float(np.mean(returns)),
        "rl_cartpole_env_steps_per_second": round(float(np.median(speeds)), 1) if speeds else 0.0,
    }


BENCHMARKS = {"rl": bench_rl}


if __name__ == "__main__":
    print(json.dumps(bench_rl(), indent=2))
