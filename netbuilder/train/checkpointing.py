"""Checkpoints of a training run: when they are due, what they hold, writing them and restoring from them.

A checkpoint holds the weights, the optimisers' state, the schedule, the recipe's state (loss scaler), every global
RNG state and the loop's progress (step, history, early-stopping tracker), so a run resumed from epoch ``e``
continues with exactly the losses the uninterrupted run had. Checkpoints are written after the last epoch always,
otherwise every ``checkpoint_interval`` seconds; a best epoch that falls between two is kept in memory and written
as ``best`` with the next one, so it is never lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import torch

from netbuilder.train import distributed
from netbuilder.train import events as ev
from netbuilder.train.config import TrainConfig
from netbuilder.train.errors import TrainError
from netbuilder.train.optim import LRSchedule
from netbuilder.train.recipes import Recipe
from netbuilder.train.runs import WEIGHTS, RunWriter, flatten_state, rng_state, set_rng_state, unflatten_state


class Checkpointer:
    """Writes a run's checkpoints through its `RunWriter`; remembers the last one written (``last_good``)."""

    def __init__(self, writer: RunWriter, dist_info: distributed.DistInfo | None = None):
        self.writer = writer
        self.dist = dist_info or distributed.DistInfo()
        self.device: torch.device | None = None
        self.last_good: str | None = None  # the last checkpoint written
        self.last_time = time.perf_counter()
        self.pending_best: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
        self._best_buffers: dict[str, torch.Tensor] = {}  # reused by each pending best (see _copy_into_buffers)

    # ---- what a checkpoint holds -----------------------------------------------------------------------------
    def snapshot(self, recipe: Recipe, schedule: LRSchedule, progress: dict[str, Any],
                 clone: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Everything a checkpoint holds: tensors (weights, optimiser state, RNG) and the JSON state.

        ``progress`` is the loop's part of the state: epoch, step, early_stopping, history, graph_sha256, config.
        """
        tensors: dict[str, torch.Tensor] = {}
        for name, module in recipe.modules.items():
            for key, value in module.state_dict().items():
                tensors[f"{WEIGHTS}/{name}/{key}"] = value
        optimizer_meta = {}
        for name, optimizer in recipe.optimizers.items():
            flat, meta = flatten_state(f"optimizer/{name}", optimizer.state_dict())
            tensors.update(flat)
            optimizer_meta[name] = meta
        tensors.update(rng_state())
        if clone:  # kept while training goes on changing the originals
            tensors = self._copy_into_buffers(tensors)
        state = {
            "epoch": progress["epoch"], "step": progress["step"], "networks": list(recipe.modules),
            "recipe": recipe.name, "optimizers": optimizer_meta, "schedule": schedule.state_dict(),
            "recipe_state": recipe.state(), "early_stopping": progress["early_stopping"],
            "history": list(progress["history"]), "graph_sha256": progress["graph_sha256"],
            "config": progress["config"],
        }
        return tensors, state

    def _copy_into_buffers(self, tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A copy of ``tensors`` in buffers kept from the previous best epoch where they still fit. Most epochs of
        a run improve on the last one; allocating a fresh copy each time cost 2 % of a small network's training
        speed, copying into the same memory costs a tenth of that."""
        buffers = self._best_buffers
        copies: dict[str, torch.Tensor] = {}
        for key, value in tensors.items():
            value = value.detach()
            buffer = buffers.get(key)
            if (buffer is not None and buffer.shape == value.shape and buffer.dtype == value.dtype
                    and buffer.device == value.device):
                buffer.copy_(value)
            else:
                buffer = value.clone()
            copies[key] = buffer
        self._best_buffers = copies
        return copies

    # ---- writing ---------------------------------------------------------------------------------------------
    def save(self, recipe: Recipe, schedule: LRSchedule, config: TrainConfig, progress: dict[str, Any],
             best: bool, ending: bool) -> Iterator[ev.Event]:
        """Checkpoint this epoch if one is due: after the last epoch always, otherwise when
        ``checkpoint_interval`` seconds have passed since the last one (0 = every epoch). A best epoch that falls
        between checkpoints is kept in memory and written as ``best`` with the next one, so it is never lost."""
        interval = config.checkpoint_interval
        now = time.perf_counter()
        due = ending or interval <= 0 or now - self.last_time >= interval
        if self.dist.enabled:  # rank 0's clock decides for everyone
            device = self.device or torch.device("cpu")
            due = distributed.any_rank(due and self.dist.main, device)
        if not self.writer.enabled and not self.dist.enabled:
            return
        if not due:
            if best and self.writer.enabled:
                self.pending_best = self.snapshot(recipe, schedule, progress, clone=True)
            return
        failure: OSError | None = None
        events: list[ev.Event] = []
        try:
            if self.writer.enabled:
                epoch = int(progress["epoch"])
                tensors, state = self.snapshot(recipe, schedule, progress, clone=False)
                self.writer.flush()  # the metrics files agree with the checkpoint on disk
                path = self.writer.save_checkpoint(epoch, tensors, state, best, config.keep_checkpoints)
                assert path is not None
                self.last_good = str(path)
                events.append(ev.Checkpoint(epoch, str(path), best))
                if best:
                    self.pending_best = None
                else:
                    events.extend(self.write_pending_best())
        except OSError as error:
            failure = error
        if self.dist.enabled:
            device = self.device or torch.device("cpu")
            if distributed.any_rank(failure is not None, device) and failure is None:
                raise TrainError("Rank 0 could not write its checkpoint; every rank stops.")
        if failure is not None:
            raise failure
        self.last_time = time.perf_counter()
        yield from events

    def write_pending_best(self) -> list[ev.Event]:
        """Write the best epoch kept in memory, if any, as the run's ``best`` checkpoint."""
        if self.pending_best is None:
            return []
        tensors, state = self.pending_best
        path = self.writer.save_checkpoint(None, tensors, state, True, 0)
        self.pending_best = None
        return [ev.Checkpoint(int(state["epoch"]), str(path), True)] if path is not None else []


def restore(checkpoint: Any, recipe: Recipe, schedule: LRSchedule, config: TrainConfig) -> dict[str, Any]:
    """Load a checkpoint into the recipe's modules and optimisers, the schedule and the RNGs; returns its JSON state
    (the loop takes its progress from there). This run's learning rates win over the checkpoint's."""
    state = checkpoint.state
    for name, module in recipe.modules.items():
        weights = checkpoint.weights.get(name)
        if weights is None:
            raise TrainError(f"The checkpoint {checkpoint.path} has no weights for network {name!r}.",
                             "Resume with the document the checkpoint was trained from.")
        try:
            module.load_state_dict(weights)
        except RuntimeError as error:
            first = str(error).strip().splitlines()
            raise TrainError(f"The checkpoint {checkpoint.path} does not fit network {name!r}: "
                             f"{first[1].strip() if len(first) > 1 else first[0]}",
                             "Resume with the document the checkpoint was trained from.") from None
    same_optimizer = (state.get("config") or {}).get("optimizer", config.optimizer) == config.optimizer
    for name, optimizer in recipe.optimizers.items():
        meta = state["optimizers"].get(name)
        if meta is not None and same_optimizer:
            rates = [group["base_lr"] for group in optimizer.param_groups]  # this run's settings win
            try:
                optimizer.load_state_dict(unflatten_state(f"optimizer/{name}", checkpoint.training, meta))
            except (ValueError, KeyError):
                raise TrainError(f"The optimiser state in {checkpoint.path} does not fit network {name!r}: "
                                 "frozen layers or learning-rate multipliers changed since it was written.",
                                 "Resume with the same per-layer options, or start a new run that transfers "
                                 "the weights from this checkpoint.") from None
            for group, rate in zip(optimizer.param_groups, rates, strict=False):
                group["base_lr"] = rate
    schedule.load_state_dict(state["schedule"])
    recipe.load_state(state.get("recipe_state") or {})
    set_rng_state(checkpoint.training)
    return state
