"""Experiments: Optuna sweeps whose trials are run folders (pruning included), the search-space syntax over every
sweepable setting and layer parameter, run comparison (settings diff, CSV), two processes sharing one study, and
the learning-rate range test."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netbuilder.cli import main
from netbuilder.experiments import compare
from netbuilder.experiments.lr_find import LRFindError, lr_find, suggest
from netbuilder.experiments.space import (
    SWEEPABLE_PARAM_KINDS,
    SpaceError,
    apply,
    parse_dimension,
    parse_space,
)
from netbuilder.experiments.sweep import Sweep, SweepOptions, best_so_far, importances, trial_rows
from netbuilder.io import load_document, save_document
from netbuilder.specs.base import ParamKind
from netbuilder.templates import load_template
from netbuilder.train import TrainConfig, load_run, schema

EPOCHS = 3


def _mlp(epochs: int = EPOCHS) -> object:
    doc = load_template("mlp")
    doc.settings["training"]["epochs"] = epochs
    return doc


@pytest.fixture(scope="module")
def sweep_result(tmp_path_factory: pytest.TempPathFactory):
    """Four short trials on the mlp template. A learning rate of 2e-5 barely moves in three epochs, so with the
    pruner allowed to act after one complete trial, such a trial is stopped after its first epoch."""
    folder = tmp_path_factory.mktemp("sweep")
    doc = _mlp()
    doc.settings["data"]["per_class"] = 60  # 600 training samples: a trial takes a fraction of a second
    dims = parse_space(["lr=0.00002,0.01", "hidden1.units=16..64"], doc)
    events: list[object] = []
    sweep = Sweep(doc, dims, folder, SweepOptions(trials=4, startup_trials=1, seed=0), on_event=events.append)
    return sweep, sweep.run(), events


def test_a_sweep_of_four_trials_prunes_one_and_keeps_every_trial_as_a_run_folder(sweep_result) -> None:
    sweep, result, events = sweep_result
    states = [t["state"] for t in result.trials]
    assert len(states) == 4 and states[0] == "complete"
    assert "pruned" in states, states
    for row in result.trials:
        run = load_run(row["run_dir"])  # an ordinary run folder
        assert run.summary["trial"] == row["number"]
        assert run.summary["params"] == row["params"]
        if row["state"] == "pruned":
            assert run.status == "pruned" and run.finished
            assert run.summary["pruned_at_epoch"] < EPOCHS == run.config.epochs
            assert len(run.metrics) == run.summary["pruned_at_epoch"]
            assert run.weights("final")  # pruned, not broken: its weights were written
        else:
            assert run.status == "done" and len(run.metrics) == EPOCHS
    pruned = [e for e in events if type(e).__name__ == "TrialEnded" and e.state == "pruned"]
    assert pruned and all(e.epochs < EPOCHS for e in pruned)


def test_the_best_trial_is_written_as_a_network_with_its_values(sweep_result) -> None:
    sweep, result, _ = sweep_result
    best = result.best
    complete = [t for t in result.trials if t["state"] == "complete"]
    assert best["value"] == min(t["value"] for t in complete)
    doc = load_document(result.best_document)
    assert doc.network().find("hidden1").params["units"] == best["params"]["hidden1.units"]
    assert TrainConfig.from_settings(doc.settings).lr == best["params"]["lr"]
    curve = best_so_far(result.trials, "minimize")
    assert [value for _n, value in curve] == sorted((value for _n, value in curve), reverse=True)
    assert curve[-1][1] == best["value"]
    assert json.loads((result.folder / "sweep.json").read_text())["space"] == ["lr=2e-05,0.01",
                                                                               "hidden1.units=16..64"]


def test_trials_that_change_layers_still_name_the_graph_their_sweep_started_from(sweep_result) -> None:
    from netbuilder.experiments.sweep import sweep_graph_hash
    from netbuilder.train import graph_hash, list_runs

    sweep, result, _ = sweep_result
    started_from = graph_hash(sweep.document)
    trials = list_runs(result.folder)
    assert len({run.graph_sha256 for run in trials}) > 1  # hidden1.units differs: the trials trained other graphs
    assert all(sweep_graph_hash(run.path) == started_from for run in trials)
    assert sweep_graph_hash(result.folder) == ""  # not a trial: no sweep.json beside it


def test_importances_need_two_complete_trials(sweep_result) -> None:
    sweep, result, _ = sweep_result
    values = importances(sweep.study)
    if result.count("complete") >= 2:
        assert set(values) <= {"lr", "hidden1.units"} and values
        assert abs(sum(values.values()) - 1.0) < 1e-6
    else:
        assert values == {}


# ---- comparison -------------------------------------------------------------------------------------------------


def test_comparison_shows_only_the_settings_that_differ(sweep_result) -> None:
    _sweep, result, _ = sweep_result
    rows = compare.load_runs([t["run_dir"] for t in result.trials])
    assert compare.differing_keys(rows) == ["hidden1.units", "training.lr"]
    same = [r for r in rows if r.settings["training.lr"] == rows[0].settings["training.lr"]
            and r.settings["hidden1.units"] == rows[0].settings["hidden1.units"]]
    assert compare.differing_keys(same[:1] * 2) == []
    assert compare.label(rows[0], ["hidden1.units", "training.lr"]) == \
        f"hidden1.units={rows[0].settings['hidden1.units']} lr={compare.format_value(rows[0].settings['training.lr'])}"
    header, body = compare.table(rows)
    assert header[:5] == ["run", "date", "network", "hidden1.units", "training.lr"]
    assert [line[header.index("status")] for line in body] == [t["state"].replace("complete", "done")
                                                                for t in result.trials]
    assert all(line[header.index("duration s")] >= 0 for line in body)
    assert all(line[header.index("best metric")] == "val_loss" for line in body)


def test_runs_compare_prints_the_diff_and_csv_export(sweep_result, tmp_path: Path, capsys) -> None:
    _sweep, result, _ = sweep_result
    first, second = result.trials[0], result.trials[1]
    code = main(["runs", str(result.folder), "--compare", Path(first["run_dir"]).name,
                 Path(second["run_dir"]).name])
    out = capsys.readouterr().out
    assert code == 0
    assert "settings that differ" in out and "training.lr" in out and "hidden1.units" in out
    assert "training.epochs" not in out  # the same in both
    assert f"{first['params']['lr']:.4g}" in out and f"{second['params']['lr']:.4g}" in out
    target = tmp_path / "runs.csv"
    assert main(["runs", str(result.folder), "--csv", str(target)]) == 0
    table = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [float(r["training.lr"]) for r in table] == [t["params"]["lr"] for t in result.trials]
    assert [r["status"] for r in table].count("pruned") == result.count("pruned")


def test_runs_compare_names_a_missing_run(tmp_path: Path, capsys) -> None:
    code = main(["runs", str(tmp_path), "--compare", "nope-a", "nope-b"])
    assert code == 2 and "nope-a" in capsys.readouterr().err


# ---- the search space -------------------------------------------------------------------------------------------


def _two_values(entry: schema.Setting) -> list[str]:
    if entry.type == "choice":
        return list(entry.choices[:2])
    if entry.type == "bool":
        return ["true", "false"]
    low = entry.low if entry.low is not None else 0
    if entry.type == "int":
        return [str(int(low) + 1), str(int(low) + 2)]
    return [str(low + 0.25), str(low + 0.5)] if entry.high is None or entry.high >= low + 0.5 else \
        [str(low + (entry.high - low) / 4), str(low + (entry.high - low) / 2)]


SWEEPABLE = [s for s in schema.SETTINGS if s.type in ("int", "float", "choice", "bool")]


@pytest.mark.parametrize("entry", SWEEPABLE, ids=lambda s: s.id)
def test_every_sweepable_setting_can_be_swept_and_reaches_the_config(entry: schema.Setting) -> None:
    doc = _mlp()
    name = entry.key if entry.section == "training" else entry.id
    dim = parse_dimension(f"{name}={','.join(_two_values(entry))}", doc)
    assert dim.setting == entry.id and dim.kind == "choice"
    for value in dim.choices:
        config = TrainConfig.from_settings(apply(doc, [dim], {name: value}).settings)
        assert config.get(entry.id) == value


def test_every_number_parameter_of_every_layer_of_the_template_can_be_swept() -> None:
    doc = _mlp()
    swept = 0
    for node in doc.network().nodes:
        for param in node.spec.params:
            if param.kind not in SWEEPABLE_PARAM_KINDS:
                continue
            if param.kind is ParamKind.INT:
                spec, value = f"{node.name}.{param.name}=8..16", 12
            elif param.kind is ParamKind.FLOAT:
                spec, value = f"{node.name}.{param.name}=0.1..0.5", 0.3
            elif param.kind is ParamKind.BOOL:
                spec, value = f"{node.name}.{param.name}=true,false", False
            else:
                spec, value = f"{node.name}.{param.name}={','.join(map(str, param.choices[:2]))}", param.choices[1]
            dim = parse_dimension(spec, doc)
            changed = apply(doc, [dim], {dim.name: value})
            assert changed.network().find(node.name).params[param.name] == value
            assert doc.network().find(node.name).params[param.name] != value or param.kind is ParamKind.CHOICE
            swept += 1
    assert swept >= 5  # units and bias of three Linear layers, the dropout rate


@pytest.mark.parametrize("text, named", [
    ("lr", "'lr'"), ("lrr=1e-4..1e-2", "did you mean 'lr'"), ("hidden1.unitz=8..16", "did you mean 'units'"),
    ("hidden1.units=64..8", "below the high end"), ("lr=0..1:log", "settings.training.lr"),
    ("lr=1e-4..1e-1:lg", "unknown scale 'lg'"), ("optimizer=1..2", "list its choices"),
    ("batch_size=32", "at least two choices"), ("optimizer=adam,adma", "did you mean 'adam'"),
    ("hidden1=8..16", "name one of its parameters"), ("pixels.shape=1..2", "cannot be swept"),
    ("losses=a,b", "only numbers, choices"), ("batch_size=32,32", "given twice"), ("nowhere/hidden1.units=1..2", "no network"),
])
def test_bad_params_get_an_error_naming_them(text: str, named: str) -> None:
    with pytest.raises(SpaceError) as caught:
        parse_space([text], _mlp())
    assert named in str(caught.value)
    assert text.partition("=")[0] in str(caught.value)


def test_the_sweep_command_reports_a_bad_param_in_one_line(tmp_path: Path, capsys) -> None:
    file = tmp_path / "mlp.nbg"
    save_document(_mlp(), file)
    code = main(["sweep", str(file), "--param", "hidden1.unitz=8..16", "--out", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "hidden1.unitz" in err and "Traceback" not in err
    code = main(["sweep", str(file), "--out", str(tmp_path / "s")])
    assert code == 2 and "--param" in capsys.readouterr().err


# ---- two processes, one study -------------------------------------------------------------------------------------


def test_two_processes_share_one_sqlite_study(tmp_path: Path) -> None:
    import optuna

    file = tmp_path / "mlp.nbg"
    save_document(_mlp(epochs=1), file)
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    command = [sys.executable, "-m", "netbuilder", "sweep", str(file), "--param", "lr=1e-3..1e-2:log",
               "--trials", "2", "--storage", storage, "--study", "shared", "--pruner", "none", "--json",
               "--set", "data.per_class=30", "--set", "training.threads=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    processes = [subprocess.Popen([*command, "--out", str(tmp_path / f"machine-{i}")], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for i in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):  # noqa: B007 - out read below
        assert process.returncode == 0, err + out
    study = optuna.load_study(study_name="shared", storage=storage)
    trials = study.get_trials()
    assert sorted(t.number for t in trials) == [0, 1, 2, 3]
    assert all(t.state.name == "COMPLETE" for t in trials)
    folders = {Path(t.user_attrs["run_dir"]).parent.name for t in trials}
    assert folders == {"machine-0", "machine-1"}  # both processes ran trials of the one study
    for trial in trials:
        assert load_run(trial.user_attrs["run_dir"]).summary["trial"] == trial.number
    done = [json.loads(line) for out, _ in outputs for line in out.splitlines() if '"done"' in line]
    assert len(done) == 2 and all(d["complete"] >= 2 for d in done)
    assert len(trial_rows(study)) == 4


# ---- learning-rate finder ---------------------------------------------------------------------------------------


def test_lr_find_suggests_a_sensible_rate_for_the_mlp(tmp_path: Path, capsys) -> None:
    result = lr_find(_mlp())
    assert 1e-4 <= result.suggestion <= 1e-1, result.suggestion
    assert result.suggestion < result.min_loss_lr and result.diverged
    assert len(result.lrs) == len(result.losses) and result.lrs == sorted(result.lrs)
    file = tmp_path / "mlp.nbg"
    save_document(_mlp(), file)
    plot = tmp_path / "lr.png"
    code = main(["lr-find", str(file), "-o", str(plot), "--steps", "60", "--start", "1e-6"])
    out = capsys.readouterr().out
    assert code == 0 and "Suggested learning rate" in out and plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["lr-find", str(file), "-o", str(tmp_path / "lr.txt")]) == 2


def test_lr_suggestion_refuses_a_loss_that_never_falls() -> None:
    lrs = [10 ** (-6 + i / 10) for i in range(40)]
    assert suggest(lrs, [5.0 - 0.1 * i if i < 20 else 3.0 + (i - 20) for i in range(40)])[0] < lrs[20]
    with pytest.raises(LRFindError, match="did not fall"):
        suggest(lrs, [1.0 + i for i in range(40)])


def test_a_metric_the_run_does_not_report_ends_the_sweep_with_one_line(tmp_path: Path, capsys) -> None:
    doc = _mlp(epochs=1)
    doc.settings["data"]["per_class"] = 20
    file = tmp_path / "mlp.nbg"
    save_document(doc, file)
    code = main(["sweep", str(file), "--param", "lr=1e-3..1e-2", "--metric", "val_nothing", "--trials", "3",
                 "--out", str(tmp_path / "s")])
    out, err = capsys.readouterr()
    assert code == 2 and "does not report 'val_nothing'" in err and "val_accuracy" in err
    assert "Traceback" not in err + out
    assert out.count("failed:") == 1  # the sweep stopped at the first trial instead of failing all three
