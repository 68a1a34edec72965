"""Random image augmentation applied to training batches (N×C×H×W float tensors).

Augmentation works on whole batches with tensor operations, in the main process, after normalisation, so the same
callable serves in-memory images (`ArraySplit`) and streamed image folders. Its randomness comes from the
generator the training loop passes for shuffling, so a run is reproducible from its seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from netbuilder.data.base import DataError

OPTIONS = {
    "hflip": "flip each image left-right with probability 0.5 (true/false)",
    "vflip": "flip each image upside down with probability 0.5 (true/false)",
    "crop": "pad by this many pixels (reflecting the border) and cut a random window of the original size",
    "noise": "add Gaussian noise with this standard deviation (in normalised units)",
}
_ALIASES = {"flip": "hflip", "horizontal_flip": "hflip", "vertical_flip": "vflip", "random_crop": "crop"}


@dataclass(frozen=True)
class Augment:
    hflip: bool = False
    vflip: bool = False
    crop: int = 0
    noise: float = 0.0

    def __call__(self, batch: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """A randomly changed copy of ``batch``; the input is never modified (it may be a view of the data)."""
        if batch.dim() != 4:
            raise DataError(f"Augmentation needs image batches N×C×H×W, but got a batch of shape "
                            f"{'×'.join(map(str, batch.shape))}.")
        out = batch
        count = batch.shape[0]
        if self.hflip:
            flip = torch.rand(count, generator=generator) < 0.5
            out = torch.where(flip[:, None, None, None], out.flip(3), out)
        if self.vflip:
            flip = torch.rand(count, generator=generator) < 0.5
            out = torch.where(flip[:, None, None, None], out.flip(2), out)
        if self.crop:
            out = self._crop(out, generator)
        if self.noise:
            out = out + self.noise * torch.randn(out.shape, generator=generator, dtype=out.dtype)
        return out

    def _crop(self, batch: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        n, c, h, w = batch.shape
        pad = self.crop
        mode = "reflect" if pad < h and pad < w else "replicate"
        padded = F.pad(batch, (pad, pad, pad, pad), mode=mode)
        top = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        left = torch.randint(0, 2 * pad + 1, (n,), generator=generator)
        rows = (top[:, None] + torch.arange(h)[None, :])[:, None, :, None]  # N×1×H×1
        cols = (left[:, None] + torch.arange(w)[None, :])[:, None, None, :]  # N×1×1×W
        return padded[torch.arange(n)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v}


def make_augment(options: dict[str, Any]) -> Augment:
    """Build the augmentation from user options, e.g. ``{"hflip": True, "crop": 2}``; unknown names and bad
    values raise DataError listing what is accepted."""
    if isinstance(options, Augment):
        return options
    if not isinstance(options, dict):
        raise DataError(f"Augmentation options must be a mapping such as {{'hflip': True}}, not {options!r}.")
    values: dict[str, Any] = {}
    for key, value in options.items():
        name = _ALIASES.get(key, key)
        if name not in OPTIONS:
            known = "; ".join(f"{k}: {v}" for k, v in OPTIONS.items())
            raise DataError(f"Unknown augmentation {key!r}. Available: {known}.")
        if name in ("hflip", "vflip"):
            if not isinstance(value, bool):
                raise DataError(f"Augmentation {key!r} must be true or false, not {value!r}.")
        elif name == "crop":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 64:
                raise DataError(f"Augmentation 'crop' is a padding in pixels from 0 to 64, not {value!r}.")
        else:
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 10:
                raise DataError(f"Augmentation 'noise' is a standard deviation from 0 to 10, not {value!r}.")
            value = float(value)
        values[name] = value
    return Augment(**values)
