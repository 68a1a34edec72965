"""The training part of the window: four docks (Data, Training, Plots, Results), the Train menu, and the glue
between a `TrainingSession` (the worker thread) and the views.

Events from the worker wait in its outbox, announced by a queued signal; a GUI timer (10 Hz) takes what
arrived, updates the run history and the progress, and redraws the curves (coalesced, but never more than
`plots.MAX_WAIT_S` behind the run), so a burst of events costs one redraw and the event loop never stalls. While a run lasts, the document is locked against
structural edits (QtDocument.set_locked), and closing the window asks before stopping the run cleanly.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QObject, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QDockWidget, QMainWindow, QMenu, QMessageBox

from netbuilder.train import (
    BatchEnd,
    Checkpoint,
    ConfigError,
    Done,
    EpochEnd,
    Error,
    RunError,
    RunStarted,
    Samples,
    ValidationEnd,
    WeightsLoaded,
    graph_hash,
    load_run,
)
from netbuilder.train import Warning as TrainWarning
from netbuilder.train.events import Stage
from netbuilder_ui.qt_document import QtDocument
from netbuilder_ui.training.data_panel import DataPanel
from netbuilder_ui.training.episode_view import add_episode_tab
from netbuilder_ui.training.outcomes import TrainedModel, compute_results
from netbuilder_ui.training.plots import TrainingPlots
from netbuilder_ui.training.results import ResultsPanel
from netbuilder_ui.training.settings import LOCK_REASON, RECIPE_LABELS, read_config
from netbuilder_ui.training.train_panel import TrainingPanel
from netbuilder_ui.training.widgets import human_duration, human_rate
from netbuilder_ui.training.worker import Envelope, ResultsReady, TrainingSession, TrainingThread

# 10 Hz: a progress bar and curves that move smoothly enough to watch. Every tick takes Python's GIL from the
# training thread; measured on 2 cores with the mlp template, ticking at 25 Hz instead cost 2-4 % of its speed.
DRAW_INTERVAL_MS = 100
STOP_WAIT_MS = 5000
IDLE_THREAD_MS = 60_000


def default_run_root(window: QMainWindow) -> Path:
    """Where runs are written: beside the document's file (``runs/``) once it is saved, else in the user's data
    folder, so an untitled document's runs are never lost in the working directory."""
    files = getattr(window, "files", None)
    path = getattr(files, "path", None)
    if path:
        return Path(path).resolve().parent / "runs"
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation) or str(Path.home())
    return Path(base) / "runs"


