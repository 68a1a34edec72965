"""Explain one prediction of a trained network: which inputs drove the score of a chosen class.

The attribution methods are Captum's (integrated gradients, saliency, occlusion); this module only connects them
to a run: the network with the run's weights, the run's own validation sample, and the run's preprocessing. The
attribution is computed over the input *as the user sees it* (pixels in [0, 1], table values in the file's units):
the network is wrapped so that the run's fitted preprocessing is part of the explained function, which is why a
heat map lines up with the picture and a table's bars are per unit of the column the user knows.

What is explained is the class's probability (softmax of the logits; a one-unit binary output through a sigmoid),
or a regression output in the target's units. The baseline every method compares against is the training data's
average input (the values the preprocessing maps to zero), or zeros when the run has no preprocessing.

Integrated gradients reports its convergence delta: by construction its attributions add up to f(input) -
f(baseline); how far they miss says whether the integral was approximated well enough to trust (`Explanation.
trust`). Captum is imported only when an explanation is computed (it loads matplotlib, which is told to draw
without any GUI toolkit, keeping this core Qt-free).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn

METHODS = {"ig": "integrated gradients", "saliency": "saliency", "occlusion": "occlusion"}
DEFAULT_STEPS = 50
# IG is trusted when its attributions add up to the change in the score within this share of that change (or
# within ABSOLUTE_DELTA when the change itself is tiny).
TRUSTED_RELATIVE_DELTA = 0.05
ABSOLUTE_DELTA = 1e-3
EXPLAINED_ROLES = ("logits", "probabilities", "regression")


class ExplainError(ValueError):
    """What cannot be explained, in the user's words, with what to do instead."""

    def __init__(self, message: str, suggestion: str = ""):
        super().__init__(message)
        self.suggestion = suggestion


@dataclass
class Explanation:
    """One sample, one class, one method: the attribution has the sample's shape, in the data's units."""

    method: str  # "ig", "saliency" or "occlusion"
    sample: int  # 0-based index in the split
    split: str
    target: int  # the explained class (or output unit)
    target_name: str
    predicted: int
    predicted_name: str
    score: float  # the explained score on the sample (probability, or the regression output)
    baseline_score: float  # the same score on the baseline
    inputs: np.ndarray  # the sample in the data's units, shape as the Input takes it
    attribution: np.ndarray  # same shape as ``inputs``
    image: np.ndarray | None = None  # C×H×W view of the sample when it is an image (flat pixels reshaped)
    feature_names: list[str] = field(default_factory=list)
    true_name: str = ""
    delta: float | None = None  # integrated gradients: f(x) - f(baseline) - sum(attribution)
    steps: int = 0
    score_kind: str = "probability"  # or "output"
    weights: str = ""  # which weights were explained, e.g. "best checkpoint (epoch 3)"

    @property
    def method_title(self) -> str:
        return METHODS[self.method]

    @property
    def relative_delta(self) -> float | None:
        if self.delta is None:
            return None
        change = abs(self.score - self.baseline_score)
        return abs(self.delta) / change if change > 0 else math.inf if abs(self.delta) > 0 else 0.0

    @property
    def trusted(self) -> bool | None:
        """Integrated gradients only: whether the attributions add up to the score's change closely enough."""
        if self.delta is None:
            return None
        relative = self.relative_delta
        return abs(self.delta) <= ABSOLUTE_DELTA or (relative is not None and relative <= TRUSTED_RELATIVE_DELTA)

    def trust(self) -> str:
        """A sentence for the user: what the convergence delta says about this attribution."""
        if self.delta is None:
            return (f"{self.method_title.capitalize()} has no completeness check; compare it with integrated "
                    "gradients to see whether they agree.")
        change = self.score - self.baseline_score
        share = self.relative_delta
        missed = "" if share is None or not math.isfinite(share) else f" ({share:.2%} of the change)"
        summary = (f"The attributions add up to {change - self.delta:+.4g}; the {self.score_kind} changed by "
                   f"{change:+.4g} from the baseline: convergence delta {self.delta:+.2g}{missed}.")
        if self.trusted:
            return summary + " Small enough to trust."
        return summary + (f" Too large to trust: explain again with more steps (now {self.steps}, e.g. "
                          f"--steps {self.steps * 4}).")

    def heatmap(self) -> np.ndarray:
        """A 2-D map (H×W) for images, summed over colour channels; a 1-D vector per feature otherwise."""
        values = self.attribution
        if self.image is not None:
            return values.reshape(self.image.shape).sum(axis=0)
        return values.reshape(-1)

    def top_features(self, count: int = 5) -> list[tuple[str, float]]:
        """The features with the largest attributions (by size), for tables and reports."""
        flat = self.attribution.reshape(-1)
        names = self.feature_names or [f"x{i}" for i in range(flat.size)]
        order = np.argsort(-np.abs(flat))[:count]
        return [(names[i] if i < len(names) else f"x{i}", float(flat[i])) for i in order]

    def summary(self) -> str:
        truth = f", true class {self.true_name}" if self.true_name else ""
        what = (f"probability of class {self.target_name}: {self.score:.3g} (baseline {self.baseline_score:.3g})"
                if self.score_kind == "probability" else
                f"output {self.target_name}: {self.score:.4g} (baseline {self.baseline_score:.4g})")
        return (f"{self.method_title.capitalize()} for {self.split} sample {self.sample + 1}: predicted "
                f"{self.predicted_name}{truth}; explaining the {what}.")


