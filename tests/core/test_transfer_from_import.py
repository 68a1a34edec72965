"""Transfer learning from an import, end to end on the command line, as the README walks through it: import a
pretrained PyTorch model, replace its head for the user's classes, freeze the early layers, fine-tune on the
user's image files, export ONNX. Plus the head/freeze edits' own rules."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from netbuilder.cli import main
from netbuilder.document import Document
from netbuilder.facade import analyze, save
from netbuilder.importers.retarget import RetargetError, find_head, freeze_through, retarget
from netbuilder.io import load_document

README = Path(__file__).resolve().parent.parent.parent / "README.md"
SECTION = README.read_text(encoding="utf-8").split("## Transfer learning from an import", 1)[1].split("\n## ", 1)[0]
PRETRAINED = re.search(r"```py\n(.*?)```", SECTION, re.S).group(1)  # the walk-through's own file and commands
COMMANDS = [shlex.split(line) for line in re.search(r"```bash\n(.*?)```", SECTION, re.S).group(1).splitlines()
            if line.startswith("netbuilder ")]


CLASSES = ("left", "middle", "right")


def user_images(folder: Path) -> None:
    """The user's own data: 8×8 grey PNGs, one sub-folder per class (a bright bar at three places)."""
    rng = np.random.default_rng(0)
    for index, name in enumerate(CLASSES):
        (folder / name).mkdir(parents=True)
        for i in range(10):
            pixels = (rng.random((8, 8)) * 60).astype(np.uint8)
            pixels[:, 3 * index:3 * index + 2] += 180
            Image.fromarray(pixels, "L").save(folder / name / f"{i}.png")


def test_import_retarget_fine_tune_and_export_from_the_command_line(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    Path("pretrained.py").write_text(PRETRAINED)
    namespace: dict = {}
    exec(compile(PRETRAINED, "pretrained.py", "exec"), namespace)  # noqa: S102 - the test's own file
    torch.manual_seed(0)
    save_file(namespace["DigitsCNN"]().state_dict(), "digits_cnn.safetensors")  # "pretrained" weights
    user_images(tmp_path / "my_images")

    assert [command[1] for command in COMMANDS] == ["import", "retarget", "train", "export"]
    for command in COMMANDS:  # as the README writes them; training shorter
        arguments = list(command[1:])
        if command[1] == "train":
            arguments[arguments.index("--epochs") + 1] = "2"
            arguments += ["--batch-size", "8"]
        assert main(arguments) == 0, command
    out = capsys.readouterr().out
    assert "matches pytorch" in out and "New head new_head (3 classes) replaces classifier" in out
    assert "Frozen (4): features_0, features_1, features_2, features_3." in out

    pretrained = load_file("digits.safetensors")
    (weights_file,) = (tmp_path / "run" / "weights").glob("*.safetensors")
    tuned = load_file(weights_file)
    torch.testing.assert_close(tuned["features_0.weight"], pretrained["features_0.weight"])  # frozen
    assert not torch.equal(tuned["features_4.weight"], pretrained["features_4.weight"])  # fine-tuned
    assert tuned["new_head.weight"].shape == (3, 16) and "classifier.weight" not in tuned

    session = ort.InferenceSession("mine.onnx", providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {session.get_inputs()[0].name: np.random.rand(4, 1, 8, 8).astype(np.float32)})
    assert scores.shape == (4, 3)


def classifier(softmax: bool = False) -> Document:
    doc = Document()
    net = doc.network()
    layers = [net.add("Input", shape=(12,)), net.add("Linear", name="early", units=8), net.add("ReLU"),
              net.add("Linear", name="fc", units=10)]
    if softmax:
        layers.append(net.add("Softmax"))
    layers.append(net.add("Output", name="classes", role="probabilities" if softmax else "logits"))
    net.chain(*layers)
    return doc


def test_retarget_replaces_the_head_behind_a_softmax_and_freezes_what_comes_before() -> None:
    doc = classifier(softmax=True)
    net = doc.network()
    report = retarget(net, 4, freeze="early")
    assert (report.replaced, report.head, report.frozen) == ("fc", "new_head", ["early"])
    assert net.find("new_head").params["units"] == 4 and not net.find("early").trainable
    assert analyze(net).ok
    doc.undo_stack.undo()  # ordinary undoable edits
    assert net.find("early").trainable


def test_retarget_refusals_name_the_problem() -> None:
    net = classifier().network()
    with pytest.raises(RetargetError, match="fc is the head being replaced"):
        retarget(net, 3, freeze="fc")
    with pytest.raises(RetargetError, match="no layer 'nope'.*early"):
        freeze_through(net, "nope")
    with pytest.raises(RetargetError, match="at least 1"):
        retarget(net, 0)
    net.connect(net.find("fc").id, net.add("Output", name="again", role="logits"))
    with pytest.raises(RetargetError, match="which Output"):
        retarget(net, 3)
    assert find_head(net, net.find("again")).name == "fc"


def test_retarget_cli_errors_are_plain(tmp_path: Path, capsys) -> None:
    doc = classifier()
    path = tmp_path / "c.nbg"
    save(doc, path)
    assert main(["retarget", str(path), "--classes", "3", "--freeze", "fc", "-o", str(tmp_path / "o.nbg")]) == 2
    assert "head being replaced" in capsys.readouterr().err
    assert main(["retarget", str(path), "--classes", "3", "-o", str(tmp_path / "o.txt")]) == 2
    assert ".nbg" in capsys.readouterr().err
    assert main(["retarget", str(path), "--classes", "3", "-o", str(tmp_path / "o.nbg")]) == 0
    assert load_document(tmp_path / "o.nbg").network().find("new_head").params["units"] == 3
