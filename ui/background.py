"""Long operations off the GUI thread, with progress, Cancel, and a quit that never aborts.

`BackgroundTask` runs a plain function on a Python thread. The function gets a ``step(text)`` callback: it names
the step being started (shown to the user) and raises `Cancelled` once Cancel was pressed, so the work stops at the
next step boundary. The worker never touches Qt: a GUI timer collects its progress and outcome and emits the
signals on the GUI thread.

Why a Python thread and not a QThread: a QThread object destroyed while its thread runs aborts the process
("QThread: Destroyed while thread is still running"), which is what closing the window during a data preview did.
A Python thread has no such object; a non-daemon one is simply waited for when the interpreter exits, after its
work saw the cancel flag.

`run_with_progress` is the modal form for commands (exports): a window-modal progress dialog with Cancel, a local
event loop that keeps the window painting, and the result returned (or the error raised) on the GUI thread.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QProgressDialog, QWidget

POLL_MS = 30
SHOW_AFTER_MS = 300  # quick work finishes without a dialog flashing up

Step = Callable[[str], None]


class Cancelled(Exception):
    """Raised by ``step`` inside a task once Cancel was pressed."""


class BackgroundTask(QObject):
    """``work(step)`` on a worker thread; ``progressed``, then one of ``succeeded``/``failed``/``cancelled``, and
    ``ended`` in every case, all on the GUI thread."""

    progressed = Signal(str)
    succeeded = Signal(object)
    failed = Signal(object)  # the exception
    cancelled = Signal()
    ended = Signal()

    def __init__(self, work: Callable[[Step], Any], name: str = "netbuilder-task", parent: QObject | None = None):
        super().__init__(parent)
        self._work = work
        self._name = name
        self._cancel = threading.Event()
        self._lock = threading.Lock()
        self._steps: list[str] = []
        self._outcome: tuple[str, Any] | None = None
        self._thread: threading.Thread | None = None
        self.result: Any = None
        self.error: BaseException | None = None
        self.was_cancelled = False
        self.finished = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._deliver)

    # ---- control (GUI thread) ------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        # Free the garbage Qt wrappers now, on the GUI thread: a collection on the worker thread would destroy them
        # there and can deadlock with the GUI thread (see netbuilder_ui.gc_guard).
        gc.collect()
        # Not a daemon: at exit Python waits for it (killing a thread inside a C extension can crash the process).
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=False)
        self._thread.start()
        self._timer.start()

    def cancel(self) -> None:
        """Ask the work to stop at its next step; ``cancelled`` follows (unless it had already finished)."""
        self._cancel.set()

    @property
    def cancel_requested(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self._thread is not None and not self.finished

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the worker ends and deliver its outcome (tests and shutdown). True when it ended."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                return False
        self._deliver()
        return True

    def detach(self) -> None:
        """The owner goes away: stop delivering and ask the work to stop. The thread ends on its own."""
        self._cancel.set()
        self._timer.stop()

    # ---- worker thread -------------------------------------------------------------------------------------
    def _step(self, text: str) -> None:
        if self._cancel.is_set():
            raise Cancelled()
        with self._lock:
            self._steps.append(text)

    def _run(self) -> None:
        try:
            value = self._work(self._step)
            if self._cancel.is_set():
                raise Cancelled()
            outcome: tuple[str, Any] = ("ok", value)
        except Cancelled:
            outcome = ("cancelled", None)
        except BaseException as error:  # noqa: BLE001 - delivered to the GUI thread, which reports it
            outcome = ("error", error)
        with self._lock:
            self._outcome = outcome

    # ---- delivery (GUI thread) -----------------------------------------------------------------------------
    def _deliver(self) -> None:
        if self.finished:
            return
        with self._lock:
            steps, self._steps = self._steps, []
            outcome = self._outcome
        for text in steps:
            self.progressed.emit(text)
        if outcome is None:
            return
        self._timer.stop()
        self.finished = True
        kind, value = outcome
        if kind == "ok":
            self.result = value
            self.succeeded.emit(value)
        elif kind == "cancelled":
            self.was_cancelled = True
            self.cancelled.emit()
        else:
            self.error = value
            self.failed.emit(value)
        self.ended.emit()


def run_with_progress(parent: QWidget | None, title: str, work: Callable[[Step], Any]) -> Any:
    """Run ``work(step)`` off the GUI thread behind a window-modal progress dialog with Cancel, and return its
    result here. Raises `Cancelled` when the user cancelled, or the work's own exception. The window keeps
    painting meanwhile; the dialog appears only when the work takes longer than a moment."""
    task = BackgroundTask(work, name=f"netbuilder-{title}")
    dialog = QProgressDialog(title, "Cancel", 0, 0, parent)
    dialog.setWindowTitle(title.rstrip("…. "))
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(SHOW_AFTER_MS)
    dialog.setAutoClose(False)
    dialog.setAutoReset(False)

    def on_cancel() -> None:
        task.cancel()
        dialog.setLabelText("Cancelling after the current step…")

    dialog.canceled.connect(on_cancel)
    task.progressed.connect(lambda text: None if task.cancel_requested else dialog.setLabelText(text))
    loop = QEventLoop()
    task.ended.connect(loop.quit)
    task.start()
    if not task.finished:
        loop.exec()
    dialog.canceled.disconnect(on_cancel)
    dialog.close()
    dialog.deleteLater()
    task.deleteLater()
    if task.was_cancelled:
        raise Cancelled()
    if task.error is not None:
        raise task.error
    return task.result
