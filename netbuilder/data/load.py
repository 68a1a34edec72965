"""One entry point for every kind of data: `load_data`.

A source is a bundled id (``"digits"``), a path (the format follows from the extension, or a folder for images),
or the dict a document stores in its settings: ``{"path": ..., "format": ..., **options}`` (or ``{"id": ...}``
for bundled data). Options are checked against the chosen loader, so a misspelt option is an error rather than
silently ignored.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from netbuilder.data.arrays import load_npy, load_npz
from netbuilder.data.base import DataError, Dataset
from netbuilder.data.bundled import dataset_ids, load_bundled
from netbuilder.data.environments import is_environment, load_environment
from netbuilder.data.idx import load_idx
from netbuilder.data.images import load_image_folder
from netbuilder.data.tables import load_csv
from netbuilder.data.text import load_text
from netbuilder.dataformats import FORMATS, format_of
from netbuilder.dataformats import loader_options as _table_options


def detect_format(path: str | Path) -> str:
    """The format of a path from its name: a folder holds images; ``.gz`` is looked through."""
    fmt = format_of(path)
    if fmt is None:
        raise DataError(f"Cannot tell the format of {Path(path).name}. Use .csv/.tsv tables, .npy/.npz arrays, "
                        "MNIST-style IDX files (…-idx3-ubyte[.gz]), .txt text, or a folder of images with one "
                        f"sub-folder per class; or give the format ({', '.join(FORMATS[1:])}).")
    return fmt


def _bundled(dataset_id: str, seq_len: int | None = None) -> Dataset:
    return load_bundled(dataset_id, seq_len)


def _csv(path: str, target: str | int | None = -1, features: list[str | int] | None = None, task: str = "auto",
         header: bool | None = None, delimiter: str | None = None, encoding: str = "utf-8",
         scale_target: bool = True) -> Dataset:
    return load_csv(path, target, features, task, header=header, delimiter=delimiter, encoding=encoding,
                    scale_target=scale_target)


_LOADERS: dict[str, Callable[..., Dataset]] = {
    "csv": _csv,
    "npy": load_npy,
    "npz": load_npz,
    "idx": load_idx,
    "images": load_image_folder,
    "text": load_text,
}


def loader_options(source: str, fmt: str | None = None) -> tuple[str, tuple[str, ...]]:
    """(format, the option names its loader takes) for a source, without reading it. ValueError (a DataError)
    when the format cannot be told from the name. The table lives in `netbuilder.dataformats` (no torch)."""
    found = _table_options(source, fmt)
    if found is not None:
        return found
    if fmt:
        raise DataError(f"Unknown data format {fmt!r}; use one of {', '.join(FORMATS)}.")
    detect_format(Path(source).expanduser())  # raises: the name does not say the format
    raise AssertionError("unreachable")


def _call(fmt: str, loader: Callable[..., Dataset], first: str, options: dict[str, Any]) -> Dataset:
    parameters = list(inspect.signature(loader).parameters)[1:]
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        close = difflib.get_close_matches(unknown[0], parameters, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"Unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} for "
                        f"{fmt} data.{hint} Options: {', '.join(parameters) or 'none'}.")
    return loader(first, **options)


def load_data(source: str | Path | dict[str, Any], **options: Any) -> Dataset:
    """Load data from a bundled id, a path, or a settings dict; options go to the format's loader.

    CSV: target (default: the last column; None for no target), features, task, header, delimiter, encoding,
    scale_target. npy: target_path, task. npz: task, x_key, y_key. idx: labels, class_names. images: size,
    grayscale, num_workers. text: seq_len, stride, encoding. Bundled: ``seq_len`` for the text sample only.
    """
    fmt = None
    if isinstance(source, dict):
        settings = dict(source)
        fmt = settings.pop("format", None)
        ref = settings.pop("path", None) or settings.pop("id", None)
        if ref is None:
            raise DataError("The data settings name no source: give 'path' (a file or folder) or 'id' (a bundled "
                            "data set).")
        options = {**settings, **options}
        source = ref
    if not isinstance(source, str | Path):
        raise DataError(f"A data source is a bundled id, a path or a settings dict, not {type(source).__name__}.")
    text = str(source)
    if is_environment(text) and fmt is None:
        if options:
            raise DataError(f"An environment takes no data options; remove {', '.join(map(repr, options))}.")
        return load_environment(text)
    if fmt == "bundled" or (fmt is None and text in dataset_ids()):
        if text not in dataset_ids():
            raise DataError(f"There is no bundled data set {text!r}. Available: {', '.join(dataset_ids())}.")
        return _call("bundled", _bundled, text, options)
    path = Path(text).expanduser()
    if fmt is not None and fmt not in _LOADERS:
        raise DataError(f"Unknown data format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if not path.exists():
        looks_like_path = any(sep in text for sep in ("/", "\\")) or Path(text).suffix != ""
        if looks_like_path or fmt is not None:
            raise DataError(f"File not found: {path}.")
        close = difflib.get_close_matches(text, dataset_ids(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise DataError(f"{text!r} is neither a bundled data set nor an existing file.{hint} Bundled data sets: "
                        f"{', '.join(dataset_ids())}.")
    fmt = fmt or detect_format(path)
    return _call(fmt, _LOADERS[fmt], str(path), options)
