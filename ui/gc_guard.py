"""Python's cyclic garbage collector runs on whichever thread happens to allocate; when it frees a Qt wrapper
there, Qt destroys the object on that thread. With training and exports running Python on worker threads, a
collection there can destroy a widget left in a reference cycle while the GUI thread tears down another: both
wait on Qt's object mutex and the GIL, and the app freezes (seen in the test suite: a worker thread exporting
ONNX, in gc, inside ~QObject waiting for the GIL; the GUI thread holding it in ~QMenu waiting for the mutex).

`MainThreadCollector` switches automatic collection off and collects on a GUI-thread timer instead, the way
pyqtgraph's GarbageCollector does for the same reason, so Qt objects are only ever freed on the GUI thread.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

INTERVAL_MS = 500  # often enough that garbage never piles up; a collection of generation 0 takes microseconds


class MainThreadCollector(QObject):
    """Collect garbage on the thread that created this object (the GUI thread), never automatically elsewhere."""

    def __init__(self, parent: QObject | None = None, interval_ms: int = INTERVAL_MS):
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.timeout.connect(self.check)
        self._timer.start(interval_ms)
        if self._was_enabled:  # destroyed with its window: Python collects by itself again
            self.destroyed.connect(gc.enable)

    def check(self) -> None:
        """Collect the generations whose allocation counts passed their thresholds, as automatic gc would."""
        thresholds = gc.get_threshold()
        counts = gc.get_count()
        for generation in (2, 1, 0):
            if counts[generation] > thresholds[generation]:
                gc.collect(generation)
                return

    def stop(self) -> None:
        """Hand collection back to Python (the app is closing, or a test is over)."""
        self._timer.stop()
        if self._was_enabled:
            gc.enable()
