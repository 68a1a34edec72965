"""PyTorch import of modules as people write them by hand (torchvision-style CNNs, text CNNs, decoders): one
module per pattern that real code uses, each imported and checked for parity. What NetBuilder has no layer for is
listed by name, never replaced."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from netbuilder.analysis import analyze
from netbuilder.importers import ModelImportError, UnsupportedOpsError
from netbuilder.importers.pytorch import import_pytorch

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models run fastest on one thread


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.down is None else self.down(x)
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        out += identity
        return F.relu(out)


class HandWrittenResNet(nn.Module):
    """Nested nn.Sequential, an nn.ModuleList loop, functional pooling and the usual ways to reach the head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)),
                                  nn.ReLU(inplace=True))
        self.layers = nn.ModuleList([BasicBlock(8, 8), BasicBlock(8, 16, 2)])
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.stem(x), kernel_size=3, stride=2, padding=1)
        for layer in self.layers:
            x = layer(x)
        a = torch.flatten(F.adaptive_avg_pool2d(x, (1, 1)), 1)
        a = F.dropout(a, p=0.2, training=self.training)
        b = x.mean(dim=(2, 3))
        c = x.mean([2, 3], keepdim=True).view(x.size(0), -1)
        d = x.view(x.size(0), x.size(1), -1).mean(-1)
        unused = F.avg_pool2d(x, x.size()[2:]).squeeze()  # computed and dropped: imports as nothing
        del unused
        return self.fc(a) + self.fc(b) - self.fc(c) + self.fc(d)


def test_a_hand_written_resnet_imports_and_matches() -> None:
    torch.manual_seed(0)
    model = HandWrittenResNet()
    result = import_pytorch(model, torch.randn(2, 3, 16, 16))
    assert result.parity is not None and result.parity.ok, result.parity
    types = [node.type for node in result.network.nodes]
    assert types.count("Conv2d") == 6 and types.count("BatchNorm2d") == 6
    assert {"AdaptiveAvgPool2d", "Flatten", "Dropout", "GlobalAvgPool", "Reshape", "Scale"} <= set(types)
    assert result.network.find("dropout").params["p"] == 0.2  # F.dropout(training=...) is a Dropout layer
    assert "AvgPool2d" not in types  # the dropped branch left nothing behind
    assert analyze(result.network).ok
    assert sum(t.numel() for n, t in result.weights.items() if n.split(".")[0].startswith("fc")) == 4 * (16 + 1) * 4


class TextCNN(nn.Module):
    """Kim's text CNN, written the three ways people pool over time."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(50, 8)
        self.convs = nn.ModuleList([nn.Conv1d(8, 6, k) for k in (2, 3, 4)])
        self.fc = nn.Linear(18, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens).transpose(1, 2)
        first = F.relu(self.convs[0](x))
        pooled = [F.max_pool1d(first, first.size(2)).squeeze(2),
                  torch.max(F.relu(self.convs[1](x)), dim=2)[0],
                  F.relu(self.convs[2](x)).max(dim=-1).values]
        return self.fc(torch.cat(pooled, 1))


def test_a_text_cnn_pools_over_a_variable_length() -> None:
    torch.manual_seed(0)
    model = TextCNN()
    result = import_pytorch(model, torch.randint(0, 50, (2, 16)))
    assert result.network.find("tokens").params["shape"] == ("T",)
    assert [node.type for node in result.network.nodes].count("GlobalMaxPool") == 3
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (9, 16)
    module = result.compile()
    for length in (4, 50):
        x = torch.randint(0, 50, (2, length))
        with torch.no_grad():
            torch.testing.assert_close(module(x), model.eval()(x))


class Decoder(nn.Module):
    """Upsampling, a sum, clamp(min=0), subtraction and negation, adaptive max pooling."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2, mode="bilinear")
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.bn = nn.BatchNorm1d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        h = F.interpolate(h, scale_factor=2, mode="nearest") - self.up(h)
        h = torch.sigmoid(h) * -h
        pooled = self.pool(h).flatten(1) + F.adaptive_max_pool2d(h, 1).squeeze(-1).squeeze(-1)
        summed = h.sum(dim=(2, 3)).clamp(min=0)
        return self.fc(self.bn(summed) + pooled)


def test_upsampling_sums_clamps_and_subtractions_import() -> None:
    torch.manual_seed(0)
    model = Decoder()
    model.bn.running_var.uniform_(1, 2)
    result = import_pytorch(model, torch.randn(2, 3, 6, 6))
    types = [node.type for node in result.network.nodes]
    assert types.count("Upsample") == 2 and types.count("GlobalMaxPool") == 2
    assert {"Add", "Scale", "ReLU", "GlobalAvgPool"} <= set(types)
    assert result.parity is not None and result.parity.ok, result.parity


