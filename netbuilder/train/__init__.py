"""Training: recipes for every kind of network, a loop that yields plain events, run folders, evaluation.

Qt-free. The desktop app runs `Trainer.events` in a worker thread; the CLI runs it in the main thread.

The settings (`config`, `schema`, `settings_check`) import no torch, so ``validate`` checks a file's settings
without loading PyTorch; the rest of this package's names are imported on first use (PEP 562).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from netbuilder.train.config import (
    ConfigError,
    DataConfig,
    EarlyStopping,
    GANConfig,
    LMConfig,
    LossConfig,
    PretrainConfig,
    TrainConfig,
    TransferConfig,
    VAEConfig,
)

_LAZY = {
    "evaluate": ("Prediction", "evaluate", "predict"),
    "events": ("BatchEnd", "Checkpoint", "Done", "EpochEnd", "Error", "Event", "RunStarted", "Samples", "Stage",
               "TestEnd", "ValidationEnd", "Warning", "WeightsLoaded"),
    "loop": ("Trainer", "resolve_device", "train"),
    "recipes": ("TrainError", "choose_recipe"),
    "runs": ("Run", "RunError", "graph_hash", "list_runs", "load_run"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}

if TYPE_CHECKING:
    from netbuilder.train.evaluate import Prediction, evaluate, predict
    from netbuilder.train.events import (
        BatchEnd,
        Checkpoint,
        Done,
        EpochEnd,
        Error,
        Event,
        RunStarted,
        Samples,
        Stage,
        TestEnd,
        ValidationEnd,
        Warning,
        WeightsLoaded,
    )
    from netbuilder.train.loop import Trainer, resolve_device, train
    from netbuilder.train.recipes import TrainError, choose_recipe
    from netbuilder.train.runs import Run, RunError, graph_hash, list_runs, load_run


class _Package(types.ModuleType):
    """``netbuilder.train.evaluate`` is both a submodule and a function exported here. Importing the submodule
    makes Python set the package attribute to the module, which would hide the function once loaded lazily; the
    function keeps the name, as it did when everything here was imported eagerly."""

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and name in _HOME:
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'netbuilder.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"netbuilder.train.{module}"), name)
    globals()[name] = value
    return value

__all__ = [
    "BatchEnd", "Checkpoint", "ConfigError", "DataConfig", "Done", "EarlyStopping", "EpochEnd", "Error", "Event",
    "GANConfig", "LMConfig", "LossConfig", "Prediction", "PretrainConfig", "Run", "RunError", "RunStarted", "Samples",
    "Stage", "TestEnd", "TrainConfig", "TrainError", "Trainer", "TransferConfig", "VAEConfig", "ValidationEnd", "Warning",
    "WeightsLoaded",
    "choose_recipe", "evaluate", "graph_hash", "list_runs", "load_run", "predict", "resolve_device", "train",
]
