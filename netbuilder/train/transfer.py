"""Transfer learning: start some or all nodes from an earlier run's weights or a ``.safetensors`` file.

Tensors are matched by name (``<node name>.<parameter>``) and shape, through `netbuilder.io.apply_weights`; what
did not fit is listed in a `WeightsLoaded` event rather than silently skipped. Freezing and learning-rate
multipliers are per-node options on the document (``trainable``, ``lr_mult``), applied by the optimiser set-up.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from netbuilder.io import LoadError, apply_weights, load_weights, read_weights_metadata
from netbuilder.train.errors import TrainError
from netbuilder.train.events import WeightsLoaded
from netbuilder.train.runs import RunError, load_run, split_checkpoint


def weight_states(source: str | Path) -> dict[str, dict[str, torch.Tensor]]:
    """network name -> state dict, from a run folder (final weights, else the best or latest checkpoint), a
    checkpoint file, or a weights file (keyed by the network its metadata names, or "" when it names none)."""
    path = Path(source).expanduser()
    try:
        if path.is_dir():
            return load_run(path).weights("final")
        if not path.exists():
            raise TrainError(f"The transfer source {path} does not exist.",
                             "Pick a run folder or a .safetensors file.")
        metadata = read_weights_metadata(path)
        tensors = load_weights(path)
    except (RunError, LoadError) as error:
        raise TrainError(f"Cannot transfer weights from {path}: {error}",
                         "Pick a run folder (runs/<date>-<name>) or a .safetensors file.") from None
    if metadata.get("netbuilder_checkpoint") == "1":
        return split_checkpoint(tensors)[0]
    return {metadata.get("network", ""): tensors}


def transfer_weights(source: str | Path, modules: dict[str, nn.Module], nodes: list[str]) -> list[WeightsLoaded]:
    """Load matching tensors into ``modules`` (network name -> compiled module); one event per network loaded."""
    return apply_states(weight_states(source), modules, nodes, str(source))


def apply_states(states: dict[str, dict[str, torch.Tensor]], modules: dict[str, nn.Module], nodes: list[str],
                 source: str) -> list[WeightsLoaded]:
    """Load matching tensors from ``states`` (network name -> state dict) into ``modules``."""
    if nodes:
        known = set().union(*({key.split(".", 1)[0] for key in m.state_dict()} for m in modules.values()))
        unknown = sorted(set(nodes) - known)
        if unknown:
            raise TrainError(f"transfer.nodes names {', '.join(map(repr, unknown))}, but no network has a layer "
                             "with weights by that name.", "Use the names shown on the canvas.")
    events = []
    for name, module in modules.items():
        state = states.get(name)
        if state is None and len(states) == 1 and (len(modules) == 1 or "" in states):
            state = next(iter(states.values()))  # one file, one network: their names need not agree
        if state is None:
            continue
        own_layers = {key.split(".", 1)[0] for key in module.state_dict()}
        chosen = set(nodes) & own_layers if nodes else None
        if nodes and not chosen:
            continue
        report = apply_weights(module, state, chosen)
        events.append(WeightsLoaded(str(source), report.matched, report.missing, report.unexpected,
                                    [str(m) for m in report.shape_mismatches]))
    if not events:
        raise TrainError(f"Nothing in {source} matches the networks {', '.join(modules)}.",
                         "Transfer from a run of a network that shares layer names.")
    return events
