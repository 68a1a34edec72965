"""Files for the desktop app: open, save, recent files, exports, and autosave with crash recovery.

`FileController` owns "which file is this document" and every dialog about it, so the main window only
wires menu actions to it. Dialogs go through the static ``QFileDialog`` / ``QMessageBox`` functions, which
tests replace.

Crash recovery: each running app holds a `QLockFile` in the recovery folder and autosaves its modified
document next to it. A clean exit deletes both. On the next start, a recovery file whose lock is no longer
held by a live process (the session crashed or was killed) is offered back to the user."""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEventLoop, QLockFile, QObject, QSettings, QStandardPaths, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox, QWidget

from netbuilder.document import Document
from netbuilder.fs.names import safe_file_name
from netbuilder.io import LoadError, SaveError, load_document, save_document, write_atomic
from netbuilder_ui.background import Cancelled, Step, run_with_progress
from netbuilder_ui.export_options import (
    RAW_INPUT,
    AskExport,
    ExportChoice,
    TrainedExport,
    ask_export_options,
    export_runs,
    trained_export,
)
from netbuilder_ui.qt_document import QtDocument

FILE_SUFFIX = ".nbg"
FILE_FILTER = "NetBuilder networks (*.nbg);;All files (*)"
IMAGE_FILTERS = {"PNG image (*.png)": ".png", "SVG drawing (*.svg)": ".svg"}
AUTOSAVE_INTERVAL_MS = 60_000
RECENT_LIMIT = 10


def default_recovery_dir() -> Path:
    """Where autosaves live: ``<AppDataLocation>/recovery`` (per user, per application)."""
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)
    return Path(base or Path.home() / ".netbuilder") / "recovery"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


# ---- recent files ------------------------------------------------------------------------------------------

class RecentFiles:
    """The most recently opened or saved files, newest first, kept in QSettings."""

    KEY = "files/recent"

    def __init__(self, settings: QSettings, limit: int = RECENT_LIMIT):
        self.settings = settings
        self.limit = limit

    def paths(self) -> list[str]:
        """Absolute paths, newest first."""
        value = self.settings.value(self.KEY, [])
        if isinstance(value, str):  # QSettings returns a one-item list as a plain string
            value = [value] if value else []
        return [str(p) for p in (value or [])]

    def add(self, path: str | os.PathLike[str]) -> None:
        """Put ``path`` first (once), dropping the oldest beyond the limit."""
        text = str(Path(path).resolve())
        paths = [text] + [p for p in self.paths() if p != text]
        self._store(paths[: self.limit])

    def remove(self, path: str | os.PathLike[str]) -> None:
        """Forget ``path`` (e.g. it no longer exists)."""
        text = str(Path(path).resolve())
        self._store([p for p in self.paths() if p != text])

    def clear(self) -> None:
        """File > Open Recent > Clear Recent Files."""
        self._store([])

    def _store(self, paths: list[str]) -> None:
        self.settings.setValue(self.KEY, paths)
        self.settings.sync()


# ---- autosave and recovery ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class RecoveryInfo:
    """An autosave left behind by a session that did not exit cleanly."""

    session: str
    document: Path  # the autosaved .nbg
    source: str  # the file that session was editing; "" if it was never saved
    title: str  # what the window called the document
    saved_at: float  # seconds since the epoch

    @property
    def when(self) -> str:
        """When it was autosaved, as the recovery dialog shows it."""
        return datetime.fromtimestamp(self.saved_at).strftime("%Y-%m-%d %H:%M")


