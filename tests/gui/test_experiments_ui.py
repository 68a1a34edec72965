"""The app's experiment views: the Runs view (sortable table of the settings that differ, overlaid curves with a
legend naming them, CSV export), the Sweep panel (space, live trials, best-so-far and importance, open best) and
the learning-rate finder (curve, Apply as one undoable change)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from netbuilder.templates import load_template
from netbuilder.train import TrainConfig, Trainer, list_runs

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def shot(widget, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        QApplication.processEvents()
        widget.grab()
    path = ARTIFACTS / name
    assert widget.grab().save(str(path))
    return path


def _mlp(epochs: int = 2):
    doc = load_template("mlp")
    doc.settings["training"]["epochs"] = epochs
    doc.settings["data"]["per_class"] = 60  # 600 training samples: runs of a fraction of a second
    return doc


@pytest.fixture(scope="module")
def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three runs of the mlp: two learning rates, and one with a wider first layer."""
    root = tmp_path_factory.mktemp("runs")
    for lr, units in ((0.001, 128), (0.01, 128), (0.01, 64)):
        doc = _mlp(epochs=3)
        doc.network().set_param("hidden1", "units", units)
        config = TrainConfig.from_settings(doc.settings).replace(lr=lr)
        assert Trainer(doc, config, run_root=root).run().kind == "done"
    return root


def test_runs_view_shows_what_differs_overlays_curves_and_exports_csv(qtbot, run_root: Path, tmp_path) -> None:
    from netbuilder_ui.training.results import RunsView

    view = RunsView()
    qtbot.addWidget(view)
    view.resize(1000, 620)
    view.show()
    view.set_runs(list_runs(run_root), "", str(run_root))
    titles = [view.table.horizontalHeaderItem(c).text() for c in range(view.table.columnCount())]
    assert titles[:5] == ["Run", "Date", "Network", "hidden1.units", "lr"]
    assert "epochs" not in titles and "batch_size" not in titles  # the same in every run
    assert len(view.run_names()) == 3

    # Sorting by the learning rate puts 0.001 first, then the two 0.01 runs.
    view.table.sortItems(titles.index("lr"), Qt.SortOrder.AscendingOrder)
    lrs = [view.table.item(r, titles.index("lr")).text() for r in range(3)]
    assert lrs == ["0.001", "0.01", "0.01"]

    view.select_runs(view.run_names())
    assert sorted(view.curve_labels) == ["hidden1.units=128 lr=0.001", "hidden1.units=128 lr=0.01",
                                         "hidden1.units=64 lr=0.01"]
    assert view.metric_box.currentText() == "val_loss"
    assert "settings that differ" in view.details.toPlainText()
    view.metric_box.setCurrentText("val_accuracy")
    assert len(view.curve_labels) == 3
    two = view.run_names()[:2]
    view.select_runs(two)
    assert len(view.curve_labels) == 2 and all("lr=" in label for label in view.curve_labels)
    view.metric_box.setCurrentText("val_loss")
    view.select_runs(view.run_names())
    shot(view, "runs-view.png")

    target = tmp_path / "runs.csv"
    view.export_csv(str(target))
    rows = list(csv.DictReader(target.open(encoding="utf-8")))
    assert len(rows) == 3 and {r["training.lr"] for r in rows} == {"0.001", "0.01"}
    assert all(float(r["final val_loss"]) > 0 for r in rows)

    view.only_this.setChecked(True)
    view.set_runs(list_runs(run_root), "no-such-hash", str(run_root))
    assert view.run_names() == []


def test_only_this_network_keeps_the_trials_of_sweeps_started_from_it(qtbot, run_root: Path, tmp_path) -> None:
    """A trial that changes a layer parameter trains another graph; it is still a run of the user's network."""
    import json
    import shutil

    from netbuilder_ui.training.results.runs import RunsView

    runs = list_runs(run_root)
    this_network = runs[0].graph_sha256
    for sweep_name, started_from in (("sweep-of-this", this_network), ("sweep-of-another", "f" * 64)):
        folder = tmp_path / sweep_name
        folder.mkdir()
        (folder / "sweep.json").write_text(json.dumps({"graph_sha256": started_from}), encoding="utf-8")
        trial = folder / "trial-0000"
        shutil.copytree(runs[2].path, trial)  # hidden1.units=64: a graph other than runs[0]'s
    trials = [run for sweep_name in ("sweep-of-this", "sweep-of-another")
              for run in list_runs(tmp_path / sweep_name)]
    assert all(trial.graph_sha256 != this_network for trial in trials)
    view = RunsView()
    qtbot.addWidget(view)
    view.only_this.setChecked(True)
    view.set_runs([*runs, *trials], this_network, str(run_root))
    shown = {str(row.run.path) for row in view.rows}
    assert str(tmp_path / "sweep-of-this" / "trial-0000") in shown
    assert str(tmp_path / "sweep-of-another" / "trial-0000") not in shown
    assert str(runs[2].path) not in shown  # an ordinary run of another graph stays hidden


