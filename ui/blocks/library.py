"""The user's block library: a folder of `.nbg` files (each a document whose blocks are the library's) under the
user's data directory, ``<AppDataLocation>/blocks``; ``NETBUILDER_BLOCK_LIBRARY`` names another folder.

Listing reads each file with the core loader (nothing is executed); a file that does not load is left out of the
list, with its reason kept for the tooltip. Importing a library block copies its definition (and the blocks it
uses that the document lacks) into the document, as undoable `DefineBlock` commands."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from netbuilder.document import Document, DocumentError, Macro
from netbuilder.document.block_commands import DefineBlock
from netbuilder.fs.names import safe_file_name
from netbuilder.io.nbg import LoadError, load_document, save_document

ENV_FOLDER = "NETBUILDER_BLOCK_LIBRARY"
MAX_FILES = 200  # a folder with more is read up to this many files (the palette stays quick)


@dataclass(frozen=True)
class LibraryEntry:
    name: str
    path: Path
    doc: str
    layers: int


def library_folder() -> Path:
    """Where library blocks live (created when a block is first saved there)."""
    custom = os.environ.get(ENV_FOLDER)
    if custom:
        return Path(custom)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or str(Path.home())
    return Path(base) / "blocks"


_cache: dict[Path, tuple[float, int, list[LibraryEntry]]] = {}


def entries(folder: Path | None = None) -> list[LibraryEntry]:
    """Every block of every readable library file, by name; a file is re-read only when it changed."""
    folder = folder or library_folder()
    if not folder.is_dir():
        return []
    found: list[LibraryEntry] = []
    for path in sorted(folder.glob("*.nbg"))[:MAX_FILES]:
        try:
            stat = path.stat()
        except OSError:
            continue
        cached = _cache.get(path)
        if cached is None or cached[:2] != (stat.st_mtime, stat.st_size):
            try:
                doc = load_document(path)
            except (LoadError, OSError, DocumentError, ValueError):
                _cache[path] = (stat.st_mtime, stat.st_size, [])
                continue
            listed = [LibraryEntry(name, path, d.doc, len(d.network)) for name, d in doc.blocks.items()]
            _cache[path] = (stat.st_mtime, stat.st_size, listed)
        found += _cache[path][2]
    return found


def import_command(target: Document, path: Path, name: str) -> DefineBlock | Macro:
    """The command copying block ``name`` of library file ``path`` into ``target``, with the blocks it uses that
    ``target`` lacks (a block of the same name already there is used as is)."""
    try:
        source = load_document(path)
    except (LoadError, OSError) as error:
        raise DocumentError(f"Cannot read the library file {path.name}: {error}") from None
    if name not in source.blocks:
        raise DocumentError(f"The library file {path.name} no longer holds a block named {name!r}.")
    return define_commands(source, name, target)


def define_commands(source: Document, name: str, target: Document | None = None) -> DefineBlock | Macro:
    """DefineBlock commands for block ``name`` of ``source`` and, first, the blocks it uses (those ``target``
    already holds are left out)."""
    order: list[str] = []

    def visit(block: str) -> None:
        if block in order or (target is not None and block in target.blocks and block != name):
            return
        for used in sorted(source.blocks[block].used_blocks()):
            visit(used)
        order.append(block)

    visit(name)
    commands = [DefineBlock(source.blocks[b].record(), f"Import block {b}") for b in order]
    return commands[0] if len(commands) == 1 else Macro(f"Import block {name}", commands)


def save_to_library(document: Document, name: str, folder: Path | None = None) -> Path:
    """Write block ``name`` (and the blocks it uses) to ``<library>/<name>.nbg``; returns the file."""
    if name not in document.blocks:
        raise DocumentError(f"There is no block named {name!r} to save.")
    folder = folder or library_folder()
    folder.mkdir(parents=True, exist_ok=True)
    copy = Document()
    define_commands(document, name).do(copy)
    path = folder / f"{safe_file_name(name, 'block')}.nbg"
    save_document(copy, path)
    _cache.pop(path, None)
    return path
