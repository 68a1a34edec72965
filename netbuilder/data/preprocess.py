"""Preprocessing that belongs to the model: fitted on the training split, saved with the run, applied everywhere.

Raw data first reaches a *declared value range* in its loader (bundled digits 0..16 and 8-bit image files 0..255
both become pixel values in [0, 1]), so the same digits give the same numbers whichever file they come from. What
the network then sees is fitted here, on the training split only:

* **images** (N×C×H×W): standardised per channel (one mean and std per colour channel), never per pixel: a pixel
  that is almost always blank in training would otherwise be divided by a tiny std and reach tens of σ on new data;
* **flat pixels** (digits as 64 features): one mean and std for all of them, for the same reason;
* **tables**: per column, with the std floored at the column's training range / ``RANGE_PER_STD`` (see
  `fit_columns`);
* **GAN real data**: mapped onto the generator's output range read from its last activation (Tanh → [-1, 1],
  Sigmoid → [0, 1]), so every real value is one the generator can produce;
* **regression targets**: standardised for training; predictions and metrics are turned back into the data's units.

A `Preprocessing` is plain numbers: it is written to ``preprocessing.json`` in the run folder (no pickle) and read
back by evaluate, predict, the app's Results panel and export, which can bake it into the exported graph.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

PREPROCESSING_FILE = "preprocessing.json"
FORMAT_VERSION = 1
# A column is never divided by less than its training range / RANGE_PER_STD. Why a floor tied to the column's own
# range rather than to the other columns' stds: tables mix units (breast-cancer: area std 352, smoothness std 0.014),
# so a floor of 1 % of the mean column std (~40 there) would flatten smoothness thirtyfold, while one low enough
# for every unit catches nothing. Range/std is unit-free: the real features of every bundled table have
# range/std <= 13.1 (breast-cancer's heavy tails; iris <= 5.5, wine <= 6.8, diabetes <= 6.6), so the floor leaves
# them alone; a near-constant column (one value almost always, a few others: the digits' edge pixels have
# range/std 30-42) is divided by range/16 instead, so a new value inside its training range stays within 16σ
# (a 0.037-std pixel put a validation value at 53σ).
RANGE_PER_STD = 16.0
TINY = 1e-8


@dataclass
class Affine:
    """``(x - shift) / scale`` with ``shift`` and ``scale`` shaped to broadcast over one sample.

    ``kind`` says what was fitted ("standardize" or "range"), ``axis`` over what ("channel", "column" or "all").
    """

    shift: torch.Tensor
    scale: torch.Tensor
    kind: str = "standardize"
    axis: str = "all"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift.to(x.device, x.dtype)) / self.scale.to(x.device, x.dtype)

    def invert(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.device, x.dtype) + self.shift.to(x.device, x.dtype)

    def fits(self, x: torch.Tensor) -> bool:
        """Whether a batch has the sample shape this transform was fitted for (so it can be applied or inverted)."""
        try:
            torch.broadcast_shapes(tuple(x.shape[1:]), tuple(self.shift.shape))
        except RuntimeError:
            return False
        return x.dim() - 1 >= self.shift.dim()

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "axis": self.axis, "shape": list(self.shift.shape),
                "shift": self.shift.reshape(-1).tolist(), "scale": self.scale.reshape(-1).tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Affine:
        shape = tuple(int(d) for d in data["shape"])
        shift = torch.tensor(data["shift"], dtype=torch.float32).reshape(shape)
        scale = torch.tensor(data["scale"], dtype=torch.float32).reshape(shape)
        if not bool(torch.all(scale.abs() > 0)):
            raise ValueError("a scale of 0")
        return cls(shift, scale, str(data.get("kind", "standardize")), str(data.get("axis", "all")))


@dataclass
class Preprocessing:
    """Everything between raw data (in its declared units) and the network, and back.

    ``inputs`` turns float inputs into what the network takes (None: they go in as they are); ``targets`` does the
    same for regression targets. ``units`` says in words what the inputs must be before ``inputs`` applies (what
    a user of an exported model feeds it). ``vocab`` maps token ids to characters for text.
    """

    inputs: Affine | None = None
    targets: Affine | None = None
    units: str = ""
    pixel_range: tuple[float, float] | None = None
    output_range: tuple[float, float] | None = None  # GAN: the generator's range the real data was mapped to
    vocab: list[str] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.inputs is None and self.targets is None and not self.vocab

    def apply_inputs(self, x: torch.Tensor) -> torch.Tensor:
        return self.inputs.apply(x) if self.inputs is not None and x.is_floating_point() else x

    def invert_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Network-side values in the input's space (reconstructions, generated samples) in the data's units."""
        if self.inputs is None or not x.is_floating_point() or not self.inputs.fits(x):
            return x
        return self.inputs.invert(x)

    def apply_targets(self, y: torch.Tensor) -> torch.Tensor:
        return self.targets.apply(y) if self.targets is not None and y.is_floating_point() else y

    def invert_targets(self, y: torch.Tensor) -> torch.Tensor:
        """Regression predictions in the target's own units."""
        if self.targets is None or not y.is_floating_point() or not self.targets.fits(y):
            return y
        return self.targets.invert(y)

    def describe(self) -> str:
        """One line for reports: what was fitted."""
        parts = []
        if self.inputs is not None:
            what = {"standardize": "standardised", "range": "mapped to the generator's range"}.get(self.inputs.kind,
                                                                                                  self.inputs.kind)
            over = {"channel": "per channel", "column": "per column", "all": "over all values"}.get(
                self.inputs.axis, self.inputs.axis)
            parts.append(f"inputs ({self.units or 'as given'}) {what} {over}")
        if self.targets is not None:
            parts.append("regression targets standardised (predictions are given back in the target's units)")
        return "; ".join(parts) if parts else "none"

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT_VERSION,
                "inputs": self.inputs.to_dict() if self.inputs is not None else None,
                "targets": self.targets.to_dict() if self.targets is not None else None,
                "units": self.units,
                "pixel_range": list(self.pixel_range) if self.pixel_range is not None else None,
                "output_range": list(self.output_range) if self.output_range is not None else None,
                "vocab": self.vocab, "notes": list(self.notes), "description": self.describe()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        def pair(value: Any) -> tuple[float, float] | None:
            return (float(value[0]), float(value[1])) if value is not None else None

        return cls(Affine.from_dict(data["inputs"]) if data.get("inputs") else None,
                   Affine.from_dict(data["targets"]) if data.get("targets") else None,
                   str(data.get("units", "")), pair(data.get("pixel_range")), pair(data.get("output_range")),
                   data.get("vocab"), list(data.get("notes") or []))

    def save(self, folder: str | Path) -> Path:
        """Write ``preprocessing.json`` into ``folder`` (through a temporary file and a rename)."""
        path = Path(folder) / PREPROCESSING_FILE
        temp = path.with_name(f".{path.name}.tmp")
        temp.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        temp.replace(path)
        return path


