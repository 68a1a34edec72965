"""Weights files in safetensors format: tensors and string metadata only, never pickle.

A pickle checkpoint (``torch.save``) can run arbitrary code when it is opened; a safetensors file is a JSON header
plus raw tensor bytes, so opening a file somebody sent you is safe. Parameter names are the compiled network's:
``<node name>.<parameter>``, e.g. ``linear1.weight``, which is what lets `apply_weights` move weights between
networks that share layer names (transfer learning) and report exactly what did not fit.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import safetensors.torch
import torch
import torch.nn as nn

from netbuilder import __version__
from netbuilder.io.atomic import write_atomic
from netbuilder.io.nbg import LoadError, read_file

_MAX_HEADER = 100 * 1024 * 1024  # safetensors' own limit on the JSON header


def save_weights(module: nn.Module, path: str | os.PathLike[str], metadata: dict[str, str] | None = None) -> None:
    """Save the module's state (parameters and persistent buffers) to a safetensors file, atomically.

    ``metadata`` is stored as text alongside the tensors (safetensors allows only str -> str); NetBuilder adds
    ``producer`` and, for a compiled network, ``network``. Raises `SaveError` when the file cannot be written.
    """
    extra = dict(metadata or {})
    for key, value in extra.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"Weights metadata must map text to text; got {key!r}: {value!r}.")
    info = getattr(module, "netbuilder", None)
    meta = {"format": "pt", "producer": f"NetBuilder {__version__}"}
    network = getattr(info, "network", None)
    if isinstance(network, str):
        meta["network"] = network
    meta.update(extra)
    # Fresh contiguous CPU copies: safetensors refuses tensors that share memory (tied weights, views).
    tensors = {name: tensor.detach().to("cpu", copy=True).contiguous()
               for name, tensor in module.state_dict().items()}
    data = safetensors.torch.save(tensors, metadata=meta)
    write_atomic(path, data, what="weights file")


def load_weights(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read every tensor of a safetensors file (on the CPU). Raises `LoadError` for a missing, foreign or damaged
    file, with a message that says which."""
    file = Path(path)
    data = read_file(file, "weights file", "weights")
    _check_header(data, file)
    try:
        return safetensors.torch.load(data)
    except Exception as error:  # the Rust reader raises its own error type for every kind of damage
        raise LoadError(f"The weights file is damaged: {error}", str(file)) from None


def read_weights_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The text metadata of a weights file (producer, network, ...) without reading its tensors."""
    file = Path(path)
    return dict(_check_header(read_file(file, "weights file", "weights"), file).get("__metadata__") or {})


def _check_header(data: bytes, file: Path) -> dict:
    """Validate the safetensors header and return it; recognise pickle checkpoints to say why they are refused."""
    size = struct.unpack("<Q", data[:8])[0] if len(data) >= 8 else -1
    if not (0 < size <= min(len(data) - 8, _MAX_HEADER) and data[8:9] == b"{"):
        # Not safetensors. Recognise a pickle checkpoint to say why it is refused rather than just "damaged".
        if data[:2] in (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05") or data[:4] == b"PK\x03\x04":
            raise LoadError("This is a PyTorch pickle checkpoint (.pt/.pth). NetBuilder reads only safetensors "
                            "weights, because opening a pickle file can run code hidden in it. Convert it with "
                            "safetensors.torch.save_file in a trusted Python session.", str(file))
        if len(data) < 8:
            raise LoadError("The file is too short to be a safetensors weights file.", str(file))
        raise LoadError("This is not a safetensors weights file (or it is damaged).", str(file))
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise LoadError("The weights file is damaged: its header is not valid JSON.", str(file)) from None
    if not isinstance(header, dict):
        raise LoadError("The weights file is damaged: its header is not a table of tensors.", str(file))
    meta = header.get("__metadata__")
    if meta is not None and not (isinstance(meta, dict) and all(isinstance(v, str) for v in meta.values())):
        raise LoadError("The weights file is damaged: its metadata is not text.", str(file))
    return header


@dataclass(frozen=True)
class ShapeMismatch:
    """A tensor present on both sides whose shapes differ; it was left as it was in the model."""

    name: str
    file_shape: tuple[int, ...]
    model_shape: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.name}: the file has {_shape(self.file_shape)}, the model needs {_shape(self.model_shape)}"


@dataclass
class WeightReport:
    """What `apply_weights` did, name by name. ``matched`` tensors were copied into the model."""

    matched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # in the model, not in the file: left as they were
    unexpected: list[str] = field(default_factory=list)  # in the file, not in the model: ignored
    shape_mismatches: list[ShapeMismatch] = field(default_factory=list)  # in both, different shapes: left
    # (file name, model name) of tensors loaded under another path: the layers were grouped into a block or
    # ungrouped since the file was saved (``conv1.weight`` -> ``block1.conv1.weight``); also in ``matched``
    moved: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every tensor of the model (within the chosen nodes) was loaded and nothing was left over."""
        return not (self.missing or self.unexpected or self.shape_mismatches)

    def summary(self) -> str:
        """A few lines for the user: how many tensors loaded and what did not fit."""
        total = len(self.matched) + len(self.missing) + len(self.shape_mismatches)
        lines = [f"Loaded {len(self.matched)} of {total} tensors."]
        if self.shape_mismatches:
            lines.append("Different shapes (kept the model's): " + "; ".join(map(str, self.shape_mismatches)))
        if self.missing:
            lines.append("Not in the file (kept the model's): " + ", ".join(self.missing))
        if self.unexpected:
            lines.append("In the file but not in the model (ignored): " + ", ".join(self.unexpected))
        return "\n".join(lines)


