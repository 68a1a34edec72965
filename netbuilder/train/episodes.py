"""Replaying a trained agent: one episode with its observations, actions, rewards and (when the environment can
draw itself) frames, for ``netbuilder predict`` and the Results panel; and writing it as a GIF or an image strip.

The agent acts greedily (the most likely action), as in evaluation. Frames need the environment's renderer
(pygame for the classic-control tasks); without it the episode still comes back as traces.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from netbuilder.data.environments import ACTION_NAMES, make_env
from netbuilder.io.atomic import SaveError, write_atomic

MAX_FRAMES = 120  # frames kept for a replay (every k-th step of a long episode), so memory stays small
FRAME_WIDTH = 300  # frames are shrunk to about this width
STRIP_FRAMES = 8  # frames in a PNG strip


@dataclass
class Episode:
    """One episode played by the agent. ``frames``: F×H×W×3 uint8 of the steps in ``frame_steps`` (None when the
    environment cannot draw itself here; ``render_note`` says why)."""

    env_id: str
    seed: int
    observations: np.ndarray  # T×obs, the observation each action was chosen from
    actions: np.ndarray  # T
    rewards: np.ndarray  # T
    logits: np.ndarray  # T×A
    values: np.ndarray | None  # T (the critic's estimate), when the network has a state value
    frames: np.ndarray | None = None
    frame_steps: list[int] = field(default_factory=list)
    render_note: str = ""
    action_names: list[str] = field(default_factory=list)

    @property
    def total_return(self) -> float:
        return float(self.rewards.sum())

    @property
    def length(self) -> int:
        return int(self.actions.shape[0])

    def to_dict(self) -> dict[str, Any]:
        names = self.action_names
        return {
            "env": self.env_id, "seed": self.seed, "return": self.total_return, "length": self.length,
            "observations": np.round(self.observations, 6).tolist(), "actions": self.actions.tolist(),
            "action_names": [names[a] if a < len(names) else str(a) for a in self.actions.tolist()],
            "rewards": self.rewards.tolist(),
            **({"values": np.round(self.values, 6).tolist()} if self.values is not None else {}),
            "frames": 0 if self.frames is None else int(self.frames.shape[0]),
            **({"render_note": self.render_note} if self.render_note else {}),
        }


def _shrink(frame: np.ndarray) -> np.ndarray:
    step = max(1, frame.shape[1] // FRAME_WIDTH)
    return np.ascontiguousarray(frame[::step, ::step, :3])


def replay(env_id: str, policy: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]], seed: int,
           render: bool = True, max_steps: int = 100_000) -> Episode:
    """Play one greedy episode from ``seed``. ``policy`` maps a 1×obs batch to (logits 1×A, value 1 or None)."""
    note = ""
    env = None
    if render:
        try:
            env = make_env(env_id, render=True)
            env.reset(seed=seed)
            if env.render() is None:
                raise RuntimeError("the environment drew nothing")
        except Exception as error:  # noqa: BLE001 - drawing is optional: pygame may be missing, or no display
            note = f"No frames: {env_id} cannot draw here ({type(error).__name__}: {error})."
            if env is not None:
                env.close()
            env = None
    if env is None:
        env = make_env(env_id)
    frames: list[np.ndarray] = []
    frame_steps: list[int] = []
    rows: dict[str, list[Any]] = {"obs": [], "action": [], "reward": [], "logits": [], "value": []}
    try:
        obs, _ = env.reset(seed=seed)
        every = 1  # keep every step's frame until there are too many, then every other one, and so on
        for step in range(max_steps):
            if not note and step % every == 0:
                frames.append(_shrink(env.render()))
                frame_steps.append(step)
                if len(frames) > MAX_FRAMES:
                    frames, frame_steps, every = frames[::2], frame_steps[::2], every * 2
            x = torch.as_tensor(np.asarray(obs, dtype=np.float32)).unsqueeze(0)
            with torch.no_grad():
                logits, value = policy(x)
            action = int(logits.argmax(dim=-1).item())
            rows["obs"].append(np.asarray(obs, dtype=np.float32))
            rows["logits"].append(logits.reshape(-1).float().cpu().numpy())
            rows["value"].append(None if value is None else float(value.reshape(-1)[0]))
            obs, reward, terminated, truncated, _ = env.step(action)
            rows["action"].append(action)
            rows["reward"].append(float(reward))
            if terminated or truncated:
                break
        if not note:
            frames.append(_shrink(env.render()))
            frame_steps.append(len(rows["action"]))
    finally:
        env.close()
    values = None if rows["value"][0] is None else np.asarray(rows["value"], dtype=np.float32)
    actions = len(rows["logits"][0])
    return Episode(env_id, seed, np.stack(rows["obs"]), np.asarray(rows["action"], dtype=np.int64),
                   np.asarray(rows["reward"], dtype=np.float32), np.stack(rows["logits"]), values,
                   np.stack(frames) if frames else None, frame_steps, note,
                   list(ACTION_NAMES.get(env_id, [f"action {i}" for i in range(actions)])))


def describe(episode: Episode, steps: int = 10) -> str:
    """The episode in a few lines: its return, then the first ``steps`` steps' observation, action and reward."""
    names = episode.action_names
    lines = [f"{episode.env_id}, seed {episode.seed}: return {episode.total_return:g} in {episode.length} steps"
             + (f" ({episode.render_note})" if episode.render_note else "")]
    for t in range(min(steps, episode.length)):
        action = int(episode.actions[t])
        name = names[action] if action < len(names) else str(action)
        obs = " ".join(f"{v:+.3f}" for v in episode.observations[t].tolist())
        value = f"  value {episode.values[t]:.2f}" if episode.values is not None else ""
        lines.append(f"  step {t:3d}: obs [{obs}] -> {name}, reward {episode.rewards[t]:g}{value}")
    if episode.length > steps:
        lines.append(f"  ... {episode.length - steps} more steps (-o episode.json for all, episode.gif to watch)")
    return "\n".join(lines)


def strip(episode: Episode, count: int = STRIP_FRAMES) -> torch.Tensor | None:
    """``count`` frames spread over the episode as N×3×H×W floats in [0, 1] (None without frames)."""
    if episode.frames is None:
        return None
    index = np.unique(np.linspace(0, episode.frames.shape[0] - 1, min(count, episode.frames.shape[0])).astype(int))
    return torch.from_numpy(episode.frames[index]).permute(0, 3, 1, 2).float() / 255.0


def write_gif(episode: Episode, path: str | os.PathLike[str], fps: float = 25.0) -> Path:
    """The episode's frames as an animated GIF (ValueError when it has none)."""
    from io import BytesIO

    from PIL import Image

    if episode.frames is None:
        raise ValueError(episode.render_note or f"{episode.env_id} gave no frames to animate.")
    every = episode.frame_steps[1] - episode.frame_steps[0] if len(episode.frame_steps) > 1 else 1
    images = [Image.fromarray(frame) for frame in episode.frames]
    buffer = BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(20, int(1000 * every / fps)), loop=0)
    target = Path(path)
    try:
        write_atomic(target, buffer.getvalue(), what="GIF file")
    except SaveError as error:
        raise OSError(str(error)) from None
    return target
