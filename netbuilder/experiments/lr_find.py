"""The learning-rate range test (Smith 2015, "Cyclical Learning Rates"; fastai's ``lr_find``).

Train from the network's initial weights for a few hundred batches while the learning rate grows exponentially
from ``start`` to ``end``; record the (smoothed) loss at each rate; stop once the loss exceeds ``diverge`` times
its lowest value. The suggested rate is where the smoothed loss falls fastest (the steepest negative slope over
log(lr)) before its minimum: large enough to learn quickly, still well below where training blows up.

Nothing is written and the document's weights are not kept: the test trains a throw-away copy.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netbuilder.document.model import Document


class LRFindError(ValueError):
    """The range test cannot run or found no usable rate; the message says why and what to try."""


@dataclass
class LRFindResult:
    lrs: list[float]
    losses: list[float]  # smoothed, as plotted
    raw_losses: list[float]
    suggestion: float
    min_loss_lr: float  # the rate at the lowest smoothed loss
    diverged: bool  # the test stopped because the loss blew up (the usual ending)
    optimizer: str = ""
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"suggested_lr": self.suggestion, "min_loss_lr": self.min_loss_lr, "diverged": self.diverged,
                "optimizer": self.optimizer, "lrs": self.lrs, "losses": self.losses, "raw_losses": self.raw_losses}


def lr_find(document: Document, *, start: float = 1e-7, end: float = 10.0, steps: int = 100,
            smoothing: float = 0.9, diverge: float = 4.0, data: Any = None,
            stop: threading.Event | None = None,
            on_step: Callable[[int, float, float], None] | None = None) -> LRFindResult:
    """Run the range test on the document's network with its training settings (data, optimiser, batch size,
    seed). ``on_step(index, lr, smoothed_loss)`` reports progress; setting ``stop`` ends the test early."""
    import torch

    from netbuilder.fs.paths import document_folder
    from netbuilder.train.batching import Batcher
    from netbuilder.train.config import ConfigError, TrainConfig
    from netbuilder.train.loop import Trainer, resolve_device
    from netbuilder.train.paths import resolve_config_paths
    from netbuilder.train.recipes import Context, build_recipe, choose_recipe, seed_for
    from netbuilder.train.threads import set_threads

    if not 0 < start < end:
        raise LRFindError(f"The range must go up from a rate above 0: got {start:g} to {end:g}.")
    if steps < 10:
        raise LRFindError(f"The range test needs at least 10 steps; got {steps}.")
    try:
        config = TrainConfig.from_settings(document.settings)
    except ConfigError as error:
        raise LRFindError(str(error)) from None
    config = resolve_config_paths(config, document_folder(document))
    set_threads(config.threads)
    device = resolve_device(config.device)
    # The trainer's own data preparation (sources, split, preprocessing), so the test sees what training sees.
    prepared = Trainer(document, config, data=data, write=False)._prepare_data(config)
    recipe_name = choose_recipe(document, config, prepared.info)
    torch.manual_seed(config.seed)
    ctx = Context(document, config, prepared, device, "fp32", 1, [])
    recipe = build_recipe(recipe_name, ctx)
    batcher = Batcher()
    train = batcher.on_device(prepared.train, device, ctx.warnings)
    if len(train) == 0:
        raise LRFindError("The training split is empty.")
    optimizers = list(recipe.optimizers.values())
    recipe.set_train(True)
    lrs: list[float] = []
    raw: list[float] = []
    smooth: list[float] = []
    average, best = 0.0, math.inf
    diverged = False
    ratio = (end / start) ** (1.0 / (steps - 1))
    epoch = 0
    while len(lrs) < steps and not diverged:
        epoch += 1
        generator = torch.Generator().manual_seed(seed_for(config.seed, epoch, "data"))
        for x, y in batcher.batches(train, config.batch_size, generator, device):
            if len(lrs) >= steps or (stop is not None and stop.is_set()):
                break
            lr = start * ratio ** len(lrs)
            for optimizer in optimizers:
                for group in optimizer.param_groups:
                    group["lr"] = group.get("base_lr", config.lr) * lr / config.lr
            result = recipe.train_step(x, y)
            loss = float((result["loss"] if isinstance(result, dict) else result).detach().float().cpu())
            lrs.append(lr)
            raw.append(loss)
            if not math.isfinite(loss):
                diverged = True
                smooth.append(math.inf)
                break
            average = smoothing * average + (1 - smoothing) * loss
            value = average / (1 - smoothing ** len(lrs))
            smooth.append(value)
            if on_step is not None:
                on_step(len(lrs) - 1, lr, value)
            best = min(best, value)
            if len(lrs) > 5 and value > diverge * best:
                diverged = True
                break
        if stop is not None and stop.is_set():
            break
    suggestion, at_min = suggest(lrs, smooth)
    return LRFindResult(lrs, smooth, raw, suggestion, at_min, diverged, config.optimizer, ctx.warnings)


def suggest(lrs: list[float], losses: list[float]) -> tuple[float, float]:
    """(suggested rate, rate at the lowest loss): the steepest descent of the loss over log(lr) before its
    minimum, skipping the noisy first tenth; LRFindError when the loss never fell."""
    finite = [(lr, loss) for lr, loss in zip(lrs, losses, strict=True) if math.isfinite(loss)]
    if len(finite) < 5:
        raise LRFindError("The loss blew up within the first few steps of the range test.",)
    values = [loss for _lr, loss in finite]
    low = min(range(len(values)), key=values.__getitem__)
    at_min = finite[low][0]
    skip = max(1, len(finite) // 10)
    if low <= skip:
        raise LRFindError(f"The loss did not fall as the rate grew (lowest at {at_min:.2g}, the start of the "
                          "range): the data or the network may not be learnable as set up.",)
    slopes = []
    for index in range(skip, low):
        (lr0, l0), (lr1, l1) = finite[index - 1], finite[index + 1]
        slopes.append(((l1 - l0) / (math.log10(lr1) - math.log10(lr0)), index))
    steepest = min(slopes)[1]
    return finite[steepest][0], at_min


def plot_png(result: LRFindResult, path: Any, width: int = 640, height: int = 400) -> None:
    """The loss against the learning rate (log scale) with the suggestion marked, as a PNG (Pillow only)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 70, width - 20, 30, height - 50
    points = [(lr, loss) for lr, loss in zip(result.lrs, result.losses, strict=True) if math.isfinite(loss)]
    xs = [math.log10(lr) for lr, _ in points]
    ys = [loss for _, loss in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    ceiling = min(max(ys), 4 * min(ys) if min(ys) > 0 else max(ys))
    y0, y1 = min(ys), ceiling if ceiling > min(ys) else min(ys) + 1

    def at(x: float, y: float) -> tuple[float, float]:
        return (left + (x - x0) / (x1 - x0) * (right - left),
                bottom - (min(y, y1) - y0) / (y1 - y0) * (bottom - top))

    draw.rectangle((left, top, right, bottom), outline="#888888")
    for decade in range(math.ceil(x0), math.floor(x1) + 1):
        x, _ = at(decade, y0)
        draw.line((x, bottom, x, bottom + 5), fill="#444444")
        draw.text((x - 12, bottom + 8), f"1e{decade}", fill="#222222")
    for share in (0.0, 0.5, 1.0):
        y_value = y0 + share * (y1 - y0)
        _, y = at(x0, y_value)
        draw.text((6, y - 6), f"{y_value:.3g}", fill="#222222")
    draw.line([at(x, y) for x, y in zip(xs, ys, strict=True)], fill="#1f77b4", width=2)
    sx, _ = at(math.log10(result.suggestion), y0)
    draw.line((sx, top, sx, bottom), fill="#d62728", width=1)
    draw.text((left + 6, 8), f"loss vs learning rate ({result.optimizer}); suggested lr {result.suggestion:.2g}",
              fill="#222222")
    draw.text(((left + right) // 2 - 40, height - 22), "learning rate (log)", fill="#222222")
    image.save(path)
