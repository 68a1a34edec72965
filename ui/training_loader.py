"""Training arrives after the window: PyTorch and pyqtgraph load on a background thread once the window has
painted, and the Training, Data, Plots and Results docks are added when they are ready.

Importing PyTorch takes seconds (5 s on a loaded 2-core machine); the editor needs none of it. So the app shows
the editor at once and `TrainingLoader` imports the heavy modules on a plain Python thread, one module at a time
so that closing the window early only waits for the module being imported. A GUI timer notices when the thread
is done and builds the training UI on the GUI thread (Qt widgets are created there only).

Until then the Train menu holds a working Start (F5): pressed early, it says so in the status bar and training
starts as soon as PyTorch is ready. A status-bar indicator shows that PyTorch is loading.

This module lives outside ``netbuilder_ui.training`` on purpose: importing that package imports PyTorch.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QProgressBar

if TYPE_CHECKING:
    from netbuilder_ui.training import TrainingUI

# What the training UI needs that is slow to import, in the order it is imported. netbuilder_ui.training itself is
# imported on the GUI thread afterwards: its package sets PyTorch's thread count for the calling thread.
HEAVY_MODULES = ("torch", "numpy", "pyqtgraph", "netbuilder.compile", "netbuilder.data", "netbuilder.train")
POLL_MS = 40


class TrainingLoader(QObject):
    """Loads the training part of ``window`` in the background; ``ready`` carries the installed `TrainingUI`."""

    ready = Signal(object)
    failed = Signal(str)

    def __init__(self, window: QMainWindow, run_root: str | os.PathLike[str] | None = None):
        super().__init__(window)
        self.window = window
        self.run_root = run_root
        self.start_requested = False
        self.error: str = ""
        self.seconds = 0.0  # how long the imports took
        self._failure: BaseException | None = None
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._installed = False
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._check)
        self._build_menu()
        self._build_indicator()

    # ---- what the user sees while loading ----------------------------------------------------------------------
    def _build_menu(self) -> None:
        window = self.window
        self.menu = QMenu("&Train", window)
        self.start_action = QAction("&Start", window)
        self.start_action.setShortcut(QKeySequence("F5"))
        self.start_action.setStatusTip("Train the network with the Training panel's settings.")
        self.start_action.triggered.connect(lambda _checked=False: self.request_start())
        self.pause_action = QAction("&Pause", window)
        self.pause_action.setShortcut(QKeySequence("F6"))
        self.pause_action.setEnabled(False)
        self.stop_action = QAction("S&top", window)
        self.stop_action.setShortcut(QKeySequence("Shift+F5"))
        self.stop_action.setEnabled(False)
        self.loading_action = QAction("Loading PyTorch…", window)
        self.loading_action.setEnabled(False)
        for act in (self.start_action, self.pause_action, self.stop_action):
            window.addAction(act)
            self.menu.addAction(act)
        self.menu.addSeparator()
        self.menu.addAction(self.loading_action)
        bar = window.menuBar()
        help_menu = next((a for a in bar.actions() if a.menu() is not None and a.text().replace("&", "") == "Help"),
                         None)
        if help_menu is not None:
            bar.insertMenu(help_menu, self.menu)
        else:
            bar.addMenu(self.menu)
        acts = getattr(window, "acts", None)
        if isinstance(acts, dict):
            acts.update({"train_start": self.start_action, "train_pause": self.pause_action,
                         "train_stop": self.stop_action})

    def _build_indicator(self) -> None:
        self.label = QLabel("Loading PyTorch…")
        self.label.setToolTip("Training needs PyTorch, which is loading in the background. Editing works now.")
        self.progress = QProgressBar()
        self.progress.setRange(0, 0)  # busy: an import has no measurable progress
        self.progress.setFixedWidth(80)
        self.progress.setMaximumHeight(12)
        self.progress.setTextVisible(False)
        bar = self.window.statusBar()
        bar.addPermanentWidget(self.label)
        bar.addPermanentWidget(self.progress)

    def _remove_placeholders(self) -> None:
        window = self.window
        bar = window.statusBar()
        for widget in (self.label, self.progress):
            bar.removeWidget(widget)
            widget.deleteLater()
        window.menuBar().removeAction(self.menu.menuAction())
        for act in (self.start_action, self.pause_action, self.stop_action):
            window.removeAction(act)
            toolbar = getattr(window, "toolbar", None)
            if toolbar is not None:
                toolbar.removeAction(act)
        self.menu.deleteLater()

    # ---- loading -------------------------------------------------------------------------------------------------
    @property
    def loading(self) -> bool:
        return not self._installed and not self.error and not self._cancel.is_set()

    def begin(self) -> None:
        """Start importing (once); call it when the window has painted, so the imports do not delay that."""
        if self._thread is not None or self._cancel.is_set():
            return
        self._started = time.perf_counter()
        # Not a daemon: a thread killed in the middle of importing a C extension at exit can crash the process.
        # Closing sets the cancel flag; the thread ends after the module it is importing, and Python waits.
        self._thread = threading.Thread(target=self._import, name="netbuilder-import-torch", daemon=False)
        self._thread.start()
        self._poll.start()

    def _import(self) -> None:
        for name in HEAVY_MODULES:
            if self._cancel.is_set():
                return
            try:
                importlib.import_module(name)
            except BaseException as error:  # noqa: BLE001 - reported on the GUI thread
                self._failure = error
                return

    def _check(self) -> None:
        if self._thread is None or self._thread.is_alive():
            return
        self._poll.stop()
        if self._cancel.is_set():
            return
        self.seconds = time.perf_counter() - self._started
        if self._failure is not None:
            self._fail(f"{type(self._failure).__name__}: {self._failure}")
            return
        try:
            ui = self._install()
        except Exception as error:  # noqa: BLE001 - the editor goes on without training
            self._fail(f"{type(error).__name__}: {error}")
            return
        self.ready.emit(ui)
        if self.start_requested:
            self.start_requested = False
            ui.start()

    def _install(self) -> TrainingUI:
        from netbuilder_ui.training import install_training_ui

        self._remove_placeholders()
        self._installed = True
        return install_training_ui(self.window, self.run_root)

    def _fail(self, message: str) -> None:
        self.error = message
        self.label.setText("Training unavailable")
        self.label.setToolTip(f"PyTorch could not be loaded, so training is off; editing and saving work.\n"
                              f"{message}")
        self.progress.hide()
        self.loading_action.setText("Training unavailable: PyTorch could not be loaded")
        self.start_action.setEnabled(False)
        show = getattr(self.window, "show_message", None)
        if callable(show):
            show(f"Training is unavailable: PyTorch could not be loaded ({message}).")
        self.failed.emit(message)

    def request_start(self) -> None:
        """Start pressed before PyTorch is ready: remember it and say so; the run starts when loading ends."""
        if self.error:
            return
        self.start_requested = True
        self.begin()
        self.label.setText("Loading PyTorch… training starts when it is ready")
        show = getattr(self.window, "show_message", None)
        if callable(show):
            show("Training starts as soon as PyTorch has loaded.")

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until the imports end (tests; the GUI never calls this). True when they did."""
        if self._thread is not None:
            self._thread.join(timeout_s)
            return not self._thread.is_alive()
        return True

    def shutdown(self) -> None:
        """The window closes: install nothing more, and let the import thread end after its current module."""
        self._cancel.set()
        self._poll.stop()

    def finish_now(self) -> Any:
        """Process a finished import at once (tests): installs the training UI, or reports the failure."""
        self._check()
