"""Checks before training, run before any model is built, so that nothing big is allocated for a run that cannot
work and the user gets a message naming the node or setting and the fix instead of a torch error mid-run.

* **Labels vs the task**: a classifier needs whole-number labels from 0; decimal or negative targets (regression
  data trained as classification) would otherwise end in "IndexError: Target -1 is out of bounds".
* **Class count vs Output units**: the largest label must have a class score.
* **Vocabulary vs Embedding size** (and vs a language model's token scores): a token id at or above an Embedding's
  ``vocab_size`` would otherwise end in "IndexError: index out of range in self" somewhere mid-epoch.
* **Memory**: weights, gradients, optimiser state and one batch's activations, estimated from the analysis' shapes
  and parameter counts, against the memory this process can still use (RAM and the container's limit, or free
  CUDA memory). Measured on a CPU with a 25M-parameter network: Adam grew the process by 20.0 bytes per parameter,
  SGD with momentum by 16.1, which is what the estimate below gives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import torch

from netbuilder.analysis import Analysis, analyze
from netbuilder.data.base import ArraySplit, PreparedData, Split
from netbuilder.document.model import Document, Network
from netbuilder.specs import roles
from netbuilder.train.config import TrainConfig
from netbuilder.train.errors import TrainError
from netbuilder.train.recipes.base import check_compatible, check_fits, pick_network
from netbuilder.train.recipes.supervised import TASK_OF

CLASSIFIERS = ("classification", "sequence_classification")
CLASS_ROLES = roles.roles_where(view="classes")
FLOAT_BYTES = 4
# Optimiser state per parameter, in float32 values: Adam keeps two running averages, SGD/RMSprop with momentum
# one buffer (RMSprop one more for its average of squares), Adagrad its sum of squares.
STATE_VALUES = {"adam": 2, "adamw": 2, "adagrad": 1}
TEMPORARY_VALUES = 1  # initialisation and the optimiser step hold about one more copy of the weights at their peak
ACTIVATION_COPIES = 2  # each layer's output is kept for the backward pass, and its gradient is as large
# Of the memory still available, what a run may plan to use: the estimate leaves out the allocator's slack, Python
# itself and the larger evaluation batches, and the rest of the machine (the app, the desktop) needs room too.
USABLE_SHARE = 0.8
CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
PROC_MEMINFO = Path("/proc/meminfo")


# ---------------------------------------------------------------------------------------------------------------
# Data against the network


def trained_networks(document: Document, config: TrainConfig, recipe: str) -> list[Network]:
    """The networks the recipe builds."""
    if recipe == "gan":
        return [document.networks[name] for name in ("generator", "discriminator") if name in document.networks]
    return [pick_network(document, config)]


def check_data(document: Document, config: TrainConfig, recipe: str, data: PreparedData) -> None:
    """Refuse data whose labels or token ids do not fit the network, naming the node and the fix."""
    if recipe == "gan":
        return
    if recipe == "ppo":
        from netbuilder.train.recipes.reinforcement import require_environment

        require_environment(data.info)
    network = pick_network(document, config)
    analysis = analyze(network)
    if not analysis.ok:
        return  # building the model refuses it with the network's own problems, which come first
    check_compatible(network, data.info, TASK_OF.get(recipe, ""))  # the data package's own fit check, in its words
    inputs = network.inputs()
    if len(inputs) == 1:  # the Input's shape and dtype first: what follows reads the data as that Input takes it
        input_type = analysis.nodes[inputs[0].id].output if inputs[0].id in analysis.nodes else None
        if input_type is not None:
            check_fits(network, input_type, data.info, inputs[0].name)
    splits = [s for s in (data.train, data.val, data.test) if s is not None and len(s) > 0]
    if data.info.dtype == "int64":
        _check_token_ids(network, analysis, data, splits, recipe)
    if recipe in CLASSIFIERS:
        _check_labels(network, analysis, data, splits)


def _scan(splits: list[Split], targets: bool) -> torch.Tensor | None:
    """The targets (or the inputs) of every split, flattened, from what is known without reading files: whole
    tensors in memory, the label list of a file split (its inputs are not read here)."""
    parts: list[torch.Tensor] = []
    for split in splits:
        if isinstance(split, ArraySplit):
            value = split.y if targets else split.x
        else:
            labels = getattr(split, "labels", None) if targets else None
            value = torch.as_tensor(labels) if labels is not None and len(labels) else None
        if value is not None:
            parts.append(value.reshape(-1).to("cpu"))
    if not parts:
        return None
    return torch.cat(parts)


def _class_output(network: Network, analysis: Analysis) -> tuple[Any, int | None] | None:
    """The first classification Output and its number of class scores (None when not known)."""
    for node in network.outputs():
        if node.params.get("role") in CLASS_ROLES:
            info = analysis.nodes.get(node.id)
            out = info.output if info is not None else None
            units = out.shape[-1] if out is not None and out.shape else None
            return node, units if isinstance(units, int) else None
    return None


def _size_setter_name(network: Network, analysis: Analysis, output: Any) -> str | None:
    from netbuilder.data.compat import _size_setter

    setter = _size_setter(network, analysis, output)
    return setter.name if setter is not None else None


def _in_data_units(values: torch.Tensor, data: PreparedData) -> torch.Tensor:
    """Flat target values standardised for training, back in the data's own units (what the user's file holds)."""
    targets = data.preprocessing.targets
    if targets is None or targets.shift.numel() != 1:
        return values
    return values * targets.scale.reshape(-1)[0] + targets.shift.reshape(-1)[0]


def _check_labels(network: Network, analysis: Analysis, data: PreparedData, splits: list[Split]) -> None:
    info = data.info
    labels = _scan(splits, targets=True)
    if labels is None or labels.numel() == 0:
        return
    found = _class_output(network, analysis)
    if labels.is_floating_point():
        finite = labels[torch.isfinite(labels)]
        raw = _in_data_units(finite, data)  # the values the user's file holds
        odd = raw[(raw - raw.round()).abs() > 1e-4 * raw.abs().clamp(min=1)]
        if odd.numel() or finite.numel() < labels.numel():
            example = f"{odd[0].item():g}" if odd.numel() else "NaN"
            raise TrainError(
                f"The data {info.id!r} has decimal targets (e.g. {example}), but a classifier needs whole-number "
                "class labels 0, 1, 2, …; these look like measurements.",
                "Train it as regression (recipe regression, Output role regression), or choose data with class "
                "labels.")
        if data.preprocessing.targets is not None:  # whole numbers, read as regression and standardised
            raise TrainError(
                f"The data {info.id!r} was read as {info.task} (targets such as {raw[0].item():g}), but a "
                "classifier needs class labels 0, 1, 2, …",
                "Train it as regression (recipe regression, Output role regression), or, if the targets are "
                "classes, load the data with the option task=classification.")
    low = int(labels.min().item())
    if low < 0:
        raise TrainError(
            f"The data {info.id!r} has the label {low}; class labels must be 0 or more (0 to classes-1).",
            "Number the classes from 0 (a CSV or NumPy file loaded with task classification is numbered "
            "automatically), or train it as regression if the targets are measurements.")
    if found is None:
        return
    output, units = found
    if units is None:
        return
    top = int(labels.max().item())
    classes = max(info.num_classes or 0, top + 1)
    scores = 2 if units == 1 else units  # one logit: binary, labels 0 and 1
    if classes > scores:
        setter = _size_setter_name(network, analysis, output)
        where = f"'{setter}'" if setter else f"the layer before '{output.name}'"
        have = f"{units} class score{'s' if units != 1 else ''}"
        raise TrainError(
            f"The data has {classes} classes (labels 0 to {classes - 1}), but Output '{output.name}' gets {have}.",
            f"Set the units of {where} to {classes}.")


def _check_token_ids(network: Network, analysis: Analysis, data: PreparedData, splits: list[Split],
                     recipe: str) -> None:
    info = data.info
    ids = _scan(splits, targets=False)
    if ids is None or ids.numel() == 0 or ids.is_floating_point():
        return
    if recipe == "language_model":
        targets = _scan(splits, targets=True)
        if targets is not None and targets.numel() and not targets.is_floating_point():
            ids = torch.cat([ids, targets])
    low, top = int(ids.min().item()), int(ids.max().item())
    vocab = max(len(info.vocab or []), top + 1)
    if low < 0:
        raise TrainError(f"The data {info.id!r} has the token id {low}; token ids must be 0 or more.",
                         "Encode the tokens as ids from 0 to the vocabulary size - 1.")
    inputs = {node.id for node in network.inputs() if node.params.get("dtype") == "int64"}
    for node in network.nodes:
        if node.type != "Embedding" or not analysis.in_model(node.id):
            continue
        if not inputs & nx.ancestors(network.graph, node.id):
            continue  # fed by something other than the data's token ids
        size = int(node.params.get("vocab_size", 0))
        if size < vocab:
            raise TrainError(
                f"Embedding '{node.name}' has vocab_size {size}, but the data {info.id!r} has {vocab} distinct "
                f"tokens (ids 0 to {vocab - 1}).",
                f"Set vocab_size of '{node.name}' to {vocab}.")
    if recipe == "language_model":
        for output in network.outputs():
            if output.params.get("role") not in roles.roles_for_task("language_model"):
                continue
            out = analysis.nodes.get(output.id)
            units = out.output.shape[-1] if out is not None and out.output is not None else None
            if isinstance(units, int) and units < vocab:
                setter = _size_setter_name(network, analysis, output)
                where = f"'{setter}'" if setter else f"the layer before '{output.name}'"
                raise TrainError(
                    f"Output '{output.name}' gives {units} token scores, but the data {info.id!r} has {vocab} "
                    "distinct tokens.", f"Set the units of {where} to {vocab}.")


# ---------------------------------------------------------------------------------------------------------------
# Memory


@dataclass
class MemoryEstimate:
    """Bytes a training run needs at its peak, by what holds them."""

    parameters: int
    weights: int
    gradients: int
    optimizer: int
    temporaries: int
    activations: int
    data: int  # data moved to the device (CUDA only: on the CPU it is in memory already)
    batch_size: int

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.temporaries + self.activations + self.data

    def describe(self) -> str:
        parts = [f"weights {human_bytes(self.weights)}", f"gradients {human_bytes(self.gradients)}"]
        if self.optimizer:
            parts.append(f"optimiser state {human_bytes(self.optimizer)}")
        parts.append(f"working copies {human_bytes(self.temporaries)}")
        parts.append(f"activations of a batch of {self.batch_size} {human_bytes(self.activations)}")
        if self.data:
            parts.append(f"data {human_bytes(self.data)}")
        return f"about {human_bytes(self.total)} ({', '.join(parts)})"


def human_bytes(count: float) -> str:
    size = float(count)
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _dims(shape: tuple[Any, ...], sizes: dict[str, int], fallback: int) -> int:
    total = 1
    for dim in shape:
        total *= dim if isinstance(dim, int) else sizes.get(str(dim), fallback)
    return total


def estimate_memory(networks: list[Network], config: TrainConfig, data: PreparedData,
                    device: torch.device) -> MemoryEstimate:
    """The peak memory of training ``networks`` with ``config``, from their analysis (nothing is allocated)."""
    info = data.info
    parameters = trainable = 0
    per_sample = 0
    fallback = max([d for d in info.sample_shape if isinstance(d, int)], default=1)
    for network in networks:
        analysis = analyze(network)
        sizes: dict[str, int] = {}
        for node in network.inputs():
            shape = tuple(node.params.get("shape", ()))
            if len(shape) == len(info.sample_shape):
                for dim, have in zip(shape, info.sample_shape, strict=True):
                    if not isinstance(dim, int) and isinstance(have, int):
                        sizes[str(dim)] = have
        for node in network.nodes:
            node_info = analysis.nodes.get(node.id)
            if node_info is None or not analysis.in_model(node.id):
                continue
            parameters += node_info.params
            if getattr(node, "trainable", True):
                trainable += node_info.params
            for out in node_info.outputs.values():
                per_sample += _dims(tuple(out.features), sizes, fallback)
    values = STATE_VALUES.get(config.optimizer, 0)
    if config.optimizer in ("sgd", "rmsprop") and config.momentum > 0:
        values += 1
    if config.optimizer == "rmsprop":
        values += 1
    moved = 0
    if device.type == "cuda":
        for split in (data.train, data.val):
            if isinstance(split, ArraySplit):
                moved += split.x.numel() * split.x.element_size()
                if split.y is not None:
                    moved += split.y.numel() * split.y.element_size()
    return MemoryEstimate(
        parameters=parameters, weights=FLOAT_BYTES * parameters, gradients=FLOAT_BYTES * trainable,
        optimizer=FLOAT_BYTES * values * trainable, temporaries=FLOAT_BYTES * TEMPORARY_VALUES * parameters,
        activations=FLOAT_BYTES * ACTIVATION_COPIES * per_sample * config.batch_size, data=moved,
        batch_size=config.batch_size)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _meminfo_available() -> int | None:
    try:
        for line in PROC_MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _sysconf_available() -> int | None:
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_room() -> int | None:
    """What the container's memory limit still allows (cgroup v2, then v1), or None without a limit."""
    own = ""
    try:
        for line in PROC_SELF_CGROUP.read_text().splitlines():
            if line.startswith("0::"):
                own = line[3:].strip("/")
    except OSError:
        pass
    root = CGROUP_ROOT
    for folder in ([root / own] if own else []) + [root]:
        limit = _read_int(folder / "memory.max")
        if limit is not None:
            used = _read_int(folder / "memory.current") or 0
            return max(0, limit - used)
    limit = _read_int(root / "memory" / "memory.limit_in_bytes")
    if limit is not None and limit < 1 << 60:  # v1 writes a huge number for "no limit"
        used = _read_int(root / "memory" / "memory.usage_in_bytes") or 0
        return max(0, limit - used)
    return None


