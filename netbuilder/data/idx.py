"""IDX files, the format of MNIST and Fashion-MNIST (plain or gzipped).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions), one big-endian
uint32 per dimension, then the values. Everything is checked against the actual byte count before any array is
built, so a truncated download or a swapped file gives a clear message instead of garbage.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np

from netbuilder.data.arrays import from_arrays
from netbuilder.data.base import ArrayDataset, DataError
from netbuilder.data.files import existing_file, reading
from netbuilder.fs.limits import GZIP_MAGIC, FileRefused, gunzip_limited, human_size, limit_for, read_limited

IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file, after validating its magic number and size."""
    name = Path(path).name
    data = _read_declared(path)
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


def _read_declared(path: str | Path) -> bytes:
    """The file's bytes, un-gzipped with a cap at the size its own header declares (and at the "idx" limit): a
    small gzip claiming billions of values, or holding far more than it claims, is refused at once instead of
    being inflated."""
    p = existing_file(path)
    with reading(p):
        raw = read_limited(p, "idx")
        if raw[:2] != GZIP_MAGIC:
            return raw
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 4 + 4 * 255)
        limit = limit_for("idx")
        if len(head) >= 4 and head[0] == 0 and head[1] == 0 and head[2] in IDX_TYPES and head[3] > 0 \
                and len(head) >= 4 + 4 * head[3]:
            dims = struct.unpack(f">{head[3]}I", head[4:4 + 4 * head[3]])
            declared = 4 + 4 * head[3] + math.prod(dims) * np.dtype(IDX_TYPES[head[2]]).itemsize
            if declared > limit:
                raise DataError(f"{p.name} declares {'×'.join(map(str, dims))} values ({human_size(declared)}); "
                                f"NetBuilder reads IDX files of at most {human_size(limit)} (raise it with "
                                "NETBUILDER_LIMIT_IDX_MB).")
            try:
                return gunzip_limited(raw, p, "idx", declared)
            except FileRefused:
                raise DataError(f"{p.name} holds more data than its header declares "
                                f"({'×'.join(map(str, dims))} values); the file is damaged.") from None
        return gunzip_limited(raw, p, "idx", limit)  # not an IDX header: read_idx says what is wrong


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
