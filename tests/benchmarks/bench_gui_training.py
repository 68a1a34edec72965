"""Training in the app: does the window stay responsive, and does the GUI slow training down?

The main window trains the ``mlp`` template on ``digits`` with every view live (curves, progress, results).

* Responsiveness: during GUI runs a heartbeat QTimer fires every 5 ms on the GUI thread and records how late each
  tick is: ``gui_stall_p99_ms`` (target < 50) and ``gui_stall_max_ms`` (target < 200).
* Cost of the GUI: ``gui_vs_cli_throughput_ratio`` (target >= 0.9) is the training throughput (samples/s from
  the run's start to its end, as the training thread stamps them) of a run with the GUI attached, over the same
  run on the Trainer alone, as the CLI runs it (the events consumed and dropped), on the same training thread of
  the same process: same document, data, epochs, batch size and CPU threads. The two alternate; each figure is
  the best of its rounds (short rounds, so the best estimates an unloaded machine) and
  ``gui_vs_cli_ratio_median_pair`` (the median of back-to-back pairs) shows how much the machine's load moved
  them. The heartbeat is off in these rounds: a 200 Hz timer is a load of its own, not part of the GUI.
* For reference, ``cli_process_samples_per_s`` is ``netbuilder train``'s own situation (the Trainer alone in a
  fresh process, main thread, PyTorch's default threads) and ``gui_vs_cli_process_ratio`` the GUI's throughput
  over it: it also counts what sharing a process with a GUI costs (a thread per role, a core kept free for the
  GUI), which no amount of care in the views removes.
* Curves: ``plot_repaint_ms`` (target < 10) is the median GUI-thread time of one redraw of the Plots panel
  (handing the curves their data, then painting) with three plots of 10,000 points each, one new point per
  redraw; ``plot_staleness_max_ms`` (target < 1000) is the largest gap between an epoch's end (the worker's
  stamp on its event) and the end of the first paint that draws its point, over a GUI run with a CPU-bound
  process running beside the app (``plot_staleness_median_ms`` for the typical gap).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

EPOCHS = 150
ROUNDS = 4
STALL_ROUNDS = 3
PROCESS_ROUNDS = 2
HEARTBEAT_MS = 5

_CLI_SCRIPT = """
import json, sys, time
from netbuilder.io import load_document
from netbuilder.train import Done, RunStarted, TrainConfig, Trainer
document = load_document(sys.argv[1])
config = TrainConfig.from_settings(document.settings)
for event in Trainer(document, config, run_root=sys.argv[2]).events():
    if isinstance(event, RunStarted):
        started, samples = time.perf_counter(), event.total_batches * config.batch_size
    elif isinstance(event, Done):
        print(json.dumps(samples / (time.perf_counter() - started)))
"""


def _process_throughput(path: Path, run_root: Path) -> float:
    """Samples per second of one run of the Trainer alone in a fresh process (what ``netbuilder train`` does)."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-c", _CLI_SCRIPT, str(path), str(run_root)], capture_output=True,
                            text=True, check=True, cwd=root, env=env)
    return float(result.stdout.strip().splitlines()[-1])


def _best(values: list[float]) -> float:
    return max(values) if values else float("nan")