class PreprocessingError(ValueError):
    """A preprocessing file that cannot be read; the message names the file."""


def load_preprocessing(folder: str | Path) -> Preprocessing | None:
    """The preprocessing saved in a run folder, or None when it has none (runs of older versions: their
    ``normalizer.safetensors`` is read as a per-feature standardisation)."""
    path = Path(folder) / PREPROCESSING_FILE
    if path.is_file():
        try:
            from netbuilder.fs.limits import read_limited

            # JSON like the run's other records, so it has their size limit (and a FIFO or device is refused).
            return Preprocessing.from_dict(json.loads(read_limited(path, "document").decode("utf-8")))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as error:
            raise PreprocessingError(f"{path} cannot be read ({error}); train the run again to rewrite it.") \
                from None
    legacy = Path(folder) / "normalizer.safetensors"
    if legacy.is_file():
        import safetensors.torch

        from netbuilder.fs.limits import check_readable

        check_readable(legacy, "weights")
        tensors = safetensors.torch.load_file(str(legacy))
        return Preprocessing(Affine(tensors["mean"], tensors["std"]), units="as given")
    return None


# ---------------------------------------------------------------------------------------------------------------
# Fitting


def _safe(std: torch.Tensor) -> torch.Tensor:
    return torch.where(std > TINY, std, torch.ones_like(std))


