"""Reading the user's files: shared helpers that turn every I/O and decoding failure into a DataError.

Each format has its own module (tables: CSV; arrays: .npy/.npz; idx: MNIST-style IDX; text: plain text for
character models; images: image folders). They all read through here so that a missing file, a damaged gzip
stream or text in the wrong encoding is reported the same way: which file, where, and what to do.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from pathlib import Path

from netbuilder.data.base import DataError
from netbuilder.fs.limits import FileRefused, read_maybe_gzipped


def existing_file(path: str | Path) -> Path:
    """``path`` as a Path, or DataError if it is not a readable file."""
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"File not found: {p}.")
    if p.is_dir():
        raise DataError(f"{p} is a folder, but a file was expected here.")
    return p


@contextlib.contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn what can go wrong while reading ``path`` (refused by `netbuilder.fs.limits`, a damaged gzip stream, an
    OS error) into a DataError that names the file and says what to do."""
    try:
        yield
    except FileRefused as error:
        raise DataError(str(error)) from None
    except (EOFError, zlib.error):
        raise DataError(f"{path.name} is a damaged or truncated gzip file; download or compress it again.") from None
    except OSError as error:
        raise DataError(f"Cannot read {path}: {error.strerror or error}.") from None


def read_bytes(path: str | Path, kind: str = "table") -> bytes:
    """The file's content, transparently un-gzipped when it starts with the gzip magic bytes.

    Only a regular file is read, and at most the limit of ``kind`` (`netbuilder.fs.limits`), both before and
    after un-gzipping: a device, a FIFO or a gzip bomb is refused with a DataError that names the path.
    """
    p = existing_file(path)
    with reading(p):
        return read_maybe_gzipped(p, kind)


def decode_text(data: bytes, path: str | Path, encoding: str = "utf-8") -> str:
    """Decode ``data`` with newlines normalised to \\n; a decoding error names the line and the byte."""
    name = Path(path).name
    try:
        text = data.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except LookupError:
        raise DataError(f"Unknown text encoding {encoding!r}; use e.g. utf-8, latin-1 or cp1252.") from None
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        byte = data[error.start:error.start + 1].hex()
        raise DataError(f"{name} is not valid {encoding} text: byte 0x{byte} on line {line} cannot be decoded. "
                        "Save the file as UTF-8, or give its encoding (e.g. encoding='latin-1').") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_text(path: str | Path, encoding: str = "utf-8", kind: str = "text") -> str:
    return decode_text(read_bytes(path, kind), path, encoding)


def stem(path: str | Path) -> str:
    """The file name without compression and format extensions, for titles and ids."""
    name = Path(path).name
    for suffix in (".gz", ".csv", ".tsv", ".txt", ".npy", ".npz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name or Path(path).name
