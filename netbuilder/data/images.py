"""Folders of images, one sub-folder per class, streamed from disk.

Only the file list lives in memory. Batches are decoded by a torch DataLoader with worker processes, in an order
drawn from the training loop's generator, so runs are reproducible. Pixels are divided by 255 (the declared range
[0, 1]) and then standardised per channel, fitted on a sample of training images. A file Pillow cannot read is skipped and recorded in ``warnings``: one bad photo in
ten thousand must not stop a training run.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from netbuilder.data.base import Batch, DataError, DataInfo, PreparedData, split_counts
from netbuilder.data.preprocess import Affine, Preprocessing, fit_inputs, units_text
from netbuilder.fs.limits import human_size, limit_for

EXTENSIONS = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
NORMALIZE_SAMPLE = 256  # training images used to estimate the per-channel mean and std
_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F", "P;grey"}


def _reason(error: Exception) -> str:
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return "not an image format Pillow knows"
    return str(error) or type(error).__name__


def default_workers() -> int:
    return min(2, os.cpu_count() or 0)


def _check_workers(num_workers: int | None) -> int:
    if num_workers is None:
        return default_workers()
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or not 0 <= num_workers <= 64:
        raise DataError(f"num_workers must be a whole number from 0 to 64 (0 loads in the main process), not "
                        f"{num_workers!r}.")
    return num_workers


def read_image(path: str, size: tuple[int, int], grayscale: bool) -> torch.Tensor:
    """One image as uint8 C×H×W, converted to the folder's colour mode and resized to ``size`` (H, W)."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("L" if grayscale else "RGB")
        if image.size != (size[1], size[0]):
            image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        array = np.array(image, dtype=np.uint8)  # a copy: torch warns about PIL's read-only buffer
    array = array[None, :, :] if array.ndim == 2 else array.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array))


class _Files(TorchDataset):
    """What each worker process holds: paths and labels only. Failures come back as None, never raise."""

    def __init__(self, paths: list[str], labels: list[int], size: tuple[int, int], grayscale: bool):
        self.paths, self.labels, self.size, self.grayscale = paths, labels, size, grayscale

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor | None, int, str, str]:
        path = self.paths[index]
        try:
            return read_image(path, self.size, self.grayscale), self.labels[index], path, ""
        except Exception as error:  # a damaged file: report it, keep the batch going
            return None, self.labels[index], path, _reason(error)


def _collate(items: list[tuple[torch.Tensor | None, int, str, str]]) -> tuple[torch.Tensor | None, torch.Tensor,
                                                                             list[tuple[str, str]]]:
    good = [item for item in items if item[0] is not None]
    failed = [(item[2], item[3]) for item in items if item[0] is None]
    if not good:
        return None, torch.empty(0, dtype=torch.int64), failed
    x = torch.stack([item[0] for item in good])  # type: ignore[misc]
    y = torch.tensor([item[1] for item in good], dtype=torch.int64)
    return x, y, failed


@dataclass
class ImageFolderSplit:
    """A split of an image folder (implements the `Split` protocol). Batches are float32 N×C×H×W."""

    paths: list[str]
    labels: list[int]
    size: tuple[int, int]
    grayscale: bool
    num_workers: int = 0
    transform: Affine | None = None  # the fitted input transform, applied after / 255
    augment: Any = None
    root: str = ""
    warnings: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # the skipped files' names, shared like ``warnings``

    def __len__(self) -> int:
        return len(self.paths)

    def _loader(self, order: list[int], batch_size: int, drop_last: bool) -> DataLoader:
        files = _Files(self.paths, self.labels, self.size, self.grayscale)
        return DataLoader(files, batch_size=batch_size, sampler=order, num_workers=self.num_workers,
                          collate_fn=_collate, drop_last=drop_last)

    def _finish(self, x: torch.Tensor, failed: list[tuple[str, str]]) -> torch.Tensor:
        for path, reason in failed:
            self._warn(path, reason)
        x = x.float().div_(255.0)
        return self.transform.apply(x) if self.transform is not None else x

    def _warn(self, path: str, reason: str) -> None:
        rel = os.path.relpath(path, self.root) if self.root else path
        message = f"Skipped {rel}: Pillow cannot read it ({reason})."
        if message not in self.warnings:
            self.warnings.append(message)
            self.skipped.append(rel)

    def batches(self, batch_size: int, shuffle: bool = False, generator: torch.Generator | None = None,
                drop_last: bool = False) -> Iterator[Batch]:
        if batch_size < 1:
            raise DataError(f"Batch size must be at least 1, not {batch_size}.")
        count = len(self)
        order = torch.randperm(count, generator=generator).tolist() if shuffle else list(range(count))
        for x, y, failed in self._loader(order, batch_size, drop_last):
            if x is None:
                for path, reason in failed:
                    self._warn(path, reason)
                continue
            xb = self._finish(x, failed)
            if self.augment is not None:
                xb = self.augment(xb, generator)
            yield xb, y

    def head(self, count: int) -> Batch:
        xs, ys = [], []
        for path, label in zip(self.paths, self.labels, strict=True):
            if len(xs) == count:
                break
            try:
                xs.append(read_image(path, self.size, self.grayscale))
            except Exception as error:  # same policy as in the workers
                self._warn(path, _reason(error))
                continue
            ys.append(label)
        channels = 1 if self.grayscale else 3
        if not xs:
            return torch.empty(0, channels, *self.size), torch.empty(0, dtype=torch.int64)
        return self._finish(torch.stack(xs), []), torch.tensor(ys, dtype=torch.int64)

    def subset(self, index: list[int] | torch.Tensor) -> ImageFolderSplit:
        chosen = [int(i) for i in index]
        return ImageFolderSplit([self.paths[i] for i in chosen], [self.labels[i] for i in chosen], self.size,
                                self.grayscale, self.num_workers, self.transform, self.augment, self.root,
                                self.warnings, self.skipped)


