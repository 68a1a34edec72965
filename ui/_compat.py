"""Faults of PySide6 that NetBuilder meets on Python 3.11, each handled as narrowly as the evidence allows.

1. PySide6 / shiboken6 **6.12.0** on Python 3.11 drops one reference to ``None`` on every call of a Qt method that
   returns ``void``, and one to ``True`` on every ``Signal.emit()``; once a count reaches zero the interpreter
   aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"). Measured: 1,000 calls of
   ``QObject.setObjectName`` take ``sys.getrefcount(None)`` from 5,327 to 4,327 on 6.12.0 and leave it unchanged
   on 6.11.3 (also unchanged on 6.10.3, 6.9.3, 6.8.3 and 6.7.3); a script emitting a signal 1,000 times aborts
   6.12.0. The app does millions of such calls in a session. Python 3.12+ makes these singletons immortal, so
   there the fault is harmless. That release is excluded on Python < 3.12 in pyproject.toml, and
   `unsupported_pyside` names it so the app refuses to start on it with a one-line reason instead of aborting
   minutes later. (Until then a ctypes hack raised the singletons' reference counts process-wide; it is gone.)

   Excluding 6.12.0 used to look impossible because the GUI training test segfaulted on 6.11.3, 6.10.3 and
   6.9.3. That crash was ours, not the older releases': plot axes were given a tick font built from an empty
   family name, which every release from 6.6.3 to 6.11.3 crashes on when pyqtgraph records an axis into its QPicture
   cache (``QDataStream << QFont`` in ``QPainter.boundingRect``); single-threaded, no training needed. See
   `netbuilder_ui.training.widgets.tick_font`. With that fixed, on 6.11.3 and Python 3.11 and no guard: the
   training test passed 3 of 3 runs (it had crashed 3 of 3), tests/gui/test_training.py 5 of 5 runs (17 tests
   each) and once more beside a CPU-bound process, and the whole tests/gui folder (310 tests) passed.

2. `set_clipboard_mime`: see there. That fault is in every release tried (6.9.3 to 6.12.0).
"""

from __future__ import annotations

import atexit
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData

# Releases that lose references to None/True/False, fatal on Python < 3.12 (see the module docstring).
FAULTY_ON_PY311 = frozenset({"6.12.0"})


def unsupported_pyside(version: str | None = None, python: tuple[int, int] | None = None) -> str | None:
    """Why NetBuilder cannot run on this PySide6 with this Python, in one line for the user; None when it can.
    ``version`` and ``python`` default to the installed PySide6 and the running interpreter."""
    if version is None:
        import PySide6

        version = PySide6.__version__
    python = python or (sys.version_info[0], sys.version_info[1])
    if python < (3, 12) and version in FAULTY_ON_PY311:
        return (f"PySide6 {version} is not supported on Python {python[0]}.{python[1]}: it loses references to "
                f"None and the app would abort. Install another release: "
                f"pip install 'PySide6-Essentials!={version}'")
    return None


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