def test_sweep_panel_runs_trials_live_prunes_and_opens_the_best(qtbot, tmp_path: Path) -> None:
    from netbuilder_ui.training.sweep_panel import SweepPanel

    doc = _mlp(epochs=3)
    doc.path = None
    panel = SweepPanel(lambda: doc, lambda: tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.show()
    assert panel.space_texts() == ["lr=1e-4..1e-1:log", "batch_size=32,64,128"]
    assert panel.epochs.value() == 3

    panel.set_space(["lr=0.00002,0.01", "hidden1.unitz=16..64"])
    assert not panel.start()
    assert "hidden1.unitz" in panel.status.text() and "units" in panel.status.text()

    panel.set_space(["lr=0.00002,0.01", "hidden1.units=16..64"])
    panel.trials.setValue(4)
    assert panel.start()
    assert panel.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    assert panel.wait(120)
    qtbot.waitUntil(lambda: panel.start_button.isEnabled(), timeout=10_000)
    states = [panel.table.item(r, 1).text() for r in range(panel.table.rowCount())]
    assert len(states) == 4 and "pruned" in states and "complete" in states, states
    assert panel.progress.value() == 4
    assert panel.best_curve() and panel.sweep_result is not None and panel.sweep_result.best is not None
    assert "Best: trial" in panel.status.text()
    opened: list[str] = []
    panel.openRequested.connect(opened.append)
    assert panel.open_best_button.isEnabled()
    panel.open_best()
    assert opened and Path(opened[0]).name == "best.nbg" and Path(opened[0]).is_file()
    # Every trial is a run folder inside the sweep folder under the run root.
    sweep_folder = Path(opened[0]).parent
    assert sweep_folder.parent == tmp_path / "runs"
    assert len(list_runs(sweep_folder)) == 4
    panel.resize(1000, 640)
    shot(panel, "sweep-panel.png")


def test_sweep_panel_cancel_stops_the_sweep(qtbot, tmp_path: Path) -> None:
    from netbuilder_ui.training.sweep_panel import SweepPanel

    doc = _mlp(epochs=50)
    panel = SweepPanel(lambda: doc, lambda: tmp_path / "runs")
    qtbot.addWidget(panel)
    panel.set_space(["lr=0.001,0.01"])
    panel.trials.setValue(10)
    assert panel.start()
    qtbot.waitUntil(lambda: any(row.get("epochs", 0) >= 1 for row in panel.rows.values()), timeout=60_000)
    panel.cancel_button.click()
    assert "Cancelling" in panel.status.text()
    panel.shutdown(60)  # what closing the main window does: cancel and wait for the trial to stop
    assert not panel.running
    qtbot.waitUntil(lambda: panel.start_button.isEnabled(), timeout=10_000)
    assert panel.sweep_result is not None and panel.sweep_result.stopped
    assert len(panel.sweep_result.trials) < 10
    assert all(row["epochs"] < 50 for row in panel.rows.values())


def test_the_lr_finder_shows_the_curve_and_applies_the_rate_undoably(qtbot, tmp_path: Path) -> None:
    from netbuilder_ui.qt_document import QtDocument
    from netbuilder_ui.training.lr_finder import LRFinderDialog

    qt_doc = QtDocument(_mlp())
    applied: list[float] = []

    def apply(lr: float) -> None:
        from netbuilder.document.commands import SetSetting

        applied.append(lr)
        training = dict(qt_doc.document.settings["training"], lr=lr)
        qt_doc.execute(SetSetting("training", training))

    dialog = LRFinderDialog(qt_doc.document, apply)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.start()
    assert dialog.wait(120)
    assert dialog.found is not None and 1e-4 <= dialog.found.suggestion <= 1e-1
    assert dialog.apply_button.isEnabled() and "Apply" in dialog.apply_button.text()
    shot(dialog, "lr-finder.png")
    dialog.apply_button.click()
    assert applied and qt_doc.document.settings["training"]["lr"] == applied[0]
    qt_doc.undo_stack.undo()
    assert qt_doc.document.settings["training"]["lr"] == 0.001


def test_train_menu_and_training_panel_open_the_experiment_tools(main_window, qtbot) -> None:
    from netbuilder_ui.training import install_training_ui

    ui = getattr(main_window, "training_ui", None) or install_training_ui(main_window)
    assert ui.sweep_action.text().replace("&", "") == "Sweep Hyper-parameters…"
    panel = ui.show_sweep()
    assert panel.isVisible() and ui.show_sweep() is panel
    panel.close()
    assert ui.train_panel.lr_find_button.text() == "Find…"
