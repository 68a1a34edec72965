"""Long operations run off the GUI thread with progress and Cancel (`netbuilder_ui.background`)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QProgressDialog, QPushButton

from netbuilder_ui.background import BackgroundTask, Cancelled, run_with_progress


def test_work_runs_off_the_gui_thread_and_reports_steps_and_result(qtbot):
    seen: list[str] = []
    threads: list[threading.Thread] = []

    def work(step):
        threads.append(threading.current_thread())
        step("first")
        step("second")
        return 42

    task = BackgroundTask(work)
    task.progressed.connect(seen.append)
    with qtbot.waitSignal(task.ended, timeout=10_000):
        task.start()
    assert task.result == 42 and seen == ["first", "second"]
    assert threads[0] is not threading.main_thread()


def test_cancel_in_the_progress_dialog_stops_at_the_next_step(qtbot):
    gate = threading.Event()
    reached: list[str] = []

    def work(step):
        step("Reading…")
        reached.append("reading")
        gate.wait(10)
        step("Writing…")  # raises Cancelled: nothing after this runs
        reached.append("writing")

    def press_cancel():
        dialogs = [w for w in QApplication.topLevelWidgets() if isinstance(w, QProgressDialog)]
        if not dialogs:
            QTimer.singleShot(50, press_cancel)
            return
        button = next(b for b in dialogs[0].findChildren(QPushButton) if b.text() == "Cancel")
        button.click()  # as the user does
        gate.set()

    QTimer.singleShot(50, press_cancel)
    with pytest.raises(Cancelled):
        run_with_progress(None, "Exporting…", work)
    assert reached == ["reading"]


def test_errors_come_back_to_the_caller(qtbot):
    def work(step):
        raise ValueError("bad input at row 3")

    with pytest.raises(ValueError, match="row 3"):
        run_with_progress(None, "Loading…", work)


def test_a_cancelled_onnx_export_writes_nothing(tmp_path: Path):
    from netbuilder.export import export_onnx
    from netbuilder.templates import load_template

    steps: list[str] = []

    def step(text: str) -> None:
        steps.append(text)
        if text.startswith("Comparing"):
            raise Cancelled()

    with pytest.raises(Cancelled):
        export_onnx(load_template("mlp").network(), tmp_path / "m.onnx", step=step)
    assert steps[0].startswith("Compiling") and not (tmp_path / "m.onnx").exists()
