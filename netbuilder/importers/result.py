"""What every importer hands back, and the errors it raises: one type shared by the ONNX and PyTorch importers.

An import produces an editable document, the weights for its one network (named as the compiled network names
them, ``<node name>.<parameter>``), and a parity figure: the original model and the compiled NetBuilder graph run
on the same random input. `save_import` writes the document and, beside it, its weights as safetensors; the
document's ``training.transfer.source`` names that file, so training starts from the imported weights at once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from netbuilder.document import Document

PARITY_TOLERANCE = 1e-4  # relative: the largest difference over the largest reference value


class ModelImportError(Exception):
    """An import that cannot be done; the message is written for the user (what, where, what to do)."""


@dataclass(frozen=True)
class UnsupportedOp:
    """One operation type of the source model that has no NetBuilder layer: how often, and where."""

    op_type: str
    count: int
    node_names: tuple[str, ...]
    reasons: tuple[str, ...] = ()  # why a known operation could not be imported here (empty: no layer for it)

    def describe(self, limit: int = 5) -> str:
        names = ", ".join(self.node_names[:limit]) + (f", … ({self.count - limit} more)" if self.count > limit else "")
        why = f" ({'; '.join(self.reasons[:3])})" if self.reasons else " (no NetBuilder layer for it)"
        return f"{self.op_type} × {self.count}{why}: {names}"

    def to_dict(self) -> dict[str, Any]:
        return {"op_type": self.op_type, "count": self.count, "node_names": list(self.node_names),
                "reasons": list(self.reasons)}


class UnsupportedOpsError(ModelImportError):
    """The model uses operations NetBuilder has no layer for; nothing is replaced by a placeholder."""

    def __init__(self, ops: list[UnsupportedOp], source: str = ""):
        self.ops = sorted(ops, key=lambda op: (-op.count, op.op_type))
        self.source = source
        total = sum(op.count for op in self.ops)
        lines = [f"{source or 'The model'} uses {total} operation(s) of {len(self.ops)} type(s) that NetBuilder "
                 "cannot import (nothing was written):"]
        lines += [f"  - {op.describe()}" for op in self.ops]
        lines.append("Replace them in the source model with supported operations, or build those parts by hand.")
        super().__init__("\n".join(lines))

    def to_dict(self) -> dict[str, Any]:
        return {"error": "unsupported_ops", "source": self.source, "unsupported": [op.to_dict() for op in self.ops]}


class ModelFileError(ModelImportError):
    """The file cannot be read as a model at all: missing, not a regular file, damaged, not ONNX."""


class ModelTooLargeError(ModelImportError):
    """The model's weights would not fit in the memory this machine has; refused before anything is allocated."""


@dataclass
class ParityReport:
    """The original model against the compiled NetBuilder graph on the same random input.

    ``max_rel_diff`` is the largest absolute difference divided by the largest absolute reference value, per
    output (a per-element ratio explodes near zero and says nothing). ``ok`` when it is within ``tolerance``."""

    max_abs_diff: float
    max_rel_diff: float
    batch: int
    input_shapes: dict[str, list[int]]
    reference: str  # what ran the original: "onnxruntime" or "pytorch"
    tolerance: float = PARITY_TOLERANCE

    @property
    def ok(self) -> bool:
        return self.max_rel_diff <= self.tolerance

    def summary(self) -> str:
        verdict = "matches" if self.ok else "DOES NOT match"
        return (f"Parity: the imported network {verdict} {self.reference} on a random input (batch {self.batch}): "
                f"max |diff| {self.max_abs_diff:.2e}, relative {self.max_rel_diff:.2e} "
                f"(tolerance {self.tolerance:g}).")

    def to_dict(self) -> dict[str, Any]:
        return {"max_abs_diff": self.max_abs_diff, "max_rel_diff": self.max_rel_diff, "ok": self.ok,
                "tolerance": self.tolerance, "batch": self.batch, "input_shapes": self.input_shapes,
                "reference": self.reference}


