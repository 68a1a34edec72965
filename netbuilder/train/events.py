"""The plain event objects a training run yields (DESIGN.md principle 9).

They carry only Python numbers, strings, dicts and (for image samples) a CPU tensor, so any consumer can use
them: the CLI prints them, the desktop app re-emits them as Qt signals from its worker thread, tests assert on
them. ``to_dict`` gives a JSON-ready form (image payloads become their shape).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch


@dataclass
class Event:
    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"event": self.kind}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, torch.Tensor):
                value = {"tensor_shape": list(value.shape)}
            data[f.name] = value
        return data


@dataclass
class RunStarted(Event):
    """The run is set up: where it writes, on which device, and how long it will be."""

    kind: ClassVar[str] = "start"
    run_dir: str | None
    config: dict[str, Any]
    device: str
    epochs: int
    batches_per_epoch: int
    total_batches: int
    recipe: str = ""
    start_epoch: int = 1  # > 1 when resumed from a checkpoint
    parameters: int = 0  # trainable parameters
    data: dict[str, Any] = field(default_factory=dict)  # the DataInfo as a dict
    world_size: int = 1


@dataclass
class BatchEnd(Event):
    """Progress inside an epoch. Sent every few batches (``log_every``/``log_interval``), not after every batch,
    so that training never waits on the device just to report; ``loss`` is the mean over those batches."""

    kind: ClassVar[str] = "batch"
    epoch: int
    batch: int  # 1-based index of the last batch covered, within the epoch
    step: int  # optimisation steps since the run began
    loss: float
    lr: float
    samples_per_s: float
    batches: int = 0  # batches per epoch
    losses: dict[str, float] = field(default_factory=dict)  # parts of the loss (GAN: d_loss, g_loss)


@dataclass
class ValidationEnd(Event):
    """Validation results, including those that are not single numbers (the confusion matrix)."""

    kind: ClassVar[str] = "validation"
    epoch: int
    metrics: dict[str, float]
    confusion: list[list[int]] | None = None
    class_names: list[str] | None = None


@dataclass
class EpochEnd(Event):
    """One epoch done. ``metrics`` holds train_loss, the val_* metrics of the recipe and lr."""

    kind: ClassVar[str] = "epoch"
    epoch: int
    metrics: dict[str, float]
    best: bool = False  # the monitored metric improved
    seconds: float = 0.0


@dataclass
class Samples(Event):
    """What the model makes now: images (``payload`` N×C×H×W floats in [0, 1], CPU) or text (list of str)."""

    kind: ClassVar[str] = "samples"
    epoch: int
    sample_kind: str  # "images" or "text"
    payload: Any
    caption: str = ""
    # A stable id of what is shown ("reconstructions", "samples", "text"): a view keeps one grid per key and
    # lays it out by key, so no consumer parses the caption, which is for people and may change.
    key: str = "samples"


@dataclass
class Checkpoint(Event):
    kind: ClassVar[str] = "checkpoint"
    epoch: int
    path: str
    best: bool = False


@dataclass
class WeightsLoaded(Event):
    """Transfer learning: which nodes took weights from the source and which did not, and why."""

    kind: ClassVar[str] = "weights"
    source: str
    matched: list[str]
    missing: list[str]  # parameters of the network that the source does not have
    unexpected: list[str]  # entries of the source that no node of the network has
    mismatched: list[str]  # same name, different shape: "conv1.weight: 8×1×3×3 in the file, 16×1×3×3 here"


@dataclass
class Stage(Event):
    """A run in several stages (pre-training, then training) says which one begins; the events of each stage
    follow its Stage event, starting with its own RunStarted."""

    kind: ClassVar[str] = "stage"
    name: str
    description: str = ""


@dataclass
class Warning(Event):  # shadows the builtin inside this module only; the name the event stream uses
    kind: ClassVar[str] = "warning"
    message: str


@dataclass
class TestEnd(Event):
    """The held-out test split's metrics, reported once at the end of a run (never during it, so that nothing is
    tuned on them), with the weights they were measured on: "best" (the best epoch's) or "final"."""

    kind: ClassVar[str] = "test"
    __test__ = False  # not a pytest test class, despite its name
    epoch: int
    metrics: dict[str, float]
    weights: str = "best"
    confusion: list[list[int]] | None = None
    class_names: list[str] | None = None


@dataclass
class Done(Event):
    kind: ClassVar[str] = "done"
    run_dir: str | None
    metrics: dict[str, float]
    epochs_completed: int = 0
    stopped_early: bool = False
    stopped_by_user: bool = False
    best_epoch: int | None = None
    best_metric: float | None = None
    monitor: str | None = None  # the metric best_epoch was picked on
    test_metrics: dict[str, float] = field(default_factory=dict)  # from the TestEnd before it, if any


@dataclass
class Error(Event):
    """The run cannot go on. Always the last event; ``run_dir`` (if any) keeps what was saved before."""

    kind: ClassVar[str] = "error"
    message: str
    step: int | None = None
    suggestion: str = ""
    epoch: int | None = None
    run_dir: str | None = None

    def __str__(self) -> str:
        return f"{self.message} {self.suggestion}".strip()


TrainEvent = RunStarted | BatchEnd | ValidationEnd | EpochEnd | Samples | Checkpoint | WeightsLoaded | Stage | \
    Warning | TestEnd | Done | Error
