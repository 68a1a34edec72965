"""The resnet18 template is torchvision's ResNet-18: the same parameters, state_dict keys (in order) and shapes, so
torchvision's weights load by name, and the same outputs as ResNet-18 written by hand."""

from __future__ import annotations

import torch
from handwritten_resnet import ResNet18

from netbuilder.analysis import analyze
from netbuilder.compile import compile_network
from netbuilder.templates import list_templates, load_template


def torchvision_keys() -> dict[str, tuple[int, ...]]:
    """torchvision.models.resnet18().state_dict(): names and shapes, in its order, written out by hand."""
    keys: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}

    def bn(prefix: str, channels: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            keys[f"{prefix}.{name}"] = (channels,)
        keys[f"{prefix}.num_batches_tracked"] = ()

    bn("bn1", 64)
    inplanes = 64
    for layer, planes in enumerate((64, 128, 256, 512), start=1):
        for block in (0, 1):
            prefix = f"layer{layer}.{block}"
            keys[f"{prefix}.conv1.weight"] = (planes, inplanes if block == 0 else planes, 3, 3)
            bn(f"{prefix}.bn1", planes)
            keys[f"{prefix}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{prefix}.bn2", planes)
            if block == 0 and layer > 1:
                keys[f"{prefix}.downsample.0.weight"] = (planes, inplanes, 1, 1)
                bn(f"{prefix}.downsample.1", planes)
        inplanes = planes
    keys["fc.weight"] = (1000, 512)
    keys["fc.bias"] = (1000,)
    return keys


def test_resnet18_has_torchvisions_parameters_keys_and_shapes() -> None:
    net = load_template("resnet18").network()
    result = analyze(net)
    assert result.ok and result.total_params == 11_689_512
    assert str(result.nodes[net.find("image").id].output) == "N×3×224×224"
    assert str(result.nodes[net.find("fc").id].output) == "N×1000"
    state = compile_network(net).state_dict()
    expected = torchvision_keys()
    assert len(expected) == 122
    assert list(state) == list(expected)
    assert {name: tuple(tensor.shape) for name, tensor in state.items()} == expected


def test_resnet18_computes_what_resnet18_written_by_hand_computes() -> None:
    model = compile_network(load_template("resnet18").network(), seed=0).eval()
    by_hand = ResNet18().eval()
    by_hand.load_state_dict(model.state_dict())  # strict: by name
    x = torch.randn(2, 3, 64, 64)  # any size passes the adaptive pooling; small keeps the test quick
    with torch.no_grad():
        assert torch.allclose(model(x), by_hand(x), atol=1e-5)


def test_the_gallery_marks_resnet18_as_bring_your_own_images() -> None:
    info = {t.id: t for t in list_templates()}["resnet18"]
    assert info.note == "architecture: bring your own images"


def test_resnet18_exports_as_readable_pytorch_with_one_class_per_block() -> None:
    from netbuilder.export.pytorch_code import export_pytorch_code

    net = load_template("resnet18").network()
    code = export_pytorch_code(net)
    for name in ("BasicBlock", "Downsample", "DownBlock", "DownStage", "Layer1"):
        assert code.count(f"class {name}(nn.Module):") == 1
    assert "self.layer2 = DownStage(block0_conv1_in_channels=64, filters=128)" in code
    assert "class BasicBlock(nn.Module):" in code and "def __init__(self, filters=64) -> None:" in code
    namespace: dict = {}
    exec(compile(code.replace('if __name__ == "__main__":', "if False:"), "resnet18.py", "exec"), namespace)
    exported = namespace["Model"]()
    exported.load_state_dict(compile_network(net).state_dict())  # strict: same keys, same shapes
