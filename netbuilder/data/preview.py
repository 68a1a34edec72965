"""What the data panel shows before training: the first samples, shapes, class balance, a text excerpt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from netbuilder.data.base import ArrayDataset, DataError, DataInfo, TextDataset

EXCERPT_CHARS = 600


@dataclass
class Preview:
    """A summary of a data set. ``x``/``y`` are the first samples as loaded (before normalisation)."""

    info: DataInfo
    x: torch.Tensor
    y: torch.Tensor | None
    count: int  # samples in the whole data set
    shapes: dict[str, tuple[int, ...]]  # "x" and "y": the shapes of the whole inputs and targets
    class_counts: dict[str, int] | None = None  # classification: class name -> number of samples
    text: str | None = None  # text data: the start of the text as written
    columns: list[str] | None = None  # tables: the feature column names
    warnings: list[str] = field(default_factory=list)  # e.g. image files that were skipped


def _class_counts(info: DataInfo, y: torch.Tensor) -> dict[str, int]:
    classes = info.num_classes or (int(y.max()) + 1 if y.numel() else 0)
    counts = torch.bincount(y.reshape(-1).long(), minlength=classes).tolist()
    names = info.class_names or [str(i) for i in range(classes)]
    return {name: int(n) for name, n in zip(names, counts, strict=False)}


def _decode(info: DataInfo, ids: torch.Tensor) -> str:
    vocab = info.vocab or []
    return "".join(vocab[i] if 0 <= i < len(vocab) else "?" for i in ids.reshape(-1).tolist())


def preview(dataset: Any, count: int = 8) -> Preview:
    """The first ``count`` samples and a summary of ``dataset`` (in memory, or an image folder)."""
    if count < 0:
        raise DataError(f"Preview count must be 0 or more, not {count}.")
    info: DataInfo = dataset.info
    text = None
    if isinstance(dataset, ArrayDataset):
        x = dataset.x[:count]
        y = dataset.y[:count] if dataset.y is not None else None
        total = len(dataset)
        shapes = {"x": tuple(dataset.x.shape)}
        if dataset.y is not None:
            shapes["y"] = tuple(dataset.y.shape)
        counts = (_class_counts(info, dataset.y) if info.task == "classification" and dataset.y is not None
                  else None)
        if info.kind == "text":
            text = (dataset.text if isinstance(dataset, TextDataset) and dataset.text
                    else _decode(info, dataset.x[:max(1, EXCERPT_CHARS // max(1, dataset.x.shape[-1]))]))
            text = text[:EXCERPT_CHARS]
        warnings: list[str] = []
    else:  # a streamed data set: image folders
        x, y = dataset.head(count)
        total = len(dataset)
        shapes = {"x": (total, *info.sample_shape), "y": (total,)}
        counts = dataset.class_counts() if hasattr(dataset, "class_counts") else None
        from netbuilder.data.images import skipped_message

        summary = skipped_message(getattr(dataset, "skipped", []))  # how many, and the first few by name
        warnings = [summary] if summary else list(getattr(dataset, "warnings", []))
    columns = list(info.feature_names) if info.kind in ("table", "environment") and info.feature_names else None
    return Preview(info, x, y, total, shapes, counts, text, columns, warnings)