def available_memory(device: torch.device) -> tuple[int, str] | None:
    """How many bytes training may still use on ``device``, and what that figure is; None when not known."""
    if device.type == "cuda":
        try:
            free, total = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError):
            return None
        return int(free), f"free on {device} (of {human_bytes(total)})"
    if device.type != "cpu":
        return None
    found: list[tuple[int, str]] = []
    ram = _meminfo_available()
    if ram is None:
        ram = _sysconf_available()
    if ram is not None:
        found.append((ram, "of memory available on this machine"))
    room = _cgroup_room()
    if room is not None:
        found.append((room, "left under this container's memory limit"))
    return min(found) if found else None


def check_memory(estimate: MemoryEstimate, device: torch.device, config: TrainConfig) -> str | None:
    """Refuse a run whose estimate exceeds what is usable; a warning text when it takes most of it."""
    available = available_memory(device)
    if available is None:
        return None
    free, what = available
    usable = int(free * USABLE_SHARE)
    needed = estimate.total
    if needed > usable:
        fixes = []
        if estimate.weights + estimate.gradients + estimate.optimizer > usable // 2:
            fixes.append(f"use fewer units or filters, or pool the features before the large Linear layers "
                         f"({estimate.parameters:,} parameters now)")
        if estimate.activations > usable // 4 and estimate.batch_size > 1:
            fixes.append(f"lower the batch size (it is {estimate.batch_size})")
        if config.optimizer in ("adam", "adamw") and estimate.optimizer > usable // 4:
            fixes.append("use SGD, which keeps half the optimiser state of Adam")
        if not fixes:
            fixes.append("use a smaller network or a smaller batch")
        raise TrainError(
            f"Training this network needs {estimate.describe()}, but there is {human_bytes(free)} {what} and a "
            f"run may plan on at most {USABLE_SHARE:.0%} of it; it was not started, so nothing was allocated.",
            fixes[0][0].upper() + "; or ".join(fixes)[1:] + ".")
    if needed > free // 2:
        return (f"Training needs {estimate.describe()}, more than half of the {human_bytes(free)} {what}; other "
                "programs may slow down or fail.")
    return None


def run_checks(document: Document, config: TrainConfig, recipe: str, data: PreparedData,
               device: torch.device) -> list[str]:
    """Every check before the model is built: TrainError for what cannot work, warning texts for the rest."""
    check_data(document, config, recipe, data)
    estimate = estimate_memory(trained_networks(document, config, recipe), config, data, device)
    warning = check_memory(estimate, device, config)
    return [warning] if warning else []
