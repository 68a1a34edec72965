"""Reading and writing the document's training settings for the panels, and the choices they offer.

The panels show ``settings["training"]`` and ``settings["data"]`` and write them back through the undoable
SetSetting command. Reading is forgiving: a document whose settings the training engine would refuse (an older
file, a setting at the wrong level) still opens with what can be understood, and says what was read differently,
so that the user can fix it with one edit instead of facing an error before the panel even shows.
"""

from __future__ import annotations

import copy
from typing import Any

from netbuilder.document import Document
from netbuilder.train import ConfigError, DataConfig, TrainConfig, schema

LOCK_REASON = "Training is running: stop it to change the network."


def _labels(entry: schema.Setting) -> dict[str, str]:
    return {choice: entry.label_of(choice) for choice in entry.choices}


# The app's names of the choices, from the settings schema.
RECIPE_LABELS = _labels(schema.setting("training.recipe"))
OPTIMIZER_LABELS = _labels(schema.setting("training.optimizer"))
SCHEDULE_LABELS = _labels(schema.setting("training.schedule"))
LOSS_LABELS = _labels(next(f for f in schema.LOSS_FIELDS if f.key == "loss"))

# The options the data panel edits per format (everything else in settings["data"] is kept as it is).
SPLIT_KEYS = DataConfig.SPLIT_KEYS
# Settings the Data panel edits; the Training panel edits every other one.
DATA_PANEL_SETTINGS = frozenset({"data.source", "data.format", "data.options", "data.val_fraction",
                                 "data.test_fraction", "data.normalize"})


def normalized_training(settings: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """``settings["training"]`` with misplaced keys moved where the engine reads them (``latent_size`` into
    ``gan``, ``beta`` into ``vae``, ...), and a note for every key moved or dropped."""
    training = copy.deepcopy(dict((settings or {}).get("training") or {}))
    if not isinstance(training, dict):
        return {}, ["The training settings were not a mapping of names to values; defaults are shown."]
    notes: list[str] = []
    known = {entry.path[0] for entry in schema.section_settings("training")} | {"data"}
    for key in [k for k in training if k not in known]:
        value = training.pop(key)
        moved = schema.MOVED.get(key, "")
        section, _dot, name = moved.partition(".")
        if section in known and name and "." not in name and "[" not in moved:
            target = training.setdefault(section, {})
            if isinstance(target, dict):
                target.setdefault(name, value)
            notes.append(f"The setting '{key}' was read as {moved}.")
        else:
            notes.append(f"The unknown training setting '{key}' is ignored.")
    return training, notes


def read_config(settings: dict[str, Any] | None) -> tuple[TrainConfig, list[str]]:
    """The TrainConfig of a document's settings, read forgivingly (see the module docstring). Raises ConfigError
    when a value is invalid (not merely misplaced); its message names the setting."""
    try:
        return TrainConfig.from_settings(settings), []
    except ConfigError:
        training, notes = normalized_training(settings)
        if not notes:
            raise
        data = (settings or {}).get("data")
        if isinstance(data, str):
            data = {"source": data}
        return TrainConfig.from_dict(training, data), notes


def device_choices() -> list[tuple[str, str]]:
    """(value, label) pairs: automatic, the CPU, each CUDA device by name, and Apple's GPU where present."""
    import torch

    choices = [("auto", "Automatic (best available)"), ("cpu", "CPU")]
    if torch.cuda.is_available():
        for index in range(torch.cuda.device_count()):
            try:
                name = torch.cuda.get_device_name(index)
            except (RuntimeError, AssertionError):
                name = "CUDA device"
            choices.append((f"cuda:{index}", f"GPU {index}: {name}"))
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        choices.append(("mps", "Apple GPU (MPS)"))
    return choices


def output_nodes(document: Document, network: str | None = None) -> list[tuple[str, str]]:
    """(network, Output node name) for every Output a loss can be set on: those of ``network`` or of all."""
    result = []
    for net in document:
        if network and net.name != network:
            continue
        result.extend((net.name, node.name) for node in net.outputs())
    return result


def data_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """``settings["data"]`` in one shape: source, format, options, split keys (plus whatever else was there)."""
    raw = (settings or {}).get("data")
    if isinstance(raw, str):
        raw = {"source": raw}
    raw = copy.deepcopy(dict(raw or {}))
    result: dict[str, Any] = {}
    source = raw.pop("source", None) or raw.pop("path", None) or raw.pop("id", None) or ""
    result["source"] = source
    fmt = raw.pop("format", "")
    if fmt:
        result["format"] = fmt
    options = dict(raw.pop("options", None) or {})
    for key in list(raw):
        if key in SPLIT_KEYS:
            result[key] = raw.pop(key)
        else:
            options[key] = raw.pop(key)
    if options:
        result["options"] = options
    return result
