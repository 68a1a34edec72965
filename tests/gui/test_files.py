"""Files through the window: save / open round trip, recent files, broken files and failed saves that change
nothing, asking to save before closing or replacing, dropping a file on the window, and autosave with crash
recovery (a real crash: a child process that dies without cleaning up)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from netbuilder.document import Document, RemoveWires, RenameNode
from netbuilder.io import document_to_dict, load_document, save_document
from netbuilder_ui.files import RecentFiles, RecoveryStore
from netbuilder_ui.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
Button = QMessageBox.StandardButton


class Dialogs:
    """Stands in for the static QMessageBox / QFileDialog functions; records what would be shown."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.shown: list[tuple[str, str, str]] = []
        self.answers: list[Any] = []
        self.open_paths: list[str] = []
        self.save_paths: list[str] = []
        for kind, default in (("critical", Button.Ok), ("warning", Button.Cancel), ("information", Button.Ok),
                              ("question", Button.No)):
            monkeypatch.setattr(QMessageBox, kind, self._recorder(kind, default))
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(
            lambda *_a, **_k: (self.open_paths.pop(0) if self.open_paths else "", "")))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(
            lambda *_a, **_k: (self.save_paths.pop(0) if self.save_paths else "", "")))

    def _recorder(self, kind: str, default: Any) -> Any:
        def show(_parent: Any, title: str, text: str, *_args: Any, **_kwargs: Any) -> Any:
            self.shown.append((kind, title, text))
            return self.answers.pop(0) if self.answers else default
        return staticmethod(show)

    def texts(self, kind: str) -> list[str]:
        return [text for k, _title, text in self.shown if k == kind]


@pytest.fixture
def dialogs(monkeypatch):
    return Dialogs(monkeypatch)


def make_window(qtbot, tmp_path: Path, **options: Any) -> MainWindow:
    options.setdefault("recovery_dir", tmp_path / "recovery")
    options.setdefault("autosave_interval_ms", 3_600_000)
    options.setdefault("run_root", tmp_path / "runs")
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings=settings, **options)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, tmp_path, dialogs):
    win = make_window(qtbot, tmp_path)
    win.open_template("mlp", ask=False)
    yield win
    win.qt_doc.undo_stack.setClean()
    win.close()


def as_data(doc: Document) -> Any:
    return document_to_dict(doc)


def rename_hidden(win: MainWindow, new_name: str, old_name: str = "hidden1") -> None:
    net = win.qt_doc.document.network()
    win.qt_doc.execute(RenameNode(net.name, net.find(old_name).id, new_name))


# ---- save and open -----------------------------------------------------------------------------------------

def test_save_as_then_open_round_trip(window, dialogs, tmp_path):
    rename_hidden(window, "encoder")
    assert window.isWindowModified()
    dialogs.save_paths.append(str(tmp_path / "digits"))  # no suffix: .nbg is added
    window.acts["save_as"].trigger()
    path = tmp_path / "digits.nbg"
    assert path.is_file()
    assert window.windowTitle() == "digits.nbg[*] — NetBuilder" and not window.isWindowModified()
    saved = as_data(window.qt_doc.document)
    window.acts["new"].trigger()
    assert window.windowTitle() == "Untitled[*] — NetBuilder" and len(window.qt_doc.document.network()) == 2
    dialogs.open_paths.append(str(path))
    window.acts["open"].trigger()
    assert as_data(window.qt_doc.document) == saved
    assert window.qt_doc.document.network().find("encoder")
    assert window.windowTitle() == "digits.nbg[*] — NetBuilder"
    assert window.files.recent.paths()[0] == str(path.resolve())
    window._rebuild_recent_menu()
    recent = [a for a in window.recent_menu.actions() if a.toolTip() == str(path.resolve())]
    assert recent
    rename_hidden(window, "encoder2", "encoder")
    window.acts["save"].trigger()  # plain Save writes to the same file without asking
    assert load_document(path).network().find("encoder2")
    assert not dialogs.save_paths and not window.isWindowModified()
    window.acts["new"].trigger()
    window._rebuild_recent_menu()
    window.recent_menu.actions()[0].trigger()  # "1 digits.nbg", the newest
    assert window.qt_doc.document.network().find("encoder2")


def test_a_broken_file_shows_where_and_changes_nothing(window, dialogs, tmp_path):
    rename_hidden(window, "kept")
    before = as_data(window.qt_doc.document)
    title = window.windowTitle()
    bad = tmp_path / "bad.nbg"
    good = as_data(window.qt_doc.document)
    good["networks"][0]["nodes"][1]["type"] = "NoSuchLayer"
    bad.write_text(json.dumps(good))
    dialogs.open_paths.append(str(bad))
    window.acts["open"].trigger()
    message = dialogs.texts("critical")[-1]
    assert "bad.nbg" in message and "NoSuchLayer" in message
    assert as_data(window.qt_doc.document) == before
    assert window.windowTitle() == title and window.isWindowModified()
    (tmp_path / "garbage.nbg").write_bytes(b"\x00\xff not json")
    assert not window.files.open(tmp_path / "garbage.nbg")
    assert "garbage.nbg" in dialogs.texts("critical")[-1]
    assert not window.files.open(tmp_path / "missing.nbg")
    assert "does not exist" in dialogs.texts("critical")[-1]
    assert as_data(window.qt_doc.document) == before
    assert window.qt_doc.undo_stack.canUndo()  # the history survives too