def fit_channels(x: torch.Tensor) -> Affine:
    """Per-channel mean and std of N×C×… images: one value per channel, shaped C×1×1…"""
    dims = [0, *range(2, x.dim())]
    x = x.double()
    mean = x.mean(dim=dims)
    std = x.std(dim=dims) if x.numel() > x.shape[1] else torch.zeros_like(mean)
    shape = (x.shape[1], *([1] * (x.dim() - 2)))
    return Affine(mean.float().reshape(shape), _safe(std).float().reshape(shape), "standardize", "channel")


def fit_all(x: torch.Tensor) -> Affine:
    """One mean and std for every value (flat pixels: all are the same kind of quantity)."""
    x = x.double()
    std = x.std() if x.numel() > 1 else torch.zeros(())
    return Affine(x.mean().float().reshape(()), _safe(std.reshape(())).float(), "standardize", "all")


def fit_columns(x: torch.Tensor) -> Affine:
    """Per-column mean and std of an N×F (or N×…) table; a std below the column's training range /
    ``RANGE_PER_STD`` is raised to it, so a near-constant column cannot blow a new sample up to tens of σ."""
    x = x.double()
    mean = x.mean(dim=0)
    std = x.std(dim=0) if x.shape[0] > 1 else torch.zeros_like(mean)
    floor = (x.amax(dim=0) - x.amin(dim=0)) / RANGE_PER_STD
    std = torch.maximum(std, floor)
    return Affine(mean.float(), _safe(std).float(), "standardize", "column")


def fit_range(x: torch.Tensor, pixel_range: tuple[float, float] | None, output_range: tuple[float, float],
              per_channel: bool) -> Affine:
    """Map the data's declared range (or, when it has none, the training minimum and maximum per channel or
    column) linearly onto ``output_range``."""
    low, high = output_range
    if pixel_range is not None:
        lo = torch.tensor(float(pixel_range[0]))
        hi = torch.tensor(float(pixel_range[1]))
        axis = "all"
    elif per_channel and x.dim() >= 3:
        dims = [0, *range(2, x.dim())]
        shape = (x.shape[1], *([1] * (x.dim() - 2)))
        lo, hi = x.amin(dim=dims).reshape(shape), x.amax(dim=dims).reshape(shape)
        axis = "channel"
    else:
        lo, hi = x.amin(dim=0), x.amax(dim=0)
        axis = "column"
    span = _safe((hi - lo).float())
    scale = span / (high - low)
    shift = lo.float() - low * scale
    return Affine(shift.float(), scale.float(), "range", axis)


def output_range_of(activation: str | None) -> tuple[float, float] | None:
    """The range a network's last activation produces: Tanh [-1, 1], Sigmoid [0, 1]; None for others."""
    return {"Tanh": (-1.0, 1.0), "Hardtanh": (-1.0, 1.0), "Sigmoid": (0.0, 1.0),
            "Hardsigmoid": (0.0, 1.0)}.get(activation or "")


def fit_inputs(x: torch.Tensor, kind: str, pixel_range: tuple[float, float] | None,
               output_range: tuple[float, float] | None = None) -> Affine:
    """The input transform for training data ``x`` (the training split, in its declared units).

    ``kind`` is the data's preview kind ("images", "table", ...); ``pixel_range`` is set for pixel data (flat or
    not); ``output_range`` asks for a range mapping instead of a standardisation (GAN real data).
    """
    images = kind == "images" and x.dim() >= 3
    if output_range is not None:
        return fit_range(x, pixel_range, output_range, per_channel=images)
    if images:
        return fit_channels(x)
    if pixel_range is not None:
        return fit_all(x)
    return fit_columns(x)


def fit_targets(y: torch.Tensor) -> Affine:
    """Standardise regression targets per target column (no floor: a target is never near-constant by design)."""
    y = y.double()
    mean = y.mean(dim=0)
    std = y.std(dim=0, correction=0) if y.shape[0] > 1 else torch.zeros_like(mean)
    return Affine(mean.float(), _safe(std).float(), "standardize", "column")


def units_text(kind: str, pixel_range: tuple[float, float] | None) -> str:
    if pixel_range is not None:
        low, high = pixel_range
        return f"pixel values in [{low:g}, {high:g}] (8-bit images divided by 255)"
    return "the data's own values" if kind != "images" else "image values as given"
