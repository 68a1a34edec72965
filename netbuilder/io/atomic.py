"""Atomic file writes: a save either completes or leaves the previous file exactly as it was.

The data goes to a temporary file in the destination folder (same file system, so the final rename is atomic),
is flushed and fsynced, and then replaces the destination with ``os.replace``. On any failure the temporary file is
removed and the old file is untouched, so a full disk or a crash mid-save never costs the user their work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path


class SaveError(Exception):
    """A file could not be written; the message names the path and the reason in plain words."""

    def __init__(self, message: str, path: str | os.PathLike[str] | None = None):
        super().__init__(message)
        self.message = message
        self.path = None if path is None else Path(path)

    def __str__(self) -> str:
        return self.message


_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied (the folder is read-only or belongs to someone else)",
    errno.EPERM: "the operation is not permitted here",
    errno.EROFS: "the disk is read-only",
    errno.ENOENT: "the folder does not exist",
    errno.ENOTDIR: "part of the path is not a folder",
    errno.EISDIR: "a folder already has that name",
    errno.ENAMETOOLONG: "the file name is too long",
    errno.EIO: "the disk reported an input/output error",
}


def describe_os_error(error: OSError) -> str:
    """A short, plain reason for an OSError ("the disk is full"), falling back to the system's own text."""
    if error.errno in _REASONS:
        return _REASONS[error.errno]
    return error.strerror or str(error) or type(error).__name__


def write_atomic(path: str | os.PathLike[str], data: bytes, what: str = "file") -> None:
    """Write ``data`` to ``path`` atomically, or raise `SaveError` leaving any existing file untouched.

    ``what`` names the kind of file in the message ("document", "weights file", ...). A new file gets the usual
    permissions (0666 minus the umask); an existing file keeps its permissions.
    """
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        reason = "it is not a folder" if folder.exists() else "it does not exist"
        raise SaveError(f"Could not save the {what} {target}: the folder {folder} {reason}.", target)
    if target.is_dir():
        raise SaveError(f"Could not save the {what} {target}: a folder already has that name.", target)
    temp: Path | None = None
    try:
        fd, temp = _open_temp(folder, target.name)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if target.exists():
            with contextlib.suppress(OSError):  # keeping the old mode is a courtesy, not a requirement
                os.chmod(temp, target.stat().st_mode & 0o7777)
        os.replace(temp, target)
        temp = None
        _sync_folder(folder)
    except OSError as error:
        raise SaveError(f"Could not save the {what} {target}: {describe_os_error(error)}.", target) from error
    finally:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)


def _open_temp(folder: Path, name: str) -> tuple[int, Path]:
    """Create a new hidden temporary file next to the destination; O_EXCL so it never clobbers anything."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = folder / f".{name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(candidate, flags, 0o666), candidate
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "could not create a temporary file")


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable on POSIX; not possible (and not needed) on Windows."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
