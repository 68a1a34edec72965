"""Training: recipes for every kind of network, a loop that yields plain events, run folders, evaluation.

Qt-free. The desktop app runs `Trainer.events` in a worker thread; the CLI runs it in the main thread.
"""

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

__all__ = [
    "BatchEnd", "Checkpoint", "ConfigError", "DataConfig", "Done", "EarlyStopping", "EpochEnd", "Error", "Event",
    "GANConfig", "LMConfig", "LossConfig", "Prediction", "PretrainConfig", "Run", "RunError", "RunStarted", "Samples",
    "Stage", "TestEnd", "TrainConfig", "TrainError", "Trainer", "TransferConfig", "VAEConfig", "ValidationEnd", "Warning",
    "WeightsLoaded",
    "choose_recipe", "evaluate", "graph_hash", "list_runs", "load_run", "predict", "resolve_device", "train",
]
