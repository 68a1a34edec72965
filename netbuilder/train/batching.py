"""Batching for the training loop: moving splits to the device once, counting and drawing shuffled batches.

In-memory data is moved to the device once and batched by tensor indexing (no DataLoader, no per-batch copies);
other splits are batched by their own ``batches`` and copied one batch at a time. Under DDP every rank draws the
same shuffled order and keeps its own shard, so all ranks run the same number of steps.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from netbuilder.data.base import ArraySplit, Split
from netbuilder.train import distributed


def to_device(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """``t`` on ``device`` (no copy when it is there already)."""
    if t is None:
        return None
    return t if t.device == device else t.to(device, non_blocking=True)


def is_oom(error: BaseException) -> bool:
    """Whether ``error`` means the host or the device ran out of memory."""
    if isinstance(error, MemoryError):
        return True
    oom = getattr(torch, "OutOfMemoryError", None)
    if oom is not None and isinstance(error, oom):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error).lower()


class Batcher:
    """Shuffled training batches of this rank's shard of a split."""

    def __init__(self, dist_info: distributed.DistInfo | None = None):
        self.dist = dist_info or distributed.DistInfo()

    def on_device(self, split: Split, device: torch.device, warnings: list[str] | None = None) -> Split:
        """In-memory splits move to the device once (falling back to per-batch copies if it is too small)."""
        if not isinstance(split, ArraySplit) or device.type == "cpu":
            return split
        try:
            y = split.y.to(device) if split.y is not None else None
            return ArraySplit(split.x.to(device), y, split.augment)
        except RuntimeError as error:
            if not is_oom(error):
                raise
            if warnings is not None:
                warnings.append(f"The data does not fit in {device} memory; batches are copied there one at a "
                                "time.")
            return split

    def shard_size(self, count: int) -> int:
        world = self.dist.world_size
        return count // world if world > 1 else count

    def count(self, split: Split, batch_size: int) -> int:
        """The number of training batches per epoch on this rank."""
        if isinstance(split, ArraySplit):
            count = self.shard_size(len(split))
            full, rest = divmod(count, batch_size)
            return full + (1 if rest > 1 or (rest == 1 and full == 0) else 0)
        total = math.ceil(len(split) / batch_size)
        return total // self.dist.world_size if self.dist.enabled else total

    def batches(self, split: Split, batch_size: int, generator: torch.Generator,
                device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """Shuffled batches of this rank's shard. A last batch of a single sample is dropped (batch norm cannot
        train on it, and it would weigh as much as a full batch in the step)."""
        world, rank = self.dist.world_size, self.dist.rank
        if isinstance(split, ArraySplit):
            count = len(split)
            order = torch.randperm(count, generator=generator)
            if world > 1:
                share = count // world
                order = order[rank * share:(rank + 1) * share]
            if len(order) % batch_size == 1 and len(order) > 1:
                order = order[:-1]
            x, y, augment = split.x, split.y, split.augment
            if x.device != order.device:
                order = order.to(x.device)
            move = x.device != device  # the data stayed in host memory: copy each batch over
            for index in order.split(batch_size):
                xb = x[index]
                yb = y[index] if y is not None else None
                if augment is not None:
                    xb = augment(xb, generator)
                if move:
                    xb, yb = to_device(xb, device), to_device(yb, device)
                yield xb, yb
            return
        total = self.count(split, batch_size) * world if world > 1 else None
        for number, (xb, yb) in enumerate(split.batches(batch_size, shuffle=True, generator=generator)):
            if total is not None:
                if number >= total:
                    break
                if number % world != rank:
                    continue
            yield to_device(xb, device), to_device(yb, device)