@dataclass
class Explained:
    """The function Captum explains: data-unit inputs -> the scores of every class (batch × classes)."""

    module: nn.Module
    preprocessing: Any
    output_index: int
    role: str
    single_output: bool

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.preprocessing is not None and self.preprocessing.inputs is not None:
            x = self.preprocessing.inputs.apply(x)
        out = self.module(x)
        value = out if self.single_output else out[self.output_index]
        value = value.reshape(value.shape[0], -1).float()
        if self.role == "logits":
            return torch.sigmoid(value) if value.shape[1] == 1 else torch.softmax(value, dim=1)
        if self.role == "regression" and self.preprocessing is not None:
            return self.preprocessing.invert_targets(value).reshape(value.shape[0], -1)
        return value


def explained_output(module: nn.Module) -> tuple[int, str]:
    """(index, role) of the output an explanation is about: the first classifier or regression output."""
    from netbuilder.compile import compiled_info

    info = compiled_info(module)
    if len(info.input_names) != 1:
        raise ExplainError("Only networks with exactly one Input can be explained.")
    if info.input_types[0].dtype != "float32":
        raise ExplainError("Token inputs (language models) cannot be explained by input attribution.",
                           "Explain an image or table network.")
    for index, role in enumerate(info.output_roles):
        if role in EXPLAINED_ROLES:
            return index, role
    raise ExplainError("The network has no classifier or regression output to explain.",
                       "Explanations are for networks whose Output role is logits, probabilities or regression.")


def explain_sample(module: nn.Module, x: torch.Tensor, *, preprocessing: Any = None, method: str = "ig",
                   target: int | str | None = None, class_names: list[str] | None = None,
                   feature_names: list[str] | None = None, image_shape: tuple[int, ...] | None = None,
                   sample: int = 0, split: str = "val", true_label: int | None = None,
                   steps: int = DEFAULT_STEPS) -> Explanation:
    """Explain the network's score for ``target`` on one sample ``x`` (shape as the Input takes it, *network
    side*: preprocessed as in the run's prepared data). ``target`` None explains the predicted class; a name
    is looked up in ``class_names``."""
    if method not in METHODS:
        raise ExplainError(f"Unknown method {method!r}.", f"Use one of: {', '.join(METHODS)}.")
    if steps < 2:
        raise ExplainError(f"Integrated gradients needs at least 2 steps, not {steps}.")
    index, role = explained_output(module)
    device = next((p.device for p in module.parameters()), torch.device("cpu"))
    was_training = module.training
    module.eval()
    function = Explained(module, preprocessing, index, role, _single_output(module))
    network_x = x.detach().float().unsqueeze(0).to(device)
    raw = network_x
    if preprocessing is not None and preprocessing.inputs is not None and preprocessing.inputs.fits(network_x):
        raw = preprocessing.inputs.invert(network_x)
    baseline = torch.zeros_like(raw)
    if preprocessing is not None and preprocessing.inputs is not None and preprocessing.inputs.fits(raw):
        baseline = preprocessing.inputs.invert(torch.zeros_like(raw))
    try:
        with torch.no_grad():
            scores = function(raw)[0]
            baseline_scores = function(baseline)[0]
        predicted = int(scores.argmax()) if role != "regression" else 0
        chosen = _target_index(target, predicted, scores.numel(), class_names, role)
        attribution, delta = _attribute(function, raw, baseline, chosen, method, steps)
    finally:
        module.train(was_training)
    names = class_names or []

    def name(i: int) -> str:
        return names[i] if 0 <= i < len(names) else str(i)

    inputs = raw[0].detach().cpu().numpy()
    image = None
    if image_shape is not None and int(np.prod(image_shape)) == inputs.size:
        image = inputs.reshape(image_shape)
    return Explanation(method, sample, split, chosen, name(chosen), predicted, name(predicted),
                       float(scores[chosen]), float(baseline_scores[chosen]), inputs,
                       attribution[0].detach().cpu().numpy().reshape(inputs.shape), image,
                       list(feature_names or []), name(true_label) if true_label is not None else "",
                       delta, steps if method == "ig" else 0,
                       "output" if role == "regression" else "probability")


