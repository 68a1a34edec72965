"""What every exporter shares: the error type, turning a network or module into a compiled module, quiet runs."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import torch
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


def vocab_size(module: nn.Module) -> int:
    """The smallest embedding table, so random token ids are valid for every Embedding (2 without one)."""
    sizes = [m.num_embeddings for m in module.modules() if isinstance(m, nn.Embedding)]
    return min(sizes) if sizes else 2


def random_inputs(info: CompiledInfo, batch: int, seq_len: int, vocab: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Reproducible random inputs for the network's signature: N = batch, T = seq_len, token ids below vocab."""
    generator = torch.Generator().manual_seed(seed)
    tensors = []
    for tensor_type in info.input_types:
        shape = [batch if d == "N" else seq_len if isinstance(d, str) else d for d in tensor_type.shape]
        if tensor_type.dtype == "int64":
            tensors.append(torch.randint(0, vocab, shape, generator=generator))
        else:
            tensors.append(torch.randn(shape, generator=generator))
    return tuple(tensors)


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
