"""Start-up figures, each from whole processes (launch to result), median of several runs:

- ``startup_first_paint_ms``: ``python -m netbuilder`` until its main window first paints (the app writes the time
  of its first paint event when ``NETBUILDER_FIRST_PAINT_REPORT`` names a file, then quits), and
  ``startup_document_open_ms`` until the example document is open in it (it opens right after that paint);
- ``startup_cpu_to_paint_ms`` / ``startup_bare_qt_cpu_to_paint_ms`` / ``startup_cpu_vs_bare_qt_ratio``: the
  processes' CPU time until that paint, which a busy machine changes far less than wall time;
- ``startup_bare_qt_first_paint_ms``: the same for a bare PySide6 ``QMainWindow``, measured the same way in the same
  run, and ``startup_vs_bare_qt_ratio``, the first over the second (goal <= 3.0);
- ``cli_validate_ms``, ``torch_import_ms`` and ``cli_validate_vs_torch_import_ratio``: ``netbuilder validate`` on
  the mlp template over ``python -c "import torch"`` (goal <= 0.25).

Runs are interleaved (app, bare, app, bare, ...) so a change in the machine's load hits both sides alike, after
one warm-up run of each that is not counted. The children run with bytecode caching on (as an installed app
does), whatever ``PYTHONDONTWRITEBYTECODE`` says here. ``NETBUILDER_BENCH_STARTUP_RUNS`` sets the number of runs
(default 5); ``NETBUILDER_BENCH_BUSY=1`` runs a CPU-bound process beside them, to see start-up on a busy machine.
Settings and recovery files go to a temporary home, so no saved layout or leftover autosave changes the figures.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 180

BARE_QT = textwrap.dedent(
    """
    import json, sys, time
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    app = QApplication(sys.argv)
    window = QMainWindow()
    window.resize(1400, 900)

    class Probe(QObject):
        painted = None
        cpu = None

        def eventFilter(self, watched, event):
            if event.type() == QEvent.Type.Paint and self.painted is None:
                self.painted = time.time()
                self.cpu = time.process_time()
                QTimer.singleShot(0, window.close)
            return False

    probe = Probe()
    window.installEventFilter(probe)
    window.show()
    app.exec()
    with open(sys.argv[1], "w") as out:
        json.dump({"painted": probe.painted, "cpu": probe.cpu}, out)
    """
)


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(QT_QPA_PLATFORM="offscreen", HOME=str(home), XDG_CONFIG_HOME=str(home / "config"),
               XDG_DATA_HOME=str(home / "data"), XDG_CACHE_HOME=str(home / "cache"))
    return env


def _first_paint_s(command: list[str], env: dict[str, str], report: Path, pass_report: bool,
                   cpu_times: list[float] | None = None, open_times: list[float] | None = None) -> float:
    """Wall seconds from launch to the first paint; the process's CPU seconds until then go to ``cpu_times``
    (they hardly change with the machine's load, unlike wall time)."""
    report.unlink(missing_ok=True)
    child_env = {**env, "NETBUILDER_FIRST_PAINT_REPORT": str(report)}
    started = time.time()
    result = subprocess.run(command + ([str(report)] if pass_report else []), env=child_env, capture_output=True,
                            text=True, timeout=TIMEOUT_S, cwd=ROOT)
    if result.returncode != 0 or not report.exists():
        raise RuntimeError(f"{command[-1]} exited {result.returncode}: {result.stderr.strip()[-400:]}")
    record = json.loads(report.read_text())
    if cpu_times is not None and record.get("cpu") is not None:
        cpu_times.append(record["cpu"])
    if open_times is not None and record.get("document_open") is not None:
        open_times.append(record["document_open"] - started)
    return record["painted"] - started


def _process_s(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {result.returncode}: {result.stderr.strip()[-400:]}")
    return time.perf_counter() - started


def _interleaved(runs: int, a: Callable[[], float], b: Callable[[], float]) -> tuple[float, float]:
    a(), b()  # warm-up: bytecode caches and the disk cache, not counted
    times_a, times_b = [], []
    for _ in range(runs):
        times_a.append(a())
        times_b.append(b())
    return statistics.median(times_a), statistics.median(times_b)


def bench_startup() -> dict[str, float]:
    runs = int(os.environ.get("NETBUILDER_BENCH_STARTUP_RUNS", "5"))
    busy = None
    if os.environ.get("NETBUILDER_BENCH_BUSY") == "1":
        busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
    try:
        with tempfile.TemporaryDirectory(prefix="nb-startup-") as tmp:
            home = Path(tmp)
            env = _env(home)
            report = home / "paint.json"
            app_cpu: list[float] = []  # the first of each is the uncounted warm-up run
            bare_cpu: list[float] = []
            app_open: list[float] = []  # launch until the example document is open (just after the paint)
            app_s, bare_s = _interleaved(
                runs,
                lambda: _first_paint_s([sys.executable, "-m", "netbuilder"], env, report, False, app_cpu,
                                       app_open),
                lambda: _first_paint_s([sys.executable, "-c", BARE_QT], env, report, True, bare_cpu))
            mlp = str(ROOT / "resources" / "templates" / "mlp.nbg")
            validate_s, torch_s = _interleaved(
                runs,
                lambda: _process_s([sys.executable, "-m", "netbuilder", "validate", mlp], env),
                lambda: _process_s([sys.executable, "-c", "import torch"], env))
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    return {
        "startup_first_paint_ms": round(app_s * 1000, 1),
        "startup_bare_qt_first_paint_ms": round(bare_s * 1000, 1),
        "startup_vs_bare_qt_ratio": round(app_s / bare_s, 2),
        "startup_document_open_ms": round(statistics.median(app_open[1:]) * 1000, 1),
        "startup_cpu_to_paint_ms": round(statistics.median(app_cpu[1:]) * 1000, 1),
        "startup_bare_qt_cpu_to_paint_ms": round(statistics.median(bare_cpu[1:]) * 1000, 1),
        "startup_cpu_vs_bare_qt_ratio": round(statistics.median(app_cpu[1:]) / statistics.median(bare_cpu[1:]), 2),
        "cli_validate_ms": round(validate_s * 1000, 1),
        "torch_import_ms": round(torch_s * 1000, 1),
        "cli_validate_vs_torch_import_ratio": round(validate_s / torch_s, 3),
        "startup_busy_cpu_beside": 1.0 if busy is not None else 0.0,
    }


BENCHMARKS = {"startup": bench_startup}
