"""Which file a document's data settings name: the source and the path-valued loader options, resolved against
the document's folder (`netbuilder.fs.paths.resolve_document_path`). Bundled ids are left as they are."""

from __future__ import annotations

import os
from typing import Any

from netbuilder.dataformats import is_environment
from netbuilder.fs.paths import resolve_document_path

# Loader options whose values are paths (npy: the targets file; idx: the labels file).
PATH_OPTIONS = ("target_path", "labels")


def is_bundled(source: str, fmt: str | None = None) -> bool:
    """True when ``source`` names a bundled data set rather than a file."""
    if fmt == "bundled":
        return True
    if fmt:
        return False
    from netbuilder.data.bundled import dataset_ids

    return source in dataset_ids()


def source_format(source: str, fmt: str | None = None) -> str | None:
    """The format ``source`` is read as ("bundled", "csv", "images", ...), None when it cannot be told. Two sources
    of one format take the same loader options (another CSV with the same columns takes the same target)."""
    from netbuilder.data.base import DataError
    from netbuilder.data.load import detect_format

    if not source:
        return None
    if is_bundled(source, fmt):
        return "bundled"
    try:
        return fmt or detect_format(source)
    except DataError:
        return None


def options_for_another_source(options: dict[str, Any]) -> dict[str, Any]:
    """Loader options that carry over to another source of the same format: all but those naming the original's
    companion files (its IDX labels file, its targets .npy), which belong to that source only."""
    return {key: value for key, value in options.items() if key not in PATH_OPTIONS}


def resolve_source(source: str, fmt: str | None, folder: str | os.PathLike[str] | None) -> str:
    """``source`` as training will read it: a bundled id unchanged, a path made absolute against ``folder``."""
    if not source or is_bundled(source, fmt) or is_environment(source, fmt):
        return source
    resolved = resolve_document_path(source, folder)
    looks_like_path = any(sep in source for sep in ("/", "\\")) or os.path.splitext(source)[1] != "" or bool(fmt)
    if not looks_like_path and not resolved.exists() and _close_to_a_bundled_id(source):
        return source  # a misspelt bundled id ("digitz"): load_data answers with "did you mean"
    return str(resolved)


def _close_to_a_bundled_id(word: str) -> bool:
    import difflib

    from netbuilder.data.bundled import dataset_ids

    return bool(difflib.get_close_matches(word, dataset_ids(), n=1))


def resolve_options(options: dict[str, Any], folder: str | os.PathLike[str] | None) -> dict[str, Any]:
    """A copy of loader ``options`` with path-valued ones (labels, target_path) resolved against ``folder``."""
    out = dict(options)
    for key in PATH_OPTIONS:
        value = out.get(key)
        if isinstance(value, str | os.PathLike) and str(value):
            out[key] = str(resolve_document_path(value, folder))
    return out