@dataclass
class ImageFolderDataset:
    """An image folder: ``root/<class name>/<image files>``. Implements the `Dataset` protocol."""

    info: DataInfo
    root: str
    paths: list[str]
    labels: list[int]
    size: tuple[int, int]
    grayscale: bool
    num_workers: int = 0
    warnings: list[str] = field(default_factory=list)  # files skipped so far, shared with every split
    skipped: list[str] = field(default_factory=list)  # their names (relative to the folder), shared too

    def __len__(self) -> int:
        return len(self.paths)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(np.asarray(self.labels, dtype=np.int64), minlength=self.info.num_classes or 0)
        return {name: int(n) for name, n in zip(self.info.class_names or [], counts, strict=False)}

    def split(self) -> ImageFolderSplit:
        """All files as one split, unnormalised (pixels in [0, 1])."""
        return ImageFolderSplit(self.paths, self.labels, self.size, self.grayscale, self.num_workers, None, None,
                                self.root, self.warnings, self.skipped)

    def head(self, count: int) -> Batch:
        return self.split().head(count)

    def prepare(self, val_fraction: float = 0.15, test_fraction: float = 0.0, seed: int = 0,
                normalize: bool = True, augment: dict[str, Any] | None = None,
                output_range: tuple[float, float] | None = None, per_class: int | None = None) -> PreparedData:
        """Split the file list with ``seed``; fit the per-channel standardisation (or, with ``output_range``, the
        mapping of [0, 1] onto it) on a sample of training images. ``per_class`` keeps that many training images
        of each class."""
        count = len(self)
        n_val, n_test = split_counts(count, val_fraction, test_fraction)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
        full = self.split()
        test = full.subset(order[:n_test]) if n_test else None
        val = full.subset(order[n_test:n_test + n_val]) if n_val else None
        train_index = order[n_test + n_val:].tolist()
        if per_class:
            seen: dict[int, int] = {}
            kept = []
            for i in train_index:
                seen[self.labels[i]] = seen.get(self.labels[i], 0) + 1
                if seen[self.labels[i]] <= per_class:
                    kept.append(i)
            train_index = kept
        train = full.subset(train_index)
        preprocessing = Preprocessing(units=units_text("images", self.info.pixel_range),
                                      pixel_range=self.info.pixel_range)
        if normalize or output_range is not None:
            sample = train.subset(range(min(NORMALIZE_SAMPLE, len(train))))
            pixels = [x for x, _ in sample.batches(64)]
            if not pixels:
                raise DataError(f"None of the sampled training images in {self.root} could be read; see the "
                                "skipped files listed with the data.")
            preprocessing.inputs = fit_inputs(torch.cat(pixels), "images", self.info.pixel_range, output_range)
            preprocessing.output_range = output_range
            for part in (train, val, test):
                if part is not None:
                    part.transform = preprocessing.inputs
        if augment:
            from netbuilder.data.augment import make_augment

            train.augment = make_augment(augment)
        options = {"val_fraction": val_fraction, "test_fraction": test_fraction, "seed": seed,
                   "normalize": normalize, "augment": augment or {}, "num_workers": self.num_workers}
        return PreparedData(self.info, train, val, test, preprocessing, options)


def _scan(root: Path) -> tuple[list[str], list[str], list[int], list[tuple[str, str]]]:
    """Class names, image paths and labels under ``root``, and (name, reason) of the files left out by size.

    Only regular files count (a FIFO or a device named x.png is never opened); one file larger than the "image"
    limit is left out and named, and the whole folder is refused past the "image_folder" size or "image_files"
    count limits (`netbuilder.fs.limits`), before any image is opened.
    """
    classes: list[str] = []
    paths: list[str] = []
    labels: list[int] = []
    oversize: list[tuple[str, str]] = []
    image_limit, total_limit, count_limit = limit_for("image"), limit_for("image_folder"), limit_for("image_files")
    total = 0
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for folder in folders:
        files = []
        for p in sorted(folder.rglob("*")):
            if p.suffix.lower() not in EXTENSIONS or any(part.startswith(".") for part in p.relative_to(folder).parts):
                continue
            try:
                info = p.stat()
            except OSError:
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if info.st_size > image_limit:
                oversize.append((os.path.relpath(p, root), f"{human_size(info.st_size)}, over the "
                                                           f"{human_size(image_limit)} limit for one image"))
                continue
            total += info.st_size
            files.append(p)
            if total > total_limit or len(paths) + len(files) > count_limit:
                what = (f"more than {count_limit:,} image files" if len(paths) + len(files) > count_limit
                        else f"more than {human_size(total_limit)} of images")
                raise DataError(f"{root} holds {what}; NetBuilder reads an image folder up to "
                                f"{human_size(total_limit)} and {count_limit:,} files. Use a smaller folder, or raise "
                                "the limits with NETBUILDER_LIMIT_IMAGE_FOLDER_MB / NETBUILDER_LIMIT_IMAGE_FILES_MB.")
        if not files:
            continue
        label = len(classes)
        classes.append(folder.name)
        paths += [str(p) for p in files]
        labels += [label] * len(files)
    return classes, paths, labels, oversize