def test_a_failed_save_loses_nothing(window, dialogs, tmp_path):
    rename_hidden(window, "precious")
    dialogs.save_paths.append(str(tmp_path / "no" / "such" / "folder" / "net.nbg"))
    assert not window.files.save_as()
    assert "folder" in dialogs.texts("critical")[-1]
    assert window.isWindowModified() and window.files.path is None
    assert window.qt_doc.document.network().find("precious")


# ---- asking before losing changes --------------------------------------------------------------------------

def test_closing_with_unsaved_changes_asks(window, dialogs, tmp_path):
    rename_hidden(window, "unsaved")
    dialogs.answers.append(Button.Cancel)
    assert not window.close()
    assert window.isVisible()
    assert "unsaved changes" in dialogs.texts("warning")[-1] and "mlp" in dialogs.texts("warning")[-1]
    dialogs.answers.append(Button.Save)
    dialogs.save_paths.append(str(tmp_path / "kept.nbg"))
    assert window.close()
    assert load_document(tmp_path / "kept.nbg").network().find("unsaved")


def test_discard_closes_and_replacing_asks_first(qtbot, tmp_path, dialogs):
    win = make_window(qtbot, tmp_path)
    win.open_template("mlp", ask=False)
    rename_hidden(win, "draft")
    dialogs.answers.append(Button.Cancel)
    assert not win.open_template("lenet")
    assert win.qt_doc.document.network().find("draft")
    dialogs.answers.append(Button.Discard)
    assert win.new_blank()
    assert len(win.qt_doc.document.network()) == 2
    rename_node = win.qt_doc.document.network().nodes[0]
    win.qt_doc.execute(RenameNode("model", rename_node.id, "changed"))
    dialogs.answers.append(Button.Discard)
    assert win.close()
    assert len(dialogs.texts("warning")) == 3


def test_dropping_a_file_on_the_window_opens_it(window, dialogs, tmp_path, qtbot):
    rename_hidden(window, "dropped")
    path = tmp_path / "dropped.nbg"
    save_document(window.qt_doc.document, path)
    window.qt_doc.undo_stack.setClean()
    window.new_blank()
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    where, action, button, none = QPointF(20, 20), Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, \
        Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(where.toPoint(), action, mime, button, none)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(where, action, mime, button, none))
    qtbot.waitUntil(lambda: window.files.path == path.resolve(), timeout=3000)
    assert window.qt_doc.document.network().find("dropped")


# ---- recent files ------------------------------------------------------------------------------------------

def test_recent_files_are_newest_first_unique_and_bounded(tmp_path):
    settings = QSettings(str(tmp_path / "recent.ini"), QSettings.Format.IniFormat)
    recent = RecentFiles(settings, limit=3)
    for name in ("a", "b", "a", "c", "d"):
        recent.add(tmp_path / f"{name}.nbg")
    assert [Path(p).stem for p in recent.paths()] == ["d", "c", "a"]
    recent.remove(tmp_path / "c.nbg")
    assert [Path(p).stem for p in RecentFiles(QSettings(str(tmp_path / "recent.ini"),
                                                        QSettings.Format.IniFormat)).paths()] == ["d", "a"]
    recent.clear()
    assert recent.paths() == []


# ---- autosave and recovery ---------------------------------------------------------------------------------

CRASH = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {root!r})
    from netbuilder.document import Document
    from netbuilder_ui.files import RecoveryStore
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="x", shape=(4,)), net.add("Linear", name="crashed_work", units=3),
              net.add("Output", name="y"))
    RecoveryStore({folder!r}).write(doc, {source!r}, "experiment.nbg")
    os._exit(3)  # a crash: no clean exit, the lock file stays behind
