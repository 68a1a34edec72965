"""Reinforcement learning: PPO (proximal policy optimisation) on a Gymnasium environment.

Why PPO and not DQN: the network the user draws is an actor-critic, one Output of role ``action_logits`` (the
policy) and one of role ``state_value`` (the critic), with or without a shared trunk; both roles are plain
outputs of the same graph, so export and prediction need nothing special. PPO with GAE is also the more
forgiving of the two on CartPole-style tasks: DQN's replay buffer and target network are known to forget a solved
policy late in training, while PPO's clipped updates and on-policy batches keep improving monotonically enough
that the 100-episode solved threshold is reached reliably in about 10^5 steps (the settings follow the tuned
CartPole-v1 hyper-parameters of rl-baselines3-zoo: 8 copies × 32 steps, 20 update epochs, gamma 0.98, lambda 0.8).

Fitting the existing loop: the training split (`netbuilder.data.environments.Rollouts`) hands out "batches" that
are the environment step numbers of one update. `train_step` collects that many steps with the current policy,
computes advantages with GAE, and runs ``rl.update_epochs`` passes of clipped-objective minibatch updates. So the
loop's batch size is the steps per update, an epoch is ``rl.steps_per_epoch`` steps, and stop, pause, resume,
checkpoints, schedules and events work unchanged. After each epoch ``evaluate`` plays ``rl.eval_episodes`` greedy
episodes (``val_return``); the test split plays ``rl.test_episodes`` (``test_return``, 100 = the solved check).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from netbuilder.compile import compiled_info
from netbuilder.data.base import REINFORCEMENT, DataInfo, Split
from netbuilder.data.environments import Episodes, Rollouts, play
from netbuilder.specs import roles
from netbuilder.train.recipes.base import Context, EvalResult, Recipe, TrainError, pick_network

RETURN_WINDOW = 100  # episodes in the running mean of training returns (Gymnasium's "solved" window)


def gae(rewards: torch.Tensor, values: torch.Tensor, done: torch.Tensor, last_value: torch.Tensor, gamma: float,
        lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over T steps of E copies (tensors T×E; ``last_value`` E).

    ``done[t]``: the episode ended with step t, so nothing after it is bootstrapped. delta_t = r_t + gamma *
    V(s_{t+1}) * (1 - done_t) - V(s_t); A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}. Returns
    (advantages, returns = advantages + values), the value head's targets.
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(last_value)
    for t in reversed(range(steps)):
        next_value = last_value if t == steps - 1 else values[t + 1]
        alive = 1.0 - done[t].float()
        delta = rewards[t] + gamma * next_value * alive - values[t]
        running = delta + gamma * lam * alive * running
        advantages[t] = running
    return advantages, advantages + values


def clipped_policy_loss(new_logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                        clip: float) -> torch.Tensor:
    """PPO's clipped surrogate, as a loss: mean of max(-A r, -A clip(r, 1 - c, 1 + c)), r = pi_new / pi_old."""
    ratio = torch.exp(new_logp - old_logp)
    return torch.max(-advantages * ratio, -advantages * ratio.clamp(1.0 - clip, 1.0 + clip)).mean()


def require_environment(info: DataInfo) -> None:
    """TrainError unless the data is an environment (checked before anything else about the data)."""
    if info.task != REINFORCEMENT:
        raise TrainError(f"The PPO recipe learns from an environment, but the data {info.id!r} is a data set.",
                         "Set the data source to an environment, e.g. gym:CartPole-v1, or choose another recipe.")


