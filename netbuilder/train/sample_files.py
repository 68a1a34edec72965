"""Writing what a trained network makes to files: image grids as PNG, generated text as UTF-8.

Images are written in the data's own units: pixel data (declared range [0, 1]) maps 0 to black and 1 to white,
clipped, with no per-image stretching, so a washed-out or saturated sample looks washed out or saturated. Data
without a declared pixel range is stretched once over the whole grid (and the caller is told so).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from netbuilder.io.atomic import SaveError, write_atomic

PAD = 1  # pixels between grid cells
UPSCALE_TO = 256  # small images (8×8 digits) are enlarged to about this many pixels across, without smoothing


def image_grid(images: torch.Tensor, columns: int | None = None,
               pixel_range: tuple[float, float] | None = (0.0, 1.0)) -> np.ndarray:
    """N×C×H×W images (C = 1 or 3) as one H'×W'×3 uint8 grid, white lines between cells."""
    x = images.detach().float().cpu()
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be N×1×H×W or N×3×H×W, not {'×'.join(map(str, x.shape))}")
    if pixel_range is not None:
        low, high = pixel_range
    else:
        low, high = float(x.min()), float(x.max())
    x = ((x - low) / max(high - low, 1e-8)).clamp(0.0, 1.0)
    count, channels, height, width = x.shape
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    grid = np.ones((rows * (height + PAD) + PAD, columns * (width + PAD) + PAD, 3), dtype=np.float32)
    for index in range(count):
        r, c = divmod(index, columns)
        image = x[index].numpy()
        rgb = np.repeat(image, 3, axis=0) if channels == 1 else image
        top, left = PAD + r * (height + PAD), PAD + c * (width + PAD)
        grid[top:top + height, left:left + width] = np.transpose(rgb, (1, 2, 0))
    return (grid * 255.0 + 0.5).astype(np.uint8)


def write_png(path: str | os.PathLike[str], grid: np.ndarray) -> Path:
    """Write an H×W×3 uint8 grid as a PNG, enlarged by a whole factor so small images are visible."""
    from io import BytesIO

    from PIL import Image

    factor = max(1, UPSCALE_TO // max(grid.shape[0], grid.shape[1]))
    image = Image.fromarray(grid, mode="RGB")
    if factor > 1:
        image = image.resize((grid.shape[1] * factor, grid.shape[0] * factor), Image.Resampling.NEAREST)
    buffer = BytesIO()
    image.save(buffer, format="PNG")
    target = Path(path)
    try:
        write_atomic(target, buffer.getvalue(), what="PNG file")
    except SaveError as error:
        raise OSError(str(error)) from None
    return target


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    target = Path(path)
    try:
        write_atomic(target, text.encode("utf-8"), what="text file")
    except SaveError as error:
        raise OSError(str(error)) from None
    return target
