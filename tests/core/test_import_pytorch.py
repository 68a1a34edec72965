"""PyTorch import (issue 13, item 4): nn.Modules traced with torch.fx become documents with their weights, checked
for parity with the original; what cannot be imported is listed, never replaced. The command line runs a user's
module file, as its help says."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from netbuilder.analysis import analyze
from netbuilder.cli import main
from netbuilder.importers import ModelImportError, UnsupportedOpsError
from netbuilder.importers.pytorch import import_pytorch
from netbuilder.io import load_document, load_weights


class ResidualCNN(nn.Module):
    def __init__(self, classes: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2))
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.GELU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        y = F.relu(self.body(h) + h) / 2
        return self.head(torch.flatten(self.pool(y), 1))


class Functional(nn.Module):
    """The common functional calls and tensor methods, each once."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 6)
        self.b = nn.Linear(6, 6)
        self.norm = nn.LayerNorm(12)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # x: N×4×6
        joined = torch.cat([self.a(x), torch.tanh(self.b(x))], dim=-1)  # N×4×12
        joined = self.drop(F.gelu(self.norm(joined))) * 0.5
        image = joined.view(x.size(0), 4, 3, 4).permute(0, 2, 1, 3)  # N×3×4×4
        pooled = image.mean(dim=(2, 3))  # N×3
        steps = joined.transpose(1, 2).contiguous().transpose(1, 2)  # N×4×12 again
        last = steps[:, -1].unsqueeze(1).squeeze(1)  # N×12
        mixed = torch.sigmoid(last) * last
        return F.softmax(pooled, dim=-1), F.log_softmax(mixed.reshape(x.shape[0], 3, 4).flatten(1), dim=1)


class LanguageModel(nn.Module):
    def __init__(self, vocab: int = 17, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, 12, num_layers=2, batch_first=True)
        self.decoder = nn.Linear(12, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(tokens) * dim_root(8))
        return self.decoder(states)


def dim_root(dim: int) -> float:
    return dim ** 0.5


def types_of(result) -> list[str]:
    return [node.type for node in result.network.nodes]


def test_a_cnn_imports_with_its_weights_and_matches_the_original() -> None:
    torch.manual_seed(0)
    model = ResidualCNN()
    model.stem[1].running_mean.uniform_(-1, 1)  # statistics that differ from a fresh layer's
    result = import_pytorch(model, torch.randn(2, 1, 8, 8))
    assert types_of(result) == ["Input", "Conv2d", "BatchNorm2d", "ReLU", "MaxPool2d", "Conv2d", "GELU", "Add",
                                "ReLU", "Scale", "AdaptiveAvgPool2d", "Flatten", "Linear", "Output"]
    assert result.parity is not None and result.parity.ok and result.parity.reference == "pytorch"
    assert result.parity.batch == 3  # not the example's batch: a batch baked in would show
    assert result.parameter_count == sum(p.numel() for p in model.parameters())
    assert analyze(result.network).total_params == result.parameter_count
    assert result.network.find("output").params["role"] == "logits"
    assert model.training  # the caller's module is left in the mode it was in
    module = result.compile()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(module(x), model.eval()(x))
    assert all(node.position != (0.0, 0.0) for node in result.network.nodes[1:])  # laid out


def test_common_functional_calls_and_methods_import() -> None:
    torch.manual_seed(0)
    model = Functional()
    result = import_pytorch(model, torch.randn(2, 4, 6))
    assert result.parity is not None and result.parity.ok, result.parity
    kinds = set(types_of(result))
    assert {"Concat", "Tanh", "LayerNorm", "GELU", "Dropout", "Scale", "Reshape", "Permute", "GlobalAvgPool",
            "SelectStep", "Unsqueeze", "Squeeze", "Multiply", "Sigmoid", "Softmax", "LogSoftmax",
            "Flatten"} <= kinds
    roles = [node.params["role"] for node in result.network.outputs()]
    assert roles == ["probabilities", "probabilities"]


def test_a_language_model_imports_token_ids_and_its_recurrent_weights() -> None:
    torch.manual_seed(0)
    model = LanguageModel()
    result = import_pytorch(model, torch.randint(0, 17, (2, 6)))
    assert types_of(result) == ["Input", "Embedding", "Scale", "GRU", "Linear", "Output"]
    assert result.network.find("tokens").params["dtype"] == "int64"
    assert result.network.find("output").params["role"] == "token_logits"
    assert result.parity is not None and result.parity.ok
    assert "rnn.rnn.weight_hh_l1" in result.weights  # the node's Recurrent module holds torch's GRU as .rnn


