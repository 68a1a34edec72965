"""``netbuilder train --data``: another file of the same kind keeps the document's data options (the target column
above all), so the flag never silently trains on a different column; another kind of data says what it leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from netbuilder.cli_train import main as cli
from netbuilder.document import Document
from netbuilder.io import save_document


def regression_file(tmp_path: Path) -> Path:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="features", shape=(2,)), net.add("Linear", name="value", units=1),
              net.add("Output", name="out", role="regression"))
    doc.settings["data"] = {"source": "own.csv", "options": {"target": "price"}}
    doc.settings["training"] = {"recipe": "regression", "epochs": 1, "seed": 0, "device": "cpu"}
    file = tmp_path / "doc" / "net.nbg"
    file.parent.mkdir()
    save_document(doc, file)
    return file


def write_csv(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(60, 2))
    price = 1000 + 30 * x[:, 0]  # the target is the FIRST column; the last one is a feature
    path.write_text("price,a,b\n" + "".join(f"{p:.3f},{a:.3f},{b:.3f}\n" for p, (a, b) in zip(price, x, strict=True)))


def test_data_flag_with_a_file_of_the_same_format_keeps_the_target_option(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = regression_file(tmp_path)
    write_csv(file.parent / "own.csv", 0)
    other = tmp_path / "other.csv"
    write_csv(other, 1)
    code = cli(["train", str(file), "--data", str(other), "--runs", str(tmp_path / "runs"), "--json"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0, lines[-1]
    config = json.loads((Path(lines[-1]["run_dir"]) / "config.json").read_text())
    assert config["config"]["data"]["source"] == str(other)
    assert config["config"]["data"]["options"] == {"target": "price"}
    assert config["data"]["feature_names"] == ["a", "b"]  # not price and a, predicting b

    # evaluate --data reads a CSV of the run's format with the run's target too: prices near 1000, not b near 0
    assert cli(["evaluate", str(file), lines[-1]["run_dir"], "--data", str(other), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["samples"] == 60 and result["data_mae"] < 200
