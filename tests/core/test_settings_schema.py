"""The settings schema drives the file loader, the CLI flags, validate and the docs: every entry, both ways."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from netbuilder import cli_train
from netbuilder.document import Document
from netbuilder.io import load_document, save_document
from netbuilder.templates import load_template
from netbuilder.train import ConfigError, TrainConfig, schema, threads
from netbuilder.train import settings_check as check
from netbuilder.train.dropout import set_dropout
from netbuilder.train.settings_doc import markdown

ROOT = Path(__file__).resolve().parents[2]
ENTRIES = [pytest.param(entry, id=entry.id) for entry in schema.SETTINGS]


def _settings_with(entry: schema.Setting, value: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {"training": {}, "data": {}}
    schema.set_path(settings[entry.section], entry.path, value)
    return settings


def _through_file(settings: dict[str, Any], tmp_path: Path) -> TrainConfig:
    doc = Document()
    doc.settings = settings
    path = tmp_path / "net.nbg"
    save_document(doc, path)
    return TrainConfig.from_settings(load_document(path).settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="netbuilder")
    cli_train.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser


def _flag_args(entry: schema.Setting, value: Any) -> list[str]:
    """How a user types ``value`` on the command line."""
    if entry.type == "bool":
        return [entry.cli_flag if value else "--no-" + entry.cli_flag[2:]]
    if entry.type == "losses":
        return [arg for record in value for arg in (entry.cli_flag, f"{record['output']}={record['loss']}")]
    if entry.type == "mapping":
        return [entry.cli_flag, json.dumps(value)]
    if isinstance(value, list):
        return [entry.cli_flag, ",".join(map(str, value))]
    return [entry.cli_flag, str(value)]


def _through_cli(entry: schema.Setting, args: list[str], tmp_path: Path) -> TrainConfig:
    doc = Document()
    doc.info.title = "t"
    parsed = _parser().parse_args(["train", str(tmp_path / "net.nbg"), *args])
    return cli_train._config(doc, parsed)


# ---- every entry ----------------------------------------------------------------------------------------------


def test_dataclass_defaults_are_the_schema_defaults() -> None:
    config = TrainConfig()
    for entry in schema.SETTINGS:
        assert config.get(entry.id) == entry.default, entry.id
    assert {s.key for s in schema.LOSS_FIELDS} == set(TrainConfig.from_dict(
        {"losses": [{"loss": "mse"}]}).losses[0].__dataclass_fields__)


@pytest.mark.parametrize("entry", ENTRIES)
def test_default_and_example_round_trip_through_file_and_flag(entry: schema.Setting, tmp_path: Path) -> None:
    assert _through_file(_settings_with(entry, entry.default), tmp_path).get(entry.id) == entry.default
    example = entry.example()
    assert example != entry.default
    from_file = _through_file(_settings_with(entry, example), tmp_path)
    expected = check.parse(entry, example)
    assert from_file.get(entry.id) == expected
    again = TrainConfig.from_dict(json.loads(json.dumps(from_file.to_dict())))
    assert again == from_file
    from_flag = _through_cli(entry, _flag_args(entry, example), tmp_path)
    assert from_flag.get(entry.id) == expected
    from_set = _through_cli(entry, ["--set", f"{entry.id}={_flag_args(entry, example)[-1]}"], tmp_path) \
        if entry.type not in ("bool", "losses") else from_flag
    assert from_set.get(entry.id) == expected
    if entry.default is not None and entry.type not in ("bool", "losses"):
        default_flag = _through_cli(entry, _flag_args(entry, entry.default), tmp_path)
        assert default_flag.get(entry.id) == entry.default


_INVALID = {"choice": "zzz", "int": "x", "float": "nan", "bool": "maybe", "names": 5, "ints": ["a"],
            "floats": ["x"], "metrics": ["auc"], "device": "gpu", "mapping": "[1", "text": 5,
            "losses": [{"loss": "hinge"}]}


@pytest.mark.parametrize("entry", ENTRIES)
def test_invalid_value_is_reported_where_it_is(entry: schema.Setting, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        TrainConfig.from_settings(_settings_with(entry, _INVALID[entry.type]))
    assert str(caught.value).startswith(f"settings.{entry.id}"), str(caught.value)
    assert any(where.startswith(f"settings.{entry.id}")
               for where, _ in check.settings_problems(_settings_with(entry, _INVALID[entry.type])))
    if entry.type == "bool":  # --flag/--no-flag cannot be wrong; --set can
        with pytest.raises(cli_train._Usage, match=f"^--set {entry.id}: must be true or false"):
            _through_cli(entry, ["--set", f"{entry.id}=maybe"], tmp_path)
    elif entry.type == "losses":
        with pytest.raises(cli_train._Usage, match=r"^--loss\[0\]\.loss: must be one of .* got 'hinge'"):
            _through_cli(entry, ["--loss", "y=hinge"], tmp_path)
    elif entry.type not in ("text", "names"):  # any text is valid text (and a valid list of names)
        with pytest.raises(cli_train._Usage, match=rf"^{entry.cli_flag}(\[\d\])?: "):
            _through_cli(entry, _flag_args(entry, _INVALID[entry.type]), tmp_path)


def test_out_of_range_numbers_name_the_bound() -> None:
    for entry in schema.SETTINGS:
        if entry.type in ("int", "float") and entry.high is not None:
            with pytest.raises(ConfigError, match=rf"^settings\.{entry.id}: must be at most"):
                check.parse(entry, entry.high * 2 + 1)


def test_every_flag_and_key_is_distinct() -> None:
    flags = [entry.cli_flag for entry in schema.SETTINGS]
    assert len(set(flags)) == len(flags)
    assert len({entry.id for entry in schema.SETTINGS}) == len(schema.SETTINGS)
    assert {entry.group for entry in schema.SETTINGS} <= set(schema.GROUPS)


def test_docs_page_is_current() -> None:
    written = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert written == markdown(), "docs/settings.md is out of date: netbuilder settings --markdown > it"
    for entry in schema.SETTINGS:
        assert f"`{entry.key}`" in written and f"`{entry.cli_flag}`" in written


# ---- the CLI ------------------------------------------------------------------------------------------------


def test_loss_flag_sets_every_output_or_one_and_keeps_other_fields(tmp_path: Path) -> None:
    doc = load_template("mlp")
    doc.settings["training"]["losses"] = [{"output": "y", "loss": "cross_entropy", "label_smoothing": 0.1}]
    args = _parser().parse_args(["train", "x.nbg", "--loss", "nll"])
    config = cli_train._config(doc, args)
    assert [(c.output, c.loss, c.label_smoothing) for c in config.losses] == [("y", "nll", 0.1), ("", "nll", 0.0)]
    args = _parser().parse_args(["train", "x.nbg", "--loss", "z=mse"])
    config = cli_train._config(doc, args)
    assert [(c.output, c.loss) for c in config.losses] == [("y", "cross_entropy"), ("z", "mse")]


def test_set_replaces_the_loss_list_with_every_field() -> None:
    records = [{"output": "y", "loss": "cross_entropy", "label_smoothing": 0.2}]
    args = _parser().parse_args(["train", "x.nbg", "--set", f"training.losses={json.dumps(records)}"])
    config = cli_train._config(load_template("mlp"), args)
    assert [(c.output, c.loss, c.label_smoothing) for c in config.losses] == [("y", "cross_entropy", 0.2)]


def test_unknown_set_key_gets_a_suggestion() -> None:
    args = _parser().parse_args(["train", "x.nbg", "--set", "training.weight_decy=0.1"])
    with pytest.raises(cli_train._Usage, match="did you mean 'training.weight_decay'"):
        cli_train._config(Document(), args)


def _write_csv(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    header = "label," + ",".join(f"p{i}" for i in range(x.shape[1]))
    lines = [header] + [f"{int(label)}," + ",".join(f"{v:g}" for v in row) for row, label in zip(x, y, strict=True)]
    path.write_text("\n".join(lines) + "\n")


def test_data_flag_keeps_the_files_data_options_and_class_filter(tmp_path: Path, capsys) -> None:
    from netbuilder.data import load_data

    digits = load_data("digits")
    x, y = digits.x[:400].reshape(400, -1).numpy(), digits.y[:400].numpy()
    _write_csv(tmp_path / "first.csv", x[:200], y[:200])
    _write_csv(tmp_path / "second.csv", x[200:], y[200:])  # the label is the FIRST column: target=label needed
    doc = load_template("mlp")
    doc.settings["data"] = {"path": str(tmp_path / "first.csv"), "format": "csv", "target": "label",
                            "classes": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "val_fraction": 0.25}
    net_path = tmp_path / "net.nbg"
    save_document(doc, net_path)
    args = _parser().parse_args(["train", str(net_path), "--data", str(tmp_path / "second.csv")])
    config = cli_train._config(load_document(net_path), args)
    assert config.data.source == str(tmp_path / "second.csv")
    assert config.data.options == {"target": "label"}
    assert config.data.classes == list(range(10)) and config.data.val_fraction == 0.25
    code = cli_train.main(["train", str(net_path), "--data", str(tmp_path / "second.csv"), "--epochs", "3",
                           "--lr", "0.01", "--threads", "1", "--runs", str(tmp_path / "runs"), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0, lines[-1]
    assert lines[-1]["event"] == "done" and lines[-1]["metrics"]["val_accuracy"] > 0.3  # chance: 0.1
    record = json.loads((Path(lines[-1]["run_dir"]) / "config.json").read_text())
    assert record["config"]["data"]["options"] == {"target": "label"}
    assert record["data"]["num_classes"] == 10 and record["data"]["source"].endswith("second.csv")
    assert torch.get_num_threads() == 1


def test_validate_reports_misspelt_settings_and_data_options(tmp_path: Path, capsys) -> None:
    from netbuilder.cli import main

    doc = load_template("mlp")
    doc.settings["data"] = {"path": "table.csv", "targt": "label"}
    doc.settings["training"]["optimzer"] = "sgd"
    save_document(doc, tmp_path / "bad.nbg")
    assert main(["validate", str(tmp_path / "bad.nbg")]) == 1
    out = capsys.readouterr().out
    assert "settings.data.targt: unknown option for csv data — did you mean 'target'?" in out
    assert "settings.training.optimzer: unknown training setting — did you mean 'optimizer'?" in out
    assert main(["validate", str(tmp_path / "bad.nbg"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert {item["location"] for item in report["settings"]} == {"settings.data.targt", "settings.training.optimzer"}


def test_templates_have_valid_settings() -> None:
    from netbuilder.templates import list_templates

    for template in list_templates():
        assert check.settings_problems(load_template(template.id).settings) == [], template.id


# ---- threads and dropout ---------------------------------------------------------------------------------------


def test_automatic_threads_stay_within_usable_and_idle_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threads, "usable_cores", lambda: 8)
    monkeypatch.setattr(threads, "physical_cores", lambda: 8)
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0.1: 0)
    assert threads.auto_threads() == 4  # more rarely helps a small network
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0.1: 6)
    assert threads.auto_threads() == 2  # two cores are idle
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_cores", lambda sample_s=0.1: 1)
    assert threads.auto_threads() == 1  # a busy loop beside us on two cores
    before = torch.get_num_threads()
    try:
        assert threads.set_threads(64) == 2  # capped at the usable cores
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_real_core_counts_are_sane() -> None:
    assert 1 <= threads.usable_cores() <= (torch.get_num_threads() + 1024)
    assert threads.physical_cores() >= 1
    assert 0 <= threads.busy_cores(0.01) <= threads.usable_cores() + 1
    assert 1 <= threads.auto_threads() <= min(threads.MAX_AUTO_THREADS, threads.usable_cores())


def test_dropout_setting_sets_every_dropout_layer() -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.1), torch.nn.Dropout2d(0.3))
    assert set_dropout([model], 0.5) == 2
    assert [m.p for m in model if isinstance(m, torch.nn.modules.dropout._DropoutNd)] == [0.5, 0.5]