def bench_gui_training() -> dict[str, float]:
    """Measured in a fresh process: the GUI sets PyTorch's CPU threads for its own threads (see
    netbuilder_ui.training._guard), which must neither depend on what ran before in the runner's process nor
    change what runs after it."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--json"], capture_output=True,
                            text=True, cwd=root, env=env, timeout=900)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise RuntimeError(lines[-1] if lines else f"exit status {result.returncode}")
    return json.loads(result.stdout[result.stdout.index("{"):])


REPAINT_POINTS = 10_000
REPAINTS = 40
STALENESS_EPOCHS = 40


def measure_repaint() -> dict[str, float]:
    """Median time of one redraw (refresh + paint) of the three plots holding ``REPAINT_POINTS`` points each."""
    from PySide6.QtWidgets import QApplication

    from netbuilder.train import BatchEnd, EpochEnd
    from netbuilder_ui.training.plots import TrainingPlots

    app = QApplication.instance() or QApplication([])
    plots = TrainingPlots()
    plots.resize(1400, 320)
    plots.show()
    plots.reset("classification")
    history = plots.history
    batches = 100  # 100 epochs of 100 batches: 10,000 points in the loss and learning-rate plots
    epochs = REPAINT_POINTS // batches
    noise = np.random.default_rng(0).normal(0.0, 0.25, REPAINT_POINTS)  # batch losses are noisy
    for epoch in range(1, epochs + 1):
        for batch in range(1, batches + 1):
            t = epoch - 1 + batch / batches
            lr = 1e-3 * 0.5 * (1 + math.cos(math.pi * t / epochs))  # a cosine schedule
            loss = (1.0 / t) * (1.0 + noise[(epoch - 1) * batches + batch - 1])
            history.add_batch(epoch, batch, batches, loss, lr)
        plots.add_epoch(EpochEnd(epoch, {"train_loss": 1.0 / epoch, "val_loss": 1.1 / epoch,
                                         "train_accuracy": 1 - 1 / (epoch + 2), "val_accuracy": 1 - 1 / (epoch + 1),
                                         "lr": 1e-3}))
    # ... and 10,000 points in the metric plot: its epoch curves hold a long history too.
    for name in ("train_accuracy", "val_accuracy"):
        series = history.epoch[name]
        xs = np.linspace(1.0, float(REPAINT_POINTS // batches), REPAINT_POINTS)
        series.clear()
        series.extend(xs, 1 - 1 / (xs + 1))
    plots.refresh(force=True)
    for _ in range(3):
        plots.graphics.grab()
        app.processEvents()
    timings, cpu = [], []
    epoch = REPAINT_POINTS // batches + 1
    for index in range(REPAINTS):
        plots.add_batch(BatchEnd(epoch, index + 1, 0, 0.01, 1e-3, 1000.0, 1000))
        started, started_cpu = time.perf_counter(), time.thread_time()
        plots.refresh(force=True)
        refreshed, refreshed_cpu = time.perf_counter() - started, time.thread_time() - started_cpu
        painted, painted_cpu = plots.graphics.paint_total, plots.graphics.paint_cpu_total
        # The repaint Qt schedules for the change (only what changed is exposed, as in the app); a full render
        # when none came (the figure then errs on the slow side).
        for _ in range(3):
            app.processEvents()
            if plots.graphics.paint_total != painted:
                break
        else:
            plots.graphics.grab()
        timings.append(refreshed + plots.graphics.paint_total - painted)
        cpu.append(refreshed_cpu + plots.graphics.paint_cpu_total - painted_cpu)
    points = {name: plots.point_count(name, curve) for name, curve in
              (("loss", "batch_smooth"), ("metric", "val_accuracy"), ("lr", "lr"))}
    plots.close()
    plots.deleteLater()
    app.processEvents()
    return {"plot_repaint_ms": round(statistics.median(timings) * 1000, 2),
            "plot_repaint_max_ms": round(max(timings) * 1000, 2),
            # The GUI thread's CPU time for the same redraws: what they cost, whatever else the cores run.
            "plot_repaint_cpu_ms": round(statistics.median(cpu) * 1000, 2),
            "plot_repaint_points": float(min(points.values()))}


def measure_staleness(window, ui, app) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Epoch end to its point on screen, while a CPU-bound process competes for the cores."""
    from PySide6.QtCore import QEvent, QEventLoop, QObject

    from netbuilder.train import EpochEnd

    ended: dict[int, float] = {}
    paints: list[tuple[float, float]] = []  # (end of a paint, the last epoch it drew)
    plots = ui.plots
    handle = ui._handle

    def record(envelope):  # type: ignore[no-untyped-def]
        if isinstance(envelope.event, EpochEnd):
            ended.setdefault(envelope.event.epoch, envelope.time)
        handle(envelope)

    class PaintWatch(QObject):
        """Paints the plots itself when asked to, so that it knows when each paint has ended."""

        def eventFilter(self, watched, event):  # type: ignore[no-untyped-def]  # noqa: N802 (Qt override)
            if event.type() != QEvent.Type.Paint:
                return False
            entry = plots.loss.curves.get("val_loss")
            data = entry[0].xData if entry is not None else None
            shown = float(data[-1]) if data is not None and len(data) else 0.0
            plots.graphics.viewportEvent(event)
            paints.append((time.perf_counter(), shown))
            return True

    watch = PaintWatch()
    viewport = plots.graphics.viewport()
    viewport.installEventFilter(watch)
    ui._handle = record
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        ui._raise("plots")
        loop = QEventLoop()
        ui.runFinished.connect(loop.quit)
        assert ui.start(), ui.train_panel.message_banner.message()
        loop.exec()
        ui.runFinished.disconnect(loop.quit)
        for _ in range(3):
            app.processEvents()
            time.sleep(0.01)
    finally:
        hog.kill()
        hog.wait()
        viewport.removeEventFilter(watch)
        del ui._handle
    gaps = []
    for epoch, when in sorted(ended.items()):
        drawn = next((end for end, shown in paints if end >= when and shown >= epoch), None)
        gaps.append(float("inf") if drawn is None else drawn - when)
    return {"plot_staleness_max_ms": round(max(gaps) * 1000, 1) if gaps else float("nan"),
            "plot_staleness_median_ms": round(statistics.median(gaps) * 1000, 1) if gaps else float("nan"),
            "plot_staleness_epochs": float(len(gaps))}


