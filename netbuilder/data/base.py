"""The data contract between loaders and training.

Every loader (bundled sample data, CSV, arrays, image folders, IDX, text) produces a `Dataset`: what the data is
(`DataInfo`) and how to get samples. `prepare` splits it with a seed, fits the preprocessing (`netbuilder.data.preprocess`)
on the training part only, and returns `PreparedData`, whose splits hand out batches. In-memory data is batched by tensor indexing (one gather
per batch, no per-sample Python calls); streaming data (image folders) goes through a DataLoader with workers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from netbuilder.data.preprocess import Preprocessing, fit_inputs, fit_targets, units_text

Batch = tuple[torch.Tensor, torch.Tensor | None]

TASKS = ("classification", "regression", "forecasting", "language_model", "unsupervised")
REINFORCEMENT = "reinforcement"  # the task of an environment (netbuilder.data.environments), not of a file


class DataError(ValueError):
    """Data that cannot be used; the message names the file, row/column or field and what to do."""


@dataclass
class DataInfo:
    """What a data set is. ``sample_shape`` excludes the batch; it is what the Input node must match."""

    id: str
    title: str
    task: str  # one of TASKS, or REINFORCEMENT for an environment
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
    # Pixel data (images, or pixels given as features): the declared range its loader brought the values to,
    # e.g. (0, 1) for 8-bit images divided by 255 and for the bundled digits' grey levels 0-16 divided by 16.
    pixel_range: tuple[float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["sample_shape"] = list(self.sample_shape)
        data["target_shape"] = list(self.target_shape)
        if self.pixel_range is not None:
            data["pixel_range"] = list(self.pixel_range)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DataInfo:
        """The inverse of `to_dict` (e.g. from a run record); unknown keys are ignored so newer records load."""
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("sample_shape", "target_shape"):
            if key in values:
                values[key] = tuple(values[key])
        if values.get("pixel_range") is not None:
            values["pixel_range"] = tuple(values["pixel_range"])
        return cls(**values)


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
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    options: dict[str, Any] = field(default_factory=dict)


class Dataset(Protocol):
    """What every loader returns."""

    info: DataInfo

    def prepare(self, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0,
                normalize: bool = True, augment: dict[str, Any] | None = None,
                output_range: tuple[float, float] | None = None, per_class: int | None = None) -> PreparedData: ...


@dataclass
class ArrayDataset:
    """A data set fully in memory (all bundled data, CSV, arrays, IDX, text).

    ``scale_target``: regression targets are standardised with training-split statistics for training, and
    predictions are given back in the target's units."""

    info: DataInfo
    x: torch.Tensor
    y: torch.Tensor | None = None
    scale_target: bool = True

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def prepare(self, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0,
                normalize: bool = True, augment: dict[str, Any] | None = None,
                output_range: tuple[float, float] | None = None, per_class: int | None = None) -> PreparedData:
        """Shuffle with ``seed``, split, and fit the preprocessing on the training split (see
        `netbuilder.data.preprocess`): inputs standardised (or mapped to ``output_range``, for a GAN's real data),
        regression targets standardised. ``per_class`` keeps only the first that many training samples of each
        class (a small-data experiment); validation and test keep all theirs."""
        count = len(self)
        n_val, n_test = split_counts(count, val_fraction, test_fraction)
        order = self._order(count, n_val, n_test, seed)
        test_idx, val_idx, train_idx = order[:n_test], order[n_test:n_test + n_val], order[n_test + n_val:]
        full = ArraySplit(self.x, self.y)
        if per_class:
            train_idx = _first_per_class(train_idx, self.y, per_class, self.info.id)
        parts = [full.subset(train_idx), full.subset(val_idx) if n_val else None,
                 full.subset(test_idx) if n_test else None]
        info = self.info
        preprocessing = Preprocessing(units=units_text(info.kind, info.pixel_range), pixel_range=info.pixel_range,
                                      vocab=info.vocab)
        train = parts[0]
        assert train is not None
        if (normalize or output_range is not None) and self.x.is_floating_point() and info.kind != "series":
            preprocessing.inputs = fit_inputs(train.x, info.kind, info.pixel_range, output_range)
            preprocessing.output_range = output_range
        if (normalize and self.scale_target and info.task == "regression" and train.y is not None
                and train.y.is_floating_point()):
            preprocessing.targets = fit_targets(train.y)
        if preprocessing.inputs is not None or preprocessing.targets is not None:
            parts = [ArraySplit(preprocessing.apply_inputs(p.x),
                                preprocessing.apply_targets(p.y) if p.y is not None else None)
                     if p is not None else None for p in parts]
        train, val, test = parts
        assert train is not None
        if augment and info.kind == "images":
            from netbuilder.data.augment import make_augment

            train.augment = make_augment(augment)
        options = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed,
                   "normalize": normalize, "augment": augment or {}, **({"per_class": per_class} if per_class else {})}
        return PreparedData(info, train, val, test, preprocessing, options)

    def _order(self, count: int, n_val: int, n_test: int, seed: int) -> torch.Tensor:
        """The sample order that prepare() cuts into test, validation and training parts (in that order)."""
        return torch.randperm(count, generator=torch.Generator().manual_seed(seed))


def _first_per_class(index: torch.Tensor, y: torch.Tensor | None, count: int, name: str) -> torch.Tensor:
    """The entries of ``index`` (in order) whose class has not yet had ``count`` samples."""
    if y is None or y.is_floating_point() or y.dim() != 1:
        raise DataError(f"per_class keeps a number of samples of each class, but {name!r} has no class labels.")
    labels = y[index]
    keep = torch.zeros(len(index), dtype=torch.bool)
    for label in labels.unique():
        keep[torch.nonzero(labels == label).flatten()[:count]] = True
    return index[keep]


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
