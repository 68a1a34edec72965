"""What every exporter shares: the error type, turning a network or module into a compiled module, quiet runs."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import torch.nn as nn

from netbuilder.compile import CompiledInfo, CompileError, compile_network
from netbuilder.document.model import Network


class ExportError(Exception):
    """An export that could not be done. The message says what and why in plain words; ``details`` keeps the
    exporter's own output for a "show details" view."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return self.message


def resolve(network_or_module: Network | nn.Module) -> tuple[nn.Module, CompiledInfo]:
    """The compiled module and its signature; a Network is compiled first (its problems become an ExportError)."""
    if isinstance(network_or_module, Network):
        try:
            module = compile_network(network_or_module)
        except CompileError as error:
            raise ExportError(f"Cannot export: {error}") from None
    elif isinstance(network_or_module, nn.Module):
        module = network_or_module
    else:
        raise ExportError(f"Cannot export a {type(network_or_module).__name__}: give a network or a module "
                          "compiled by NetBuilder.")
    info = getattr(module, "netbuilder", None)
    if not isinstance(info, CompiledInfo):
        raise ExportError("Cannot export this module: it was not compiled by NetBuilder, so its inputs and outputs "
                          "are unknown. Compile the network first.")
    return module, info


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Keep exporter chatter ("[torch.onnx] ..." prints, warnings, log lines) off the user's console; the
    captured text is yielded so it can be attached to an error."""
    buffer = io.StringIO()
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield buffer
    finally:
        logging.disable(previous)


def first_line(error: BaseException, limit: int = 300) -> str:
    """The gist of an exception: its first non-empty line, shortened."""
    text = next((line.strip() for line in str(error).splitlines() if line.strip()), type(error).__name__)
    return text if len(text) <= limit else text[: limit - 1] + "…"
