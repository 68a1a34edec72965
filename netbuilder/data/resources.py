"""Finding NetBuilder's bundled files, whether installed or run from a source checkout.

Installed, ``resources/`` is the package ``netbuilder_resources`` (see pyproject.toml), which may live in a zip or a
frozen app, so it is reached through importlib.resources. From a checkout that package is not importable and the
folder sits next to ``netbuilder/``.
"""

from __future__ import annotations

from importlib import resources as importlib_resources
from importlib.abc import Traversable
from pathlib import Path

from netbuilder.data.base import DataError

_REPO_RESOURCES = Path(__file__).resolve().parents[2] / "resources"


def resource(*parts: str) -> Traversable:
    """The bundled file or folder ``resources/<parts...>``; DataError if it is in neither place."""
    try:
        root: Traversable | None = importlib_resources.files("netbuilder_resources")
    except Exception:  # not installed, or an editable install whose namespace path importlib cannot read
        root = None
    for base in (root, _REPO_RESOURCES):
        if base is None:
            continue
        candidate = base
        for part in parts:
            candidate = candidate / part
        if candidate.is_file() or candidate.is_dir():
            return candidate
    where = "/".join(parts)
    raise DataError(f"The bundled file resources/{where} is missing; the installation is incomplete. "
                    "Reinstall NetBuilder.")


def read_resource_text(*parts: str) -> str:
    return resource(*parts).read_text(encoding="utf-8")
