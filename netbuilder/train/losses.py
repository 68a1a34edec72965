"""Loss functions per Output node, and metrics accumulated on the device.

Each Output node gets one loss, chosen from its role and the task unless the config names one; several outputs
train on the weighted sum. Metrics are accumulated as device tensors (a confusion matrix, sums of errors) and read
back once per evaluation, never once per batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from netbuilder.compile import CompiledInfo
from netbuilder.document.model import Network
from netbuilder.specs import roles
from netbuilder.train.config import LossConfig, TrainConfig

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
CLASS_LOSSES = ("cross_entropy", "nll")


class LossError(ValueError):
    """An output and its targets cannot be compared; the message names the Output node."""


def default_loss(role: str, task: str, units: int | None, fed_by: str | None) -> str:
    """The loss an Output of ``role`` trains with for ``task`` when the config does not name one (from the role
    registry)."""
    return roles.default_loss(role, task, units)


@dataclass
class OutputLoss:
    """How one Output node is trained."""

    output: str  # Output node name
    index: int  # position in the module's outputs
    role: str
    loss: str
    weight: float
    fn: LossFn | None  # None for "none"

    def __call__(self, output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        assert self.fn is not None
        return self.fn(output, target)


def resolve_losses(info: CompiledInfo, network: Network, config: TrainConfig, task: str,
                   device: torch.device) -> list[OutputLoss]:
    """One `OutputLoss` per Output node of the compiled network, config first, then defaults."""
    by_name = {c.output: c for c in config.losses}
    unknown = sorted(set(by_name) - set(info.output_names) - {""})
    if unknown:
        raise LossError(f"The loss settings name {', '.join(map(repr, unknown))}, but the network's outputs are "
                        f"{', '.join(info.output_names)}. Use an Output node's name.")
    result = []
    for index, (name, role, otype) in enumerate(zip(info.output_names, info.output_roles, info.output_types,
                                                    strict=True)):
        chosen = by_name.get(name) or by_name.get("") or LossConfig(output=name)
        units = otype.shape[-1] if isinstance(otype.shape[-1], int) else None
        fed_by = feeding_type(network, name)
        loss = chosen.loss
        if loss == "auto":
            loss = default_loss(role, task, units, fed_by)
        entry = roles.get(role)
        log_first = loss == "nll" and entry is not None and entry.is_probability and fed_by != "LogSoftmax"
        fn = None if loss == "none" else make_loss(loss, chosen, device, log_first)
        result.append(OutputLoss(name, index, role, loss, chosen.weight, fn))
    return result


def feeding_type(network: Network, output_name: str) -> str | None:
    """The layer type right before an Output node (None when nothing is wired into it)."""
    node = network.find(output_name)
    wires = network.wires_into(node.id)
    return network.node(wires[0].src).type if wires else None


def make_loss(name: str, options: LossConfig, device: torch.device, log_first: bool = False) -> LossFn:
    """The loss function ``fn(output, target) -> scalar`` for a loss name."""
    if name == "mse":
        return lambda out, y: F.mse_loss(out, _like(y, out))
    if name == "l1":
        return lambda out, y: F.l1_loss(out, _like(y, out))
    if name == "huber":
        delta = options.huber_delta
        return lambda out, y: F.huber_loss(out, _like(y, out), delta=delta)
    if name in CLASS_LOSSES:
        weight = None
        if options.class_weights:
            weight = torch.tensor(options.class_weights, dtype=torch.float32, device=device)
        smoothing = options.label_smoothing
        if name == "cross_entropy":
            def cross_entropy(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
                if weight is None and out.dim() == 2 and y.dim() == 1 and y.dtype == torch.long:
                    return F.cross_entropy(out, y, label_smoothing=smoothing)  # the common case, no reshaping
                logits, target = _class_layout(out, y)
                return F.cross_entropy(logits, target, weight=_cast(weight, logits), label_smoothing=smoothing)
            return cross_entropy

        def nll(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            logp, target = _class_layout(out, y)
            if log_first:
                logp = logp.float().clamp_min(1e-12).log()
            return F.nll_loss(logp, target, weight=_cast(weight, logp))
        return nll
    if name == "bce":
        return lambda out, y: F.binary_cross_entropy(out.float().clamp(0.0, 1.0), _binary(y, out).float())
    if name == "bce_logits":
        return lambda out, y: F.binary_cross_entropy_with_logits(out, _binary(y, out))
    if name == "kl":
        return lambda out, y: F.kl_div(out, _like(y, out), reduction="batchmean")
    raise LossError(f"Unknown loss {name!r}.")


def _cast(weight: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if weight is None else weight.to(like.dtype)


def _like(y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Targets in the output's shape and dtype (N targets for an N×1 output are fine)."""
    if y.shape != out.shape:
        if y.numel() != out.numel():
            raise LossError(f"the output is {_shape(out)} per batch but the targets are {_shape(y)}")
        y = y.reshape(out.shape)
    return y.to(out.dtype)


