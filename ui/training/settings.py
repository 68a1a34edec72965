"""Reading and writing the document's training settings for the panels, and the choices they offer.

The panels show ``settings["training"]`` and ``settings["data"]`` and write them back through the undoable
SetSetting command. Reading is forgiving: a document whose settings the training engine would refuse (an older
file, a setting at the wrong level) still opens with what can be understood, and says what was read differently,
so that the user can fix it with one edit instead of facing an error before the panel even shows.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

from netbuilder.document import Document
from netbuilder.train import ConfigError, DataConfig, GANConfig, LMConfig, TrainConfig, VAEConfig
from netbuilder.train.config import LOSSES, OPTIMIZERS, RECIPES, SCHEDULES

LOCK_REASON = "Training is running: stop it to change the network."

RECIPE_LABELS = {
    "auto": "Automatic (from the network and data)",
    "classification": "Classification",
    "regression": "Regression",
    "sequence_classification": "Sequence classification",
    "forecasting": "Time-series forecasting",
    "autoencoder": "Autoencoder",
    "vae": "Variational autoencoder",
    "gan": "GAN (generator + discriminator)",
    "language_model": "Language model",
}
OPTIMIZER_LABELS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop", "adagrad": "Adagrad"}
SCHEDULE_LABELS = {"none": "Constant", "step": "Step decay", "cosine": "Cosine", "plateau": "Reduce on plateau",
                   "onecycle": "One-cycle"}
LOSS_LABELS = {"auto": "Automatic (from the role)", "none": "None (not trained)", "mse": "Mean squared error",
               "l1": "Mean absolute error (L1)", "huber": "Huber", "cross_entropy": "Cross-entropy",
               "nll": "Negative log-likelihood", "bce": "Binary cross-entropy",
               "bce_logits": "Binary cross-entropy (logits)", "kl": "KL divergence"}

# The options the data panel edits per format (everything else in settings["data"] is kept as it is).
SPLIT_KEYS = DataConfig.SPLIT_KEYS
_SECTIONS: tuple[tuple[str, type], ...] = (("gan", GANConfig), ("vae", VAEConfig), ("lm", LMConfig))

assert set(RECIPE_LABELS) == set(RECIPES) and set(OPTIMIZER_LABELS) == set(OPTIMIZERS)
assert set(SCHEDULE_LABELS) == set(SCHEDULES) and set(LOSS_LABELS) == set(LOSSES)


def _field_names(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def normalized_training(settings: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """``settings["training"]`` with misplaced keys moved where the engine reads them (``latent_size`` into
    ``gan``, ``beta`` into ``vae``, ...), and a note for every key moved or dropped."""
    training = copy.deepcopy(dict((settings or {}).get("training") or {}))
    if not isinstance(training, dict):
        return {}, ["The training settings were not a mapping of names to values; defaults are shown."]
    notes: list[str] = []
    known = _field_names(TrainConfig)
    for key in [k for k in training if k not in known]:
        value = training.pop(key)
        for section, cls in _SECTIONS:
            if key in _field_names(cls):
                target = training.setdefault(section, {})
                if isinstance(target, dict):
                    target.setdefault(key, value)
                notes.append(f"The setting '{key}' was read as {section}.{key}.")
                break
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
