"""Plain text for character-level language models.

Each character becomes an int64 id (``DataInfo.vocab`` maps ids back to characters). Samples are windows of
``seq_len`` ids; the target of a window is the same window shifted one character ahead, so the model learns to
predict every next character. Windows do not overlap by default, so validation windows never repeat text the
model trained on.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from netbuilder.data.base import DataError, DataInfo, TextDataset
from netbuilder.data.files import read_text, stem


def windows(ids: np.ndarray, seq_len: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets): windows of ``seq_len`` ids starting every ``stride`` ids, and the same shifted by one."""
    count = (len(ids) - seq_len - 1) // stride + 1
    index = (np.arange(count) * stride)[:, None] + np.arange(seq_len)[None, :]
    return ids[index], ids[index + 1]


def encode(text: str) -> tuple[np.ndarray, list[str]]:
    """Character ids and the sorted vocabulary they index."""
    vocab = sorted(set(text))
    lookup = {c: i for i, c in enumerate(vocab)}
    return np.fromiter((lookup[c] for c in text), np.int64, len(text)), vocab


def _check_window(seq_len: int, stride: int | None) -> int:
    if isinstance(seq_len, bool) or not isinstance(seq_len, int) or seq_len < 1:
        raise DataError(f"seq_len must be a whole number of characters of at least 1, not {seq_len!r}.")
    stride = seq_len if stride is None else stride
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise DataError(f"stride must be a whole number of at least 1, not {stride!r}.")
    return stride


def text_dataset(text: str, seq_len: int = 64, stride: int | None = None, *, name: str = "text",
                 source: str = "", dataset_id: str = "text") -> TextDataset:
    """Character windows of ``text`` (stride defaults to ``seq_len``: windows do not overlap)."""
    stride = _check_window(seq_len, stride)
    if len(text) < seq_len + 1:
        raise DataError(f"{name} has only {len(text)} characters, but a window of {seq_len} needs at least "
                        f"{seq_len + 1}. Use a longer text or a smaller seq_len.")
    ids, vocab = encode(text)
    x, y = windows(ids, seq_len, stride)
    info = DataInfo(id=dataset_id, title=name, task="language_model", sample_shape=(seq_len,), dtype="int64",
                    num_classes=len(vocab), target_shape=(seq_len,), vocab=vocab, source=source or name,
                    kind="text", samples=len(x),
                    description=f"{len(text):,} characters, {len(vocab)} distinct, in {len(x):,} windows of "
                                f"{seq_len} (every {stride}); the target is each window shifted by one.")
    return TextDataset(info, torch.from_numpy(x), torch.from_numpy(y), text=text)


def load_text(path: str | Path, seq_len: int = 64, stride: int | None = None, encoding: str = "utf-8") -> TextDataset:
    """A text file as a character-level language-model data set; decoding errors name the line and byte."""
    _check_window(seq_len, stride)
    text = read_text(path, encoding)
    return text_dataset(text, seq_len, stride, name=Path(path).name, source=str(path), dataset_id=stem(path))
