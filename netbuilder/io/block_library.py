"""The user's block library: a folder of `.nbg` files, one per block, reusable in any document.

A library file is an ordinary `.nbg` document without networks whose ``blocks`` hold the block and every block it
uses. Importing copies those definitions into a document (one undoable step); a definition the document already
has, identical, is reused, and one that differs under the same name is imported under a free name
(``BasicBlock2``), with the references inside the imported blocks renamed to match.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from netbuilder.document.block_commands import DefineBlock, free_block_name
from netbuilder.document.blocks import BLOCK_TYPE, BlockDefinition, BlockRecord
from netbuilder.document.commands import Macro
from netbuilder.document.model import Document, DocumentError
from netbuilder.fs.names import safe_file_name
from netbuilder.fs.userdata import block_library_dir
from netbuilder.io.atomic import write_atomic
from netbuilder.io.nbg import FILE_SUFFIX, LoadError, document_to_dict, dumps_document, load_document


@dataclass(frozen=True)
class LibraryBlock:
    """One block the library offers: its name, file, doc, parameters and ports, or why its file is unusable."""

    name: str
    path: Path
    doc: str = ""
    params: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    problem: str = ""  # non-empty: the file could not be read (the message says why)


def _needed(doc: Document, name: str) -> list[str]:
    """``name`` and every block it uses, used ones first."""
    order: list[str] = []

    def visit(current: str, trail: tuple[str, ...]) -> None:
        if current in order or current in trail:
            return
        for used in sorted(doc.blocks[current].used_blocks()):
            if used in doc.blocks:
                visit(used, (*trail, current))
        order.append(current)

    visit(name, ())
    return order


def save_block(doc: Document, name: str, folder: str | os.PathLike[str] | None = None) -> Path:
    """Write block ``name`` (with the blocks it uses) to the library as ``<name>.nbg``; returns the path."""
    doc.block(name)
    target = Path(folder) if folder is not None else block_library_dir()
    target.mkdir(parents=True, exist_ok=True)
    copy = Document(network_names=())
    for needed in _needed(doc, name):
        copy.execute(DefineBlock(doc.blocks[needed].record()))
    copy.info.title = name
    copy.info.description = doc.blocks[name].doc
    path = target / f"{safe_file_name(name)}{FILE_SUFFIX}"
    write_atomic(path, dumps_document(copy).encode("utf-8"), what="block file")
    return path


def _main_block(library: Document) -> str:
    used = {u for d in library.blocks.values() for u in d.used_blocks()}
    title = library.info.title
    if title in library.blocks:
        return title
    unused = [name for name in library.blocks if name not in used]
    if not unused:
        raise DocumentError("The block file holds no block.")
    return unused[-1]


def list_library(folder: str | os.PathLike[str] | None = None) -> list[LibraryBlock]:
    """Every block file of the library folder (sorted by name); unreadable files are listed with their
    problem, so the palette can say why one is missing rather than hide it."""
    source = Path(folder) if folder is not None else block_library_dir()
    if not source.is_dir():
        return []
    result = []
    for path in sorted(source.glob(f"*{FILE_SUFFIX}")):
        try:
            library = load_document(path)
            name = _main_block(library)
        except (LoadError, DocumentError) as error:
            result.append(LibraryBlock(path.stem, path, problem=str(error)))
            continue
        definition = library.blocks[name]
        result.append(LibraryBlock(name, path, definition.doc, tuple(p.name for p in definition.params),
                                   definition.input_ports(), definition.output_ports()))
    return result


def _same(a: BlockDefinition, b: BlockDefinition) -> bool:
    left, right = Document(network_names=()), Document(network_names=())
    left.blocks[a.name], right.blocks[b.name] = a, b
    try:
        return document_to_dict(left)["blocks"] == document_to_dict(right)["blocks"]
    finally:
        left.blocks.clear()
        right.blocks.clear()


def import_command(doc: Document, path: str | os.PathLike[str]) -> tuple[Macro, str]:
    """The command that copies the file's block (and those it uses) into ``doc``, and the name the main block
    gets there. Raises LoadError for an unreadable file, DocumentError for a file without blocks."""
    library = load_document(path)
    main = _main_block(library)
    renamed: dict[str, str] = {}
    commands: list[DefineBlock] = []
    for name in _needed(library, main):
        definition = library.blocks[name]
        existing = doc.blocks.get(name)
        if existing is not None and not definition.used_blocks() & renamed.keys() and _same(existing, definition):
            continue
        new_name = name if name not in doc.blocks and name not in doc.networks else free_block_name(doc, name)
        while new_name in renamed.values():
            new_name = free_block_name(doc, new_name + "_")
        renamed[name] = new_name
        nodes = []
        for node in definition.network.nodes:
            copy = node.clone()
            if copy.type == BLOCK_TYPE and copy.block in renamed:
                copy.block = renamed[copy.block]
            nodes.append(copy)
        commands.append(DefineBlock(BlockRecord(new_name, tuple(nodes), tuple(definition.network.wires),
                                                definition.params, definition.doc)))
    return Macro(f"Import block {main}", commands), renamed.get(main, main)


def import_block(doc: Document, path: str | os.PathLike[str]) -> str:
    """Import a library block into ``doc`` (one undo step); returns its name in the document."""
    command, name = import_command(doc, path)
    if command.commands:
        doc.execute(command)
    return name
