"""File I/O: ``.nbg`` documents (versioned JSON, loaded in stages) and weights (safetensors, never pickle)."""

from typing import Any

from netbuilder.io.atomic import SaveError, write_atomic
from netbuilder.io.nbg import (
    FILE_SUFFIX,
    FORMAT_VERSION,
    LoadError,
    LoadProblem,
    document_from_dict,
    document_to_dict,
    dumps_document,
    load_document,
    parse_bytes,
    save_document,
)

# Weights need PyTorch (seconds to import); documents do not. So ``netbuilder validate`` and the editor never
# import it, the weight functions are imported from `netbuilder.io.weights` when first asked for.
_WEIGHT_NAMES = frozenset({"ShapeMismatch", "WeightReport", "apply_weights", "load_weights", "read_weights_metadata",
                           "save_weights"})


def __getattr__(name: str) -> Any:
    if name in _WEIGHT_NAMES:
        from netbuilder.io import weights

        return getattr(weights, name)
    raise AttributeError(f"module 'netbuilder.io' has no attribute {name!r}")


__all__ = [
    "FILE_SUFFIX", "FORMAT_VERSION", "LoadError", "LoadProblem", "SaveError", "ShapeMismatch", "WeightReport",
    "apply_weights", "document_from_dict", "document_to_dict", "dumps_document", "load_document", "load_weights",
    "parse_bytes", "read_weights_metadata", "save_document", "save_weights", "write_atomic",
]
