"""Gymnasium environments as a data source: ``settings.data.source = "gym:CartPole-v1"``.

An agent's data is not a table but experience it collects itself, so an environment "data set" hands out
environments instead of samples. `EnvironmentDataset.prepare` returns `PreparedData` whose training split is
`Rollouts` (the environment copies the agent steps, reset with a seed derived from (seed, epoch) at each epoch, so
a resumed run continues exactly) and whose validation and test splits are `Episodes` (fixed-seed evaluation
episodes played with the greedy policy). `DataInfo` says what the network must fit: ``sample_shape`` is the
observation shape, ``num_classes`` the number of actions, ``task`` is ``"reinforcement"``.

Only discrete action spaces are supported: the policy's action logits are a categorical distribution.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from netbuilder.data.base import REINFORCEMENT, Batch, DataError, DataInfo, PreparedData
from netbuilder.data.preprocess import Preprocessing
from netbuilder.dataformats import ENVIRONMENT_PREFIX, is_environment

PREFIX = ENVIRONMENT_PREFIX
__all__ = ["EnvCopies", "EnvironmentDataset", "Episodes", "Rollouts", "environment_info", "is_environment",
           "load_environment", "make_env", "play"]
SUGGESTED = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0")
# Action names of the classic-control tasks, for traces and the Results panel (others are numbered).
ACTION_NAMES = {
    "CartPole-v1": ["push left", "push right"],
    "Acrobot-v1": ["torque -1", "torque 0", "torque +1"],
    "MountainCar-v0": ["push left", "no push", "push right"],
}
EVAL_SEED_OFFSET = 1_000_003  # evaluation episodes never replay the training episodes' starts
TEST_SEED_OFFSET = 2_000_003
PREVIEW_STARTS = 8  # start observations a preview shows
# Names of the observed values of the classic-control tasks (others are numbered), for the preview's columns.
OBSERVATION_NAMES = {
    "CartPole-v1": ["cart position", "cart velocity", "pole angle", "pole angular velocity"],
    "Acrobot-v1": ["cos θ1", "sin θ1", "cos θ2", "sin θ2", "angular velocity 1", "angular velocity 2"],
    "MountainCar-v0": ["position", "velocity"],
}


def env_id_of(source: str) -> str:
    return source[len(PREFIX):].strip()


def _gym() -> Any:
    try:
        import gymnasium
    except ImportError as error:  # pragma: no cover - gymnasium is a dependency
        raise DataError("Environments need the gymnasium package, which is not installed.") from error
    return gymnasium


def make_env(env_id: str, render: bool = False) -> Any:
    """One environment; DataError naming close ids when ``env_id`` is unknown. Frames are drawn off screen: SDL
    (pygame) is told to use no display and no sound device, so it neither opens a window nor complains."""
    gym = _gym()
    if render:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    try:
        return gym.make(env_id, render_mode="rgb_array" if render else None)
    except gym.error.Error as error:
        known = [name for name in gym.envs.registry if "/" not in name]
        close = difflib.get_close_matches(env_id, known, n=1)
        hint = f" Did you mean gym:{close[0]}?" if close else f" Try gym:{SUGGESTED[0]}."
        raise DataError(f"There is no environment {env_id!r} ({error}).{hint}") from None
    except Exception as error:  # noqa: BLE001 - an environment's own dependencies (Box2D, MuJoCo...) are missing
        raise DataError(f"The environment {env_id!r} cannot start: {error}") from None


def environment_info(source: str) -> DataInfo:
    """What the network must fit for environment ``source`` ("gym:CartPole-v1")."""
    env_id = env_id_of(source)
    env = make_env(env_id)
    try:
        gym = _gym()
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(act_space, gym.spaces.Discrete):
            raise DataError(f"{env_id} has continuous actions ({act_space}); the PPO recipe here samples discrete "
                            "actions from action logits.", )
        if not isinstance(obs_space, gym.spaces.Box):
            raise DataError(f"{env_id} observes {obs_space}; only vector (Box) observations can feed an Input.")
        actions = int(act_space.n)
        spec = env.spec
        threshold = getattr(spec, "reward_threshold", None)
        limit = getattr(spec, "max_episode_steps", None)
        solved = f" Solved at a mean return of {threshold:g} over 100 episodes." if threshold is not None else ""
        return DataInfo(
            id=source, title=env_id, task=REINFORCEMENT, sample_shape=tuple(int(d) for d in obs_space.shape),
            dtype="float32", num_classes=actions,
            class_names=list(ACTION_NAMES.get(env_id, [f"action {i}" for i in range(actions)])),
            description=(f"Gymnasium environment {env_id}: {int(np.prod(obs_space.shape))} observed values, "
                         f"{actions} actions" + (f", episodes of at most {limit} steps." if limit else ".")
                         + solved),
            source=source, kind="environment",
            feature_names=list(OBSERVATION_NAMES.get(env_id, [f"observation {i}" for i in range(obs_space.shape[0])]))
            if len(obs_space.shape) == 1 else None)
    finally:
        env.close()


def reward_threshold(env_id: str) -> float | None:
    """The mean return over 100 episodes at which Gymnasium calls ``env_id`` solved (None if it names none)."""
    spec = _gym().spec(env_id)
    return getattr(spec, "reward_threshold", None)


# ---------------------------------------------------------------------------------------------------------------
# Stepping several copies at once


@dataclass
class StepResult:
    """One step of every copy. ``done``: the episode ended at this step (the copy has been reset already);
    ``cut``: it ended by the time limit, not by failing, and ``final`` holds the observation it ended in (what the
    value head bootstraps from)."""

    observations: np.ndarray
    rewards: np.ndarray
    done: np.ndarray
    cut: np.ndarray
    final: dict[int, np.ndarray]
    finished: list[tuple[float, int]]  # (return, length) of each episode that ended


class EnvCopies:
    """``count`` copies of one environment, stepped together; a copy whose episode ends is reset at once."""

    def __init__(self, env_id: str, count: int):
        self.env_id = env_id
        self.envs = [make_env(env_id) for _ in range(count)]
        self.returns = np.zeros(count, dtype=np.float64)
        self.lengths = np.zeros(count, dtype=np.int64)
        self.observations: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.envs)

    def reset(self, seed: int) -> np.ndarray:
        """Start new episodes; copy i is seeded ``seed + i`` (and keeps its own random stream afterwards)."""
        self.observations = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(self.envs)]).astype(
            np.float32)
        self.returns[:] = 0.0
        self.lengths[:] = 0
        return self.observations

    def step(self, actions: np.ndarray) -> StepResult:
        count = self.count
        observations = np.empty_like(self.observations)
        rewards = np.zeros(count, dtype=np.float32)
        done = np.zeros(count, dtype=bool)
        cut = np.zeros(count, dtype=bool)
        final: dict[int, np.ndarray] = {}
        finished: list[tuple[float, int]] = []
        for i, (env, action) in enumerate(zip(self.envs, actions.tolist(), strict=True)):
            obs, reward, terminated, truncated, _ = env.step(int(action))
            rewards[i] = reward
            self.returns[i] += reward
            self.lengths[i] += 1
            if terminated or truncated:
                done[i] = True
                cut[i] = bool(truncated and not terminated)
                if cut[i]:
                    final[i] = np.asarray(obs, dtype=np.float32)
                finished.append((float(self.returns[i]), int(self.lengths[i])))
                self.returns[i], self.lengths[i] = 0.0, 0
                obs, _ = env.reset()
            observations[i] = obs
        self.observations = observations
        return StepResult(observations, rewards, done, cut, final, finished)

    def close(self) -> None:
        for env in self.envs:
            env.close()


# ---------------------------------------------------------------------------------------------------------------
# Splits


@dataclass
class Rollouts:
    """The training split: environment copies the agent collects experience from.

    ``len`` is the environment steps per epoch; each "batch" the loop draws is the step numbers one update
    collects (``x`` = those numbers, no targets), so the loop's batch size is the steps per update and its
    samples/s are environment steps per second. Drawing the batches of an epoch resets the copies with a seed from
    the epoch's generator.
    """

    env_id: str
    sample_shape: tuple[int, ...]
    steps: int = 10_240
    copies: int = 8
    envs: EnvCopies | None = field(default=None, repr=False)

    def configure(self, copies: int, steps: int) -> None:
        """Set the number of copies and the steps per epoch (the recipe does, from its settings)."""
        if self.envs is not None and self.envs.count != copies:
            self.envs.close()
            self.envs = None
        self.copies, self.steps = copies, steps

    def __len__(self) -> int:
        return self.steps

    def start(self, seed: int) -> EnvCopies:
        if self.envs is None:
            self.envs = EnvCopies(self.env_id, self.copies)
        self.envs.reset(seed)
        return self.envs

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[Batch]:
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator)) if generator is not None else 0
        self.start(seed)
        for start in range(0, self.steps, batch_size):
            yield torch.arange(start, min(start + batch_size, self.steps)), None

    def head(self, count: int) -> Batch:
        """``count`` real first observations (for the dry run that checks the network against the data)."""
        env = make_env(self.env_id)
        try:
            rows = [env.reset(seed=i)[0] for i in range(count)]
        finally:
            env.close()
        return torch.as_tensor(np.stack(rows), dtype=torch.float32), None


@dataclass
class Episodes:
    """Evaluation episodes: ``count`` episodes, copy i starting from seed ``seed + i`` every time."""

    env_id: str
    count: int
    seed: int

    def __len__(self) -> int:
        return self.count

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[Batch]:
        yield torch.arange(self.count), None

    def head(self, count: int) -> Batch:
        return Rollouts(self.env_id, ()).head(count)


def play(env_id: str, act: Callable[[torch.Tensor], torch.Tensor], episodes: int, seed: int,
         batch: int = 100) -> list[tuple[float, int]]:
    """(return, length) of ``episodes`` episodes, the i-th started from seed ``seed + i``; ``act`` maps a batch of
    observations to actions. Episodes run side by side, ``batch`` at a time."""
    results: list[tuple[float, int]] = []
    for first in range(0, episodes, batch):
        count = min(batch, episodes - first)
        envs = [make_env(env_id) for _ in range(count)]
        try:
            obs = np.stack([env.reset(seed=seed + first + i)[0] for i, env in enumerate(envs)]).astype(np.float32)
            returns = np.zeros(count)
            lengths = np.zeros(count, dtype=np.int64)
            running = np.ones(count, dtype=bool)
            while running.any():
                live = np.flatnonzero(running)
                actions = act(torch.as_tensor(obs[live])).cpu().numpy()
                for index, action in zip(live.tolist(), actions.tolist(), strict=True):
                    observation, reward, terminated, truncated, _ = envs[index].step(int(action))
                    returns[index] += reward
                    lengths[index] += 1
                    obs[index] = observation
                    if terminated or truncated:
                        running[index] = False
            results += list(zip(returns.tolist(), lengths.tolist(), strict=True))
        finally:
            for env in envs:
                env.close()
    return results


@dataclass
class EnvironmentDataset:
    """An environment as a data source (see the module doc)."""

    info: DataInfo

    @property
    def env_id(self) -> str:
        return env_id_of(self.info.source)

    def __len__(self) -> int:
        """What a preview counts: the start observations it shows (an environment has no fixed sample count)."""
        return PREVIEW_STARTS

    def head(self, count: int) -> Batch:
        """The first observations of ``count`` episodes (seeds 0, 1, ...), for the data panel's preview."""
        return Rollouts(self.env_id, self.info.sample_shape).head(min(count, PREVIEW_STARTS))

    def prepare(self, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0,
                normalize: bool = True, augment: dict[str, Any] | None = None,
                output_range: tuple[float, float] | None = None, per_class: int | None = None) -> PreparedData:
        """Splits for a run: the fractions mean nothing here (the recipe sets the episode counts)."""
        env_id = self.env_id
        return PreparedData(self.info, Rollouts(env_id, self.info.sample_shape),
                            Episodes(env_id, 10, seed + EVAL_SEED_OFFSET),
                            Episodes(env_id, 100, seed + TEST_SEED_OFFSET), Preprocessing(),
                            {"source": self.info.source, "seed": seed})


def load_environment(source: str) -> EnvironmentDataset:
    """The data set for ``gym:ENV-ID``."""
    if not env_id_of(source):
        raise DataError(f"{source!r} names no environment; write it as gym:CartPole-v1.")
    return EnvironmentDataset(environment_info(source))
