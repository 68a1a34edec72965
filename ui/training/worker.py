"""Training on a worker thread: the core's event generator runs there, every event comes back through a queued
signal, and nothing on the worker thread touches a widget (DESIGN.md principle 9; pyqtgraph issue #1398).

`TrainingSession` owns one run: a `Trainer` on a deep copy of the document (so edits, undo or a document swap in
the window cannot race with training), a QThread, and the worker object moved onto it. Stop, pause and resume go
straight to the Trainer's thread-safe flags, so they act between two batches without waiting for the GUI.
Events cross over through an outbox that the GUI collects on its timer (see `TrainingWorker`).
Whatever the worker raises becomes an `Error` event: the window keeps running and the document is untouched.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from netbuilder.document import Document
from netbuilder.train import Error, TrainConfig, Trainer


@dataclass
class Envelope:
    """One event from the worker, with the time the worker saw it (``time.perf_counter``). Elapsed time, ETA and
    throughput are measured from these stamps, not from when the GUI got round to the event."""

    event: Any
    time: float


@dataclass
class ResultsReady:
    """After Done: what the worker computed from the finished run for the results views (see outcomes)."""

    results: Any


def copy_document(document: Document) -> Document:
    """A deep, independent copy through the file format's plain records (what the trainer gets)."""
    from netbuilder.io import document_from_dict, document_to_dict

    copy = document_from_dict(document_to_dict(document))
    copy.path = document.path  # its settings' relative paths still mean files beside the original
    return copy


class TrainingWorker(QObject):
    """Lives on the training thread; iterates the Trainer's events and hands each one to the GUI thread.

    Events go into a thread-safe outbox, and a queued ``eventsReady`` signal tells the GUI thread there is
    something to collect; one signal stands for everything posted until the GUI collects (`collect`). A signal
    per event would wake the GUI thread hundreds of times a second for a small network, and each wake-up takes
    Python's GIL from training: measured on 2 cores, that alone cost 10% of the training throughput.
    """

    eventsReady = Signal()
    finished = Signal()

    def __init__(self, trainer: Trainer, after_done: Callable[[Trainer, Any], Any] | None = None):
        super().__init__()
        self.trainer = trainer
        self.after_done = after_done
        self.ended = threading.Event()  # set when run() is over: what a GUI thread that may not spin waits on
        self.skip_results = False  # set when the window closes: end as soon as the trainer is done
        self.outbox: deque[Envelope] = deque()
        self._signalled = False  # a notification is on its way and not yet collected

    def post(self, event: Any) -> None:
        """Hand an event to the GUI thread (training thread)."""
        self.outbox.append(Envelope(event, time.perf_counter()))
        if not self._signalled:
            self._signalled = True
            self.eventsReady.emit()

    def collect(self) -> list[Envelope]:
        """Everything posted so far, oldest first (GUI thread). An event posted while this runs is either taken
        now or announced by a new signal: none is lost."""
        self._signalled = False
        items: list[Envelope] = []
        while True:
            try:
                items.append(self.outbox.popleft())
            except IndexError:
                return items

    @Slot()
    def run(self) -> None:
        import torch

        from netbuilder_ui.training._guard import training_threads

        torch.set_num_threads(training_threads())  # every core but the GUI's (see _guard)
        try:
            last = None
            for event in self.trainer.events():
                last = event
                self.post(event)
            if self.after_done is not None and type(last).__name__ == "Done" and not self.skip_results:
                try:
                    results = self.after_done(self.trainer, last)
                except Exception as error:  # noqa: BLE001 - results are optional; training itself succeeded
                    from netbuilder.train import Warning as TrainWarning

                    self.post(TrainWarning(f"The run finished, but its results could not be prepared for display: "
                                           f"{type(error).__name__}: {error}."))
                else:
                    if results is not None:
                        self.post(ResultsReady(results))
        except Exception as error:  # noqa: BLE001 - any failure becomes a message; the app keeps running
            message = f"Training stopped because of an internal error: {type(error).__name__}: {error}."
            self.post(Error(message, self.trainer.step or None,
                            "The document is unchanged. Check the network and the settings, then start again."))
        finally:
            self.ended.set()
            self.finished.emit()


class TrainingThread(QThread):
    """The one thread every run of a window trains on. Reusing it keeps a single set of PyTorch's CPU worker
    threads for the whole session instead of a new set per run (each new Python thread that runs PyTorch gets
    its own OpenMP team, and idle teams still spin for a while on machines with few cores)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.setObjectName("NetBuilderTraining")

    def ensure_running(self) -> None:
        if not self.isRunning():
            self.start()

    def close(self, milliseconds: int = 5000) -> bool:
        """End the thread's event loop; True when it has ended within ``milliseconds``."""
        if not self.isRunning():
            return True
        self.quit()
        return bool(self.wait(max(0, int(milliseconds))))


class TrainingSession(QObject):
    """One training run on the window's training thread. Connect ``eventsReady`` (emitted on the GUI thread when
    events wait to be collected with `collect`) and ``finished`` (on the GUI thread once the run is over), then
    call `start`."""

    eventsReady = Signal()
    finished = Signal()
    _kick = Signal()

    def __init__(self, document: Document, config: TrainConfig, run_root: str, thread: TrainingThread, *,
                 after_done: Callable[[Trainer, Any], Any] | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self.document = copy_document(document)
        self.config = config
        self.training_thread = thread
        self.trainer = Trainer(self.document, config, run_root=run_root)
        self.worker = TrainingWorker(self.trainer, after_done)
        self.worker.moveToThread(thread)
        self._kick.connect(self.worker.run, Qt.ConnectionType.QueuedConnection)  # runs on the training thread
        self.worker.eventsReady.connect(self.eventsReady, Qt.ConnectionType.QueuedConnection)
        self.worker.finished.connect(self._on_worker_finished, Qt.ConnectionType.QueuedConnection)
        self._started = False
        self._done = False

    # ---- control ----------------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.training_thread.ensure_running()
        self._kick.emit()

    def stop(self, closing: bool = False) -> None:
        """Ask the run to stop after the batch in progress (also ends a pause); returns at once. ``closing``
        also skips the predictions prepared for the results views, so the thread ends as soon as it can."""
        if closing:
            self.worker.skip_results = True
        self.trainer.stop()

    def collect(self) -> list[Envelope]:
        """The events the run has sent since the last call, oldest first."""
        return self.worker.collect()

    def pause(self) -> None:
        self.trainer.pause()

    def resume(self) -> None:
        self.trainer.resume()

    @property
    def paused(self) -> bool:
        return self.trainer.paused

    @property
    def running(self) -> bool:
        return self._started and not self._done

    def wait(self, milliseconds: int) -> bool:
        """Block until the run is over (True) or ``milliseconds`` passed (False); needs no event loop."""
        if not self._started or self._done:
            return True
        return self.worker.ended.wait(max(0, milliseconds) / 1000.0)

    def finish_now(self) -> None:
        """Deliver ``finished`` at once after a successful `wait` (its queued notification may still be pending)."""
        if self.worker.ended.is_set():
            self._on_worker_finished()

    def _on_worker_finished(self) -> None:
        if self._done:
            return
        self._done = True
        self.worker.deleteLater()
        self.finished.emit()
