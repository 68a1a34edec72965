"""Writing what a trained network makes to files: image grids as PNG, generated text as UTF-8.

Images are written in the data's own units: pixel data (declared range [0, 1]) maps 0 to black and 1 to white,
clipped, with no per-image stretching, so a washed-out or saturated sample looks washed out or saturated. Data
without a declared pixel range is stretched once over the whole grid (and the caller is told so).
"""

from __future__ import annotations

import io
import json
import math
import os
from pathlib import Path
from typing import Any

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


def write_episode(episode: Any, target: Path) -> str:
    """An agent's replayed episode: its frames as an animated .gif, or a strip of frames as a .png."""
    from netbuilder.train.episodes import strip, write_gif

    summary = f"{episode.env_id}, seed {episode.seed}: return {episode.total_return:g} in {episode.length} steps"
    if target.suffix.lower() == ".gif":
        write_gif(episode, target)
        return f"Wrote the episode ({summary}) as a GIF of {len(episode.frames)} frames to {target}."
    frames = strip(episode)
    if frames is None:
        raise ValueError(f"{episode.render_note} Give -o a .json file for the observation and action traces.")
    write_png(target, image_grid(frames, frames.shape[0], (0.0, 1.0)))
    return f"Wrote {frames.shape[0]} frames of the episode ({summary}) as a PNG strip to {target}."


def write_prediction(prediction: Any, path: str | os.PathLike[str]) -> str:
    """Write a `Prediction` to ``path``; returns one line saying what was written.

    Images (GAN and VAE samples, autoencoder inputs above their reconstructions) go to a PNG grid; generated text
    to a UTF-8 text file; anything else to JSON (``.json``) or, for ``.npy``, the first output as an array.
    Raises ValueError when the path's type does not fit what the prediction holds, OSError when it cannot be
    written.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if not target.parent.is_dir():
        raise ValueError(f"Cannot write {target}: the folder {target.parent} does not exist.")
    episode = getattr(prediction, "episode", None)
    if episode is not None and suffix in (".gif", ".png"):
        return write_episode(episode, target)
    if prediction.images is not None and episode is None:
        if suffix != ".png":
            raise ValueError(f"This prediction is images; give -o a file ending in .png, not {target.name}.")
        images = prediction.images
        columns = images.shape[0] // 2 if prediction.image_rows == 2 else None
        write_png(target, image_grid(images, columns, prediction.pixel_range))
        count = images.shape[0] // prediction.image_rows
        what = (f"{count} inputs (top) and their reconstructions (bottom)" if prediction.image_rows == 2
                else f"{count} samples")
        scale = "pixel values 0-1 as black to white" if prediction.pixel_range is not None \
            else "stretched over the grid's range (the data declares no pixel range)"
        return f"Wrote {what} as a PNG grid to {target} ({scale})."
    if prediction.text is not None:
        if suffix == ".png":
            raise ValueError(f"This prediction is text; give -o a .txt file, not {target.name}.")
        write_text(target, prediction.text + "\n")
        return f"Wrote {len(prediction.text)} characters of text to {target}."
    if suffix == ".png":
        raise ValueError(f"This prediction holds no images; give -o a .json or .npy file, not {target.name}.")
    if suffix == ".npy":
        first = prediction.probabilities if prediction.probabilities is not None \
            else next(iter(prediction.outputs.values()))
        buffer = io.BytesIO()
        np.save(buffer, first.numpy(), allow_pickle=False)
        try:
            write_atomic(target, buffer.getvalue(), what="NumPy file")
        except SaveError as error:
            raise OSError(str(error)) from None
        return f"Wrote an array of {'×'.join(map(str, first.shape))} to {target}."
    write_text(target, json.dumps(prediction.to_dict()) + "\n")
    return f"Wrote the prediction as JSON to {target}."
