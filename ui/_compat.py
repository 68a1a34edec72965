"""Workarounds for faults of PySide6 on Python 3.11, each as narrow as the evidence allows.

1. PySide6 / shiboken6 **6.12.0** on Python 3.11 drops one reference to ``None`` on every call of a Qt method that
   returns ``void``, and one to ``True`` on every ``Signal.emit()``; once a count reaches zero the interpreter
   aborts ("Fatal Python error: none_dealloc"). Measured with ``QObject.setObjectName`` and ``emit`` called 1,000
   times each: ``sys.getrefcount(None)`` and ``sys.getrefcount(True)`` fall by exactly 1,000 on 6.12.0 and do not
   move on 6.11.3, 6.10.3, 6.9.3, 6.8.3 or 6.7.3; a million calls abort 6.12.0 (exit 134) and leave 6.11.3 running.
   Python 3.12+ makes these singletons immortal, so there the fault is harmless.

   Excluding 6.12.0 is no cure: on 6.11.3, 6.10.3 and 6.9.3 the app's own GUI training test
   (``tests/gui/test_training.py::test_train_mlp_two_epochs_through_the_panel``) dies with a segmentation fault in
   pyqtgraph's axis painting (``QPainter.boundingRect``) while training runs, with and without this workaround;
   on 6.12.0 with it, it passes. (Re-checked after the GUI-thread-only garbage collection fix, gc_guard:
   6.11.3 and 6.9.3 still crash there, each time with the worker thread inside an import's ``os.stat``; a bare
   loop of ``boundingRect`` beside a thread calling ``os.stat`` does not crash, so the trigger is not isolated.) So every release on offer is faulty on 3.11 in some way, and
   `keep_singletons_alive` stays, narrowed to the one release with the reference-count fault on Python < 3.12:
   there it gives ``None``, ``True`` and ``False`` a count so large that no session can use it up (2**48 calls),
   which is what Python 3.12 does by design. On any other release or Python it does nothing.

2. `set_clipboard_mime`: see there. That fault is in every release tried (6.9.3 to 6.12.0).
"""

from __future__ import annotations

import atexit
import ctypes
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData

# Releases with the None/True/False reference-count fault on Python < 3.12 (see the module docstring).
FAULTY_ON_PY311 = frozenset({"6.12.0"})
_HEADROOM = 1 << 48
_done = False


def needs_singleton_guard(version: str | None = None, python: tuple[int, int] | None = None) -> bool:
    """True only for a release known to drop references to None/True/False, on a Python where that is fatal."""
    if version is None:
        import shiboken6

        version = shiboken6.__version__
    python = python or (sys.version_info.major, sys.version_info.minor)
    return python < (3, 12) and version in FAULTY_ON_PY311


def keep_singletons_alive() -> bool:
    """Apply the guard where `needs_singleton_guard` says so (once, process-wide). True when it is in place."""
    global _done
    if _done:
        return True
    if not needs_singleton_guard():
        return False
    _done = True
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        refcount.value += _HEADROOM
    return True


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