def apply_weights(module: nn.Module, state: Mapping[str, torch.Tensor], nodes: set[str] | None = None) -> WeightReport:
    """Copy tensors from ``state`` into ``module`` where name and shape agree; report everything else.

    ``nodes`` limits the transfer to those layers (by node name, the first part of a tensor name); tensors of
    other layers are neither loaded nor reported. Nothing is raised for a partial fit: transfer learning
    routinely loads a body and leaves a new head, and the report says what happened.
    """
    own = module.state_dict()
    if nodes is not None:
        layers = {name.split(".", 1)[0] for name in own} | {name for name, _ in module.named_children()}
        unknown = sorted(set(nodes) - layers)
        if unknown:
            raise ValueError(f"The network has no layer named {', '.join(map(repr, unknown))}.")

    def chosen(name: str) -> bool:
        return nodes is None or name.split(".", 1)[0] in nodes

    report = WeightReport()
    moved = _moved_tensors(module, own, state)
    with torch.no_grad():
        for name, target in own.items():
            if not chosen(name):
                continue
            source = name if name in state else moved.get(name)
            if source is None:
                report.missing.append(name)
                continue
            if source != name:
                report.moved.append((source, name))
            value = state[source]
            if tuple(value.shape) != tuple(target.shape):
                report.shape_mismatches.append(ShapeMismatch(name, tuple(value.shape), tuple(target.shape)))
                continue
            target.copy_(value)  # casts dtype and moves device as needed; state_dict shares the model's storage
            report.matched.append(name)
    used = {source for source, _ in report.moved}
    report.unexpected = [name for name in state if chosen(name) and name not in own and name not in used]
    return report


def _layer_paths(module: nn.Module) -> dict[str, str]:
    """Each tensor of the module -> the path of the layer holding it (``layer1.0.conv1``), looking through
    block modules (see netbuilder.compile.blocks) but not into a layer's own submodules."""
    paths: dict[str, str] = {}

    def visit(current: nn.Module, prefix: str) -> None:
        for name, child in current.named_children():
            path = f"{prefix}{name}"
            if getattr(child, "_nb_block", None) is not None:
                visit(child, f"{path}.")
            else:
                for tensor in child.state_dict():
                    paths[f"{path}.{tensor}"] = path
    visit(module, "")
    return paths


def _moved_tensors(module: nn.Module, own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) \
        -> dict[str, str]:
    """Model tensor -> file tensor for tensors whose layer moved into or out of a block since the file was saved:
    ``conv1.weight`` is now ``block1.conv1.weight`` (grouped), or ``block1.conv1.weight`` is now ``conv1.weight``
    or ``block1_conv1.weight`` (ungrouped). Only unambiguous pairs are taken (one candidate on each side)."""
    missing = [name for name in own if name not in state]
    spare = [name for name in state if name not in own]
    if not missing or not spare:
        return {}
    paths = _layer_paths(module)
    file_forms: dict[str, list[str]] = {}
    for name in spare:
        parts = name.split(".")
        forms = {".".join(parts[k:]) for k in range(len(parts) - 1)}  # itself, and without enclosing blocks
        forms |= {"_".join(parts[:k]) + "." + ".".join(parts[k:]) for k in range(2, len(parts))}  # ungrouped
        for form in forms:
            file_forms.setdefault(form, []).append(name)
    model_forms: dict[str, list[str]] = {}
    for name in missing:
        path = paths.get(name)
        if path is None:
            continue
        tensor = name[len(path) + 1:]
        for form in {name, f"{path.rsplit('.', 1)[-1]}.{tensor}", f"{path.replace('.', '_')}.{tensor}"}:
            model_forms.setdefault(form, []).append(name)
    result: dict[str, str] = {}
    taken: set[str] = set()
    for form, names in model_forms.items():
        sources = file_forms.get(form, [])
        if len(names) == 1 and len(sources) == 1 and names[0] not in result and sources[0] not in taken:
            result[names[0]] = sources[0]
            taken.add(sources[0])
    return result


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape) if shape else "a scalar"