def measure(only_plots: bool = False) -> dict[str, float]:
    # netbuilder_ui.training splits PyTorch's threads on import (see training._guard), before any Qt call.
    from PySide6.QtCore import QEventLoop, QObject, QSettings, Qt, QTimer, Signal, Slot
    from PySide6.QtWidgets import QApplication

    from netbuilder.document import SetSetting
    from netbuilder.io import save_document
    from netbuilder.train import Done, RunStarted, TrainConfig, Trainer
    from netbuilder_ui.main_window import MainWindow
    from netbuilder_ui.training._guard import training_threads
    from netbuilder_ui.training.worker import copy_document

    app = QApplication.instance() or QApplication([])

    class Alone(QObject):
        """The Trainer alone on the GUI's training thread: events are consumed and dropped, as the CLI does."""

        kick = Signal()
        done = Signal()

        def __init__(self, document, config, run_root):  # type: ignore[no-untyped-def]
            super().__init__()
            self.document, self.config, self.run_root = document, config, run_root
            self.throughput = 0.0

        @Slot()
        def run(self) -> None:
            import torch

            torch.set_num_threads(training_threads())
            started, samples = 0.0, 0
            for event in Trainer(self.document, self.config, run_root=self.run_root).events():
                if isinstance(event, RunStarted):
                    started, samples = time.perf_counter(), event.total_batches * self.config.batch_size
                elif isinstance(event, Done):
                    self.throughput = samples / (time.perf_counter() - started)
            self.done.emit()

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        settings = QSettings(str(root / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(settings=settings, recovery_dir=root / "recovery", autosave_interval_ms=3_600_000,
                            run_root=root / "gui-runs")
        window.resize(1400, 900)
        window.show()
        window.open_template("mlp", ask=False)
        ui = window.training_ui
        while ui.data_panel.is_loading():
            app.processEvents()
            time.sleep(0.005)
        doc = window.qt_doc

        def set_epochs(epochs: int) -> None:
            training = dict(doc.document.settings["training"], epochs=epochs)
            doc.execute(SetSetting("training", training))

        lateness: list[float] = []

        def gui_run(heartbeat_on: bool) -> float:
            loop = QEventLoop()
            ui.runFinished.connect(loop.quit)
            heartbeat = QTimer()
            heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
            heartbeat.setInterval(HEARTBEAT_MS)
            last = [time.perf_counter()]

            def beat() -> None:
                now = time.perf_counter()
                lateness.append(max(0.0, (now - last[0]) * 1000.0 - HEARTBEAT_MS))
                last[0] = now

            heartbeat.timeout.connect(beat)
            if heartbeat_on:
                heartbeat.start()
                last[0] = time.perf_counter()
            assert ui.start(), ui.train_panel.message_banner.message()
            loop.exec()
            heartbeat.stop()
            ui.runFinished.disconnect(loop.quit)
            assert ui.last_outcome == "done", ui.train_panel.message_banner.message()
            state = ui._state
            samples = state.total_batches * ui.session.config.batch_size
            return samples / (state.finished - state.begun)

        def alone_run() -> float:
            config = TrainConfig.from_settings(doc.document.settings)
            worker = Alone(copy_document(doc.document), config, str(root / "alone-runs"))
            ui.training_thread.ensure_running()
            worker.moveToThread(ui.training_thread)
            worker.kick.connect(worker.run, Qt.ConnectionType.QueuedConnection)
            loop = QEventLoop()
            worker.done.connect(loop.quit, Qt.ConnectionType.QueuedConnection)
            worker.kick.emit()
            loop.exec()
            worker.deleteLater()
            return worker.throughput

        set_epochs(5)  # warm-up: imports, first allocations, the training thread's start
        gui_run(heartbeat_on=False)
        set_epochs(STALENESS_EPOCHS)
        staleness = measure_staleness(window, ui, app)
        if only_plots:
            ui.shutdown()
            doc.undo_stack.setClean()
            window.close()
            app.processEvents()
            return {**measure_repaint(), **staleness}
        alone_run()
        set_epochs(EPOCHS)
        stall_gui = [gui_run(heartbeat_on=True) for _ in range(STALL_ROUNDS)]
        gui, alone = [], []
        for _ in range(ROUNDS):
            alone.append(alone_run())
            gui.append(gui_run(heartbeat_on=False))
        points = ui.plots.point_count("loss", "batch_smooth")
        document_file = root / "mlp.nbg"
        save_document(doc.document, document_file)
        process = [_process_throughput(document_file, root / "cli-runs") for _ in range(PROCESS_ROUNDS)]
        ui.shutdown()
        doc.undo_stack.setClean()
        window.close()
        app.processEvents()

    ordered = sorted(lateness)
    p99 = ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))] if ordered else float("nan")
    return {
        "gui_stall_p99_ms": round(p99, 2),
        "gui_stall_max_ms": round(max(ordered) if ordered else float("nan"), 2),
        "gui_stall_median_ms": round(statistics.median(ordered), 2) if ordered else float("nan"),
        "gui_heartbeats": float(len(ordered)),
        "gui_training_samples_per_s": round(_best(gui), 1),
        "gui_training_with_heartbeat_samples_per_s": round(_best(stall_gui), 1),
        "cli_training_samples_per_s": round(_best(alone), 1),
        "gui_vs_cli_throughput_ratio": round(_best(gui) / _best(alone), 3),
        "gui_vs_cli_ratio_median_pair": round(statistics.median(g / a for g, a in zip(gui, alone, strict=True)), 3),
        "cli_process_samples_per_s": round(_best(process), 1),
        "gui_vs_cli_process_ratio": round(_best(gui) / _best(process), 3),
        "training_threads": float(training_threads()),
        "gui_training_curve_points": float(points),
        **staleness,
        **measure_repaint(),
    }


BENCHMARKS = {"gui_training": bench_gui_training}


if __name__ == "__main__":
    # --plots: only the curve figures (a minute instead of many), for working on the Plots panel.
    print(json.dumps(measure(only_plots="--plots" in sys.argv), indent=2))
