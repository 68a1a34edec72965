"""The paths a training configuration names (data source, path-valued loader options, transfer source), resolved
against the document's folder once, before anything is read, so the run record holds the files actually used."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from netbuilder.data.sources import resolve_options, resolve_source
from netbuilder.fs.paths import resolve_document_path


def resolve_config_paths(config: Any, folder: str | os.PathLike[str] | None) -> Any:
    """A copy of ``config`` (a TrainConfig) with its relative paths made absolute against ``folder``."""
    data = config.data
    data = dataclasses.replace(data, source=resolve_source(data.source, data.format, folder),
                               options=resolve_options(data.options, folder))
    transfer = config.transfer
    if transfer.source:
        transfer = dataclasses.replace(transfer, source=str(resolve_document_path(transfer.source, folder)))
    return dataclasses.replace(config, data=data, transfer=transfer)