def _single_output(module: nn.Module) -> bool:
    from netbuilder.compile import compiled_info

    return bool(compiled_info(module).single_output)


def _target_index(target: int | str | None, predicted: int, count: int, class_names: list[str] | None,
                  role: str) -> int:
    if target is None:
        return predicted
    if isinstance(target, str) and not target.strip().lstrip("-").isdigit():
        names = class_names or []
        if target in names:
            return names.index(target)
        known = ", ".join(names[:12]) + ("…" if len(names) > 12 else "")
        raise ExplainError(f"There is no class named {target!r}.",
                           f"Use a class index (0 to {count - 1})" + (f" or one of: {known}." if known else "."))
    index = int(target)
    if not 0 <= index < count:
        what = "output unit" if role == "regression" else "class"
        raise ExplainError(f"The {what} {index} does not exist: the network has {count}.",
                           f"Use 0 to {count - 1}.")
    return index


def _attribute(function: Explained, raw: torch.Tensor, baseline: torch.Tensor, target: int, method: str,
               steps: int) -> tuple[torch.Tensor, float | None]:
    os.environ.setdefault("MPLBACKEND", "Agg")  # captum imports matplotlib: never let it pick a GUI toolkit
    from captum.attr import IntegratedGradients, Occlusion, Saliency

    if method == "ig":
        attribution, delta = IntegratedGradients(function).attribute(
            raw, baselines=baseline, target=target, n_steps=steps, return_convergence_delta=True,
            internal_batch_size=min(steps, 64))
        return attribution, float(delta.reshape(-1)[0])
    if method == "saliency":
        return Saliency(function).attribute(raw.clone().requires_grad_(True), target=target, abs=True), None
    window, stride = _occlusion_window(raw.shape[1:])
    return Occlusion(function).attribute(raw, sliding_window_shapes=window, strides=stride, baselines=baseline,
                                         target=target, perturbations_per_eval=16), None


