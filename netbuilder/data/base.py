"""The data contract between loaders and training.

Every loader (bundled sample data, CSV, arrays, image folders, IDX, text) produces a `Dataset`: what the data is
(`DataInfo`) and how to get samples. `prepare` splits it with a seed, fits normalisation on the training part only,
and returns `PreparedData`, whose splits hand out batches. In-memory data is batched by tensor indexing (one gather
per batch, no per-sample Python calls); streaming data (image folders) goes through a DataLoader with workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

Batch = tuple[torch.Tensor, torch.Tensor | None]

TASKS = ("classification", "regression", "forecasting", "language_model", "unsupervised")


class DataError(ValueError):
    """Data that cannot be used; the message names the file, row/column or field and what to do."""


@dataclass
class DataInfo:
    """What a data set is. ``sample_shape`` excludes the batch; it is what the Input node must match."""

    id: str
    title: str
    task: str  # one of TASKS
    sample_shape: tuple[int, ...]
    dtype: str = "float32"  # "float32", or "int64" for token ids
    num_classes: int | None = None
    class_names: list[str] | None = None
    target_shape: tuple[int, ...] = ()  # per sample; () for a class id or a scalar
    description: str = ""
    vocab: list[str] | None = None  # for text: index -> character/token
    source: str = ""  # bundled id or file path, for the run record
    kind: str = "table"  # how to preview: "table", "images", "series", "text"
    feature_names: list[str] | None = None  # for tables: the name of each feature column
    samples: int | None = None  # how many samples the whole data set has, when known
    # (mean, std) when a regression target was standardised: prediction * std + mean gives original units.
    target_scale: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["sample_shape"] = list(self.sample_shape)
        data["target_shape"] = list(self.target_shape)
        if self.target_scale is not None:
            data["target_scale"] = list(self.target_scale)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataInfo:
        """The inverse of `to_dict` (e.g. from a run record); unknown keys are ignored so newer records load."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("sample_shape", "target_shape"):
            if key in values:
                values[key] = tuple(values[key])
        if values.get("target_scale") is not None:
            values["target_scale"] = tuple(values["target_scale"])
        return cls(**values)


@dataclass
class Normalizer:
    """Per-feature (or per-channel for images) standardisation fitted on the training split only."""

    mean: torch.Tensor
    std: torch.Tensor

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    @classmethod
    def fit(cls, x: torch.Tensor, per_channel: bool = False) -> Normalizer:
        if per_channel and x.dim() >= 3:
            dims = [0] + list(range(2, x.dim()))
            mean = x.mean(dim=dims, keepdim=True)[0]
            std = x.std(dim=dims, keepdim=True)[0]
        else:
            mean, std = x.mean(dim=0), x.std(dim=0)
        return cls(mean, torch.where(std > 1e-8, std, torch.ones_like(std)))

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Normalizer:
        return cls(torch.tensor(data["mean"]), torch.tensor(data["std"]))


def split_counts(count: int, val_fraction: float, test_fraction: float) -> tuple[int, int]:
    """How many samples go to validation and test; raises DataError when the fractions leave nothing to train on."""
    if not 0.0 <= val_fraction < 1.0 or not 0.0 <= test_fraction < 1.0 or val_fraction + test_fraction >= 1.0:
        raise DataError("Validation and test fractions must each be in [0, 1) and leave samples to train on.")
    n_test = int(round(count * test_fraction))
    n_val = int(round(count * val_fraction))
    if count - n_test - n_val < 1:
        raise DataError(f"Only {count} samples: too few to split into training, validation and test.")
    return n_val, n_test


class Split(Protocol):
    """One part (train, validation or test) of prepared data."""

    def __len__(self) -> int: ...

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[Batch]: ...

    def head(self, count: int) -> Batch: ...


