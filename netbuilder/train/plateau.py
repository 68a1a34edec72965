"""One plateau tracker, shared by early stopping and the reduce-on-plateau learning-rate schedule.

Both ask the same question after every epoch — did the watched metric improve on its best, and for how many
epochs has it not? — so both answer it with this class: the best value, its epoch, and the count of epochs since.
"""

from __future__ import annotations

import math
from typing import Any


class PlateauTracker:
    """The best value of one metric so far and how many epochs it has not improved.

    ``direction`` is "min" (losses) or "max" (accuracy); a value improves when it beats the best by more than
    ``min_delta``. A NaN or infinite value never improves.
    """

    def __init__(self, direction: str = "min", min_delta: float = 0.0):
        self.direction = direction
        self.min_delta = min_delta
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.bad_epochs = 0

    def improves(self, value: float) -> bool:
        """Whether ``value`` would be a new best (without recording it)."""
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        if self.direction == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float, epoch: int | None = None) -> bool:
        """Record one epoch's value; True when it is a new best (then the bad-epoch count restarts)."""
        if self.improves(value):
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            return True
        self.bad_epochs += 1
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "bad_epochs": self.bad_epochs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        best = state.get("best")
        self.best = None if best is None else float(best)
        epoch = state.get("best_epoch")
        self.best_epoch = None if epoch is None else int(epoch)
        self.bad_epochs = int(state.get("bad_epochs", 0))
