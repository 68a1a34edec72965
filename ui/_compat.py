"""A guard against a reference-counting bug in the installed PySide6 (6.12.0) on Python 3.11.

Every call of a Qt method returning ``void`` hands back ``None`` without taking a reference to it, so each call
drops one reference that was never added. On Python 3.12+ ``None`` is immortal and nothing happens; on 3.11 its
count falls with every ``painter.setPen(...)``, and once it reaches zero the interpreter aborts with "Fatal Python
error: none_dealloc". A canvas paints thousands of such calls per frame, so the app would die within minutes.

`keep_none_alive` gives ``None`` a reference count so large that no session can use it up (2**48 calls), which is
what Python 3.12 does by design. It is process-wide and idempotent; it belongs to whatever imports Qt first.
"""

from __future__ import annotations

import ctypes
import sys

_HEADROOM = 1 << 48
_done = False


def keep_none_alive() -> None:
    global _done
    if _done or sys.version_info >= (3, 12):
        return
    _done = True
    refcount = ctypes.c_ssize_t.from_address(id(None))
    refcount.value += _HEADROOM
