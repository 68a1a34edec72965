"""NumPy arrays saved by the user: ``.npy`` (inputs only) and ``.npz`` (inputs and targets).

Files are always read with ``allow_pickle=False``: an array file must never run code. `from_arrays` is the one
place that turns raw arrays into a data set (dtype, task, classes, image layout); the IDX loader uses it too.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from netbuilder.data.base import TASKS, ArrayDataset, DataError, DataInfo, SeriesDataset
from netbuilder.data.files import read_bytes, stem
from netbuilder.data.tables import CLASS_LIMIT

KEY_PAIRS = (("x", "y"), ("X", "y"), ("X", "Y"), ("features", "labels"), ("inputs", "targets"), ("data", "target"))


def _load_array(data: bytes, file: str) -> np.ndarray:
    return _readable(lambda: np.load(io.BytesIO(data), allow_pickle=False), file, "is not a NumPy array file",
                     "is not a readable NumPy file")


def _readable(read: Callable[[], np.ndarray], subject: str, not_array: str, unreadable: str) -> np.ndarray:
    """Run ``read``, turning NumPy's errors into DataErrors about ``subject``; a pickled array (which could run
    code when loaded) is named as such."""
    try:
        return read()
    except ValueError as error:
        if "pickle" in str(error).lower():
            raise DataError(f"{subject} holds Python objects, which NetBuilder never loads (they could run code). "
                            "Save plain numeric arrays, e.g. np.save(path, x.astype('float32')).") from None
        raise DataError(f"{subject} {not_array} ({error}).") from None
    except (OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{subject} {unreadable} ({error}).") from None


def _numeric(array: np.ndarray, file: str, name: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise DataError(f"{name} in {file} has dtype {array.dtype}, but must hold numbers (int or float).")
    if array.ndim == 0 or len(array) == 0:
        raise DataError(f"{name} in {file} is empty; it needs one entry per sample along its first axis.")
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array)
        if bad.any():
            first = int(np.argwhere(bad)[0][0])
            raise DataError(f"{name} in {file} has {int(bad.sum())} missing or infinite values (NaN/inf), the "
                            f"first in sample {first}. Fill them in or drop those samples.")
    return array


def _looks_like_labels(y: np.ndarray) -> bool:
    """Integers, or whole-number floats with few distinct values (the same rule as for CSV targets)."""
    if not (y.ndim == 1 or y.shape[1:] == (1,)):
        return False
    if y.dtype.kind in "biu":
        return True
    flat = y.reshape(-1)
    return bool(np.all(flat == np.round(flat))) and len(np.unique(flat)) <= min(CLASS_LIMIT, max(2, len(flat) // 2))


def from_arrays(x: np.ndarray, y: np.ndarray | None, source: str, task: str = "auto",
                class_names: list[str] | None = None, scale_target: bool = True, title: str = "") -> ArrayDataset:
    """Inputs (and targets) as a data set.

    x: N×F tables, N×C×H×W (or channels-last N×H×W×C, or uint8 N×H×W grey) images, or any N×... data;
    integers become float32, uint8 images are scaled to [0, 1]. y: integers, or whole-number floats with few
    distinct values, make a classification; other floats a regression.
    With ``task="language_model"`` x and y are integer token ids of the same shape.
    """
    file = Path(source).name or source
    if task not in ("auto", *TASKS):
        raise DataError(f"Task must be auto or one of {', '.join(TASKS)}, not {task!r}.")
    x = _numeric(np.asarray(x), file, "x")
    if y is not None:
        y = _numeric(np.asarray(y), file, "y")
        if len(y) != len(x):
            raise DataError(f"{file}: x has {len(x)} samples but y has {len(y)}; they must match one to one.")
    if task == "auto":
        task = "unsupervised" if y is None else "classification" if _looks_like_labels(y) else "regression"
    if y is None and task != "unsupervised":
        raise DataError(f"Task {task} needs targets, but {file} has inputs only. Give a target file, or use task "
                        "unsupervised.")
    if task == "unsupervised":
        y = None
    description = ""
    kind = "table"
    info_extra: dict = {}

    if task == "language_model":
        if x.dtype.kind not in "iu" or y is None or y.dtype.kind not in "iu" or y.shape != x.shape:
            raise DataError(f"{file}: a language model needs integer token ids in x and y of the same shape "
                            "(y being x shifted by one).")
        xt, yt = torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))
        if min(int(xt.min()), int(yt.min())) < 0:
            raise DataError(f"{file}: token ids must not be negative.")
        vocab_size = max(int(xt.max()), int(yt.max())) + 1
        info = DataInfo(id=stem(source), title=title or file, task=task, sample_shape=tuple(x.shape[1:]),
                        dtype="int64", num_classes=vocab_size, target_shape=tuple(y.shape[1:]), source=source,
                        kind="text", samples=len(x),
                        description=f"{len(x):,} sequences of token ids, vocabulary of {vocab_size}.")
        return ArrayDataset(info, xt, yt)

    if x.ndim == 1:
        x = x[:, None]
    was_uint8 = x.dtype == np.uint8
    if x.ndim == 3 and was_uint8:  # N×H×W bytes are grey images (as MNIST saved with NumPy)
        x = x[:, None]
        description = "Grey images given as N×H×W; a channel axis was added. "
    if x.ndim == 4 and x.shape[-1] in (1, 3, 4) and x.shape[1] not in (1, 3, 4):
        x = np.transpose(x, (0, 3, 1, 2))
        description = "Images converted from channels-last (N×H×W×C) to N×C×H×W. "
    if x.ndim == 4:
        kind = "images"
    xf = x.astype(np.float32)
    if was_uint8 and kind == "images":
        xf /= 255.0
        description += "Pixels scaled from 0-255 to 0-1. "
    yt = None
    num_classes = None
    target_shape: tuple[int, ...] = ()
    pixel_range = None
    if kind == "images" and (was_uint8 or (xf.size and float(xf.min()) >= 0.0 and float(xf.max()) <= 1.0)):
        pixel_range = (0.0, 1.0)  # 8-bit images were divided by 255; float images already in [0, 1] stay
    if task == "classification":
        assert y is not None
        labels = y.reshape(len(y), -1)
        if labels.shape[1] != 1:
            raise DataError(f"{file}: class labels need one value per sample, but y has shape "
                            f"{'×'.join(map(str, y.shape))}. For one-hot labels save y.argmax(1) instead.")
        labels = labels[:, 0]
        if labels.dtype.kind == "f" and not np.all(labels == np.round(labels)):
            raise DataError(f"{file}: class labels must be whole numbers, but y holds fractions (e.g. "
                            f"{labels[labels != np.round(labels)][0]:g}). Use task regression for measurements.")
        uniques, index = np.unique(labels, return_inverse=True)
        num_classes = len(uniques)
        if num_classes < 2:
            raise DataError(f"{file}: every label is {uniques[0]}; a classifier needs at least two classes.")
        names = [str(int(v)) for v in uniques]
        if class_names is not None:
            if len(class_names) != num_classes:
                raise DataError(f"{len(class_names)} class names were given, but the labels have {num_classes} "
                                "distinct values.")
            names = [str(n) for n in class_names]
        info_extra = {"num_classes": num_classes, "class_names": names}
        yt = torch.from_numpy(index.reshape(-1).astype(np.int64))
        description += f"{num_classes} classes."
    elif task == "regression" or task == "forecasting":
        assert y is not None
        target = y.astype(np.float64)
        if target.ndim == 1:
            target = target[:, None]
        if scale_target and task == "regression":  # forecasting inputs stay unscaled, so its target does too
            description += "Target standardised for training (predictions in its own units). "
        yt = torch.from_numpy(target.astype(np.float32))
        target_shape = tuple(target.shape[1:])
        if task == "forecasting":
            kind = "series"
    info = DataInfo(id=stem(source), title=title or file, task=task, sample_shape=tuple(xf.shape[1:]),
                    target_shape=target_shape, source=source, kind=kind, samples=len(xf), pixel_range=pixel_range,
                    description=(f"{len(xf):,} samples of {'×'.join(map(str, xf.shape[1:]))}. " + description).strip(),
                    **info_extra)
    if task == "forecasting":
        return SeriesDataset(info, torch.from_numpy(xf), yt)
    return ArrayDataset(info, torch.from_numpy(xf), yt, scale_target=scale_target)


def load_npy(path: str | Path, target_path: str | Path | None = None, task: str = "auto",
             scale_target: bool = True) -> ArrayDataset:
    """Inputs from a ``.npy`` file; targets from a second ``.npy`` file, or none (unsupervised)."""
    x = _load_array(read_bytes(path), Path(path).name)
    y = _load_array(read_bytes(target_path), Path(target_path).name) if target_path is not None else None
    return from_arrays(x, y, str(path), task, scale_target=scale_target)


def load_npz(path: str | Path, task: str = "auto", x_key: str | None = None, y_key: str | None = None,
             scale_target: bool = True) -> ArrayDataset:
    """Inputs and targets from a ``.npz`` archive under the keys x/y, X/y, features/labels (or given keys)."""
    file = Path(path).name
    try:
        archive = np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(f"{file} is not a readable .npz archive ({error}).") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{file} holds a single array, not an .npz archive; rename it to .npy.")
    keys = list(archive.files)
    if x_key is None:
        pair = next((p for p in KEY_PAIRS if p[0] in keys), None)
        if pair is None:
            accepted = ", ".join(f"{a}/{b}" for a, b in KEY_PAIRS)
            raise DataError(f"{file} has the arrays {', '.join(map(repr, keys)) or 'none'}, but none of the "
                            f"expected names ({accepted}). Re-save it as np.savez(path, x=..., y=...) or give "
                            "x_key and y_key.")
        x_key = pair[0]
        if y_key is None:
            y_key = pair[1] if pair[1] in keys else None
            others = [k for k in keys if k != x_key]
            if y_key is None and others:  # never guess which other array holds the targets
                raise DataError(f"{file} has the arrays {', '.join(map(repr, keys))}: {x_key!r} holds the inputs "
                                f"but there is no {pair[1]!r} for the targets. Give y_key (e.g. "
                                f"y_key={others[0]!r}), or save only the inputs for data without targets.")
    elif x_key not in keys:
        raise DataError(f"{file} has no array {x_key!r}; it has {', '.join(map(repr, keys))}.")
    if y_key is not None and y_key not in keys:
        raise DataError(f"{file} has no array {y_key!r}; it has {', '.join(map(repr, keys))}.")
    x = _read_member(archive, x_key, file)
    y = _read_member(archive, y_key, file) if y_key is not None else None
    return from_arrays(x, y, str(path), task, scale_target=scale_target)


def _read_member(archive: np.lib.npyio.NpzFile, key: str, file: str) -> np.ndarray:
    return _readable(lambda: archive[key], f"Array {key!r} in {file}", "cannot be read", "cannot be read")