""")


def crash_session(folder: Path, source: str = "") -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    code = CRASH.format(root=str(ROOT), folder=str(folder), source=source)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 3, result.stderr


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> Path:
    """A recovery folder as a crashed session leaves it (made once; tests copy it)."""
    folder = tmp_path_factory.mktemp("crashed")
    crash_session(folder, "/home/someone/experiment.nbg")
    return folder


def copy_folder(source: Path, target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        (target / item.name).write_bytes(item.read_bytes())
    return target


def test_autosave_writes_only_when_modified_and_saving_clears_it(window, dialogs, tmp_path):
    store = window.files.recovery
    assert not window.files.autosave_now() and not store.has_autosave()
    rename_hidden(window, "autosaved")
    assert window.files.autosave_now()
    assert not window.files.autosave_now()  # nothing changed since
    autosaved = load_document(store.directory / f"{store.session}.nbg")
    assert autosaved.network().find("autosaved")
    dialogs.save_paths.append(str(tmp_path / "saved.nbg"))
    window.acts["save"].trigger()
    assert not store.has_autosave()


def test_autosave_timer_fires(qtbot, tmp_path, dialogs):
    win = make_window(qtbot, tmp_path, autosave_interval_ms=30)
    win.open_template("mlp", ask=False)
    rename_hidden(win, "timed")
    qtbot.waitUntil(win.files.recovery.has_autosave, timeout=3000)
    win.qt_doc.undo_stack.setClean()
    win.close()
    assert not any((tmp_path / "recovery").glob("*.nbg"))  # a clean exit leaves nothing to recover


def test_a_live_session_is_not_offered_and_a_clean_exit_leaves_nothing(tmp_path):
    running = RecoveryStore(tmp_path)
    doc = Document()
    doc.network().add("Input", name="x")
    running.write(doc, "", "live")
    other = RecoveryStore(tmp_path)
    assert other.pending() == []  # its owner is alive
    running.close()
    assert other.pending() == []  # closed cleanly: nothing left
    other.close()


def test_a_crashed_session_is_restored_into_the_window(qtbot, tmp_path, dialogs, crashed):
    folder = copy_folder(crashed, tmp_path / "recovery")
    offered: list[Any] = []
    win = make_window(qtbot, tmp_path, recovery_dir=folder,
                      ask_restore=lambda info: offered.append(info) or True)
    assert win.files.offer_recovery()
    assert offered[0].title == "experiment.nbg" and offered[0].source == "/home/someone/experiment.nbg"
    assert win.qt_doc.document.network().find("crashed_work")
    assert win.isWindowModified()
    assert win.windowTitle() == "experiment.nbg[*] — NetBuilder"
    leftovers = {p.name for p in folder.iterdir()} - {f"{win.files.recovery.session}{s}"
                                                      for s in (".nbg", ".json", ".lock")}
    assert leftovers == set()  # the crashed session's files are gone, our own autosave replaces them
    assert win.files.recovery.has_autosave()
    win.qt_doc.undo_stack.setClean()
    win.close()


def test_declining_recovery_deletes_the_autosave(qtbot, tmp_path, dialogs, crashed):
    folder = copy_folder(crashed, tmp_path / "recovery")
    win = make_window(qtbot, tmp_path, recovery_dir=folder, ask_restore=lambda info: False)
    win.open_template("mlp", ask=False)
    before = as_data(win.qt_doc.document)
    assert not win.files.offer_recovery()
    assert as_data(win.qt_doc.document) == before
    assert not list(folder.glob("*.json"))
    win2 = make_window(qtbot, tmp_path / "again", recovery_dir=folder, ask_restore=lambda info: True)
    assert not win2.files.offer_recovery()  # offered once only
    win.close()
    win2.close()


# ---- exports -----------------------------------------------------------------------------------------------

def test_export_image_onnx_and_pytorch_code(window, dialogs, tmp_path):
    dialogs.save_paths.append(str(tmp_path / "diagram"))  # no suffix: PNG by default
    assert window.export_image()
    assert (tmp_path / "diagram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    dialogs.save_paths.append(str(tmp_path / "diagram.svg"))
    assert window.export_image()
    assert "<svg" in (tmp_path / "diagram.svg").read_text()

    dialogs.save_paths.append(str(tmp_path / "model.onnx"))
    assert window.export_onnx()
    kind, title, text = dialogs.shown[-1]
    assert (kind, title) == ("information", "ONNX export")
    assert "model.onnx" in text and "matches PyTorch" in text
    assert (tmp_path / "model.onnx").stat().st_size > 1000

    dialogs.save_paths.append(str(tmp_path / "model_code"))
    assert window.export_pytorch()
    assert "class " in (tmp_path / "model_code.py").read_text()
    assert dialogs.shown[-1][0] == "information"
    assert QApplication.overrideCursor() is None  # the busy cursor is gone again


def test_export_problems_are_shown_plainly(window, dialogs, tmp_path, monkeypatch):
    from netbuilder.export import ExportError

    net = window.qt_doc.document.network()
    window.qt_doc.execute(RemoveWires("model", [net.wires[0]]))
    assert not window.export_onnx()
    kind, title, text = dialogs.shown[-1]
    assert kind == "warning" and title == "Cannot export ONNX" and "problem" in text
    window.acts["undo"].trigger()

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise ExportError("Layer 'hidden1' cannot be exported: the exporter gave up.")

    monkeypatch.setattr("netbuilder.export.export_onnx", refuse)
    dialogs.save_paths.append(str(tmp_path / "model.onnx"))
    assert not window.export_onnx()
    assert dialogs.shown[-1][:2] == ("critical", "Could not export ONNX")
    assert dialogs.shown[-1][2] == "Layer 'hidden1' cannot be exported: the exporter gave up."
    assert not (tmp_path / "model.onnx").exists()
    assert QApplication.overrideCursor() is None
