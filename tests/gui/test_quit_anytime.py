"""Quitting at any moment never aborts: the app is started in a fresh process and its window closed at several
early moments (while PyTorch loads in the background, and just after the training docks arrived, while the data
preview loads). Each process must exit with code 0 and without Qt's "QThread: Destroyed while thread is still
running" (which used to abort 3 of 6 closes within half a second of start)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from netbuilder_ui.app import launch

    delay_ms, after_training = int(sys.argv[1]), sys.argv[2] == "1"
    window = launch([])
    app = QApplication.instance()

    def close_later():
        QTimer.singleShot(delay_ms, window.close)

    if after_training:  # close once the training docks are in (the data preview starts loading then)
        window.training_loader.ready.connect(lambda _ui: close_later())
    else:
        close_later()  # 0: the first moment the event loop runs
    code = app.exec()
    print("LOOP_EXITED", code, flush=True)
    sys.exit(code)
    """
)

MOMENTS = [(0, False), (100, False), (200, False), (300, False), (400, False), (500, False),
           (0, True), (150, True)]


def test_closing_at_any_early_moment_exits_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("NETBUILDER_FIRST_PAINT_REPORT", None)
    failures = []
    for batch_start in range(0, len(MOMENTS), 4):  # a few at a time: each imports PyTorch
        batch = MOMENTS[batch_start:batch_start + 4]
        processes = [(moment, subprocess.Popen([sys.executable, "-c", SCRIPT, str(moment[0]), str(int(moment[1]))],
                                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
                     for moment in batch]
        for moment, process in processes:
            try:
                out, err = process.communicate(timeout=240)
            except subprocess.TimeoutExpired:
                process.kill()
                out, err = process.communicate()
                failures.append(f"close at {moment}: the process did not end within 240 s")
                continue
            if process.returncode != 0 or "Destroyed while thread" in err or "LOOP_EXITED 0" not in out:
                failures.append(f"close at {moment}: exit {process.returncode}, {err.strip()[-300:]}")
    assert not failures, "\n".join(failures)
