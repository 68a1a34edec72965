"""Data formats and the options each loader takes, told from names alone and without importing PyTorch.

``netbuilder validate`` checks a document's data options against these without loading any data or torch (the
loaders in `netbuilder.data` need torch). A test keeps the tables equal to the loaders' own signatures and to the
bundled data sets, so they cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

ENVIRONMENT_PREFIX = "gym:"  # a data source "gym:ENV-ID" is a Gymnasium environment (netbuilder.data.environments)
FORMATS = ("bundled", "csv", "npy", "npz", "idx", "images", "text")
EXTENSIONS = {".csv": "csv", ".tsv": "csv", ".npy": "npy", ".npz": "npz", ".txt": "text", ".text": "text",
              ".md": "text", ".idx": "idx"}
BUNDLED_IDS = ("digits", "digits-images", "iris", "wine", "breast-cancer", "diabetes", "moons", "circles", "spirals",
               "waves", "text")
LOADER_OPTIONS: dict[str, tuple[str, ...]] = {
    "bundled": ("seq_len",),
    "csv": ("target", "features", "task", "header", "delimiter", "encoding", "scale_target"),
    "npy": ("target_path", "task", "scale_target"),
    "npz": ("task", "x_key", "y_key", "scale_target"),
    "idx": ("labels", "class_names"),
    "images": ("size", "grayscale", "num_workers"),
    "text": ("seq_len", "stride", "encoding"),
}


def is_environment(source: str, fmt: str | None = None) -> bool:
    """Whether a data source names an environment (``gym:ENV-ID``) rather than a file or bundled data."""
    return not fmt and isinstance(source, str) and source.startswith(ENVIRONMENT_PREFIX)


def format_of(path: str | Path) -> str | None:
    """The format of a path from its name (a folder holds images; ``.gz`` is looked through); None if unknown."""
    p = Path(path)
    if p.is_dir():
        return "images"
    name = p.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if ("idx" in name and "ubyte" in name) or name.endswith(("-ubyte", ".ubyte")):
        return "idx"
    return None


def loader_options(source: str, fmt: str | None = None) -> tuple[str, tuple[str, ...]] | None:
    """(format, the option names its loader takes) for a source, without reading it; None when the format cannot
    be told from the name (loading it will say so)."""
    if is_environment(source, fmt):  # a Gymnasium environment takes no loader options
        return "environment", ()
    if fmt == "bundled" or (fmt is None and source in BUNDLED_IDS):
        return "bundled", LOADER_OPTIONS["bundled"]
    fmt = fmt or format_of(Path(source).expanduser())
    if fmt not in LOADER_OPTIONS:
        return None
    return fmt, LOADER_OPTIONS[fmt]
