"""Plot data that grows during a run, kept in numpy arrays that double when full.

A curve of 100,000 batch losses must append in O(1) and hand pyqtgraph a view of its data without copying, so
each series owns preallocated arrays and exposes ``x``/``y`` as views of the filled part. Nothing here imports Qt:
the history of a run is plain data, testable on its own and written to CSV as it is.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable
from typing import Any

import numpy as np

INITIAL_CAPACITY = 256
EMA_WEIGHT = 0.9  # TensorBoard's default smoothing: a readable trend without hiding real changes


class GrowingSeries:
    """(x, y) points in float64 arrays that grow by doubling; ``x``/``y`` are views, valid until the next append."""

    __slots__ = ("_x", "_y", "_n", "version")

    def __init__(self, capacity: int = INITIAL_CAPACITY):
        capacity = max(1, int(capacity))
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0
        self.version = 0  # bumped on every change, so a view redraws only what changed

    def __len__(self) -> int:
        return self._n

    @property
    def capacity(self) -> int:
        return int(self._x.shape[0])

    @property
    def x(self) -> np.ndarray:
        return self._x[:self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[:self._n]

    def _reserve(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        capacity = self.capacity
        while capacity < needed:
            capacity *= 2
        for name in ("_x", "_y"):
            old = getattr(self, name)
            new = np.empty(capacity, dtype=np.float64)
            new[:self._n] = old[:self._n]
            setattr(self, name, new)

    def append(self, x: float, y: float) -> None:
        self._reserve(self._n + 1)
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.version += 1

    def extend(self, xs: Iterable[float], ys: Iterable[float]) -> None:
        xa = np.asarray(list(xs) if not isinstance(xs, np.ndarray) else xs, dtype=np.float64)
        ya = np.asarray(list(ys) if not isinstance(ys, np.ndarray) else ys, dtype=np.float64)
        if xa.shape != ya.shape:
            raise ValueError(f"x and y differ in length ({xa.size} and {ya.size}).")
        self._reserve(self._n + xa.size)
        self._x[self._n:self._n + xa.size] = xa
        self._y[self._n:self._n + ya.size] = ya
        self._n += xa.size
        self.version += 1

    def clear(self) -> None:
        self._n = 0
        self.version += 1

    def last(self) -> tuple[float, float] | None:
        if not self._n:
            return None
        return float(self._x[self._n - 1]), float(self._y[self._n - 1])

    def value_at(self, x: float) -> tuple[float, float] | None:
        """The point whose x is nearest to ``x`` (x grows monotonically in a run)."""
        if not self._n:
            return None
        xs = self.x
        index = int(np.searchsorted(xs, x))
        if index >= self._n:
            index = self._n - 1
        elif index > 0 and abs(xs[index - 1] - x) <= abs(xs[index] - x):
            index -= 1
        return float(xs[index]), float(self._y[index])


class Smoother:
    """Exponential moving average with bias correction (the first points are not pulled towards zero). The weight
    may change between points: the correction tracks the weights actually used."""

    def __init__(self, weight: float = EMA_WEIGHT):
        self.weight = weight
        self._value = 0.0
        self._norm = 0.0

    def __call__(self, value: float) -> float:
        if not math.isfinite(value):
            return value
        self._value = self.weight * self._value + (1.0 - self.weight) * value
        self._norm = self.weight * self._norm + (1.0 - self.weight)
        return self._value / self._norm if self._norm > 0 else value

    def reset(self) -> None:
        self._value = 0.0
        self._norm = 0.0


def span_weight(points_per_epoch: float) -> float:
    """The EMA weight that averages over about a third of an epoch of points: a run that logs 3 points per epoch
    is barely smoothed (so the trend does not lag by epochs), one that logs 300 is smoothed over ~100 points."""
    span = max(1.0, points_per_epoch / 3.0)
    return min(EMA_WEIGHT + 0.08, max(0.0, 1.0 - 2.0 / (span + 1.0)))


class RunHistory:
    """Everything plotted about one run, in epochs on the x axis: batch ``k`` of ``n`` in epoch ``e`` sits at
    ``e - 1 + k / n``, and an epoch's metrics at ``e``. Batch series: the loss (raw and smoothed), the learning
    rate and the loss parts a recipe reports (GAN: d_loss, g_loss). Epoch series: every metric of EpochEnd."""

    def __init__(self) -> None:
        self.batch_loss = GrowingSeries(1024)
        self.batch_loss_smooth = GrowingSeries(1024)
        self.batch_lr = GrowingSeries(1024)
        self.batch_parts: dict[str, GrowingSeries] = {}
        self.batch_parts_smooth: dict[str, GrowingSeries] = {}
        self.epoch: dict[str, GrowingSeries] = {}
        self.rows: list[dict[str, Any]] = []  # one per epoch, for CSV
        self._smoother = Smoother(0.6)
        self._part_smoothers: dict[str, Smoother] = {}
        self._epoch = 0
        self._points_this_epoch = 0

    def add_batch(self, epoch: int, batch: int, batches: int, loss: float, lr: float,
                  parts: dict[str, float] | None = None) -> None:
        x = (epoch - 1) + (batch / batches if batches else 1.0)
        if epoch != self._epoch:
            if self._epoch and self._points_this_epoch:  # an epoch's worth of points sets the smoothing
                weight = span_weight(self._points_this_epoch)
                for smoother in (self._smoother, *self._part_smoothers.values()):
                    smoother.weight = weight
            self._epoch, self._points_this_epoch = epoch, 0
        self._points_this_epoch += 1
        self.batch_loss.append(x, loss)
        self.batch_loss_smooth.append(x, self._smoother(loss))
        self.batch_lr.append(x, lr)
        for name, value in (parts or {}).items():
            if name not in self.batch_parts:
                self.batch_parts[name] = GrowingSeries()
                self.batch_parts_smooth[name] = GrowingSeries()
                self._part_smoothers[name] = Smoother(self._smoother.weight)
            self.batch_parts[name].append(x, value)
            self.batch_parts_smooth[name].append(x, self._part_smoothers[name](value))

    def add_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            series = self.epoch.get(name)
            if series is None:
                series = self.epoch[name] = GrowingSeries(64)
            series.append(float(epoch), float(value))
        self.rows.append({"epoch": epoch, **metrics})

    def metric_names(self) -> list[str]:
        return list(self.epoch)

    def write_csv(self, path: str | os.PathLike[str]) -> None:
        """The per-epoch metrics as a table: one row per epoch, one column per metric (as in a run folder's
        metrics.csv, so both open the same way in a spreadsheet)."""
        columns: list[str] = ["epoch"]
        for row in self.rows:
            columns.extend(key for key in row if key not in columns)
        with open(path, "w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({key: _csv_value(row.get(key)) for key in columns})


def _csv_value(value: Any) -> Any:
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else value