class Means(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:  # x: N×T×D
        return (x.mean(dim=1, keepdim=True), x.mean(-1), x.mean(1).mean(1, keepdim=True),
                torch.mean(x, dim=(1, 2), keepdim=True), x.sum(-1).mean(1, keepdim=True))


def test_means_over_any_one_kept_axis_import_and_keep_the_length_variable() -> None:
    result = import_pytorch(Means(), torch.randn(2, 5, 4), dynamic_axes=[1])
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (3, 5)
    shapes = [str(analyze(result.network).nodes[out.id].output) for out in result.network.outputs()]
    assert shapes == ["N×1×4", "N×T", "N×1", "N×1×1", "N×1"]


def test_a_sum_over_the_variable_length_keeps_the_traced_length_and_says_so() -> None:
    class SumPool(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.fc = nn.Linear(8, 2)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            return self.fc(self.embed(tokens).sum(dim=1))

    result = import_pytorch(SumPool(), torch.randint(0, 50, (2, 16)))
    assert result.network.find("tokens").params["shape"] == (16,)
    assert any("sum_1 (Tensor.sum) sums over the variable length" in note for note in result.notes)
    assert result.parity is not None and result.parity.ok


class NoLayerForThese(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.act = nn.ReLU6()
        self.gain = nn.Parameter(torch.ones(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.fc(x)) + F.hardswish(x) + x.clamp(-1, 1) + torch.max(x, x) + x * self.gain
        out.add_(x)  # changes out in place; the value returned below never sees it in the trace
        return out + (x - 1.0)


def test_calls_without_a_layer_are_listed_by_name() -> None:
    with pytest.raises(UnsupportedOpsError) as caught:
        import_pytorch(NoLayerForThese(), torch.randn(2, 8))
    ops = {op.op_type: op for op in caught.value.ops}
    assert set(ops) == {"nn.ReLU6", "F.hardswish", "Tensor.clamp", "torch.max", "Tensor.add_", "operator.sub",
                        "operator.mul"}
    assert "the tensor gain used directly in forward" in ops["operator.mul"].reasons[0]
    assert "in-place change" in ops["Tensor.add_"].reasons[0]
    assert "clamp(min=0)" in ops["Tensor.clamp"].reasons[0]
    assert "element-wise maximum" in ops["torch.max"].reasons[0]
    assert "subtracting a constant" in ops["operator.sub"].reasons[0]


class SqueezedHead(nn.Module):
    """x.squeeze() with no axis (which at batch 1 would drop the batch too), and x[:, -1, :] of an LSTM."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 8, 3)
        self.lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv(x)
        pooled = F.adaptive_avg_pool1d(h, 1).squeeze()
        out, (_, _) = self.lstm(h.transpose(1, 2))
        return pooled.mean(-1, keepdim=True), out[:, -1, :]


def test_squeeze_without_an_axis_and_the_last_step_with_trailing_slices_import() -> None:
    result = import_pytorch(SqueezedHead(), torch.randn(2, 3, 12), dynamic_axes=[2])
    assert [node.type for node in result.network.nodes if node.type in ("Squeeze", "SelectStep")] == \
        ["Squeeze", "SelectStep"]
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (7, 12)


class StyleNet(nn.Module):
    """An image-to-image net as style-transfer and GAN code writes it: padding layers and F.pad, instance norm,
    PReLU, a gated split with chunk, softplus."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv = nn.Conv2d(3, 8, 3)
        self.norm = nn.InstanceNorm2d(8, affine=True)
        self.act = nn.PReLU(8, init=0.1)
        self.gate = nn.Conv2d(8, 8, 3)
        self.shrink = nn.Sequential(nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(4, 3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm(self.conv(self.pad(x))))
        h = self.gate(F.pad(h, (1, 1, 1, 1), mode="replicate"))
        value, gate = h.chunk(2, dim=1)
        mixed = value * torch.sigmoid(gate) + F.softplus(torch.split(h, 4, dim=1)[1])
        return self.shrink(mixed).to(torch.float32)


def test_padding_instance_norm_prelu_and_chunks_import() -> None:
    torch.manual_seed(0)
    model = StyleNet()
    result = import_pytorch(model, torch.randn(2, 3, 10, 10))
    types = [node.type for node in result.network.nodes]
    assert types.count("Pad") == 3 and types.count("Split") == 2
    assert {"InstanceNorm2d", "PReLU", "Softplus"} <= set(types)
    pads = [(node.params["amount"], node.params["mode"]) for node in result.network.nodes if node.type == "Pad"]
    assert pads == [((1, 1, 1, 1), "reflection"), ((1, 1, 1, 1), "replication"), ((1, 0, 1, 0), "zero")]
    assert result.parameter_count == sum(p.numel() for p in model.parameters())
    assert result.parity is not None and result.parity.ok, result.parity


def test_a_cast_to_another_float_type_is_refused() -> None:
    class Half(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.to(torch.float64) * 2.0

    with pytest.raises(UnsupportedOpsError, match="changing the dtype to float64"):
        import_pytorch(Half(), torch.randn(2, 4))


class SqueezeExcite(nn.Module):
    """The squeeze-and-excitation block of SENet and EfficientNet: y.expand_as(x) into x * y."""

    def __init__(self, channels: int = 8, reduction: int = 4) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, channels // reduction), nn.ReLU(inplace=True),
                                nn.Linear(channels // reduction, channels), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.size()
        y = F.adaptive_avg_pool2d(x, 1).view(b, c)
        return x * self.fc(y).view(b, c, 1, 1).expand_as(x)


class UNetUp(nn.Module):
    """A U-Net decoder step as the popular implementation writes it: interpolate to the skip's size, pad by the
    size difference computed in forward, concatenate."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, 2, 1)
        self.se = SqueezeExcite()
        self.conv = nn.Conv2d(16, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = F.relu(self.down(x))
        u = F.interpolate(self.se(skip), size=x.shape[2:], mode="bilinear")
        skip = F.interpolate(skip, scale_factor=2.0)
        diff_y, diff_x = skip.size()[2] - u.size()[2], skip.size()[3] - u.size()[3]
        u = F.pad(u, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        return self.conv(torch.cat([skip, u], dim=1))


def test_squeeze_excite_and_a_unet_step_import() -> None:
    torch.manual_seed(0)
    result = import_pytorch(UNetUp(), torch.randn(2, 3, 8, 8))
    types = [node.type for node in result.network.nodes]
    assert types.count("Upsample") == 2 and "Multiply" in types and "Pad" not in types
    assert [n.params["scale_factor"] for n in result.network.nodes if n.type == "Upsample"] == [2, 2]
    assert result.parity is not None and result.parity.ok, result.parity


def test_sizes_computed_in_forward_that_change_the_shape_are_refused() -> None:
    class Grows(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            grow = x.size(2) // 4
            return F.interpolate(F.pad(x, [grow, grow]), size=(x.size(2) * 3 // 2,))

    with pytest.raises(UnsupportedOpsError) as caught:
        import_pytorch(Grows(), torch.randn(2, 3, 8))
    ops = {op.op_type: op for op in caught.value.ops}
    assert "its pad is computed in forward" in ops["F.pad"].reasons[0]


def test_a_rule_that_cannot_read_its_arguments_is_listed_not_a_traceback(monkeypatch) -> None:
    from netbuilder.importers import pytorch_layers

    def confused(b, node):
        return int(node)  # what reading an argument of an unexpected form looks like

    monkeypatch.setitem(pytorch_layers.METHOD_RULES, "relu", confused)

    class UsesRelu(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.relu()

    with pytest.raises(UnsupportedOpsError) as caught:
        import_pytorch(UsesRelu(), torch.randn(2, 4))
    assert caught.value.ops[0].op_type == "Tensor.relu"
    assert "arguments of a form the import does not read (TypeError" in caught.value.ops[0].reasons[0]


class ShuffleUnit(nn.Module):
    """ShuffleNet V2's unit: chunk the channels, convolve one half, concatenate, shuffle the channel groups."""

    def __init__(self) -> None:
        super().__init__()
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(inplace=True),
                                    nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False), nn.BatchNorm2d(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = x.chunk(2, dim=1)
        out = torch.cat((x1, self.branch(x2)), dim=1)
        b, c, h, w = out.size()
        out = torch.transpose(out.view(b, 2, c // 2, h, w), 1, 2).contiguous()
        return out.view(b, -1, h, w)


def test_a_shufflenet_unit_imports() -> None:
    torch.manual_seed(0)
    result = import_pytorch(ShuffleUnit(), torch.randn(2, 8, 6, 6))
    assert [n.type for n in result.network.nodes if n.type in ("Split", "Reshape", "Permute")] == \
        ["Split", "Reshape", "Permute", "Reshape"]
    assert result.parity is not None and result.parity.ok


def test_packed_sequences_are_named_as_the_reason_a_model_will_not_trace() -> None:
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    class Packed(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(4, 6, batch_first=True)

        def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
            out, _ = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
            return pad_packed_sequence(out, batch_first=True)[0]

    with pytest.raises(ModelImportError, match=r"forward packs its sequences \(pack_padded_sequence\)"):
        import_pytorch(Packed(), (torch.randn(2, 5, 4), torch.tensor([5, 3])))


def test_sums_are_a_mean_times_the_count_of_every_axis_summed() -> None:
    class Sums(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:  # x: N×3×4
            return x.sum(-1), x.sum(-1).sum(-1, keepdim=True), torch.sum(x, dim=(1, 2), keepdim=True)

    result = import_pytorch(Sums(), torch.randn(2, 3, 4))
    assert [n.params["factor"] for n in result.network.nodes if n.type == "Scale"] == [4.0, 4.0, 3.0, 12.0]
    assert result.parity is not None and result.parity.ok
