"""Paths named inside a document resolve against the document's folder, never the current directory.

A ``.nbg`` file that says ``"source": "data/train.csv"`` means the CSV beside it, wherever the app or the CLI was
started from. `resolve_document_path` is the one place that decides this; the trainer, evaluation, the Data panel
and the CLI all call it, and show the resolved path to the user so there is no doubt which file is read.

A relative path may climb out of the document's folder (``../shared/data.csv``): that is the user's own choice of
data. What never becomes a path is a *name* (network, run): those go through `netbuilder.fs.names`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def document_folder(document: Any) -> Path | None:
    """The folder of the file ``document`` was loaded from or last saved to (None for a new, unsaved one)."""
    path = getattr(document, "path", None)
    return Path(path).parent if path else None


def resolve_document_path(text: str | os.PathLike[str], folder: str | os.PathLike[str] | None) -> Path:
    """``text`` as an absolute path: ``~`` expanded; a relative path joined to ``folder`` (the document's
    folder), or to the current directory when the document has no folder yet; then made absolute and normalised
    (``a/../b`` is ``b``), which is the form shown to the user."""
    path = Path(os.path.expanduser(os.fspath(text)))
    if not path.is_absolute():
        base = Path(folder) if folder is not None else Path.cwd()
        path = base / path
    return Path(os.path.abspath(path))
