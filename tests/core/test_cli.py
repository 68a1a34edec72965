"""The netbuilder command line: exit codes, JSON output, and plain errors instead of tracebacks."""

import json
from pathlib import Path

import pytest

from netbuilder.cli import main
from netbuilder.facade import save
from netbuilder.templates import NOTES, TEMPLATE_ORDER


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_templates_json_lists_every_template(capsys) -> None:
    code, out, _ = run(capsys, "templates", "--json")
    assert code == 0
    assert [t["id"] for t in json.loads(out)] == list(TEMPLATE_ORDER)


def test_new_then_validate_and_summary(tmp_path: Path, capsys) -> None:
    target = tmp_path / "net.nbg"
    assert run(capsys, "new", "--template", "lenet", "-o", str(target))[0] == 0
    code, _, err = run(capsys, "new", "--template", "lenet", "-o", str(target))
    assert code == 2 and "--force" in err
    code, out, _ = run(capsys, "validate", str(target))
    assert code == 0 and "valid" in out
    code, out, _ = run(capsys, "summary", str(target), "--json")
    report = json.loads(out)
    network = report["networks"][0]
    assert code == 0 and network["total_params"] == 13706
    assert network["nodes"][1] == {"name": "conv1", "type": "Conv2d", "output_shape": ["N", 16, 8, 8],
                                   "params": 160, "macs": 9216, "trainable": True, "in_model": True}


def test_validate_reports_problems_with_exit_1(tmp_path: Path, capsys) -> None:
    target = tmp_path / "bad.nbg"
    main(["new", "-t", "mlp", "-o", str(target)])
    capsys.readouterr()
    data = json.loads(target.read_text())
    for node in data["networks"][0]["nodes"]:
        if node["name"] == "classes":
            node["type"] = "Conv2d"  # a Conv2d cannot take the N×64 features
            node["params"] = {"filters": 10}
    target.write_text(json.dumps(data))
    code, out, _ = run(capsys, "validate", str(target), "--json")
    report = json.loads(out)
    assert code == 1 and not report["valid"]
    assert any(d["node_name"] == "classes" for d in report["diagnostics"])


@pytest.mark.parametrize("content, words", [
    (b"\x00\x01binary", "not"),
    (b'{"format": "something-else"}', "NetBuilder"),
    (b'{"format": "netbuilder", "format_version": 2, "networks": [{"name": "m", "nodes": [{"id": "n1", '
     b'"type": "Dense2000", "name": "a", "params": {}, "position": [0, 0]}], "wires": []}]}', "Dense2000"),
])
def test_broken_files_give_one_plain_error(tmp_path: Path, capsys, content: bytes, words: str) -> None:
    target = tmp_path / "broken.nbg"
    target.write_bytes(content)
    code, out, err = run(capsys, "validate", str(target))
    assert code == 2
    assert words in err and "Traceback" not in err + out


def test_missing_file_and_bad_usage(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "summary", str(tmp_path / "nope.nbg"))
    assert code == 2 and "does not exist" in err
    code, _, err = run(capsys, "new", "-t", "alexnet", "-o", str(tmp_path / "x.nbg"))
    assert code == 2 and "mlp" in err


def test_export_onnx_reports_checker_and_parity(tmp_path: Path, capsys) -> None:
    source = tmp_path / "mlp.nbg"
    main(["new", "-t", "mlp", "-o", str(source)])
    capsys.readouterr()
    code, out, _ = run(capsys, "export", str(source), "--onnx", str(tmp_path / "mlp.onnx"), "--json")
    [result] = json.loads(out)
    assert code == 0 and result["ok"] and result["max_abs_diff"] <= 1e-4
    assert (tmp_path / "mlp.onnx").stat().st_size > 10_000
    code, out, _ = run(capsys, "export", str(source), "--onnx", str(tmp_path / "again.onnx"))
    assert code == 0 and "onnx.checker passed" in out and "max |diff|" in out


