"""Reading bundled data files (``resources/data``) with a data-layer error when the installation lacks one."""

from __future__ import annotations

from netbuilder.data.base import DataError
from netbuilder.resources import resource_dir


def read_resource_text(*parts: str) -> str:
    path = resource_dir(*parts)
    if not path.is_file():
        where = "/".join(parts)
        raise DataError(f"The bundled file resources/{where} is missing; the installation is incomplete. "
                        "Reinstall NetBuilder.")
    return path.read_text(encoding="utf-8")
