"""One import for scripts: analyse, compile, validate, save and load, over the layers that do each.

The document model is the lowest layer above the specs and must not import analysis, compile or file I/O (the
import-linter contract in ``tests/core/test_layers.py`` enforces the layering); these conveniences used to be
methods on `Network` and `Document` and now live here, above them all::

    from netbuilder.facade import analyze, compile_network, load, save, validate

    result = analyze(net)          # shapes, parameters, multiply-adds, diagnostics
    problems = validate(doc)       # every network's diagnostics
    save(doc, "mlp.nbg")           # marks the document saved
    doc = load("mlp.nbg")
"""

from __future__ import annotations

import os
from typing import Any

from netbuilder.analysis import Analysis, Diagnostic, analyze
from netbuilder.compile import compile_network
from netbuilder.document.model import Document
from netbuilder.io import load_document, save_document


def validate(doc: Document) -> list[Diagnostic]:
    """All diagnostics of all networks (empty when the document is valid)."""
    problems: list[Diagnostic] = []
    for network in doc:
        problems.extend(analyze(network).diagnostics)
    return problems


def save(doc: Document, path: str | os.PathLike[str]) -> None:
    """Save the document and mark it saved: later paths in it resolve against this file's folder."""
    save_document(doc, path)
    doc.path = os.path.abspath(path)
    doc.undo_stack.set_clean()


def load(path: str | os.PathLike[str]) -> Document:
    """Load a document (every problem of a bad file listed in the `LoadError`)."""
    return load_document(path)


def compile_model(network: Any, **kwargs: Any) -> Any:
    """`compile_network` under the name scripts used as ``network.compile()``."""
    return compile_network(network, **kwargs)


__all__ = ["Analysis", "Diagnostic", "analyze", "compile_model", "compile_network", "load", "save", "validate"]
