"""Every template validates, compiles, runs a batch and exports; parameter counts match the same architectures
written by hand in torch."""

import pytest
import torch
import torch.nn as nn

from netbuilder.analysis import analyze
from netbuilder.compile import compile_network, example_inputs
from netbuilder.templates import TEMPLATE_ORDER, TemplateError, list_templates, load_template


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_every_listed_template_exists_in_gallery_order() -> None:
    assert [t.id for t in list_templates()] == list(TEMPLATE_ORDER)
    assert all(t.title and t.description and t.data for t in list_templates())


def test_unknown_template_names_the_choices() -> None:
    with pytest.raises(TemplateError, match="mlp"):
        load_template("alexnet")


@pytest.mark.parametrize("template_id", TEMPLATE_ORDER)
def test_template_validates_compiles_and_runs_a_batch(template_id: str) -> None:
    doc = load_template(template_id)
    assert not doc.modified
    assert doc.settings["data"]["source"] and doc.settings["training"]["recipe"]
    for net in doc:
        result = analyze(net)
        assert result.diagnostics == [], [str(d) for d in result.diagnostics]
        model = compile_network(net).eval()
        with torch.no_grad():
            out = model(*example_inputs(model, batch=4, seq_len=12))
        expected = [t.shape for t in model.netbuilder.output_types]
        outs = out if isinstance(out, tuple) else (out,)
        for tensor, shape in zip(outs, expected, strict=True):
            assert tensor.shape[0] == 4 and len(tensor.shape) == len(shape)
            assert all(d == s for d, s in zip(tensor.shape[1:], shape[1:], strict=True) if isinstance(s, int))
        assert count(model) == result.total_params


def handwritten() -> dict[tuple[str, str], nn.Module]:
    class Transformer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.project = nn.Linear(8, 32)
            self.position = nn.Parameter(torch.zeros(16, 32))
            self.encoders = nn.ModuleList(
                nn.TransformerEncoderLayer(32, 4, 64, 0.1, batch_first=True) for _ in range(2))
            self.classes = nn.Linear(32, 10)

    return {
        ("mlp", "model"): nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 64), nn.ReLU(),
                                        nn.Linear(64, 10)),
        ("lenet", "model"): nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                          nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)),
        ("lstm-classifier", "model"): nn.ModuleList([nn.LSTM(8, 64, batch_first=True), nn.Linear(64, 10)]),
        ("transformer-classifier", "model"): Transformer(),
        ("vae", "model"): nn.ModuleList([nn.Linear(64, 64), nn.Linear(64, 8), nn.Linear(64, 8), nn.Linear(8, 64),
                                         nn.Linear(64, 64)]),
        ("dcgan", "generator"): nn.Sequential(nn.Linear(16, 256), nn.Unflatten(1, (64, 2, 2)), nn.BatchNorm2d(64),
                                              nn.ReLU(), nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32),
                                              nn.ReLU(), nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh()),
        ("dcgan", "discriminator"): nn.Sequential(nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2),
                                                  nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Flatten(),
                                                  nn.Linear(256, 1)),
    }


@pytest.mark.parametrize("key", list(handwritten()), ids=lambda k: "/".join(k))
def test_parameter_counts_equal_the_network_written_by_hand(key: tuple[str, str]) -> None:
    template_id, network = key
    net = load_template(template_id).network(network)
    expected = count(handwritten()[key])
    assert analyze(net).total_params == expected
    assert count(compile_network(net)) == expected


def test_mlp_template_computes_what_the_handwritten_mlp_computes() -> None:
    model = compile_network(load_template("mlp").network()).eval()
    by_hand = handwritten()[("mlp", "model")].eval()
    values = list(model.state_dict().values())
    by_hand.load_state_dict(dict(zip(by_hand.state_dict(), values, strict=True)))
    x = torch.randn(7, 64)
    assert torch.equal(model(x), by_hand(x))


@pytest.mark.parametrize("template_id", TEMPLATE_ORDER)
def test_template_exports_to_onnx_matching_onnxruntime(template_id: str, tmp_path) -> None:
    from netbuilder.export import export_onnx

    for net in load_template(template_id):
        report = export_onnx(net, tmp_path / f"{net.name}.onnx")
        assert report.ok and report.max_abs_diff <= 1e-4, (net.name, report.max_abs_diff)


def test_stray_files_in_the_templates_folder_are_skipped(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    import netbuilder.templates as templates

    shutil.copy(templates.template_path("mlp"), tmp_path / "mlp.nbg")
    (tmp_path / "list.nbg").write_text("[1, 2]", encoding="utf-8")
    (tmp_path / "odd.nbg").write_text('{"info": "x", "settings": []}', encoding="utf-8")
    monkeypatch.setattr(templates, "templates_dir", lambda: tmp_path)
    assert [t.id for t in list_templates()] == ["mlp"]