class RecoveryStore:
    """This session's autosave file, and the leftovers of crashed sessions.

    Each session is ``<id>.lock`` (a QLockFile held while the app runs), ``<id>.nbg`` (the autosaved document)
    and ``<id>.json`` (what the document was). Stale-by-age detection is off, so only a dead process frees a
    lock: a second window running for hours never has its autosave taken by a newer one.
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None):
        self.directory = Path(directory) if directory else default_recovery_dir()
        self.session = uuid.uuid4().hex[:12]
        self._claimed: dict[str, QLockFile] = {}
        self._lock: QLockFile | None = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = QLockFile(str(self._path(self.session, ".lock")))
            lock.setStaleLockTime(0)
            self._lock = lock if lock.tryLock(0) else None
        except OSError:
            self._lock = None

    @property
    def available(self) -> bool:
        """False when the folder cannot be used (read-only home, ...): autosave is then off."""
        return self._lock is not None

    def _path(self, session: str, suffix: str) -> Path:
        return self.directory / f"{session}{suffix}"

    def write(self, doc: Document, source: str, title: str) -> None:
        """Autosave ``doc``; raises SaveError (the previous autosave stays intact)."""
        if not self.available:
            raise SaveError(f"Autosave is off: the folder {self.directory} cannot be written.")
        save_document(doc, self._path(self.session, ".nbg"))
        meta = {"source": source, "title": title, "saved_at": time.time(), "pid": os.getpid()}
        write_atomic(self._path(self.session, ".json"), json.dumps(meta).encode(), what="recovery note")

    def has_autosave(self) -> bool:
        """Whether this session has written a recovery file that is still current."""
        return self._path(self.session, ".json").exists()

    def clear(self) -> None:
        """Forget this session's autosave (the document was saved, or is unmodified)."""
        self._remove_files(self.session)

    def pending(self) -> list[RecoveryInfo]:
        """Autosaves of sessions that ended without a clean exit, newest first. Claims their locks."""
        found: list[RecoveryInfo] = []
        if not self.directory.is_dir():
            return found
        for meta_path in self.directory.glob("*.json"):
            session = meta_path.stem
            if session == self.session or session in self._claimed:
                continue
            lock = QLockFile(str(self._path(session, ".lock")))
            lock.setStaleLockTime(0)
            if not lock.tryLock(0):
                continue  # that session is still running
            document = self._path(session, ".nbg")
            try:
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
                info = RecoveryInfo(session, document, str(meta.get("source", "")),
                                    str(meta.get("title", "")) or "Untitled", float(meta.get("saved_at", 0)))
            except (OSError, ValueError, AttributeError, TypeError):
                info = None
            if info is None or not document.is_file():
                self._remove_files(session)
                lock.unlock()
                continue
            self._claimed[session] = lock
            found.append(info)
        return sorted(found, key=lambda i: i.saved_at, reverse=True)

    def discard(self, info: RecoveryInfo) -> None:
        """Delete a leftover autosave (restored or declined) and release its lock."""
        self._remove_files(info.session)
        lock = self._claimed.pop(info.session, None)
        if lock is not None:
            lock.unlock()

    def close(self) -> None:
        """Clean exit: this session leaves nothing to recover."""
        self.clear()
        for session in list(self._claimed):
            self._claimed.pop(session).unlock()
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def _remove_files(self, session: str) -> None:
        for suffix in (".json", ".nbg"):
            with contextlib.suppress(OSError):
                self._path(session, suffix).unlink(missing_ok=True)