class TrainingUI(QObject):
    """Everything training adds to a main window. Build it with `install_training_ui`."""

    runStarted = Signal()
    runFinished = Signal(str)  # "done", "stopped" or "error"

    def __init__(self, window: QMainWindow, run_root: str | os.PathLike[str] | None = None):
        super().__init__(window)
        qt_doc = getattr(window, "qt_doc", None)
        if not isinstance(qt_doc, QtDocument):
            raise TypeError("install_training_ui needs a main window with a qt_doc attribute (a QtDocument).")
        self.window = window
        self.qt_doc: QtDocument = qt_doc
        self._run_root = Path(run_root) if run_root is not None else None
        self.session: TrainingSession | None = None
        self.training_thread = TrainingThread(self)
        self.trained: TrainedModel | None = None
        self.ask: Callable[[str, str], bool] = self._ask_dialog  # replaced in tests
        self._pending: list[Envelope] = []
        self._state = _RunState()
        self._selection: tuple[str, str] | None = None
        self._hooked_views: set[int] = set()
        self._run_cache: dict[str, tuple[tuple[float, ...], Any]] = {}
        self.last_outcome = ""
        self.last_error: Error | None = None

        self.data_panel = DataPanel(qt_doc)
        self.train_panel = TrainingPanel(qt_doc)
        self.plots = TrainingPlots()
        self.results = ResultsPanel()
        self.episode_view = add_episode_tab(self.results)
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self._build_menu()

        self.train_panel.startRequested.connect(self.start)
        self.train_panel.pauseRequested.connect(self.toggle_pause)
        self.train_panel.stopRequested.connect(self.stop)
        self.train_panel.lrFindRequested.connect(self.find_lr)
        self.sweep_panel: Any = None
        self.data_panel.dataInfoChanged.connect(self.train_panel.set_data_info)
        self.results.runs.refreshRequested.connect(self.refresh_runs)
        self.results.layer.sampleChanged.connect(lambda _i: self._probe_selection())
        self.results.explain.explainRequested.connect(self.explain)
        qt_doc.documentReplaced.connect(self._on_document_replaced)
        qt_doc.networksChanged.connect(self._hook_views_later)
        qt_doc.analysisChanged.connect(lambda _network: self._hook_views_later())

        self.timer = QTimer(self)
        self.timer.setInterval(DRAW_INTERVAL_MS)
        self.timer.timeout.connect(self.drain)
        # The training thread is kept between runs, and ended when idle for a while or when the app quits (a
        # QThread must never be destroyed while it runs).
        self.idle_timer = QTimer(self)
        self.idle_timer.setSingleShot(True)
        self.idle_timer.setInterval(IDLE_THREAD_MS)
        self.idle_timer.timeout.connect(self._end_idle_thread)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.shutdown)
        self._hook_views()
        self.refresh_runs()
        self._update_actions()

    # ---- construction -----------------------------------------------------------------------------------------
    def _build_docks(self) -> None:
        window = self.window
        area = Qt.DockWidgetArea
        specs = (("data", "Data", "trainingDataDock", self.data_panel, area.RightDockWidgetArea, "Alt+5"),
                 ("training", "Training", "trainingDock", self.train_panel, area.RightDockWidgetArea, "Alt+6"),
                 ("plots", "Plots", "trainingPlotsDock", self.plots, area.BottomDockWidgetArea, "Alt+7"),
                 ("results", "Results", "trainingResultsDock", self.results, area.BottomDockWidgetArea, "Alt+8"))
        add_panel = getattr(window, "add_panel", None)
        for key, title, name, widget, where, shortcut in specs:
            if callable(add_panel):
                dock = add_panel(title, name, widget, where, shortcut)
            else:
                dock = QDockWidget(title, window)
                dock.setObjectName(name)
                dock.setWidget(widget)
                window.addDockWidget(where, dock)
            self.docks[key] = dock
        self._tabify(("inspectorDock", "historyDock"), self.docks["training"])
        window.tabifyDockWidget(self.docks["training"], self.docks["data"])
        self._tabify(("problemsDock",), self.docks["plots"])
        window.tabifyDockWidget(self.docks["plots"], self.docks["results"])
        self.docks["plots"].raise_()

    def _tabify(self, names: tuple[str, ...], dock: QDockWidget) -> None:
        """Put ``dock`` in a tab beside the first existing dock of ``names`` that shares its area."""
        window = self.window
        for name in names:
            other = window.findChild(QDockWidget, name)
            if other is not None and window.dockWidgetArea(other) == window.dockWidgetArea(dock) \
                    and not other.isFloating():
                window.tabifyDockWidget(other, dock)
                return

    def _build_menu(self) -> None:
        window = self.window
        menu = QMenu("&Train", window)
        self.menu = menu

        def action(text: str, slot: Callable[[], Any], shortcut: Any = None, tip: str = "") -> QAction:
            act = QAction(text, window)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.setToolTip(tip)
            act.triggered.connect(lambda _checked=False: slot())
            window.addAction(act)  # shortcuts work with the menu bar hidden
            menu.addAction(act)
            return act

        self.start_action = action("&Start", self.start, "F5", "Train the network with the Training panel's "
                                   "settings.")
        self.pause_action = action("&Pause", self.toggle_pause, "F6", "Pause or resume training between batches.")
        self.stop_action = action("S&top", self.stop, "Shift+F5", "Stop training; the weights so far are saved.")
        menu.addSeparator()
        self.runs_action = action("Show &Runs", self.show_runs, None, "List earlier runs with their settings and "
                                  "metrics.")
        self.data_action = action("Choose &Data…", self._show_data, None, "Show the Data panel.")
        menu.addSeparator()
        self.sweep_action = action("S&weep Hyper-parameters…", self.show_sweep, None, "Search settings and layer "
                                   "parameters with Optuna; each trial is a run.")
        self.lr_find_action = action("Find &Learning Rate…", self.find_lr, None, "Learning-rate range test.")
        acts = getattr(window, "acts", None)
        if isinstance(acts, dict):
            acts.update({"train_start": self.start_action, "train_pause": self.pause_action,
                         "train_stop": self.stop_action, "train_runs": self.runs_action})
        bar = window.menuBar()
        before = next((a for a in bar.actions() if a.menu() is not None and a.text().replace("&", "") == "Help"),
                      None)
        if before is not None:
            bar.insertMenu(before, menu)
        else:
            bar.addMenu(menu)

    def show_sweep(self) -> Any:
        """Train > Sweep Hyper-parameters: the Sweep panel (one per window, kept while it runs)."""
        from netbuilder_ui.training.sweep_panel import SweepPanel

        if self.sweep_panel is None:
            self.sweep_panel = SweepPanel(lambda: self.qt_doc.document, lambda: self.run_root, self.window)
            self.sweep_panel.openRequested.connect(self.window.open_path)
            self.sweep_panel.sweepEnded.connect(self.refresh_runs)
        if not self.sweep_panel.running:
            self.sweep_panel.load_defaults()
        self.sweep_panel.show()
        self.sweep_panel.raise_()
        return self.sweep_panel

    def find_lr(self) -> Any:
        """Train > Find Learning Rate (and the Training panel's Find… button): the range test's dialog."""
        from netbuilder_ui.training.lr_finder import LRFinderDialog

        dialog = LRFinderDialog(self.qt_doc.document, lambda lr: self.train_panel._commit({"lr": lr}), self.window)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()
        dialog.start()
        return dialog

    def _show_data(self) -> None:
        """Train > Choose Data: bring the Data panel up and read the data it names (the user asked to see it)."""
        self._raise("data")
        self.data_panel.release_hold()

    def _raise(self, key: str) -> None:
        dock = self.docks[key]
        dock.show()
        dock.raise_()

    def show_runs(self) -> None:
        self.refresh_runs()
        self._raise("results")
        self.results.show_page("runs")

    # ---- run root and earlier runs ---------------------------------------------------------------------------
    @property
    def run_root(self) -> Path:
        return self._run_root if self._run_root is not None else default_run_root(self.window)

    @run_root.setter
    def run_root(self, value: str | os.PathLike[str]) -> None:
        self._run_root = Path(value)
        self.refresh_runs()

    def _list_runs(self) -> list[Any]:
        """The run folders under the run root, oldest first, like ``list_runs`` but reading only folders that
        are new or changed since the last look (a run root with hundreds of runs must not stall the window)."""
        root = self.run_root
        if not root.is_dir():
            return []
        cache = self._run_cache
        seen: dict[str, tuple[tuple[float, ...], Any]] = {}
        children = sorted(root.iterdir())
        children += [trial for folder in children if (folder / "sweep.json").is_file()  # a sweep's trials
                     for trial in sorted(folder.iterdir())]
        for child in children:
            config = child / "config.json"
            if not config.is_file():
                continue
            stamp = tuple(_mtime(child / name) for name in ("config.json", "metrics.jsonl", "summary.json"))
            cached = cache.get(str(child))
            if cached is not None and cached[0] == stamp:
                seen[str(child)] = cached
                continue
            try:
                seen[str(child)] = (stamp, load_run(child))
            except (RunError, OSError, ValueError):
                continue
        self._run_cache = seen
        runs = [run for _stamp, run in seen.values()]
        runs.sort(key=lambda r: (str(r.record.get("created", "")), r.name))
        return runs

    def refresh_runs(self) -> None:
        try:
            runs = self._list_runs()
        except OSError:
            runs = []
        try:
            current = graph_hash(self.qt_doc.document)
        except Exception:  # noqa: BLE001 - a half-edited document still shows its runs list
            current = ""
        self.results.runs.set_runs(runs, current, str(self.run_root))
        running_dir = self._state.run_dir
        earlier = [run for run in runs if run.graph_sha256 == current and str(run.path) != running_dir]
        self.plots.set_earlier_runs(earlier)

    # ---- control ----------------------------------------------------------------------------------------------
    @property
    def is_running(self) -> bool:
        return self.session is not None and self.session.running

    @property
    def is_paused(self) -> bool:
        return self.is_running and self.session is not None and self.session.paused

    def start(self) -> bool:
        """Start a run with the document's settings. False (and a message in the panel) when it cannot start."""
        if self.is_running:
            return False
        document = self.qt_doc.document
        try:
            config, _notes = read_config(document.settings)
        except ConfigError as error:
            self.train_panel.show_message("error", "Training cannot start: a setting is not valid.", str(error))
            self._raise("training")
            return False
        if not config.data.source:
            self.train_panel.show_message("error", "Training cannot start: no data is chosen.",
                                          "Pick sample data or open your own in the Data panel.")
            self._raise("data")
            return False
        self.data_panel.release_hold()  # starting to train is asking for the data: the panel may preview it now
        try:
            session = TrainingSession(document, config, str(self.run_root), self.training_thread,
                                      after_done=self._after_done, parent=self)
        except Exception as error:  # noqa: BLE001 - e.g. an unsaveable document; the app goes on
            self.train_panel.show_message("error", "Training cannot start.", f"{type(error).__name__}: {error}")
            return False
        self.session = session
        self.trained = None
        self.last_outcome = ""
        self.last_error = None
        self._pending.clear()
        self._state = _RunState(started=time.perf_counter())
        self.refresh_runs()  # earlier runs of this network, for the grey overlay (before the worker competes)
        session.eventsReady.connect(self._on_events_ready, Qt.ConnectionType.QueuedConnection)
        session.finished.connect(self._on_finished, Qt.ConnectionType.QueuedConnection)
        self.qt_doc.set_locked(LOCK_REASON)
        self.train_panel.show_message("", "")
        self.train_panel.set_state(running=True, paused=False)
        self.train_panel.set_progress(0.0, "Preparing the data and the network…", "", {})
        self.results.reset()
        self.episode_view.clear_view()
        self.results.layer.set_message("Training is running: click a layer when it has finished to see what it "
                                       "learned.")
        self._raise("plots")
        self._make_room_for_plots()
        self.idle_timer.stop()
        self.timer.start()
        session.start()
        self._update_actions()
        self.runStarted.emit()
        return True

    def _make_room_for_plots(self) -> None:
        dock = self.docks["plots"]
        window = self.window
        if dock.isFloating() or not window.isVisible():
            return
        wanted = int(window.height() * 0.36)
        if dock.height() < min(wanted, 260):
            window.resizeDocks([dock], [wanted], Qt.Orientation.Vertical)

    def stop(self) -> None:
        """Stop after the batch in progress (also ends a pause); the run saves its weights and reports Done."""
        if self.session is not None and self.is_running:
            self._state.stop_requested = time.perf_counter()
            self.session.stop()
            self.train_panel.set_progress(self.train_panel.progress_fraction(), "Stopping…",
                                          "Finishing the batch in progress and saving the weights.",
                                          self._state.stats())
            self._update_actions()

    def pause(self) -> None:
        if self.session is not None and self.is_running and not self.session.paused:
            self.session.pause()
            self._state.paused_at = time.perf_counter()
            self.drain()
            self.plots.refresh(force=True)  # a pause shows the run as far as it went, at once
            self.train_panel.set_state(running=True, paused=True)
            self._show_progress()
            self._update_actions()

    def resume(self) -> None:
        if self.session is not None and self.is_running and self.session.paused:
            self.session.resume()
            if self._state.paused_at is not None:
                self._state.paused_for += time.perf_counter() - self._state.paused_at
                self._state.paused_at = None
            self.train_panel.set_state(running=True, paused=False)
            self._show_progress()
            self._update_actions()

    def toggle_pause(self) -> None:
        if self.is_paused:
            self.resume()
        else:
            self.pause()

    def wait(self, milliseconds: int = STOP_WAIT_MS) -> bool:
        """Block until the worker thread has ended; then handle what it sent. True if it ended in time."""
        session = self.session
        if session is None:
            return True
        ended = session.wait(milliseconds)
        if ended:
            session.finish_now()
            self._on_finished()
        return ended

    def confirm_close(self) -> bool:
        """For the window's closeEvent: True when the window may close. Asks first while training runs; on yes,
        stops the run and waits (a few seconds at most) for the worker thread to end."""
        if not self.is_running:
            return True
        if not self.ask("Training is running",
                        "Training is still running. Stop it and close? The weights trained so far are saved in "
                        "the run folder."):
            return False
        self.shutdown()
        return True

    def shutdown(self) -> None:
        """Stop any run, wait for its thread, and release the document (closing the window)."""
        self.timer.stop()
        self.idle_timer.stop()
        if self.session is not None and self.session.running:
            self.session.stop(closing=True)
            self.wait(STOP_WAIT_MS)
        if not self.training_thread.close(STOP_WAIT_MS):
            # A batch longer than the wait is still running. A QThread destroyed while it runs aborts the process,
            # so wait for the batch to end (the run already knows to stop) rather than lose everything.
            self.training_thread.wait()
        self.data_panel.shutdown()
        if self.sweep_panel is not None:
            self.sweep_panel.shutdown()
        self.qt_doc.set_locked("")

    def _end_idle_thread(self) -> None:
        if not self.is_running:
            self.training_thread.close(STOP_WAIT_MS)

    def _ask_dialog(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self.window, title, text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _update_actions(self) -> None:
        running = self.is_running
        self.start_action.setEnabled(not running)
        self.pause_action.setEnabled(running)
        self.pause_action.setText("&Resume" if self.is_paused else "&Pause")
        self.stop_action.setEnabled(running and not self._state.stop_requested)

    # ---- events from the worker ---------------------------------------------------------------------------------
    def _on_events_ready(self) -> None:
        """Queued slot: events wait in the session's outbox. While a run lasts the draw timer collects them (at
        most 10 times a second, however many arrive); otherwise they are handled now."""
        if self.sender() is not self.session:
            return  # a late notification of an earlier session
        if not self.timer.isActive():
            self.drain()

    def _collect(self) -> None:
        if self.session is not None:
            self._pending.extend(self.session.collect())

    def drain(self) -> None:
        """Handle every event that arrived since the last tick, then redraw once."""
        self._collect()
        pending, self._pending = self._pending, []
        for envelope in pending:
            try:
                self._handle(envelope)
            except Exception as error:  # noqa: BLE001 - a view that fails must not stop the run or the app
                if not self._state.view_error:
                    self._state.view_error = f"{type(error).__name__}: {error}"
                    self._state.notes.append(f"A view could not show an event ({self._state.view_error}).")
        # Also with nothing new: points a declined redraw left behind are drawn on a later tick, so a pause or a
        # quiet spell never leaves the curves behind the run. Paused, there is no reason to wait at all.
        if pending or self.plots.has_undrawn_data():
            self.plots.refresh(force=self.is_paused)
        if pending:
            self._show_progress()

    def _handle(self, envelope: Envelope) -> None:
        event = envelope.event
        state = self._state
        if isinstance(event, BatchEnd):
            self.plots.add_batch(event)
            state.on_batch(event, envelope.time)
        elif isinstance(event, EpochEnd):
            self.plots.add_epoch(event)
            state.on_epoch(event)
        elif isinstance(event, ValidationEnd):
            if event.confusion:
                self.results.confusion.set_confusion(event.confusion, event.class_names, event.epoch)
        elif isinstance(event, Samples):
            if event.sample_kind == "images":
                self.results.reveal("generated")
                self.results.generated.add_samples(event.epoch, event.payload, event.caption, event.key)
            elif event.sample_kind == "text":
                texts = event.payload if isinstance(event.payload, list) else [str(event.payload)]
                self.results.text.add_text(event.epoch, texts, event.caption)
        elif isinstance(event, RunStarted):
            state.begin(event, envelope.time)
            self.plots.reset(event.recipe)
            self.results.show_tabs_for(event.recipe)
            if event.recipe == "ppo":
                self.results.reveal("episode")
        elif isinstance(event, Checkpoint):
            state.checkpoints += 1
        elif isinstance(event, WeightsLoaded):
            detail = f"{len(event.matched)} tensors loaded from {Path(event.source).name}"
            if event.mismatched:
                detail += f"; not loaded (shape differs): {', '.join(event.mismatched[:3])}"
            state.notes.append(detail + ".")
        elif isinstance(event, Stage):
            state.stage = event.description or event.name
        elif isinstance(event, TrainWarning):
            state.notes.append(event.message)
        elif isinstance(event, Done):
            state.done = event
            state.finished = envelope.time
        elif isinstance(event, Error):
            state.error = event
            state.finished = envelope.time
        elif isinstance(event, ResultsReady):
            self._show_results(event.results)

    def _show_results(self, results: Any) -> None:
        if results is None:
            return
        if results.gallery is not None:
            self.results.gallery.set_gallery(results.gallery)
        if results.reconstructions is not None:
            self.results.reconstructions.set_reconstructions(results.reconstructions)
        if results.episode is not None:
            self.episode_view.set_episode(results.episode)
            self.results.show_page("episode")

    def _on_finished(self) -> None:
        session = self.session
        if session is None or self.sender() not in (session, None) or self._state.handled:
            return
        self._state.handled = True  # shutdown handles a run at once; its queued notification then finds it done
        self.timer.stop()
        self.drain()
        self.plots.refresh(force=True)  # the final curves, whatever the redraw budget said
        self.qt_doc.set_locked("")
        state = self._state
        if state.error is not None:
            self._report_error(state.error)
            self.last_outcome = "error"
        elif state.done is not None:
            self._report_done(state.done)
            self.last_outcome = "stopped" if state.done.stopped_by_user else "done"
            try:
                self.trained = TrainedModel(session.trainer, session.document)
            except Exception:  # noqa: BLE001 - the layer view is optional
                self.trained = None
        else:
            self.train_panel.show_message("error", "Training ended without a result.",
                                          "The worker stopped unexpectedly; the document is unchanged.")
            self.last_outcome = "error"
        self.train_panel.set_state(running=False, paused=False)
        self.refresh_runs()
        self._update_actions()
        self.idle_timer.start()
        if self.trained is not None:
            self.results.layer.set_sample_count(self.trained.sample_count())
            self.results.layer.set_message("Click a layer on the canvas to see its output, weights and "
                                           "gradients.")
            self._probe_selection()
            self._offer_explanations()
        self.runFinished.emit(self.last_outcome)

    def _offer_explanations(self) -> None:
        trained = self.trained
        if trained is None:
            return
        reason = trained.can_explain()
        if reason:
            self.results.explain.set_message(reason)
            return
        info = trained.data.info
        outputs = info.num_classes or int(math.prod(info.target_shape or (1,)))
        self.results.explain.set_source(trained.sample_count(), info.class_names, outputs)

    def explain(self, sample: int, target: Any = None, method: str = "ig") -> None:
        """Explain a validation sample of the finished run in the Explain tab (Captum, on the GUI thread: a
        small network takes a fraction of a second; the first explanation also loads Captum)."""
        from netbuilder.explain import ExplainError

        view = self.results.explain
        if self.trained is None:
            view.set_message("Train the network first: explanations are about a finished run.")
            return
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            view.set_explanation(self.trained.explain(sample, method, target))
        except ExplainError as error:
            view.set_message(f"{error} {error.suggestion}".strip())
        except Exception as error:  # noqa: BLE001 - a view that fails must not take the app down
            view.set_message(f"This prediction could not be explained: {type(error).__name__}: {error}.")
        finally:
            QApplication.restoreOverrideCursor()

    def _report_done(self, done: Done) -> None:
        state = self._state
        metrics = done.metrics
        epochs = done.epochs_completed
        summary = _metrics_text(metrics)
        elapsed = human_duration(state.elapsed(done_time=state.finished))
        if done.stopped_by_user:
            self.train_panel.show_message("info", f"Stopped after {epochs} epoch{'s' * (epochs != 1)}.",
                                          f"{summary}. The weights so far are saved in {done.run_dir}.")
            headline = "Stopped"
        else:
            early = " (stopped early: no more improvement)" if done.stopped_early else ""
            test = f" {_test_text(done)}" if done.test_metrics else ""
            self.train_panel.show_message("ok", f"Finished {epochs} epoch{'s' * (epochs != 1)} in {elapsed}{early}.",
                                          f"{summary}.{test} Saved in {done.run_dir}.")
            headline = "Finished"
            state.complete = True
        if state.notes:
            current = self.train_panel.message_banner.text.text()
            self.train_panel.message_banner.text.setText(current + " " + " ".join(state.notes[-2:]))
        self._show_progress(headline)

    def _report_error(self, error: Error) -> None:
        self.last_error = error
        where = f" at step {error.step}" if error.step else ""
        title = "Training stopped" + where + "."
        text = error.message
        if error.suggestion:
            text += f"\n\n{error.suggestion}"
        self.train_panel.show_message("error", title, text)
        self._raise("training")
        self._show_progress("Stopped by an error")

    def _show_progress(self, headline: str | None = None) -> None:
        state = self._state
        fraction = state.fraction()
        if state.complete:
            fraction = 1.0
        if headline is None:
            if self.is_paused:
                headline = "Paused"
            elif state.stop_requested:
                headline = "Stopping…"
            elif state.total_batches:
                headline = f"Epoch {state.epoch} of {state.epochs}"
            else:
                headline = "Preparing the data and the network…"
        self.train_panel.set_progress(fraction, headline, state.detail(), state.stats())

    # ---- documents and selection --------------------------------------------------------------------------------
    def _on_document_replaced(self) -> None:
        self._selection = None
        self._hook_views_later()
        self.refresh_runs()

    def _hook_views_later(self) -> None:
        QTimer.singleShot(0, self, self._hook_views)

    def _hook_views(self) -> None:
        """Listen to every canvas view's selection (views come and go with networks)."""
        views = getattr(self.window, "views", None)
        candidates: list[Any] = list(views.values()) if isinstance(views, dict) else []
        if not candidates:
            from netbuilder_ui.canvas import CanvasView

            candidates = self.window.findChildren(CanvasView)
        for view in candidates:
            key = id(view)
            if key in self._hooked_views or not hasattr(view, "selectionChanged"):
                continue
            self._hooked_views.add(key)
            view.selectionChanged.connect(lambda ids, v=view: self._on_selection(v, ids))
            view.destroyed.connect(lambda _obj=None, k=key: self._hooked_views.discard(k))

    def _on_selection(self, view: Any, ids: list[str]) -> None:
        network = view.network() if callable(getattr(view, "network", None)) else getattr(view, "network", "")
        if len(ids) != 1:
            return
        self.select_node(str(network), ids[0])

    def select_node(self, network: str, node_id: str) -> None:
        """Show ``node_id`` of ``network`` in the layer view (what a click on the canvas does)."""
        self._selection = (network, node_id)
        if self.trained is None or self.is_running:
            return
        self._probe_selection()
        self.results.show_page("layer")

    def _probe_selection(self) -> None:
        if self._selection is None or self.trained is None or self.is_running:
            return
        network, node_id = self._selection
        if not self.trained.has_node(network, node_id):
            self.results.layer.set_message("This layer was not part of the last training run; train again to "
                                           "inspect it.")
            return
        try:
            probe = self.trained.probe(network, node_id, self.results.layer.sample.value() - 1)
        except Exception as error:  # noqa: BLE001 - inspection is a view; it must not break the app
            self.results.layer.set_message(f"This layer cannot be inspected: {type(error).__name__}: {error}.")
            return
        self.results.layer.set_probe(probe)

    @staticmethod
    def _after_done(trainer: Any, _done: Any) -> Any:
        """On the worker thread, after Done: predictions and reconstructions for the results views."""
        return compute_results(trainer, trainer.document)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _metrics_text(metrics: dict[str, Any]) -> str:
    parts = []
    for key, label in (("train_loss", "training loss"), ("val_loss", "validation loss"),
                       ("val_accuracy", "validation accuracy"), ("val_r2", "R²"), ("val_perplexity", "perplexity"),
                       ("train_g_loss", "generator loss"), ("train_d_loss", "discriminator loss")):
        value = metrics.get(key)
        if isinstance(value, int | float):
            parts.append(f"{label} {value:.1%}" if key == "val_accuracy" else f"{label} {value:.4g}")
    return ", ".join(parts).capitalize() if parts else "No metrics were recorded"


def _test_text(done: Done) -> str:
    """The held-out test figures, measured once at the end (with the best epoch's weights)."""
    parts = []
    for key, label in (("test_accuracy", "accuracy"), ("test_loss", "loss"), ("test_r2", "R²"),
                       ("test_perplexity", "perplexity")):
        value = done.test_metrics.get(key)
        if isinstance(value, int | float):
            parts.append(f"{label} {value:.1%}" if key == "test_accuracy" else f"{label} {value:.4g}")
    return f"Test split (held out until now): {', '.join(parts)}." if parts else ""


class _RunState:
    """Progress bookkeeping for one run (GUI thread only)."""

    def __init__(self, started: float = 0.0):
        self.started = started
        self.begun = 0.0  # RunStarted time (worker clock)
        self.recipe = ""
        self.run_dir: str | None = None
        self.epochs = 0
        self.start_epoch = 1
        self.batches = 0
        self.total_batches = 0
        self.epoch = 0
        self.batch = 0
        self.speed = 0.0
        self.samples = 0
        self.last_time = 0.0
        self.latest: dict[str, float] = {}
        self.checkpoints = 0
        self.stage = ""
        self.notes: list[str] = []
        self.done: Done | None = None
        self.error: Error | None = None
        self.finished: float | None = None
        self.complete = False
        self.stop_requested: float | None = None
        self.paused_at: float | None = None
        self.paused_for = 0.0
        self.view_error = ""
        self.handled = False  # the end of the run has been reported

    def begin(self, event: RunStarted, when: float) -> None:
        self.begun = when
        self.last_time = when
        self.recipe = event.recipe
        self.run_dir = event.run_dir
        self.epochs = event.epochs
        self.start_epoch = event.start_epoch
        self.batches = event.batches_per_epoch
        self.total_batches = max(1, (event.epochs - event.start_epoch + 1) * event.batches_per_epoch)
        self.epoch = event.start_epoch

    def on_batch(self, event: BatchEnd, when: float) -> None:
        self.epoch = event.epoch
        self.batch = event.batch
        self.batches = event.batches or self.batches
        self.speed = event.samples_per_s if self.speed == 0 else 0.7 * self.speed + 0.3 * event.samples_per_s
        self.last_time = when
        self.latest["loss"] = event.loss

    def on_epoch(self, event: EpochEnd) -> None:
        self.latest.update({k: v for k, v in event.metrics.items() if isinstance(v, int | float)})

    def done_batches(self) -> int:
        return (self.epoch - self.start_epoch) * self.batches + self.batch if self.batches else 0

    def fraction(self) -> float:
        if not self.total_batches:
            return 0.0
        return max(0.0, min(1.0, self.done_batches() / self.total_batches))

    def elapsed(self, done_time: float | None = None) -> float:
        if not self.begun:
            return time.perf_counter() - self.started if self.started else 0.0
        end = done_time if done_time is not None else (self.paused_at or time.perf_counter())
        return max(0.0, end - self.begun - self.paused_for)

    def eta(self) -> float:
        fraction = self.fraction()
        if fraction <= 0 or fraction >= 1:
            return 0.0 if fraction >= 1 else float("nan")
        return self.elapsed() * (1 - fraction) / fraction

    def stats(self) -> dict[str, str]:
        metric = ""
        if "val_accuracy" in self.latest:
            metric = f"acc {self.latest['val_accuracy']:.1%}"
        elif "val_loss" in self.latest:
            metric = f"val {self.latest['val_loss']:.4g}"
        elif "loss" in self.latest:
            metric = f"loss {self.latest['loss']:.4g}"
        return {"speed": human_rate(self.speed) if self.speed else "–",
                "elapsed": human_duration(self.elapsed(self.finished)) if self.begun else "–",
                "eta": human_duration(self.eta()) if self.begun and self.finished is None else "–",
                "metric": metric or "–"}

    def detail(self) -> str:
        if not self.total_batches:
            return self.stage or "Loading the data and building the network."
        recipe = RECIPE_LABELS.get(self.recipe, self.recipe)
        where = f"batch {self.batch} of {self.batches}" if self.batch else "starting"
        text = f"{recipe} · {where} · {self.done_batches():,} of {self.total_batches:,} batches"
        if self.stage:
            text = f"{self.stage} {text}"
        return text


def install_training_ui(window: QMainWindow, run_root: str | os.PathLike[str] | None = None) -> TrainingUI:
    """Add the Data, Training, Plots and Results docks and the Train menu to ``window`` (the editor's main window
    or any QMainWindow with a ``qt_doc`` attribute). Its closeEvent should call ``confirm_close()`` and, when
    that returns True, ``shutdown()`` is already done."""
    ui = TrainingUI(window, run_root)
    window.training_ui = ui  # type: ignore[attr-defined]
    return ui


__all__ = ["TrainingUI", "default_run_root", "install_training_ui"]