class PPO(Recipe):
    """An actor-critic network trained with PPO on the environment of the data source."""

    name = "ppo"
    has_validation = True
    monitor = "val_return"  # the best epoch is the one whose greedy policy scored highest

    def __init__(self, ctx: Context, recipe: str = "ppo"):
        super().__init__(ctx)
        self.rl = ctx.config.rl
        train = ctx.data.train
        require_environment(self.info)
        assert isinstance(train, Rollouts)
        self.rollouts = train
        train.configure(self.rl.envs, self.rl.steps_per_epoch)
        if isinstance(ctx.data.val, Episodes):
            ctx.data.val.count = self.rl.eval_episodes
        if isinstance(ctx.data.test, Episodes):
            ctx.data.test.count = self.rl.test_episodes
        network = pick_network(ctx.document, ctx.config)
        module = self.compile(network)
        info = compiled_info(module)
        self.single = info.single_output
        self.policy_index = self._output_index(info.output_roles, info.output_names, "action_logits")
        self.value_index = self._output_index(info.output_roles, info.output_names, "state_value")
        actions = info.output_types[self.policy_index].shape[-1]
        wanted = self.info.num_classes
        if isinstance(actions, int) and wanted is not None and actions != wanted:
            name = info.output_names[self.policy_index]
            raise TrainError(f"Output '{name}' gives {actions} action logits but {self.info.title} has {wanted} "
                             "actions.", f"Make the layer before '{name}' a Linear of {wanted} units.")
        units = info.output_types[self.value_index].shape[-1]
        if units != 1:
            name = info.output_names[self.value_index]
            raise TrainError(f"Output '{name}' (state value) gives {units} values per observation; a state value "
                             "is one number.", f"Make the layer before '{name}' a Linear of 1 unit.")
        self.apply_transfer()
        self.optimizer, self.penalty = self.make_optimizer(network.name)
        self.network_name = network.name
        self.recent: deque[float] = deque(maxlen=RETURN_WINDOW)
        self.episodes = 0
        self.env_steps = 0

    @staticmethod
    def _output_index(output_roles: list[str], names: list[str], wanted: str) -> int:
        if wanted in output_roles:
            return output_roles.index(wanted)
        title = roles.role(wanted).title.lower()
        raise TrainError(f"PPO needs an Output with role {wanted} ({title}); the network's outputs are "
                         f"{', '.join(f'{n} ({r})' for n, r in zip(names, output_roles, strict=True))}.",
                         "Add an Output with that role: action_logits after a Linear with one unit per action, "
                         "state_value after a Linear of 1 unit.")

    # ---- the network ---------------------------------------------------------------------------------------------
    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(action logits N×A, state values N)."""
        out = self.calls[self.network_name](obs)  # the module, or its compiled form (use_compile swaps it)
        outs = (out,) if self.single else tuple(out)
        return outs[self.policy_index], outs[self.value_index].reshape(-1)

    def act_greedy(self, obs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            logits, _ = self.forward(obs.to(self.device))
        return logits.argmax(dim=-1)

    def check(self, x: torch.Tensor, y: torch.Tensor | None) -> None:
        with torch.no_grad():
            self.forward(x.to(self.device))

    # ---- one update: collect, estimate advantages, optimise ----------------------------------------------------
    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> dict[str, torch.Tensor]:
        envs = self.rollouts.envs
        assert envs is not None, "the epoch's batches start the environments"
        copies = envs.count
        steps = max(1, math.ceil(x.shape[0] / copies))
        device, gamma = self.device, self.rl.gamma
        obs_shape = envs.observations.shape[1:]
        observations = torch.zeros((steps, copies, *obs_shape), device=device)
        actions = torch.zeros((steps, copies), dtype=torch.long, device=device)
        old_logp = torch.zeros((steps, copies), device=device)
        rewards = torch.zeros((steps, copies), device=device)
        done = torch.zeros((steps, copies), dtype=torch.bool, device=device)
        values = torch.zeros((steps, copies), device=device)
        with torch.no_grad():
            for t in range(steps):
                obs = torch.as_tensor(envs.observations, device=device)
                logits, value = self.forward(obs)
                dist = torch.distributions.Categorical(logits=logits, validate_args=False)
                action = dist.sample()
                result = envs.step(action.cpu().numpy())
                reward = torch.as_tensor(result.rewards, device=device)
                if result.final:  # cut off by the time limit: the episode would go on, so bootstrap its value
                    index = sorted(result.final)
                    final = torch.as_tensor(np.stack([result.final[i] for i in index]), device=device)
                    reward[index] += gamma * self.forward(final)[1]
                observations[t], actions[t], old_logp[t], values[t] = obs, action, dist.log_prob(action), value
                rewards[t] = reward
                done[t] = torch.as_tensor(result.done, device=device)
                for episode_return, _ in result.finished:
                    self.recent.append(episode_return)
                self.episodes += len(result.finished)
            last_value = self.forward(torch.as_tensor(envs.observations, device=device))[1]
        self.env_steps += steps * copies
        advantages, returns = gae(rewards, values, done, last_value, gamma, self.rl.gae_lambda)
        return self._optimise(observations.reshape(steps * copies, *obs_shape), actions.reshape(-1),
                              old_logp.reshape(-1), advantages.reshape(-1), returns.reshape(-1))

    def _optimise(self, obs: torch.Tensor, actions: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor,
                  returns: torch.Tensor) -> dict[str, torch.Tensor]:
        rl = self.rl
        count = obs.shape[0]
        size = min(rl.minibatch, count)
        sums = torch.zeros(4, device=self.device)
        updates = 0
        for _ in range(rl.update_epochs):
            for index in torch.randperm(count, device=self.device).split(size):
                logits, value = self.forward(obs[index])
                dist = torch.distributions.Categorical(logits=logits, validate_args=False)
                adv = advantages[index]
                if adv.numel() > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                policy = clipped_policy_loss(dist.log_prob(actions[index]), old_logp[index], adv, rl.clip)
                value_loss = 0.5 * F.mse_loss(value, returns[index])
                entropy = dist.entropy().mean()
                loss = policy + rl.value_weight * value_loss - rl.entropy * entropy
                if self.penalty:
                    loss = loss + self.penalty()
                self.clear_grads(self.optimizer)
                self.update(loss, self.optimizer)
                sums += torch.stack([loss.detach(), policy.detach(), value_loss.detach(), entropy.detach()])
                updates += 1
        mean = sums / max(1, updates)
        episode_return = float(np.mean(self.recent)) if self.recent else 0.0
        return {"loss": mean[0], "policy_loss": mean[1], "value_loss": mean[2], "entropy": mean[3],
                "episode_return": torch.tensor(episode_return)}

    # ---- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self, split: Split, prefix: str = "val_") -> EvalResult:
        """Greedy episodes on the split's fixed seeds, plus the running mean of the training episodes."""
        if isinstance(split, Rollouts):
            raise TrainError("An agent's training split is the experience it collects, not samples to score.",
                             "Evaluate on greedy episodes: split test (or val).")
        metrics: dict[str, float] = {}
        if isinstance(split, Episodes) and split.count > 0:
            was_training = next(iter(self.modules.values())).training
            self.set_train(False)
            try:
                played = play(split.env_id, self.act_greedy, split.count, split.seed)
            finally:
                self.set_train(was_training)
            metrics[f"{prefix}return"] = float(np.mean([r for r, _ in played]))
            metrics[f"{prefix}episode_length"] = float(np.mean([n for _, n in played]))
        if prefix == "val_":
            metrics["return_100"] = float(np.mean(self.recent)) if self.recent else 0.0
            metrics["episodes"] = float(self.episodes)
            metrics["env_steps"] = float(self.env_steps)
        return EvalResult(metrics)

    # ---- checkpoints -------------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {**super().state(), "recent_returns": list(self.recent), "episodes": self.episodes,
                "env_steps": self.env_steps}

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self.recent = deque((float(v) for v in state.get("recent_returns") or []), maxlen=RETURN_WINDOW)
        self.episodes = int(state.get("episodes") or 0)
        self.env_steps = int(state.get("env_steps") or 0)
