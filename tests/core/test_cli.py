"""The netbuilder command line: exit codes, JSON output, and plain errors instead of tracebacks."""

import json
from pathlib import Path

import pytest

from netbuilder.cli import main
from netbuilder.templates import TEMPLATE_ORDER


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
                                   "params": 160, "macs": 9216, "trainable": True}


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
