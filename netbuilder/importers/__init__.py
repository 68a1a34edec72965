"""Importers: models from other tools become editable NetBuilder documents with their weights.

Every importer returns an `ImportResult` (document, weights, parity figures) or raises a `ModelImportError`; an
operation with no NetBuilder layer raises `UnsupportedOpsError` listing each one, never a placeholder.

- `import_onnx(path)`: an ``.onnx`` file (`netbuilder.importers.onnx_import`); each layer spec module declares
  the ONNX operations it imports next to the spec (`netbuilder.specs.interop`).
- ``netbuilder.importers.pytorch``: an ``nn.Module`` through torch.fx. Its entry point for the command line is
  ``import_pytorch_file(path, class_name, args, input_shape, parity=True, dynamic_axes=None) -> ImportResult``;
  variable sequence lengths are worked out in `netbuilder.importers.pytorch_lengths`.

Both importers turn repeated structure into blocks unless asked not to (``blocks=False``; ``netbuilder import
--flat``): `netbuilder.importers.repeats` finds the units, `netbuilder.importers.repeat_blocks` builds them.

Importing torch and onnx takes seconds, so they are imported when an importer runs, not here.
"""

from __future__ import annotations

import os
from typing import Any

from netbuilder.importers.result import (
    PARITY_TOLERANCE,
    ImportResult,
    ModelFileError,
    ModelImportError,
    ModelTooLargeError,
    ParityReport,
    UnsupportedOp,
    UnsupportedOpsError,
    save_import,
    weights_path_for,
)


def import_onnx(path: str | os.PathLike[str], parity: bool = True, name: str | None = None,
                **options: Any) -> ImportResult:  # options: seed, step, blocks
    """Import an ONNX model file: see `netbuilder.importers.onnx_import.import_onnx`."""
    from netbuilder.importers.onnx_import import import_onnx as run

    return run(path, parity=parity, name=name, **options)


__all__ = [
    "PARITY_TOLERANCE", "ImportResult", "ModelFileError", "ModelImportError", "ModelTooLargeError", "ParityReport", "UnsupportedOp",
    "UnsupportedOpsError", "import_onnx", "save_import", "weights_path_for",
]
