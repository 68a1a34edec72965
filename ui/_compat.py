"""Checks and workarounds for faults of the installed PySide6.

1. PySide6 / shiboken6 **6.12.0** on Python 3.11 drops one reference to ``None`` on every call of a Qt method that
   returns ``void``, and one to ``True`` on every ``Signal.emit()``; once a count reaches zero the interpreter
   aborts ("Fatal Python error: none_dealloc"). Measured with ``QObject.setObjectName`` and ``emit`` called 1,000
   times each: ``sys.getrefcount(None)`` and ``sys.getrefcount(True)`` fall by exactly 1,000 on 6.12.0, and do not
   move on 6.11.3, 6.10.3, 6.9.3, 6.8.3 or 6.7.3; a million calls abort 6.12.0 and leave 6.11.3 running. (Python
   3.12+ makes these singletons immortal, so there the fault is harmless.) ``pyproject.toml`` excludes that
   release on Python 3.11, and `check_pyside` refuses to start on it with instructions, instead of crashing at
   a random moment later. An earlier version raised the reference counts through ``ctypes``; that is gone.

2. `set_clipboard_mime`: see there. That fault is in every release tried (6.9.3 to 6.12.0).
"""

from __future__ import annotations

import atexit
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData

# Releases with the None/True reference-count fault on Python < 3.12 (see the module docstring).
FAULTY_ON_PY311 = frozenset({"6.12.0"})


class UnsupportedQtError(ImportError):
    """The installed PySide6 release is known to crash NetBuilder on this Python."""


def check_pyside(version: str | None = None, python: tuple[int, int] | None = None) -> None:
    """Raise `UnsupportedQtError` (an ImportError, so the ``netbuilder`` command reports it in one line) when the
    installed PySide6 is a release that crashes on this Python. ``version``/``python`` are for tests."""
    if version is None:
        import shiboken6

        version = shiboken6.__version__
    python = python or (sys.version_info.major, sys.version_info.minor)
    if python < (3, 12) and version in FAULTY_ON_PY311:
        raise UnsupportedQtError(
            f"PySide6 {version} has a reference-counting fault on Python {python[0]}.{python[1]} that crashes the "
            f"app after a while. Install another release: pip install \"PySide6-Essentials>=6.6,!={version}\"")


_clipboard_guarded = False


def set_clipboard_mime(mime: QMimeData) -> None:
    """Put ``mime`` on the clipboard, and make sure it is taken off again before the interpreter shuts down.

    Qt owns mime data once it is on the clipboard, but PySide6 frees the Python wrapper's C++ object a second
    time when the application object is destroyed at interpreter exit: the process dies with a segmentation fault
    after everything else went well (closing the app, or the end of a test run). Reproduced on 6.9.3, 6.10.3,
    6.11.3 and 6.12.0 alike (a script that sets a ``QMimeData`` and returns exits with SIGSEGV), so no version
    pin avoids it. Clearing the clipboard from an ``atexit`` hook, while Qt is still whole, hands the data back
    cleanly; it is an ordinary Qt call. The clipboard only ever holds NetBuilder's own layers and their JSON text,
    which no other program needs after NetBuilder quits.
    """
    global _clipboard_guarded
    from PySide6.QtWidgets import QApplication

    QApplication.clipboard().setMimeData(mime)
    if not _clipboard_guarded:
        _clipboard_guarded = True
        atexit.register(_clear_clipboard)


def _clear_clipboard() -> None:
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is not None:
        QApplication.clipboard().clear()
