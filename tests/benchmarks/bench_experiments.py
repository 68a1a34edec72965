"""Experiments: what a sweep adds to its trials' training time (Optuna's storage, the trial bookkeeping), how long
the run comparison takes over many run folders, and how long the learning-rate range test takes on the mlp."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path


def _mlp(epochs: int) -> object:
    from netbuilder.templates import load_template

    doc = load_template("mlp")
    doc.settings["training"]["epochs"] = epochs
    doc.settings["data"]["per_class"] = 60
    return doc


def experiments() -> dict[str, float]:
    from netbuilder.experiments import compare
    from netbuilder.experiments.lr_find import lr_find
    from netbuilder.experiments.space import parse_space
    from netbuilder.experiments.sweep import Sweep, SweepOptions
    from netbuilder.train import Trainer

    figures: dict[str, float] = {}
    trials = 6
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        doc = _mlp(epochs=2)
        Trainer(doc, run_root=root / "warm").run()  # data and first-use costs out of the figures
        started = time.perf_counter()
        for _ in range(trials):
            Trainer(_mlp(epochs=2), run_root=root / "plain").run()
        plain = (time.perf_counter() - started) / trials
        dims = parse_space(["lr=0.001,0.002"], doc)
        Sweep(doc, dims, root / "warm-sweep", SweepOptions(trials=2, pruner="none")).run()  # imports, first use
        started = time.perf_counter()
        sweep = Sweep(doc, dims, root / "sweep", SweepOptions(trials=trials, pruner="none"))
        sweep.open_study()
        figures["open_new_study_s"] = round(time.perf_counter() - started, 3)
        started = time.perf_counter()
        result = sweep.run()
        swept = (time.perf_counter() - started) / trials
        assert result.count("complete") == trials
        figures["sweep_trial_s"] = round(swept, 3)
        figures["plain_run_s"] = round(plain, 3)
        figures["sweep_overhead_ms_per_trial"] = round((swept - plain) * 1000, 1)

        # 200 run folders (copies of the trials with their settings edited) compared in one table.
        source = sorted((root / "sweep").glob("trial-*"))[0]
        many = root / "many"
        for index in range(200):
            target = many / f"run-{index:03d}"
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("checkpoints", "weights"))
            config = json.loads((target / "config.json").read_text())
            config["config"]["lr"] = 10 ** -(1 + index % 4)
            (target / "config.json").write_text(json.dumps(config))
        started = time.perf_counter()
        rows = compare.all_runs(many)
        compare.to_csv(rows)
        figures["compare_200_runs_ms"] = round((time.perf_counter() - started) * 1000, 1)

    lr_find(_mlp(epochs=1), steps=20)  # warm
    started = time.perf_counter()
    found = lr_find(_mlp(epochs=1))
    figures["lr_find_s"] = round(time.perf_counter() - started, 3)
    figures["lr_find_suggestion"] = found.suggestion
    return figures


BENCHMARKS = {"experiments": experiments}
