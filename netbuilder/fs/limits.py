"""Reading the user's files safely: only regular files, only up to a size that fits in memory.

A path in a document can point anywhere: at ``/dev/zero`` (endless), a FIFO (``open`` blocks until someone
writes), a socket, or a symlink to one of those; a small gzip can inflate to gigabytes. Every reader in
NetBuilder goes through this module so that each of those is refused at once with a message that names the path,
instead of hanging the app or growing it until the system kills it.

How: the file is opened with ``O_NONBLOCK`` (so a FIFO cannot block the open), checked with ``fstat`` on the open
descriptor (so a swap between check and read cannot slip a device in), and read in chunks up to the limit of its
kind; gzip is inflated with a cap on the *output*, so a bomb is stopped after ``limit`` bytes, not after inflating.

Limits are generous: they exist to stop absurd inputs, not to police real data. Each is ``LIMITS[kind]`` in bytes,
read at call time (tests lower them with ``monkeypatch.setitem``); a user with a genuinely larger file raises one
with the environment variable ``NETBUILDER_LIMIT_<KIND>_MB`` (e.g. ``NETBUILDER_LIMIT_TABLE_MB=4096``).
"""

from __future__ import annotations

import os
import stat
import zlib

MB = 1024 * 1024
GB = 1024 * MB

LIMITS: dict[str, int] = {
    # .nbg files are JSON text: the templates are a few kB; a 20,000-node network is about 10 MB.
    "document": 64 * MB,
    # safetensors weights and checkpoints, read whole into memory: 2 billion float32 parameters (or 1 billion with
    # Adam's state in a checkpoint), far beyond what NetBuilder trains on one machine.
    "weights": 8 * GB,
    # CSV/TSV text: every cell becomes a Python string while parsing (about 10x the file in memory), so 1 GB of
    # CSV already needs a large machine; bigger tables belong in .npy files.
    "table": 1 * GB,
    # Plain-text corpora for character models: each character becomes an int64 (8x the file) in the windows.
    "text": 1 * GB,
    # .npy/.npz arrays, counted as stored (an .npz member counts at its inflated size).
    "array": 8 * GB,
    # IDX (MNIST format), counted after un-gzipping: MNIST's training images are 47 MB, EMNIST's largest set
    # about 550 MB; a gzip that inflates past this is refused after inflating at most this much.
    "idx": 1 * GB,
    # One image file (decoded lazily by Pillow, whose own pixel cap guards against decompression bombs).
    "image": 256 * MB,
    # All image files of an image folder together: they are streamed from disk in batches, never all in memory.
    "image_folder": 64 * GB,
    # Files in one image folder: the list of paths lives in memory and every header is checked when it is opened.
    "image_files": 2_000_000,
    # An ONNX model file to import: protobuf caps one file at 2 GB (larger weights live in external data files).
    "model": 2 * GB,
}

WHAT = {"document": "NetBuilder file", "weights": "weights file", "table": "CSV table", "text": "text file",
        "array": "NumPy array file", "idx": "IDX file", "image": "image", "image_folder": "image folder", "model": "model file"}

_CHUNK = 16 * MB


class FileRefused(ValueError):
    """A file NetBuilder will not read: not a regular file, or larger than the limit of its kind. The message
    names the path, says why, and what to do."""

    def __init__(self, path: str | os.PathLike[str], reason: str):
        super().__init__(f"{path} {reason}")
        self.path = str(path)
        self.reason = reason  # the message without the leading path, e.g. "is a named pipe (FIFO), ..."


def limit_for(kind: str) -> int:
    """The limit of ``kind`` in bytes (or files, for ``image_files``): the environment's override, else LIMITS."""
    override = os.environ.get(f"NETBUILDER_LIMIT_{kind.upper()}_MB", "").strip()
    if override:
        try:
            return max(1, int(float(override) * (1 if kind == "image_files" else MB)))
        except ValueError:
            pass
    return LIMITS[kind]


def human_size(size: float) -> str:
    """1536 -> "1.5 kB"; sizes in the binary units the limits use, written the way people say them."""
    for unit, scale in (("TB", 1024 * GB), ("GB", GB), ("MB", MB), ("kB", 1024)):
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value >= 10 or value == int(value) else f"{value:.1f} {unit}"
    return f"{int(size)} bytes"


def _with_article(what: str) -> str:
    return f"{'an' if what[:1].upper() in 'AEIOU' else 'a'} {what}"


def _env_name(kind: str) -> str:
    return f"NETBUILDER_LIMIT_{kind.upper()}_MB"


