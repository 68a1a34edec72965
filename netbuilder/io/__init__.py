"""File I/O: ``.nbg`` documents (versioned JSON, loaded in stages) and weights (safetensors, never pickle)."""

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
from netbuilder.io.weights import (
    ShapeMismatch,
    WeightReport,
    apply_weights,
    load_weights,
    read_weights_metadata,
    save_weights,
)

__all__ = [
    "FILE_SUFFIX", "FORMAT_VERSION", "LoadError", "LoadProblem", "SaveError", "ShapeMismatch", "WeightReport",
    "apply_weights", "document_from_dict", "document_to_dict", "dumps_document", "load_document", "load_weights",
    "parse_bytes", "read_weights_metadata", "save_document", "save_weights", "write_atomic",
]
