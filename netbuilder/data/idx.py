"""IDX files, the format of MNIST and Fashion-MNIST (plain or gzipped).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the values. Everything is checked against the actual byte count before any array is
built, so a truncated download or a swapped file gives a clear message instead of garbage.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from netbuilder.data.arrays import from_arrays
from netbuilder.data.base import ArrayDataset, DataError
from netbuilder.data.files import read_bytes

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, after validating its magic number and size."""
    name = Path(path).name
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{name} is not an IDX file: it must start with two zero bytes, but it starts with "
                        f"0x{data[:4].hex() or 'nothing'}.")
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        raise DataError(f"{name} has the unknown IDX type code 0x{code:02x}; expected one of "
                        f"{', '.join(f'0x{c:02x}' for c in IDX_TYPES)}.")
    if ndim == 0:
        raise DataError(f"{name} declares 0 dimensions; an IDX data file needs at least one.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name} is truncated: its header declares {ndim} dimensions but the file ends first.")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(IDX_TYPES[code])
    expected = math.prod(dims) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        raise DataError(f"{name} declares {'×'.join(map(str, dims))} values ({expected:,} bytes) but holds "
                        f"{actual:,} bytes after the header. The file is truncated or damaged; download it again.")
    array = np.frombuffer(data, dtype=dtype, count=math.prod(dims), offset=header).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def labels_beside(images: Path) -> Path | None:
    """MNIST names its pairs ``train-images-idx3-ubyte`` / ``train-labels-idx1-ubyte``: find the label file."""
    name = images.name
    if "images" not in name and "idx3" not in name:
        return None
    candidate = images.with_name(name.replace("images", "labels").replace("idx3", "idx1"))
    if candidate.is_file():
        return candidate
    other = candidate.with_name(candidate.name[:-3]) if candidate.name.endswith(".gz") \
        else candidate.with_name(candidate.name + ".gz")
    return other if other.is_file() else None


def load_idx(images: str | Path, labels: str | Path | None = None,
             class_names: list[str] | None = None) -> ArrayDataset:
    """Images (N×H×W) and, if given or found beside them, labels (N) from IDX files; pixels scaled to [0, 1]."""
    images = Path(images)
    x = read_idx(images)
    if x.ndim == 3:
        x = x[:, None, :, :]
    label_path = Path(labels) if labels is not None else labels_beside(images)
    y = None
    if label_path is not None:
        y = read_idx(label_path)
        if y.ndim != 1:
            raise DataError(f"{label_path.name} should hold one label per image, but it is "
                            f"{'×'.join(map(str, y.shape))}.")
        if len(y) != len(x):
            raise DataError(f"{images.name} has {len(x):,} images but {label_path.name} has {len(y):,} labels; "
                            "pick the matching pair (train with train, test with test).")
    dataset = from_arrays(x, y, str(images), "auto", class_names=class_names)
    if label_path is not None:
        dataset.info.description += f" Labels from {label_path.name}."
    return dataset