def too_large(path: str | os.PathLike[str], kind: str, size: int | None, limit: int, inflated: bool = False) -> \
        FileRefused:
    """The error for a file over its limit (``size`` None: it kept going past the limit while being read)."""
    what = _with_article(WHAT.get(kind, "file"))
    has = (f"inflates to more than {human_size(limit)}" if inflated
           else f"is {human_size(size)}" if size is not None else f"holds more than {human_size(limit)}")
    return FileRefused(path, f"{has}; NetBuilder reads {what} of at most {human_size(limit)}. Use a smaller file, "
                             f"or raise the limit with the environment variable {_env_name(kind)}.")


def _special(mode: int) -> str | None:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a named pipe (FIFO)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISDIR, "a folder")):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def _refuse_special(path: str | os.PathLike[str], mode: int, kind: str) -> None:
    name = _special(mode)
    if name is None:
        return
    if name == "a folder":
        raise IsADirectoryError(21, "Is a directory", str(path))
    link = ""
    if os.path.islink(path):
        link = f" (it is a link to {os.path.realpath(path)})"
    raise FileRefused(path, f"is {name}{link}, not a regular file; NetBuilder reads {_with_article(WHAT.get(kind, 'file'))} "
                            "only from a regular file. Pick the file itself.")


def check_readable(path: str | os.PathLike[str], kind: str, limit: int | None = None) -> os.stat_result:
    """Check without opening that ``path`` (links followed) is a regular file within the limit of ``kind``.

    Raises FileNotFoundError / IsADirectoryError / OSError like ``open`` would, and `FileRefused` for a device,
    FIFO or socket (even behind a symlink) or a file over the limit. Returns the file's stat.
    """
    info = os.stat(path)
    _refuse_special(path, info.st_mode, kind)
    cap = limit_for(kind) if limit is None else limit
    if info.st_size > cap:
        raise too_large(path, kind, info.st_size, cap)
    return info


def read_limited(path: str | os.PathLike[str], kind: str, limit: int | None = None) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (default: the limit of ``kind``).

    The file is opened without blocking and checked on the open descriptor, so a FIFO or a device swapped in
    after a check is still refused; a file that grows past the limit while being read (or reports size 0, like
    files under /proc) is stopped at the limit. Raises OSError (missing, a folder, unreadable) or `FileRefused`.
    """
    cap = limit_for(kind) if limit is None else limit
    _refuse_special(path, os.stat(path).st_mode, kind)  # a socket cannot even be opened: name it first
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        _refuse_special(path, info.st_mode, kind)
        if info.st_size > cap:
            raise too_large(path, kind, info.st_size, cap)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        stream = os.fdopen(fd, "rb", buffering=0)
        fd = -1  # the stream owns it now
        with stream:
            parts = []
            total = 0
            wanted = info.st_size
            while True:
                step = min(_CHUNK, wanted - total) if wanted else _CHUNK
                chunk = stream.read(max(1, min(step, cap + 1 - total)))
                if not chunk:
                    break
                parts.append(chunk)
                total += len(chunk)
                if total > cap:
                    raise too_large(path, kind, None, cap)
                if wanted and total >= wanted:
                    wanted = 0  # the stated size is read: go on in chunks only if the file grew meanwhile
            return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        if fd >= 0:
            os.close(fd)


GZIP_MAGIC = b"\x1f\x8b"


def gunzip_limited(data: bytes, path: str | os.PathLike[str], kind: str, limit: int | None = None) -> bytes:
    """Inflate gzip ``data`` (one or more members), stopping with `FileRefused` as soon as the output passes the
    limit of ``kind``: a 3 MB file that would inflate to 3 GB costs at most ``limit`` bytes of memory.
    Raises EOFError for a truncated stream and zlib.error for a damaged one."""
    cap = limit_for(kind) if limit is None else limit
    parts: list[bytes] = []
    total = 0
    pending = data
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        while not inflater.eof:
            chunk = inflater.decompress(pending, min(_CHUNK, cap + 1 - total))
            pending = inflater.unconsumed_tail
            if chunk:
                parts.append(chunk)
                total += len(chunk)
                if total > cap:
                    raise too_large(path, kind, None, cap, inflated=True)
            elif not pending and not inflater.eof:
                raise EOFError("compressed file ended before the end-of-stream marker was reached")
        rest = inflater.unused_data.lstrip(b"\x00")  # gzip allows members back to back, and zero padding
        if not rest.startswith(GZIP_MAGIC):
            break
        pending = rest
    return b"".join(parts)


def read_maybe_gzipped(path: str | os.PathLike[str], kind: str, limit: int | None = None) -> bytes:
    """A file's bytes, un-gzipped when they start with the gzip magic; both sizes capped by the kind's limit."""
    data = read_limited(path, kind, limit)
    if data[:2] == GZIP_MAGIC:
        return gunzip_limited(data, path, kind, limit)
    return data