@dataclass
class ImportResult:
    """An imported model: the document (one network, laid out), its weights, and what was checked."""

    document: Document
    weights: dict[str, torch.Tensor]
    source: str
    source_format: str  # "onnx" or "pytorch"
    parity: ParityReport | None = None
    notes: list[str] = field(default_factory=list)
    op_counts: dict[str, int] = field(default_factory=dict)  # source operations read, by type

    @property
    def network(self) -> Any:
        return self.document.network()

    @property
    def layer_count(self) -> int:
        """Layers of the model, counting those inside each block node (as the flat import would)."""
        return _layers(self.document, self.network)

    @property
    def block_uses(self) -> dict[str, int]:
        """How many block nodes use each block definition that the import made from repeated structure."""
        uses = {name: 0 for name in self.document.blocks}
        for node in self.network.nodes:
            if node.type == "Block":
                uses[node.block] = uses.get(node.block, 0) + 1
        return uses

    @property
    def parameter_count(self) -> int:
        """Trainable numbers, each counted once: a Linear tied to an Embedding (``tie_weight_to``) shares that
        table, and tensors sharing memory are one parameter, as ``analyze(...).total_params`` counts them."""
        from netbuilder.analysis.tying import tied_target

        tied = {f"{node.name}.weight" for node in self.network.nodes if tied_target(node)}
        seen: set[tuple[int, tuple[int, ...]]] = set()
        total = 0
        for name, tensor in self.weights.items():
            if _is_buffer(name) or name in tied:
                continue
            key = (tensor.data_ptr(), tuple(tensor.shape))
            if tensor.numel() and key in seen:
                continue
            seen.add(key)
            total += int(tensor.numel())
        return total

    def compile(self) -> Any:
        """The compiled network with the imported weights loaded (eval mode)."""
        from netbuilder.compile import compile_network

        module = compile_network(self.network)
        module.load_state_dict(self.weights, strict=True)
        return module.eval()

    def summary(self) -> str:
        lines = [f"Imported {self.source} ({self.source_format}): {self.layer_count} layers, "
                 f"{self.parameter_count:,} parameters."]
        uses = self.block_uses
        if uses:
            found = ", ".join(f"{name} × {count}" for name, count in uses.items())
            lines.append(f"Repeated structure became {len(uses)} block definition(s): {found}.")
        if self.parity is not None:
            lines.append(self.parity.summary())
        lines.extend(self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "format": self.source_format, "network": self.network.name,
                "layers": self.layer_count, "parameters": self.parameter_count,
                "blocks": self.block_uses,
                "parity": self.parity.to_dict() if self.parity else None, "notes": list(self.notes),
                "source_ops": dict(self.op_counts)}


def _layers(document: Document, network: Any) -> int:
    count = 0
    for node in network.nodes:
        if node.type == "Block":
            definition = document.blocks.get(node.block)
            count += _layers(document, definition.network) if definition is not None else 0
        elif node.type not in ("Input", "Output"):
            count += 1
    return count


def _is_buffer(name: str) -> bool:
    """Running statistics and counters of batch norms are state, not parameters."""
    return name.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")


def weights_path_for(document_path: str | os.PathLike[str]) -> Path:
    """Where an imported document keeps its weights: ``<stem>.safetensors`` beside it."""
    path = Path(document_path)
    return path.with_suffix(".safetensors")


def save_import(result: ImportResult, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the document to ``path`` and its weights beside it; return both paths. The document's
    ``training.transfer.source`` names the weights file (relative, so the pair can be moved together)."""
    import safetensors.torch

    from netbuilder.io import save_document, write_atomic

    target = Path(path)
    weights_file = weights_path_for(target)
    training = dict(result.document.settings.get("training") or {})
    transfer = dict(training.get("transfer") or {})
    transfer["source"] = weights_file.name
    training["transfer"] = transfer
    result.document.settings["training"] = training
    tensors = {}
    shared: set[int] = set()
    for name, tensor in result.weights.items():  # safetensors refuses tensors sharing memory (tied weights)
        tensor = tensor.detach().cpu().contiguous()
        pointer = tensor.untyped_storage().data_ptr() if tensor.numel() else 0
        tensors[name] = tensor.clone() if pointer and pointer in shared else tensor
        shared.add(pointer)
    metadata = {"format": "pt", "producer": "NetBuilder import", "network": result.network.name,
                "source": os.path.basename(result.source)}
    write_atomic(weights_file, safetensors.torch.save(tensors, metadata=metadata), what="weights file")
    save_document(result.document, target)
    return target, weights_file
