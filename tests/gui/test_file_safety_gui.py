"""Opening a document in the app reads nothing of its data until the user asks; hostile network names render
inside the chosen folder."""

from __future__ import annotations

import builtins
import io
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import make_main_window
from PySide6.QtWidgets import QApplication

from netbuilder.cli import main as cli_main
from netbuilder.document import Document
from netbuilder.io import save_document
from netbuilder_ui.main_window import MainWindow


class OpenRecorder:
    """Records every open of ``path`` through os.open, io.open and builtins.open (what every reader uses)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, path: Path):
        self.path = os.path.realpath(path)
        self.opened: list[str] = []
        real_os_open, real_io_open = os.open, io.open

        def os_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            self._note(file)
            return real_os_open(file, *args, **kwargs)

        def io_open(file: Any, *args: Any, **kwargs: Any) -> Any:
            self._note(file)
            return real_io_open(file, *args, **kwargs)

        monkeypatch.setattr(os, "open", os_open)
        monkeypatch.setattr(io, "open", io_open)
        monkeypatch.setattr(builtins, "open", io_open)

    def _note(self, file: Any) -> None:
        if isinstance(file, str | os.PathLike) and os.path.realpath(os.fspath(file)) == self.path:
            self.opened.append(os.fspath(file))


def _document_with_csv(folder: Path) -> Path:
    (folder / "data").mkdir(parents=True)
    rows = ["a,b,c,d,kind"] + [f"{i % 3},{i % 5},{i % 7},{i % 2},{i % 3}" for i in range(30)]
    (folder / "data" / "plants.csv").write_text("\n".join(rows) + "\n")
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", shape=(4,)), net.add("Linear", units=3), net.add("Output"))
    doc.settings = {"data": {"source": "data/plants.csv", "options": {"target": "kind"}}}
    save_document(doc, folder / "net.nbg")
    return folder / "net.nbg"


def _window(qtbot: Any, tmp_path: Path) -> MainWindow:
    return make_main_window(qtbot, tmp_path, (1200, 800))


def _settle(qtbot: Any, milliseconds: int = 600) -> None:
    qtbot.wait(milliseconds)
    QApplication.processEvents()


def test_opening_a_document_does_not_read_its_data_until_the_user_asks(qtbot, tmp_path, monkeypatch) -> None:
    file = _document_with_csv(tmp_path / "project")
    window = _window(qtbot, tmp_path)
    ui = window.training_ui
    assert ui is not None
    panel, dock = ui.data_panel, ui.docks["data"]
    dock.show()
    dock.raise_()  # the Data panel is in view when the document opens: still nothing is read
    _settle(qtbot)
    recorder = OpenRecorder(monkeypatch, file.parent / "data" / "plants.csv")
    assert window.files.open(str(file))
    _settle(qtbot)
    assert recorder.opened == [] and not panel.is_loading() and panel.preview_data is None
    resolved = str(file.parent / "data" / "plants.csv")
    assert panel.is_held() and resolved in panel.status.message()  # which file, resolved beside the document
    assert resolved in panel.description.text()
    assert panel.preview_button.isVisible()

    panel.preview_button.click()  # the user asks: now it is read and previewed
    qtbot.waitUntil(lambda: not panel.is_loading() and panel.preview_data is not None, timeout=10_000)
    assert recorder.opened and panel.preview_data.count == 30 and not panel.is_held()
    assert [panel.target_box.itemText(i) for i in range(panel.target_box.count())][1:-1] == \
        ["a", "b", "c", "d", "kind"]
    ui.shutdown()
    window.qt_doc.undo_stack.setClean()


def test_showing_the_hidden_data_panel_reads_the_data(qtbot, tmp_path, monkeypatch) -> None:
    file = _document_with_csv(tmp_path / "project")
    window = _window(qtbot, tmp_path)
    ui = window.training_ui
    assert ui is not None
    panel, dock = ui.data_panel, ui.docks["data"]
    dock.hide()
    _settle(qtbot, 100)
    recorder = OpenRecorder(monkeypatch, file.parent / "data" / "plants.csv")
    assert window.files.open(str(file))
    _settle(qtbot)
    assert recorder.opened == [] and panel.preview_data is None
    dock.show()
    dock.raise_()
    qtbot.waitUntil(lambda: not panel.is_loading() and panel.preview_data is not None, timeout=10_000)
    assert recorder.opened and panel.preview_data.count == 30
    ui.shutdown()
    window.qt_doc.undo_stack.setClean()


def test_a_document_whose_data_is_a_fifo_opens_at_once_and_reads_nothing(qtbot, tmp_path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", shape=(4,)), net.add("Linear", units=3), net.add("Output"))
    doc.settings = {"data": {"source": str(fifo), "format": "csv"}}
    save_document(doc, tmp_path / "pipe.nbg")
    window = _window(qtbot, tmp_path)
    ui = window.training_ui
    assert ui is not None
    assert window.files.open(str(tmp_path / "pipe.nbg"))
    _settle(qtbot)
    ui.data_panel.release_hold()  # even when asked, a FIFO is refused at once, with its path
    qtbot.waitUntil(lambda: not ui.data_panel.is_loading() and ui.data_panel.status.severity == "error",
                    timeout=10_000)
    assert "named pipe" in ui.data_panel.status.message() and str(fifo) in ui.data_panel.status.message()
    ui.shutdown()
    window.qt_doc.undo_stack.setClean()


def test_render_writes_one_picture_per_network_inside_the_output_folder(qapp, tmp_path, capsys) -> None:
    doc = Document(network_names=("../../escaped",))
    for name in ("../../escaped", "a/b"):
        net = doc.network(name) if name in doc.networks else doc.add_network(name)
        net.chain(net.add("Input", shape=(4,)), net.add("Linear", units=2), net.add("Output"))
    save_document(doc, tmp_path / "two.nbg")
    out = tmp_path / "out"
    out.mkdir()
    assert cli_main(["render", str(tmp_path / "two.nbg"), "-o", str(out / "d.png")]) == 0, capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["d-a-b.png", "d-escaped.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "two.nbg"]
