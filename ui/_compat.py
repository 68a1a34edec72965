"""A guard against reference-counting bugs in the installed PySide6 (6.12.0) on Python 3.11.

1. Every call of a Qt method returning ``void`` hands back ``None`` without taking a reference to it, so each call
   drops one reference that was never added. A canvas paints thousands of such calls per frame.
2. ``SignalInstance.emit()`` returns ``True`` the same way, and some bool-returning slots do the same with
   ``False``: every signal emitted from Python drops a reference to ``True``.

On Python 3.12+ these singletons are immortal and nothing happens. On 3.11 their counts fall with every call, and
once one reaches zero the interpreter aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"), or, when that
happens while the interpreter is shutting down, dies with a segmentation fault.

`keep_singletons_alive` gives ``None``, ``True`` and ``False`` a reference count so large that no session can use
it up (2**48 calls), which is what Python 3.12 does by design. It is process-wide and idempotent; it belongs to
whatever imports Qt first (``netbuilder_ui/__init__.py``).

`set_clipboard_mime` works around a third fault of the same release, at exit (see there).
"""

from __future__ import annotations

import atexit
import ctypes
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QMimeData

_HEADROOM = 1 << 48
_done = False


def keep_singletons_alive() -> None:
    global _done
    if _done or sys.version_info >= (3, 12):
        return
    _done = True
    for singleton in (None, True, False):
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        refcount.value += _HEADROOM


_clipboard_guarded = False


def set_clipboard_mime(mime: QMimeData) -> None:
    """Put ``mime`` on the clipboard, and make sure it is taken off again before the interpreter shuts down.

    Qt owns mime data once it is on the clipboard, but PySide6 6.12 frees the Python wrapper's C++ object a second
    time when the application object is destroyed at interpreter exit: the process dies with a segmentation fault
    after everything else went well (closing the app, or the end of a test run). Clearing the clipboard from an
    ``atexit`` hook, while Qt is still whole, hands the data back cleanly. The clipboard only ever holds
    NetBuilder's own layers and their JSON text, which no other program needs after NetBuilder quits.
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