@dataclass
class ArraySplit:
    """Samples held in memory as two tensors; batches are gathered by indexing."""

    x: torch.Tensor
    y: torch.Tensor | None = None
    augment: Any = None  # optional callable applied to each float image batch during training

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[Batch]:
        count = len(self)
        if shuffle:
            order = torch.randperm(count, generator=generator)
        stop = count - count % batch_size if drop_last else count
        for start in range(0, stop, batch_size):
            if shuffle:
                index = order[start:start + batch_size]
                xb = self.x[index]
                yb = self.y[index] if self.y is not None else None
            else:  # contiguous slices are views: no copy at all
                xb = self.x[start:start + batch_size]
                yb = self.y[start:start + batch_size] if self.y is not None else None
            if self.augment is not None:
                xb = self.augment(xb, generator)
            yield xb, yb

    def head(self, count: int) -> Batch:
        return self.x[:count], (self.y[:count] if self.y is not None else None)

    def subset(self, index: torch.Tensor) -> ArraySplit:
        return ArraySplit(self.x[index], self.y[index] if self.y is not None else None, self.augment)


@dataclass
class PreparedData:
    info: DataInfo
    train: Split
    val: Split | None = None
    test: Split | None = None
    normalizer: Normalizer | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Dataset(Protocol):
    """What every loader returns."""

    info: DataInfo

    def prepare(self, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0,
                normalize: bool = True, augment: dict[str, Any] | None = None) -> PreparedData: ...


@dataclass
class ArrayDataset:
    """A data set fully in memory (all bundled data, CSV, arrays, IDX, text)."""

    info: DataInfo
    x: torch.Tensor
    y: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def prepare(self, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0,
                normalize: bool = True, augment: dict[str, Any] | None = None) -> PreparedData:
        """Shuffle with ``seed``, split, and standardise float features with training-split statistics."""
        count = len(self)
        n_val, n_test = split_counts(count, val_fraction, test_fraction)
        order = self._order(count, n_val, n_test, seed)
        test_idx, val_idx, train_idx = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        full = ArraySplit(self.x, self.y)
        train = full.subset(train_idx)
        val = full.subset(val_idx) if n_val else None
        test = full.subset(test_idx) if n_test else None
        normalizer = None
        if normalize and self.x.is_floating_point() and self.info.kind != "series":
            normalizer = Normalizer.fit(train.x, per_channel=self.info.kind == "images")
            train = ArraySplit(normalizer(train.x), train.y)
            val = ArraySplit(normalizer(val.x), val.y) if val is not None else None
            test = ArraySplit(normalizer(test.x), test.y) if test is not None else None
        if augment and self.info.kind == "images":
            from netbuilder.data.augment import make_augment

            train.augment = make_augment(augment)
        options = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed,
                   "normalize": normalize, "augment": augment or {}}
        return PreparedData(self.info, train, val, test, normalizer, options)

    def _order(self, count: int, n_val: int, n_test: int, seed: int) -> torch.Tensor:
        """The sample order that prepare() cuts into test, validation and training parts (in that order)."""
        return torch.randperm(count, generator=torch.Generator().manual_seed(seed))


@dataclass
class SeriesDataset(ArrayDataset):
    """Windows cut from one time series, in time order. Splits are chronological instead of random: the training
    part is the past, validation the future after it, test the future after that. A random split would let the
    model see windows that overlap the ones it is validated on, which flatters forecasting results."""

    def _order(self, count: int, n_val: int, n_test: int, seed: int) -> torch.Tensor:
        # prepare() takes test, then validation, then training from the front of the order; each part stays in
        # time order and the seed does not matter (shuffling happens per batch, in training only).
        n_train = count - n_val - n_test
        return torch.cat([torch.arange(n_train + n_val, count), torch.arange(n_train, n_train + n_val),
                          torch.arange(0, n_train)])


@dataclass
class TextDataset(ArrayDataset):
    """Character windows of a text; ``text`` keeps the original so previews can show it as written."""

    text: str = ""
