"""Explaining a prediction with Captum (netbuilder.explain, `netbuilder explain`): integrated gradients'
completeness, the attribution's shape for every method on image and table networks, attributions over the input
the user sees (the run's preprocessing inside the explained function), the CLI's PNG and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from netbuilder.cli import main
from netbuilder.compile import compile_network
from netbuilder.data.preprocess import Affine, Preprocessing
from netbuilder.document import Document
from netbuilder.explain import METHODS, ExplainError, explain_sample

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def table_network(role: str = "logits", classes: int = 3) -> torch.nn.Module:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="x", shape=(4,)), net.add("Linear", name="hidden", units=8),
              net.add("Tanh", name="act"), net.add("Linear", name="out", units=classes),
              net.add("Output", name="y", role=role))
    torch.manual_seed(0)
    return compile_network(net)


def image_network() -> torch.nn.Module:
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="image", shape=(1, 8, 8)), net.add("Conv2d", name="conv", filters=4,
                                                                     kernel_size=3),
              net.add("ReLU", name="relu"), net.add("Flatten", name="flat"), net.add("Linear", name="fc", units=3),
              net.add("Output", name="y", role="logits"))
    torch.manual_seed(0)
    return compile_network(net)


def standardising(shape: tuple[int, ...]) -> Preprocessing:
    shift = torch.linspace(-1.0, 2.0, int(torch.tensor(shape).prod())).reshape(shape)
    scale = torch.linspace(0.5, 3.0, int(torch.tensor(shape).prod())).reshape(shape)
    return Preprocessing(inputs=Affine(shift, scale, axis="column"))


def test_integrated_gradients_add_up_to_the_change_in_probability() -> None:
    module = table_network()
    preprocessing = standardising((4,))
    x = torch.tensor([0.3, -1.2, 0.8, 2.0])  # network side (already standardised)
    explanation = explain_sample(module, x, preprocessing=preprocessing, method="ig", target=2, steps=200)
    raw = preprocessing.inputs.invert(x.unsqueeze(0))
    with torch.no_grad():
        f_x = torch.softmax(module(x.unsqueeze(0)), dim=1)[0, 2]
        f_b = torch.softmax(module(torch.zeros(1, 4)), dim=1)[0, 2]
    assert explanation.score == pytest.approx(float(f_x), abs=1e-6)
    assert explanation.baseline_score == pytest.approx(float(f_b), abs=1e-6)
    assert explanation.inputs == pytest.approx(raw[0].numpy(), abs=1e-6)  # the sample in the user's units
    total = float(explanation.attribution.sum())
    assert total == pytest.approx(float(f_x - f_b), abs=1e-3)  # completeness
    assert abs(explanation.delta) < 1e-3 and explanation.trusted
    assert "Small enough to trust" in explanation.trust()


def test_attributions_are_per_unit_of_the_raw_input() -> None:
    """A linear regression f = w · (raw - shift) / scale + b: saliency over the input the user sees is
    |w_i| / scale_i (over the standardised inputs it would be |w_i|), and integrated gradients from the training
    average gives w_i × (raw_i - shift_i) / scale_i, which adds up to f(raw) - f(average)."""
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="x", shape=(4,)), net.add("Linear", name="out", units=1),
              net.add("Output", name="y", role="regression"))
    module = compile_network(net)
    w = torch.tensor([1.0, -2.0, 0.5, 3.0])
    with torch.no_grad():
        next(m for m in module.modules() if isinstance(m, torch.nn.Linear)).weight.copy_(w.unsqueeze(0))
    preprocessing = standardising((4,))
    scale = preprocessing.inputs.scale
    x = torch.tensor([1.0, 0.5, -1.0, 2.0])  # network side
    saliency = explain_sample(module, x, preprocessing=preprocessing, method="saliency")
    assert saliency.attribution == pytest.approx((w.abs() / scale).numpy(), abs=1e-5)
    ig = explain_sample(module, x, preprocessing=preprocessing, method="ig", steps=20)
    assert ig.attribution == pytest.approx((w * x).numpy(), abs=1e-4)
    assert ig.score_kind == "output" and ig.trusted and float(ig.attribution.sum()) == pytest.approx(
        ig.score - ig.baseline_score, abs=1e-4)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_gives_one_value_per_input(method: str) -> None:
    table = explain_sample(table_network(), torch.randn(4), method=method, class_names=["a", "b", "c"],
                           feature_names=["w", "x", "y", "z"])
    assert table.attribution.shape == (4,) and table.heatmap().shape == (4,)
    assert [name for name, _ in table.top_features(4)] and {n for n, _ in table.top_features(4)} <= {"w", "x", "y",
                                                                                                     "z"}
    image = explain_sample(image_network(), torch.rand(1, 8, 8), method=method, image_shape=(1, 8, 8))
    assert image.attribution.shape == (1, 8, 8) and image.heatmap().shape == (8, 8)
    assert image.image is not None and image.image.shape == (1, 8, 8)
    assert (image.delta is not None) == (method == "ig")
    assert float(abs(image.attribution).sum()) > 0


def test_targets_by_name_and_bad_targets_are_explained() -> None:
    module = table_network()
    named = explain_sample(module, torch.randn(4), method="saliency", target="c", class_names=["a", "b", "c"])
    assert named.target == 2 and named.target_name == "c"
    with pytest.raises(ExplainError, match="no class named 'd'") as error:
        explain_sample(module, torch.randn(4), target="d", class_names=["a", "b", "c"])
    assert "a, b, c" in error.value.suggestion
    with pytest.raises(ExplainError, match="class 7 does not exist"):
        explain_sample(module, torch.randn(4), target=7)
    with pytest.raises(ExplainError, match="Unknown method"):
        explain_sample(module, torch.randn(4), method="lime")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from netbuilder.templates import load_template
    from netbuilder.train import Done, TrainConfig, Trainer

    root = tmp_path_factory.mktemp("runs")
    config = TrainConfig.from_dict({"seed": 0, "device": "cpu", "epochs": 1}, {"source": "digits"})
    done = list(Trainer(load_template("mlp"), config, run_root=root).events())[-1]
    assert isinstance(done, Done)
    return Path(done.run_dir)


def test_cli_writes_a_png_and_reports_the_delta(digits_run: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "explained.png"
    assert main(["explain", str(digits_run), "--sample", "3", "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 2000
    text = capsys.readouterr().out
    assert "Integrated gradients for val sample 3" in text and "convergence delta" in text
    assert main(["explain", str(digits_run), "--sample", "3", "--method", "occlusion", "--target", "7",
                 "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["weights"].startswith(("best checkpoint", "final weights"))
    assert report["target"] == "7" and report["convergence_delta"] is None and report["sample"] == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--sample", "100000"], "does not exist: the val split has"),
    (["--sample", "0"], "counts from 1"),
    (["--sample", "1", "--target", "10"], "class 10 does not exist"),
    (["--sample", "1", "-o", "out.jpg"], "not a .png file name"),
])
def test_cli_errors_name_the_problem(digits_run: Path, tmp_path: Path, capsys, args: list[str],
                                     message: str) -> None:
    code = main(["explain", str(digits_run), *[str(tmp_path / a) if a.endswith(".jpg") else a for a in args]])
    assert code in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_cli_refuses_a_folder_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert main(["explain", str(tmp_path), "--sample", "1"]) == 1
    assert "not a training run folder" in capsys.readouterr().err