class TinyTransformer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        self.encoder = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, activation="gelu")
        self.decoder = nn.TransformerDecoderLayer(16, 2, 24, dropout=0.0, batch_first=True, norm_first=True)
        self.attention = nn.MultiheadAttention(16, 4, batch_first=True)
        self.classes = nn.Linear(16, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        h = self.decoder(self.encoder(x), x)
        attended, _ = self.attention(h, h, h)
        crossed, _ = self.attention(h, x, x)
        return self.classes((attended + crossed)[:, 0])


def test_attention_and_transformer_layers_import_with_their_weights() -> None:
    torch.manual_seed(0)
    result = import_pytorch(TinyTransformer(), torch.randint(0, 20, (2, 6)))
    assert types_of(result) == ["Input", "Embedding", "TransformerEncoderLayer", "TransformerDecoderLayer",
                                "MultiheadAttention", "MultiheadAttention", "Add", "SelectStep", "Linear", "Output"]
    assert [n.params["mode"] for n in result.network.nodes if n.type == "MultiheadAttention"] == ["self", "cross"]
    assert result.parity is not None and result.parity.ok
    assert any("attention is called 2 times" in note for note in result.notes)  # said, not silently duplicated


def test_a_decoder_tied_to_the_embedding_stays_tied() -> None:
    torch.manual_seed(0)
    model = LanguageModel(vocab=17, dim=12)
    model.rnn = nn.GRU(12, 12, batch_first=True)
    model.decoder.weight = model.embed.weight  # weight tying, as in AWD-LSTM and GPT-2
    result = import_pytorch(model, torch.randint(0, 17, (2, 6)))
    assert result.network.find("decoder").params["tie_weight_to"] == "embed"
    module = result.compile()
    assert module.decoder.weight is module.embed.weight
    assert result.parity is not None and result.parity.ok


class Unsupported(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.lstm = nn.LSTM(4, 4)  # batch_first=False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.clamp(self.fc(x), 0, 1) + torch.clamp(self.fc(x), -1, 0)
        seq, _ = self.lstm(x.unsqueeze(1))
        return y.exp() + seq.squeeze(1) + 1.0


def test_unsupported_calls_are_all_listed_with_counts_and_names() -> None:
    with pytest.raises(UnsupportedOpsError) as caught:
        import_pytorch(Unsupported(), torch.randn(2, 4))
    ops = {op.op_type: op for op in caught.value.ops}
    assert ops["torch.clamp"].count == 2 and set(ops["torch.clamp"].node_names) == {"clamp", "clamp_1"}
    assert "batch_first=False" in ops["nn.LSTM"].reasons[0]
    assert "nothing was written" in str(caught.value)


def test_a_model_that_cannot_be_traced_says_why() -> None:
    class Branchy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x if x.sum() > 0 else -x

    with pytest.raises(ModelImportError, match="cannot be traced by torch.fx"):
        import_pytorch(Branchy(), torch.randn(2, 3))


# ---------------------------------------------------------------------------------------------------------------
# The command line


MODULE_FILE = textwrap.dedent("""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self, hidden=8, classes=3):
            super().__init__()
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(12, hidden), nn.ReLU(), nn.Linear(hidden, classes))

        def forward(self, x):
            return self.body(x)

    class Broken(nn.Module):
        def forward(self, x):
            return x.exp()
""")


@pytest.fixture()
def module_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODULE_FILE)
    return path


def test_cli_imports_a_module_file_with_constructor_arguments(module_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "net.nbg"
    code = main(["import", f"{module_file}:Net", "--args", '{"hidden": 5}', "--input-shape", "3,4", "-o", str(out),
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["ok"] and report["format"] == "pytorch"
    assert report["parameters"] == 12 * 5 + 5 + 5 * 3 + 3 and report["parity"]["ok"]
    doc = load_document(out)
    net = doc.network()
    assert net.find("x").params["shape"] == (3, 4)
    weights = load_weights(tmp_path / "net.safetensors")
    assert weights["body_1.weight"].shape == (5, 12)
    assert doc.settings["training"]["transfer"]["source"] == "net.safetensors"
    assert main(["validate", str(out)]) == 0


def test_cli_lists_unsupported_calls_and_writes_nothing(module_file: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "broken.nbg"
    assert main(["import", f"{module_file}:Broken", "--input-shape", "4", "-o", str(out), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["error"] == "unsupported_ops" and report["unsupported"][0]["op_type"] == "Tensor.exp"
    assert not out.exists() and not out.with_suffix(".safetensors").exists()


@pytest.mark.parametrize(("source", "extra", "words"), [
    ("{file}:Missing", ["--input-shape", "3,4"], ["no class 'Missing'", "Net"]),
    ("{file}:Net", ["--input-shape", "3,4", "--args", "[1, 2, 3, 4]"], ["Net(arguments", "--args"]),
    ("{file}:Net", ["--input-shape", "3,4", "--args", "{oops"], ["--args must be JSON"]),
    ("{file}:Net", [], ["needs --input-shape"]),
    ("{file}:Net", ["--input-shape", "5,5"], ["fails on the example input", "--input-shape"]),
    ("{missing}:Net", ["--input-shape", "3,4"], ["does not exist"]),
])
def test_cli_errors_are_one_plain_line(module_file: Path, tmp_path: Path, capsys, source: str, extra: list[str],
                                       words: list[str]) -> None:
    target = source.format(file=module_file, missing=tmp_path / "nowhere.py")
    code = main(["import", target, *extra, "-o", str(tmp_path / "x.nbg")])
    error = capsys.readouterr().err
    assert code in (1, 2) and "Traceback" not in error
    for word in words:
        assert word in error


def test_a_module_file_that_raises_is_reported(tmp_path: Path, capsys) -> None:
    path = tmp_path / "raises.py"
    path.write_text("raise RuntimeError('no GPU here')\n")
    assert main(["import", f"{path}:Net", "--input-shape", "3", "-o", str(tmp_path / "x.nbg")]) == 1
    assert "Running raises.py failed: RuntimeError: no GPU here" in capsys.readouterr().err


def test_help_says_that_importing_a_module_runs_it(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "RUNNING that Python file" in text and "opening a .nbg file never runs code" in text