SKIPPED_NAMED = 3  # how many skipped files a message names before "and N more"


def skipped_message(skipped: list[str], start: int = 0, when: str = "") -> str | None:
    """One message for the files in ``skipped[start:]``: how many, and the first few by name (None if none).
    ``when`` says when they were found, e.g. " during training"."""
    names = skipped[start:]
    if not names:
        return None
    count = len(names)
    shown = ", ".join(names[:SKIPPED_NAMED]) + (f" and {count - SKIPPED_NAMED} more" if count > SKIPPED_NAMED else "")
    many = count != 1
    return (f"{count} image file{'s' if many else ''} could not be read and {'were' if many else 'was'} "
            f"skipped{when}: {shown}. Replace or remove {'them' if many else 'it'} to use every image.")


def skipped_files(data: Any) -> list[str]:
    """The shared list of skipped files of an image-folder data set or its prepared splits ([] for other data)."""
    holder = getattr(data, "train", data)
    return getattr(holder, "skipped", None) or getattr(data, "skipped", None) or []


def load_image_folder(path: str | Path, size: tuple[int, int] | int | None = None, grayscale: bool | None = None,
                      num_workers: int | None = None) -> ImageFolderDataset:
    """Scan an image folder (one sub-folder per class).

    ``size`` (H, W) defaults to the size of the first image; ``grayscale`` defaults to the first image's mode.
    Every file's header is checked now, so unreadable files are known (and listed in ``warnings``) up front.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError(f"Image folder not found: {root}." if not root.exists() else f"{root} is not a folder.")
    workers = _check_workers(num_workers)
    classes, paths, labels, oversize = _scan(root)
    if not classes:
        loose = [p for p in root.iterdir() if p.suffix.lower() in EXTENSIONS]
        hint = f" It holds {len(loose)} images directly; move them into one sub-folder per class." if loose else ""
        raise DataError(f"{root.name} has no class sub-folders with images (.png, .jpg, ...).{hint} Expected "
                        f"{root.name}/<class>/<image>, e.g. {root.name}/cats/1.png and {root.name}/dogs/1.png.")
    warnings: list[str] = [f"Skipped {name}: {reason}." for name, reason in oversize]
    skipped: list[str] = [name for name, _reason in oversize]
    keep: list[int] = []
    first: tuple[tuple[int, int], str] | None = None
    for i, file in enumerate(paths):
        try:
            with Image.open(file) as image:
                if first is None:
                    first = ((image.height, image.width), image.mode)
            keep.append(i)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            warnings.append(f"Skipped {os.path.relpath(file, root)}: Pillow cannot read it ({_reason(error)}).")
            skipped.append(os.path.relpath(file, root))
    if first is None:
        raise DataError(f"None of the {len(paths)} files in {root.name} is an image Pillow can read.")
    paths = [paths[i] for i in keep]
    labels = [labels[i] for i in keep]
    present = sorted(set(labels))
    if len(present) < 2:
        raise DataError(f"{root.name} has readable images for only one class ({classes[present[0]]!r}); a "
                        "classifier needs at least two class sub-folders.")
    if len(present) != len(classes):  # a class whose every file was unreadable: drop it, renumber the rest
        remap = {old: new for new, old in enumerate(present)}
        classes = [classes[old] for old in present]
        labels = [remap[label] for label in labels]
    if size is None:
        size = first[0]
    elif isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, tuple | list) or len(size) != 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= 4096 for s in size)):
        raise DataError(f"Image size must be (height, width) in pixels from 1 to 4096, not {size!r}.")
    size = (int(size[0]), int(size[1]))
    grey = first[1] in _GREY_MODES if grayscale is None else bool(grayscale)
    channels = 1 if grey else 3
    info = DataInfo(id=root.name, title=root.name, task="classification", sample_shape=(channels, *size),
                    num_classes=len(classes), class_names=classes, source=str(root), kind="images",
                    samples=len(paths), pixel_range=(0.0, 1.0),
                    description=f"{len(paths):,} images in {len(classes)} classes, read as "
                                f"{'grey' if grey else 'RGB'} {size[0]}×{size[1]}"
                                + (f"; {len(warnings)} unreadable file{'s' if len(warnings) > 1 else ''} skipped."
                                   if warnings else "."))
    return ImageFolderDataset(info, str(root), paths, labels, size, grey, workers, warnings, skipped)