def ask_restore_dialog(parent: QWidget | None, info: RecoveryInfo) -> bool:
    """Ask whether to restore an autosave; True for Restore."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Restore unsaved work?")
    where = f" ({info.source})" if info.source else ""
    box.setText("NetBuilder did not close properly last time.\n\n"
                f"Restore the unsaved changes to “{info.title}”{where}, autosaved {info.when}?")
    box.setInformativeText("Discard deletes the autosave for good.")
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(restore)
    box.exec()
    return box.clickedButton() is restore


# ---- the controller ----------------------------------------------------------------------------------------

class FileController(QObject):
    """Open / save / new / recent / autosave / export for one window and its QtDocument."""

    titleChanged = Signal()  # noqa: N815  the file name or untitled name changed
    recentChanged = Signal()  # noqa: N815
    message = Signal(str)  # a short status-bar message

    def __init__(self, qt_doc: QtDocument, window: QWidget, settings: QSettings,
                 recovery_dir: str | os.PathLike[str] | None = None,
                 autosave_interval_ms: int = AUTOSAVE_INTERVAL_MS,
                 ask_restore: Callable[[RecoveryInfo], bool] | None = None):
        super().__init__(window)
        self.qt_doc = qt_doc
        self.window = window
        self.settings = settings
        self.recent = RecentFiles(settings)
        self.path: Path | None = None
        self.untitled_name = "Untitled"
        self.recovery = RecoveryStore(recovery_dir)
        self._ask_restore = ask_restore or (lambda info: ask_restore_dialog(self.window, info))
        # Which run to export and whether to bake its preprocessing (what, network, runs, first); tests replace it.
        self.ask_export: AskExport = lambda what, network, runs, first: ask_export_options(
            self.window, what, network, runs, first)
        self._generation = 0  # bumps on every change of the undo stack, so autosave skips unchanged documents
        self._autosaved_generation = -1
        self._autosave_warned = False
        qt_doc.undo_stack.indexChanged.connect(self._bump)
        qt_doc.undo_stack.cleanChanged.connect(self._bump)
        self.autosave_timer = QTimer(self)
        self.autosave_timer.setInterval(max(1, int(autosave_interval_ms)))
        self.autosave_timer.timeout.connect(self.autosave_now)
        if self.recovery.available:
            self.autosave_timer.start()

    # ---- naming --------------------------------------------------------------------------------------------
    def display_name(self) -> str:
        """The name the title bar and dialogs use: the file name, or the untitled name (e.g. the template
        id)."""
        return self.path.name if self.path else self.untitled_name

    def _set_path(self, path: Path | None, untitled_name: str = "Untitled") -> None:
        self.path = path
        self.untitled_name = untitled_name
        # The document's own paths (data, transfer weights) resolve against this file's folder.
        self.qt_doc.document.path = str(path) if path is not None else None
        self.titleChanged.emit()

    def last_directory(self) -> str:
        """Where file dialogs start: the folder last used, else Documents."""
        stored = self.settings.value("files/lastDirectory", "")
        if stored and Path(str(stored)).is_dir():
            return str(stored)
        documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
        return documents or str(Path.home())

    def _remember_directory(self, path: Path) -> None:
        self.settings.setValue("files/lastDirectory", str(path.parent))

    # ---- prompts -------------------------------------------------------------------------------------------
    def maybe_save(self, before: str = "closing") -> bool:
        """Ask to save unsaved changes (Save / Discard / Cancel). False means: stop, the user cancelled."""
        if not self.qt_doc.modified:
            return True
        answer = QMessageBox.warning(
            self.window, "Unsaved changes",
            f"“{self.display_name()}” has unsaved changes.\nSave them before {before}?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard |
            QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def _error(self, title: str, text: str) -> None:
        QMessageBox.critical(self.window, title, text)

    # ---- new / open ----------------------------------------------------------------------------------------
    def replace_document(self, doc: Document, path: Path | None = None, untitled_name: str = "Untitled",
                         ask: bool = True) -> bool:
        """Show ``doc`` instead of the current document (after asking to save, unless ``ask`` is False)."""
        if ask and not self.maybe_save("replacing it"):
            return False
        doc.path = str(path) if path is not None else None  # before the panels see it: paths resolve against it
        self.qt_doc.set_document(doc)
        self.recovery.clear()
        self._autosaved_generation = -1
        self._set_path(path, untitled_name)
        return True

    def open(self, path: str | os.PathLike[str] | None = None) -> bool:
        """Open a file (asking for one when ``path`` is None). A file that fails to load changes nothing."""
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self.window, "Open network", self.last_directory(),
                                                    FILE_FILTER)
            if not chosen:
                return False
            path = chosen
        file = Path(path)
        try:
            doc = load_document(file)
        except LoadError as error:
            self._error("Could not open the file", str(error))
            if not file.exists():
                self.recent.remove(file)
                self.recentChanged.emit()
            return False
        except Exception as error:  # noqa: BLE001  a bug in loading must not lose the open document
            self._error("Could not open the file",
                        f"{file}: the file could not be read ({type(error).__name__}: {_first_line(error)}).")
            return False
        if not self.replace_document(doc, file.resolve(), ask=True):
            return False
        self.recent.add(file)
        self._remember_directory(file.resolve())
        self.recentChanged.emit()
        self.message.emit(f"Opened {file.name}")
        return True

    # ---- save ----------------------------------------------------------------------------------------------
    def save(self) -> bool:
        """Save to the current file, or ask for one. On failure the document stays open and modified."""
        if self.path is None:
            return self.save_as()
        return self._write(self.path)

    def save_as(self) -> bool:
        """Ask for a file name (.nbg added when missing) and save there; False if cancelled or failed."""
        suggested = self.path or Path(self.last_directory()) / f"{safe_file_name(self.untitled_name, 'Untitled')}{FILE_SUFFIX}"
        chosen, _ = QFileDialog.getSaveFileName(self.window, "Save network as", str(suggested), FILE_FILTER)
        if not chosen:
            return False
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(FILE_SUFFIX)
        return self._write(path)

    def _write(self, path: Path) -> bool:
        try:
            save_document(self.qt_doc.document, path)
        except SaveError as error:
            self._error("Could not save", str(error))
            return False
        except Exception as error:  # noqa: BLE001  e.g. a value that cannot be written; keep the document
            self._error("Could not save", f"{path}: {type(error).__name__}: {_first_line(error)}. Nothing "
                                          "was lost: the document is still open. Try Save As.")
            return False
        self.qt_doc.undo_stack.setClean()
        self.recovery.clear()
        self._set_path(path.resolve(), self.untitled_name)
        self.recent.add(path)
        self._remember_directory(path.resolve())
        self.recentChanged.emit()
        self.message.emit(f"Saved {path.name}")
        return True

    # ---- autosave and recovery -----------------------------------------------------------------------------
    def _bump(self, *_: object) -> None:
        self._generation += 1

    def autosave_now(self) -> bool:
        """Write the recovery file if the document changed since the last autosave; True if one was
        written."""
        if not self.qt_doc.modified:
            if self.recovery.has_autosave():
                self.recovery.clear()
            return False
        if self._generation == self._autosaved_generation and self.recovery.has_autosave():
            return False
        try:
            self.recovery.write(self.qt_doc.document, str(self.path or ""), self.display_name())
        except (SaveError, OSError, ValueError) as error:
            if not self._autosave_warned:  # once, in the status bar: a modal box every minute would nag
                self.message.emit(f"Autosave failed: {_first_line(error)}")
                self._autosave_warned = True
            return False
        self._autosaved_generation = self._generation
        return True

    def offer_recovery(self) -> bool:
        """Offer autosaves left by crashed sessions; True when one was restored into the window."""
        for info in self.recovery.pending():
            if not self._ask_restore(info):
                self.recovery.discard(info)
                continue
            try:
                doc = load_document(info.document)
            except LoadError as error:
                self._error("Could not restore the autosave", str(error))
                self.recovery.discard(info)
                continue
            source = Path(info.source) if info.source else None
            self.replace_document(doc, source, info.title, ask=False)
            self.qt_doc.undo_stack.resetClean()  # restored work is unsaved work
            self._bump()
            self.autosave_now()  # our own autosave exists before the leftover is deleted
            self.recovery.discard(info)
            self.message.emit(f"Restored unsaved changes to {info.title} from {info.when}")
            return True
        return False

    def shutdown(self) -> None:
        """A clean exit: stop autosaving and remove this session's recovery files."""
        self.autosave_timer.stop()
        self.recovery.close()

    # ---- exports -------------------------------------------------------------------------------------------
    def _export_target(self, caption: str, suffix: str, filters: str, stem: str) -> tuple[Path, str] | None:
        base = self.path.parent if self.path else Path(self.last_directory())
        chosen, selected = QFileDialog.getSaveFileName(self.window, caption, str(base / f"{stem}{suffix}"),
                                                       filters)
        if not chosen:
            return None
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(suffix)
        return path, selected

    def export_image(self, view: object, network: str) -> bool:
        """File > Export image: a PNG or SVG of the network's diagram, via the canvas."""
        stem = f"{Path(self.display_name()).stem}-{safe_file_name(network)}"
        target = self._export_target("Export diagram", ".png", ";;".join(IMAGE_FILTERS), stem)
        if target is None:
            return False
        path, selected = target
        if path.suffix.lower() not in (".png", ".svg"):
            path = path.with_suffix(IMAGE_FILTERS.get(selected, ".png"))
        try:
            with _busy():
                view.export_image(str(path))  # type: ignore[attr-defined]
        except Exception as error:  # noqa: BLE001  shown plainly, never a traceback
            self._error("Could not export the image", f"{path}: {_first_line(error)}")
            return False
        self.message.emit(f"Exported {path.name}")
        return True

    def _export_choice(self, what: str, network: str) -> ExportChoice | None:
        """Which run's weights and whether to bake its preprocessing: asked only when the network has a finished
        run; without one the export is the bare network. None: the user cancelled."""
        runs, first = export_runs(self.window, self.qt_doc.document)
        if not runs:
            return ExportChoice(None, False)
        return self.ask_export(what, network, runs, first)

    def _trained_work(self, choice: ExportChoice, snapshot: Any) -> Callable[[Step], TrainedExport | None]:
        """What the worker thread calls first: the network with the chosen run's weights (and preprocessing), or
        None for the untrained network. Everything it needs is read here, on the GUI thread."""
        gan = {"generator", "discriminator"} <= set(self.qt_doc.document.networks)

        def prepare(step: Step) -> TrainedExport | None:
            if choice.run is None:
                return None
            return trained_export(snapshot, choice.run, choice.bake, gan, step)

        return prepare

    @staticmethod
    def _provenance(choice: ExportChoice, trained: TrainedExport | None, untrained_reason: str) -> list[str]:
        """The lines of the finished message that say what the exported model is and what it takes."""
        if trained is None:
            return [f"Untrained weights: {untrained_reason}", RAW_INPUT]
        return [f"Trained weights: {trained.weights}.", trained.preprocessing]

    def export_onnx(self, network: str) -> bool:
        """File > Export ONNX: export (with a finished run's weights and, by default, its preprocessing baked in),
        check with onnxruntime, and report the parity figure and what the file takes."""
        choice = self._export_choice("ONNX", network)
        if choice is None:
            self.message.emit("ONNX export cancelled; nothing was written.")
            return False
        target = self._export_target("Export ONNX", ".onnx", "ONNX model (*.onnx)",
                                     f"{Path(self.display_name()).stem}-{safe_file_name(network)}")
        if target is None:
            return False
        path = target[0]
        snapshot = self.qt_doc.document.network(network).copy()  # the worker never reads the live document
        prepare = self._trained_work(choice, snapshot)

        def work(step: Step) -> Any:
            step("Loading PyTorch and ONNX…")
            from netbuilder.export import export_onnx

            trained = prepare(step)
            return export_onnx(trained.module if trained else snapshot, path, step=step), trained

        try:
            report, trained = run_with_progress(self.window, "Exporting ONNX…", work)
        except Cancelled:
            self.message.emit("ONNX export cancelled; nothing was written.")
            return False
        except Exception as error:  # noqa: BLE001  ExportError and anything unexpected, in plain words
            self._error("Could not export ONNX", str(error) or type(error).__name__)
            return False
        lines = [report.summary(), "", *self._provenance(choice, trained, self._untrained_reason(choice))]
        text = "\n".join(lines)
        if report.ok:
            QMessageBox.information(self.window, "ONNX export", text)
        else:
            QMessageBox.warning(self.window, "ONNX export", text)
        self.message.emit(f"Exported {path.name}{self._status_suffix(choice)}")
        return True

    def export_pytorch(self, network: str) -> bool:
        """File > Export PyTorch code: a standalone .py module that rebuilds the network (with a finished run's
        preprocessing as a wrapper module, by default)."""
        choice = self._export_choice("PyTorch Code", network)
        if choice is None:
            self.message.emit("PyTorch code export cancelled; nothing was written.")
            return False
        stem = f"{Path(self.display_name()).stem}_{safe_file_name(network)}".replace("-", "_").replace(" ", "_")
        target = self._export_target("Export PyTorch code", ".py", "Python source (*.py)", stem)
        if target is None:
            return False
        path = target[0]
        snapshot = self.qt_doc.document.network(network).copy()
        prepare = self._trained_work(choice, snapshot)

        def work(step: Step) -> Any:
            step("Loading PyTorch…")
            from netbuilder.export import export_pytorch_code

            trained = prepare(step)
            if trained is None:
                export_pytorch_code(snapshot, path, step=step)
            else:
                export_pytorch_code(trained.bare, path, preprocessing=trained.plan, units=trained.units, step=step)
            return trained

        try:
            trained = run_with_progress(self.window, "Exporting PyTorch code…", work)
        except Cancelled:
            self.message.emit("PyTorch code export cancelled; nothing was written.")
            return False
        except Exception as error:  # noqa: BLE001
            self._error("Could not export PyTorch code", str(error))
            return False
        lines = [f"Wrote {path}.", "", "The module needs only PyTorch and holds no weights."]
        if trained is None:
            lines.append("Its docstring says how to load weights trained in NetBuilder.")
            lines.append(RAW_INPUT)
        else:
            where = (f"load {trained.weights_file} into it" if trained.weights_file is not None
                     else "its docstring says how to load weights trained in NetBuilder")
            baked = trained.plan is not None and not trained.plan.empty
            wrapper = " (into its .network when you use the …WithPreprocessing module)" if baked else ""
            lines.append(f"Trained weights: {trained.weights}; {where}{wrapper}.")
            lines.append(trained.preprocessing)
        QMessageBox.information(self.window, "PyTorch code export", "\n".join(lines))
        self.message.emit(f"Exported {path.name}{self._status_suffix(choice)}")
        return True

    @staticmethod
    def _untrained_reason(choice: ExportChoice) -> str:
        if choice.declined_run:
            return "exported without its training run, as asked."
        return "this network has no finished training run (train it, then export again for trained weights)."

    @staticmethod
    def _status_suffix(choice: ExportChoice) -> str:
        if choice.run is None:
            return " (untrained, raw input)"
        baked = "preprocessing baked in" if choice.bake else "preprocessing not baked in"
        return f" with run {choice.run.name}, {baked}"


class _busy:  # noqa: N801  used as a context manager: `with _busy():`
    """A wait cursor for work that blocks the window for a moment (exports)."""

    def __enter__(self) -> None:
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)  # show the cursor now

    def __exit__(self, *_: object) -> None:
        QApplication.restoreOverrideCursor()