def _occlusion_window(shape: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Images (C×H×W): a square patch of about an eighth of the side over all channels, moved by half of it;
    anything else: one value at a time."""
    if len(shape) == 3:
        side = max(1, round(min(shape[1], shape[2]) / 8))
        step = max(1, side // 2)
        return (shape[0], side, side), (shape[0], step, step)
    return tuple(1 for _ in shape), tuple(1 for _ in shape)


# ---------------------------------------------------------------------------------------------------------------
# From a run folder (the CLI)


def explain_run(run_dir: str | os.PathLike[str], sample: int, method: str = "ig", target: int | str | None = None,
                weights: str = "best", steps: int = DEFAULT_STEPS, document: Any = None) -> Explanation:
    """Explain validation sample ``sample`` (0-based) of a finished run, with the run's weights, data split and
    preprocessing. ``document`` defaults to the copy the run saved (graph.nbg)."""
    from netbuilder.io import load_document
    from netbuilder.train import load_run
    from netbuilder.train.evaluate import compiled_with_weights, evaluation_data
    from netbuilder.train.recipes import pick_network
    from netbuilder.train.runs import GRAPH_FILE

    run = load_run(run_dir)
    if document is None:
        graph = Path(run_dir) / GRAPH_FILE
        if not graph.is_file():
            raise ExplainError(f"The run folder {run_dir} has no {GRAPH_FILE} (the network it trained).",
                               "Explain a run written by NetBuilder's trainer.")
        document = load_document(graph)
    config = dataclasses.replace(run.config, device="cpu")
    prepared, split = evaluation_data(run, config, None, "val")
    data = getattr(prepared, split)
    if data is None or len(data) == 0:
        split = "train"
        data = prepared.train
    count = len(data)
    if not 0 <= sample < count:
        raise ExplainError(f"Sample {sample + 1} does not exist: the {split} split has {count} samples.",
                           f"Choose a sample from 1 to {count}.")
    x, y = data.head(sample + 1)
    network = pick_network(document, config)
    chosen = run.choose_weights(weights, strict=False)
    module = compiled_with_weights(network, chosen.weights, torch.device("cpu"))
    info = prepared.info
    true_label = int(y[sample].reshape(-1)[0]) if y is not None and y[sample].numel() == 1 and \
        not y.is_floating_point() else None
    explanation = explain_sample(module, x[sample], preprocessing=prepared.preprocessing, method=method,
                                 target=target, class_names=info.class_names, feature_names=info.feature_names,
                                 image_shape=image_shape(info, x[sample]), sample=sample, split=split,
                                 true_label=true_label, steps=steps)
    explanation.weights = chosen.describe()
    return explanation


def image_shape(info: Any, x: torch.Tensor) -> tuple[int, int, int] | None:
    """C×H×W when the sample is an image (or square flat pixels, like the bundled 8×8 digits); else None."""
    if x.dim() == 3 and x.shape[0] in (1, 3):
        return (int(x.shape[0]), int(x.shape[1]), int(x.shape[2]))
    shape = tuple(getattr(info, "sample_shape", ()) or ())
    if getattr(info, "kind", "") == "images" and len(shape) == 3 and int(np.prod(shape)) == x.numel():
        return (int(shape[0]), int(shape[1]), int(shape[2]))
    side = int(round(math.sqrt(x.numel())))
    if getattr(info, "pixel_range", None) is not None and side * side == x.numel() and side > 1:
        return (1, side, side)
    return None


# ---------------------------------------------------------------------------------------------------------------
# A picture of it


def diverging_rgb(values: np.ndarray, limit: float | None = None) -> np.ndarray:
    """Signed values as RGB uint8: blue (against the class) through white (nothing) to red (for it), on a scale
    symmetric around zero so that white always means zero."""
    limit = float(np.max(np.abs(values))) if limit is None else limit
    scaled = np.clip(values / limit, -1.0, 1.0) if limit > 0 else np.zeros_like(values, dtype=float)
    red = np.array([214, 39, 40], dtype=float)
    blue = np.array([31, 119, 180], dtype=float)
    white = np.array([255, 255, 255], dtype=float)
    positive = np.clip(scaled, 0, 1)[..., None]
    negative = np.clip(-scaled, 0, 1)[..., None]
    rgb = white + positive * (red - white) + negative * (blue - white)
    return rgb.astype(np.uint8)


def input_rgb(image: np.ndarray) -> np.ndarray:
    """A C×H×W sample as H×W×3 uint8, stretched to its own range (so any pixel units show)."""
    low, high = float(image.min()), float(image.max())
    scaled = (image - low) / (high - low) if high > low else np.zeros_like(image)
    rgb = np.repeat(scaled, 3, axis=0) if scaled.shape[0] == 1 else scaled[:3]
    return (np.transpose(rgb, (1, 2, 0)) * 255 + 0.5).astype(np.uint8)


def write_png(explanation: Explanation, path: str | os.PathLike[str]) -> Path:
    """The sample and its heat map side by side (images), or a bar per feature (tables), with the verdict on
    the convergence delta underneath."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ExplainError(f"{path.name} is not a .png file name.", "Give the output a .png name.")
    heat = explanation.heatmap()
    if explanation.image is not None:
        figure = Figure(figsize=(7.2, 3.9), dpi=110)
        left, right = figure.subplots(1, 2)
        left.imshow(input_rgb(explanation.image), interpolation="nearest")
        left.set_title(f"{explanation.split} sample {explanation.sample + 1}"
                       + (f" (true: {explanation.true_name})" if explanation.true_name else ""), fontsize=9)
        limit = float(np.max(np.abs(heat))) or 1.0
        shown = right.imshow(heat, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        right.set_title(f"{explanation.method_title}: {explanation.target_name}", fontsize=9)
        for axis in (left, right):
            axis.set_xticks([])
            axis.set_yticks([])
        figure.colorbar(shown, ax=right, fraction=0.046, pad=0.04)
    else:
        count = min(30, heat.size)
        order = np.argsort(-np.abs(heat))[:count][::-1]
        names = explanation.feature_names or [f"x{i}" for i in range(heat.size)]
        figure = Figure(figsize=(7.2, max(3.0, 0.22 * count + 1.6)), dpi=110)
        axis = figure.subplots()
        colors = ["#d62728" if heat[i] >= 0 else "#1f77b4" for i in order]
        axis.barh([names[i] if i < len(names) else f"x{i}" for i in order], heat[order], color=colors)
        axis.axvline(0, color="#555555", linewidth=0.8)
        axis.tick_params(labelsize=8)
        axis.set_title(f"{explanation.method_title}: {explanation.target_name} (largest {count})", fontsize=9)
    figure.suptitle(explanation.summary(), fontsize=8, wrap=True)
    figure.text(0.01, 0.01, explanation.trust(), fontsize=7, wrap=True)
    figure.tight_layout(rect=(0, 0.08, 1, 0.92))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path