def test_folders_and_empty_files_are_named_plainly(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty.nbg").write_bytes(b"")
    for argv, words in [
        (("validate", str(tmp_path)), "is a folder"),
        (("validate", str(tmp_path / "empty.nbg")), "empty"),
        (("new", "-t", "mlp", "-o", str(tmp_path)), "is a folder; give a file name such as"),
        (("export", str(tmp_path / "empty.nbg"), "--onnx", "out.onnx"), "empty"),
    ]:
        code, out, err = run(capsys, *argv)
        assert code == 2 and words in err and "unexpected" not in err, (argv, err)


def test_export_to_a_folder_says_so(tmp_path: Path, capsys) -> None:
    source = tmp_path / "mlp.nbg"
    main(["new", "-t", "mlp", "-o", str(source)])
    capsys.readouterr()
    for option in ("--onnx", "--pytorch"):
        for folder in ("/", str(tmp_path)):
            code, _, err = run(capsys, "export", str(source), option, folder)
            assert code == 2 and "is a folder; give a file name" in err and "unexpected" not in err


def test_a_model_too_large_to_build_fails_validation_with_the_reason(tmp_path: Path, capsys) -> None:
    target = tmp_path / "huge.nbg"
    target.write_text(json.dumps({"format": "netbuilder", "format_version": 2, "networks": [{
        "name": "m",
        "nodes": [{"id": "a", "type": "Input", "params": {"shape": [1_000_000]}},
                  {"id": "b", "type": "Linear", "name": "wide", "params": {"units": 1_000_000}},
                  {"id": "c", "type": "Output"}],
        "wires": [{"from": ["a", "out"], "to": ["b", "in"]}, {"from": ["b", "out"], "to": ["c", "in"]}]}]}))
    code, out, _ = run(capsys, "validate", str(target))
    assert code == 1 and "wide" in out and "4.0 TB" in out
    code, _, err = run(capsys, "export", str(target), "--onnx", str(tmp_path / "huge.onnx"))
    assert code == 1 and "parameters" in err and not (tmp_path / "huge.onnx").exists()


def test_summary_marks_layers_left_out_of_the_model(tmp_path: Path, capsys) -> None:
    from netbuilder.document import Document

    doc = Document()
    net = doc.network()
    x = net.add("Input", shape=(4,))
    net.chain(x, net.add("Linear", units=3), net.add("Output"))
    net.connect(x, net.add("Linear", name="stray", units=100))
    save(doc, tmp_path / "n.nbg")
    code, out, _ = run(capsys, "summary", str(tmp_path / "n.nbg"))
    [stray] = [line for line in out.splitlines() if line.strip().startswith("stray ")]
    assert code == 0 and "left out" in stray and "total: 15 parameters" in out
    code, out, _ = run(capsys, "summary", str(tmp_path / "n.nbg"), "--json")
    network = json.loads(out)["networks"][0]
    assert network["total_params"] == 15
    assert [r["name"] for r in network["nodes"] if not r["in_model"]] == ["stray"]


EXPECTED_RECIPES = {"mlp": "classification", "lenet": "classification", "resnet-small": "classification",
                    "lstm-classifier": "sequence_classification", "char-gru": "language_model",
                    "transformer-classifier": "sequence_classification", "gpt-mini": "language_model", "autoencoder": "autoencoder",
                    "vae": "vae", "dcgan": "gan", "transfer-digits": "classification"}


def test_an_architecture_template_without_data_says_which_data_to_bring(tmp_path: Path, capsys) -> None:
    from netbuilder.templates import template_path

    code, out, err = run(capsys, "train", str(template_path("resnet18")), "--epochs", "1", "--out",
                         str(tmp_path / "run"))
    assert code != 0 and "my-images" in err and "Traceback" not in err


@pytest.mark.parametrize("template_id", [t for t in TEMPLATE_ORDER if t not in NOTES])
def test_every_template_trains_from_its_own_settings(template_id: str, tmp_path: Path, capsys) -> None:
    """A newcomer opens a template and presses Train: the file's own data and settings must work unchanged."""
    from netbuilder.templates import template_path

    code, out, err = run(capsys, "train", str(template_path(template_id)), "--epochs", "1", "--json",
                         "--out", str(tmp_path / "run"))
    assert code == 0, err or out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    starts = [e for e in events if e["event"] == "start"]  # transfer-digits: a pre-training run, then its own
    assert starts and starts[-1]["recipe"] == EXPECTED_RECIPES[template_id]
    done = events[-1]
    assert done["event"] == "done" and done["epochs"] == 1
    assert all(value == value for value in done["metrics"].values())  # no NaN in the final figures
    assert (tmp_path / "run" / "config.json").is_file()