def _binary(y: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Binary targets: a 0/1 per output unit, or class ids turned into one-hot rows for several units."""
    if not y.is_floating_point() and out.dim() >= 2 and out.shape[-1] > 1 and y.numel() * out.shape[-1] == out.numel():
        return F.one_hot(y.reshape(out.shape[:-1]), out.shape[-1]).to(out.dtype)
    return _like(y, out)


def _class_layout(out: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class scores as rows (…×C flattened to M×C) and targets as M class ids (or M×C probabilities)."""
    classes = out.shape[-1]
    if y.is_floating_point() and y.shape == out.shape:  # soft labels
        return out.reshape(-1, classes), y.reshape(-1, classes)
    rows = out.numel() // classes
    if y.numel() != rows:
        raise LossError(f"the output is {_shape(out)} (class scores on the last axis) but the targets are "
                        f"{_shape(y)}")
    return out.reshape(rows, classes), y.reshape(rows).long()


def _shape(t: torch.Tensor) -> str:
    return "×".join(str(d) for d in t.shape)


# ---------------------------------------------------------------------------------------------------------------
# Metrics


class ClassMetrics:
    """Accuracy, top-k and macro precision/recall/F1 from a confusion matrix kept on the device."""

    def __init__(self, classes: int, device: torch.device, topk: tuple[int, ...] = (), probabilities: bool = False):
        self.classes = classes
        self.threshold = 0.5 if probabilities else 0.0  # for a single output unit: probability or logit
        self.topk = tuple(k for k in topk if k < classes)
        self.matrix = torch.zeros(classes * classes, dtype=torch.long, device=device)
        self.hits = {k: torch.zeros((), dtype=torch.long, device=device) for k in self.topk}

    def update(self, out: torch.Tensor, y: torch.Tensor) -> None:
        """Count a batch. Targets are valid class ids here: the loss has already refused any that are not."""
        if out.dim() == 2 and y.dim() == 1 and y.dtype == torch.long and out.shape[1] > 1 and not self.topk:
            self.matrix += torch.bincount(y * self.classes + out.argmax(dim=1), minlength=self.classes ** 2)
            return
        if out.shape[-1] == 1 and self.classes == 2:  # one logit or probability for two classes
            pred = (out.reshape(-1) > self.threshold).long()
            target = y.reshape(-1).long()
        else:
            scores, target = _class_layout(out, y)
            if target.is_floating_point():
                target = target.argmax(dim=-1)
            pred = scores.argmax(dim=-1)
            for k in self.topk:
                top = scores.topk(k, dim=-1).indices
                self.hits[k] += (top == target.unsqueeze(-1)).any(dim=-1).sum()
        self.matrix += torch.bincount(target * self.classes + pred, minlength=self.classes ** 2)

    def compute(self, prefix: str = "val_") -> tuple[dict[str, float], list[list[int]]]:
        """The metrics (one read from the device; the arithmetic on a C×C table is done in NumPy)."""
        matrix = self.matrix.reshape(self.classes, self.classes).cpu().numpy().astype(np.float64)
        total = matrix.sum()
        correct = np.diag(matrix)
        predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(predicted > 0, correct / predicted, 0.0)
            recall = np.where(actual > 0, correct / actual, 0.0)
            f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        present = actual > 0
        count = max(1, int(present.sum()))
        metrics = {
            f"{prefix}accuracy": float(correct.sum() / total) if total else 0.0,
            f"{prefix}precision": float(precision[present].sum() / count),
            f"{prefix}recall": float(recall[present].sum() / count),
            f"{prefix}f1": float(f1[present].sum() / count),
        }
        for k, hits in self.hits.items():
            metrics[f"{prefix}top{k}"] = hits.item() / total if total else 0.0
        return metrics, matrix.astype(np.int64).tolist()


class RegressionMetrics:
    """MAE and R² (1 - SSE / SST with a mean per output value), from sums kept on the device."""

    def __init__(self, device: torch.device):
        self.device = device
        self.count = 0
        self.dtype = sum_dtype(device)
        self.abs_err = torch.zeros((), dtype=self.dtype, device=device)
        self.sq_err = torch.zeros((), dtype=self.dtype, device=device)
        self.y_sum: torch.Tensor | None = None
        self.y_sq: torch.Tensor | None = None

    def update(self, out: torch.Tensor, y: torch.Tensor) -> None:
        y = _like(y, out).to(self.dtype)
        out = out.to(self.dtype)
        rows = y.reshape(y.shape[0], -1)
        diff = out - y
        self.abs_err += diff.abs().sum()
        self.sq_err += diff.pow(2).sum()
        if self.y_sum is None:
            self.y_sum = rows.sum(dim=0)
            self.y_sq = rows.pow(2).sum(dim=0)
        else:
            self.y_sum += rows.sum(dim=0)
            self.y_sq += rows.pow(2).sum(dim=0)
        self.count += rows.shape[0]

    def compute(self, prefix: str = "val_") -> dict[str, float]:
        if not self.count or self.y_sum is None or self.y_sq is None:
            return {}
        n = self.count
        values = n * self.y_sum.numel()
        sst = (self.y_sq - self.y_sum.pow(2) / n).sum().item()
        sse = self.sq_err.item()
        r2 = 1.0 - sse / sst if sst > 0 else 0.0
        return {f"{prefix}mae": self.abs_err.item() / values, f"{prefix}r2": r2}


def sum_dtype(device: torch.device) -> torch.dtype:
    """Double precision for running sums, except on Apple GPUs, which have no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def perplexity(loss: float) -> float:
    """exp(cross-entropy), capped so that a diverged model reports a large number instead of overflowing."""
    return math.exp(min(loss, 50.0))
