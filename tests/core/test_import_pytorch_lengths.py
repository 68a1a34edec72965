"""PyTorch import of sequence models keeps the sequence length variable (T), as NetBuilder's own templates and the
ONNX importer do: token ids feeding an Embedding are variable by themselves, other inputs by ``dynamic_axes`` (or
``T`` in the CLI's --input-shape); reshapes keep the length in their -1; a call that bakes the length in is named
in a warning and the traced length is kept. Every import is checked at two lengths, and the compiled graph is run
here at lengths the import never saw."""

from __future__ import annotations

import json
import math
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
from netbuilder.io import load_document

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models run fastest on one thread


class LstmTagger(nn.Module):
    """Embedding → LSTM → Linear: a score per token."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 8)
        self.lstm = nn.LSTM(8, 12, batch_first=True)
        self.head = nn.Linear(12, 5)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.lstm(self.embed(tokens))
        return self.head(states)


class TransformerClassifier(nn.Module):
    """Embedding → TransformerEncoderLayer (batch first) → mean over the steps → Linear."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 16)
        self.encoder = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.1, batch_first=True)
        self.classes = nn.Linear(16, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.classes(self.encoder(self.embed(tokens)).mean(dim=1))


class SignalNet(nn.Module):
    """A Conv1d stack over a signal N×2×L of any length: strided, pooled, a per-position head and a pooled one."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(2, 8, 5, padding=2)
        self.conv2 = nn.Conv1d(8, 8, 3, stride=2)
        self.pool = nn.MaxPool1d(2)
        self.frames = nn.Conv1d(8, 4, 1)
        self.head = nn.Linear(8, 3)

    def forward(self, signal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.pool(F.relu(self.conv2(F.relu(self.conv1(signal)))))
        return self.frames(h), self.head(h.mean(dim=-1))


class SplitHeads(nn.Module):
    """Reshapes written with the traced sizes, as attention code writes them: x.view(b, t, heads, d)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        b, t, d = x.shape
        heads = x.view(b, t, 2, d // 2).transpose(1, 2)  # N×2×T×4
        joined = heads.transpose(1, 2).reshape(b, t, d)  # N×T×8 again
        return self.head(torch.flatten(joined.view(b, t, 2, 4), 2))


def _agrees_at(result, model: nn.Module, make_input, lengths: tuple[int, ...]) -> None:
    """The compiled import and the original give the same outputs at lengths the import did not trace."""
    module = result.compile()
    model.eval()
    for length in lengths:
        x = make_input(length)
        with torch.no_grad():
            ours, theirs = module(x), model(x)
        ours = ours if isinstance(ours, tuple) else (ours,)
        theirs = theirs if isinstance(theirs, tuple) else (theirs,)
        for mine, reference in zip(ours, theirs, strict=True):
            assert mine.shape == reference.shape
            torch.testing.assert_close(mine, reference, atol=1e-5, rtol=1e-4)


def _tokens(length: int) -> torch.Tensor:
    return torch.randint(0, 40, (3, length), generator=torch.Generator().manual_seed(length))


def test_embedding_lstm_linear_imports_with_a_variable_length() -> None:
    torch.manual_seed(0)
    model = LstmTagger()
    result = import_pytorch(model, torch.randint(0, 40, (2, 16)))
    assert result.network.find("tokens").params["shape"] == ("T",)
    analysis = analyze(result.network)
    assert analysis.ok
    assert str(analysis.nodes[result.network.find("output").id].output) == "N×T×5"
    assert result.parity is not None and result.parity.ok
    assert result.parity.to_dict()["sequence_lengths"] == [9, 16]  # checked at the traced and another length
    assert "at sequence lengths 9 and 16" in result.parity.summary()
    assert any("Variable length T: tokens" in note for note in result.notes)
    _agrees_at(result, model, _tokens, (1, 5, 40))


def test_transformer_with_a_mean_pool_imports_with_a_variable_length() -> None:
    torch.manual_seed(0)
    model = TransformerClassifier()
    result = import_pytorch(model, torch.randint(0, 40, (2, 12)))
    types = [node.type for node in result.network.nodes]
    assert types == ["Input", "Embedding", "TransformerEncoderLayer", "Permute", "GlobalAvgPool", "Linear", "Output"]
    assert result.network.find("tokens").params["shape"] == ("T",)
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (7, 12)
    _agrees_at(result, model, _tokens, (3, 30))


def test_a_conv1d_stack_keeps_the_signal_length_variable_when_asked() -> None:
    torch.manual_seed(0)
    model = SignalNet()
    result = import_pytorch(model, torch.randn(2, 2, 40), dynamic_axes={"signal": {2: "time"}})
    assert result.network.find("signal").params["shape"] == (2, "T")
    assert analyze(result.network).ok
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (21, 40)
    _agrees_at(result, model, lambda n: torch.randn(3, 2, n, generator=torch.Generator().manual_seed(n)),
               (17, 64, 200))
    # Traced at the shortest length it takes, it is checked at a longer one instead.
    shortest = import_pytorch(model, torch.randn(2, 2, 6), dynamic_axes=[2])
    assert shortest.network.find("signal").params["shape"] == (2, "T")
    assert shortest.parity is not None and shortest.parity.ok and shortest.parity.lengths == (6, 13)
    # Without dynamic_axes a float input keeps its traced length, as before.
    fixed = import_pytorch(model, torch.randn(2, 2, 40))
    assert fixed.network.find("signal").params["shape"] == (2, 40)
    assert fixed.parity is not None and "sequence_lengths" not in fixed.parity.to_dict()


def test_reshapes_written_with_traced_sizes_leave_the_length_to_minus_one() -> None:
    torch.manual_seed(0)
    model = SplitHeads()
    result = import_pytorch(model, torch.randint(0, 40, (2, 10)))
    reshapes = [node.params["shape"] for node in result.network.nodes if node.type == "Reshape"]
    assert reshapes and all(shape[0] == -1 for shape in reshapes)  # the length, never a baked 10
    assert result.parity is not None and result.parity.ok
    _agrees_at(result, model, _tokens, (4, 23))


class FlattenedSteps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 4)
        self.classify = nn.Linear(16 * 4, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(tokens).flatten(1))


class LiteralView(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(40, 8)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(tokens).view(-1, 16, 2, 4).flatten(2))


@pytest.mark.parametrize(("model", "culprit"), [
    (FlattenedSteps(), "classify (nn.Linear) fails at length 9"),
    (LiteralView(), "view (Tensor.view) fails at length 9"),
])
def test_a_call_that_bakes_the_length_is_named_and_the_traced_length_kept(model: nn.Module, culprit: str) -> None:
    result = import_pytorch(model, torch.randint(0, 40, (2, 16)))
    assert result.network.find("tokens").params["shape"] == (16,)
    warnings = [note for note in result.notes if note.startswith("Warning:")]
    assert len(warnings) == 1 and "tokens keeps the traced length 16" in warnings[0] and culprit in warnings[0]
    assert analyze(result.network).ok
    assert result.parity is not None and result.parity.ok and "sequence_lengths" not in result.parity.to_dict()


def test_empty_dynamic_axes_keep_token_ids_at_a_fixed_length() -> None:
    result = import_pytorch(LstmTagger(), torch.randint(0, 40, (2, 16)), dynamic_axes=[])
    assert result.network.find("tokens").params["shape"] == (16,)
    assert not any("Variable length" in note for note in result.notes)


@pytest.mark.parametrize(("axes", "words"), [
    ({"x": [1]}, "dynamic_axes names 'x', but forward takes signal"),
    ([3], "3 is not an axis of its example, which has 3"),
    (["time"], "'time' is not an axis"),
])
def test_bad_dynamic_axes_say_what_is_wrong(axes, words: str) -> None:
    with pytest.raises(ModelImportError, match=words):
        import_pytorch(SignalNet(), torch.randn(2, 2, 40), dynamic_axes=axes)


def test_a_list_of_axes_needs_a_model_with_one_input() -> None:
    class Two(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a + b

    with pytest.raises(ModelImportError, match=r"takes 2 inputs \(a, b\); give dynamic_axes as a mapping"):
        import_pytorch(Two(), (torch.randn(2, 3, 4), torch.randn(2, 3, 4)), dynamic_axes=[1])
    result = import_pytorch(Two(), (torch.randn(2, 3, 4), torch.randn(2, 3, 4)), dynamic_axes={"a": [1], "b": [1]})
    assert [node.params["shape"] for node in result.network.inputs()] == [("T", 4), ("T", 4)]
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (2, 3)


# ---------------------------------------------------------------------------------------------------------------
# The command line: T in --input-shape, as the Input node writes a variable length


SIGNAL_FILE = textwrap.dedent("""
    import torch.nn as nn
    import torch.nn.functional as F

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv1d(2, 4, 3, padding=1)
            self.down = nn.Conv1d(4, 4, 4, stride=4)

        def forward(self, x):
            return self.down(F.relu(self.conv(x)))
""")


@pytest.mark.parametrize(("shape", "lengths"), [("2,T", [9, 16]), ("2,T=64", [33, 64]), ("2,?", [9, 16])])
def test_cli_input_shape_marks_a_variable_length_with_t(tmp_path: Path, capsys, shape: str,
                                                         lengths: list[int]) -> None:
    source = tmp_path / "signal.py"
    source.write_text(SIGNAL_FILE)
    out = tmp_path / "signal.nbg"
    assert main(["import", f"{source}:Net", "--input-shape", shape, "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["parity"]["ok"] and report["parity"]["sequence_lengths"] == lengths
    assert load_document(out).network().find("x").params["shape"] == (2, "T")


@pytest.mark.parametrize("shape", ["2,L=5", "2,T=x", "2,T=0"])
def test_cli_rejects_a_malformed_variable_length(tmp_path: Path, capsys, shape: str) -> None:
    source = tmp_path / "signal.py"
    source.write_text(SIGNAL_FILE)
    assert main(["import", f"{source}:Net", "--input-shape", shape, "-o", str(tmp_path / "x.nbg")]) == 2
    error = capsys.readouterr().err
    assert "--input-shape" in error and "Traceback" not in error


# ---------------------------------------------------------------------------------------------------------------
# Tables of positions, written the usual three ways, become a PositionalEncoding that follows the length


class SinusoidalBuffer(nn.Module):
    """The PyTorch tutorial's encoding, batch first: a buffer sliced to the input's length."""

    def __init__(self, dim: int = 16, max_len: int = 64) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        rate = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        table = torch.zeros(1, max_len, dim)
        table[0, :, 0::2] = torch.sin(position * rate)
        table[0, :, 1::2] = torch.cos(position * rate)
        self.register_buffer("pe", table)
        self.embed = nn.Embedding(30, dim)
        self.encoder = nn.TransformerEncoderLayer(dim, 2, 32, dropout=0.0, batch_first=True)
        self.out = nn.Linear(dim, 30)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) * math.sqrt(16)
        x = x + self.pe[:, :x.size(1)]
        return self.out(self.encoder(x))


class GptPositions(nn.Module):
    """minGPT's learned positions: an Embedding of torch.arange(t), at most 24 steps."""

    def __init__(self) -> None:
        super().__init__()
        self.wte = nn.Embedding(30, 16)
        self.wpe = nn.Embedding(24, 16)
        self.ln = nn.LayerNorm(16)
        self.head = nn.Linear(16, 30, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        _, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        return self.head(self.ln(self.wte(idx) + self.wpe(pos)))


class SlicedParameter(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.pos = nn.Parameter(torch.randn(20, 8))
        self.out = nn.Linear(8, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out((self.embed(tokens) + self.pos[: tokens.shape[1]])[:, 0])


@pytest.mark.parametrize(("model", "kind", "max_len", "lengths"), [
    (SinusoidalBuffer(), "sinusoidal", 64, (9, 16)),
    (GptPositions(), "learned", 24, (9, 16)),
    (SlicedParameter(), "learned", 20, (9, 16)),
])
def test_tables_of_positions_become_a_positional_encoding(model: nn.Module, kind: str, max_len: int,
                                                          lengths: tuple[int, int]) -> None:
    torch.manual_seed(0)
    result = import_pytorch(model, torch.randint(0, 30, (2, 16)))
    encodings = [node for node in result.network.nodes if node.type == "PositionalEncoding"]
    assert [(node.params["kind"], node.params["max_len"]) for node in encodings] == [(kind, max_len)]
    assert result.network.inputs()[0].params["shape"] == ("T",)
    assert result.parity is not None and result.parity.ok and result.parity.lengths == lengths
    assert result.parameter_count == sum(p.numel() for p in model.parameters())
    _agrees_at(result, model, lambda n: torch.randint(0, 30, (2, n)), (3, 11))


def test_a_fixed_table_that_is_not_sinusoidal_imports_as_a_learned_one_and_says_so() -> None:
    model = SinusoidalBuffer()
    model.pe.mul_(0.5)
    result = import_pytorch(model, torch.randint(0, 30, (2, 16)))
    assert result.network.find("add").params["kind"] == "learned"
    assert any("the fixed table pe imports as a learned PositionalEncoding" in note for note in result.notes)
    assert result.parity is not None and result.parity.ok


TOKENS_FILE = textwrap.dedent("""
    import torch
    import torch.nn as nn

    class Tagger(nn.Module):
        def __init__(self, vocab=30):
            super().__init__()
            self.embed = nn.Embedding(vocab, 8)
            self.gru = nn.GRU(8, 8, batch_first=True)
            self.out = nn.Linear(8, 4)

        def forward(self, ids):
            states, _ = self.gru(self.embed(ids))
            return self.out(states)

    class Positions(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("pe", torch.randn(1, 32, 8))
            self.embed = nn.Embedding(30, 8)

        def forward(self, ids):
            return self.embed(ids.long()) + self.pe[:, :ids.size(1)]
""")


def test_cli_token_ids_are_variable_without_being_asked(tmp_path: Path, capsys) -> None:
    source = tmp_path / "tagger.py"
    source.write_text(TOKENS_FILE)
    out = tmp_path / "tagger.nbg"
    assert main(["import", f"{source}:Tagger", "--input-shape", "12", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["parity"]["sequence_lengths"] == [7, 12]
    assert any(note.startswith("Variable length T: ids") for note in report["notes"])
    net = load_document(out).network()
    assert net.find("ids").params == {"shape": ("T",), "dtype": "int64"}
    assert analyze(net).ok


def test_a_reshape_that_torch_runs_but_netbuilder_cannot_keep_variable_is_named() -> None:
    """N×T×4 to N×(T/2)×8 runs in torch at every even length (14 and the second length, 8), but a NetBuilder
    Reshape cannot halve a variable length: its own shape check names the layer."""

    class Pairs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(40, 4)
            self.head = nn.Linear(8, 3)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = self.embed(tokens)
            return self.head(x.reshape(x.size(0), -1, 8))

    result = import_pytorch(Pairs(), torch.randint(0, 40, (2, 14)))
    assert result.network.find("tokens").params["shape"] == (14,)
    assert any("reshape (its Reshape layer) cannot take a variable length" in note for note in result.notes)
    assert result.parity is not None and result.parity.ok


# ---------------------------------------------------------------------------------------------------------------
# Classifiers that read a recurrent layer's final state: the last layer's h_n is a step of the output sequence


class FinalHidden(nn.Module):
    def __init__(self, cell: type, layers: int, bidirectional: bool) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 8)
        self.rnn = cell(8, 6, num_layers=layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(12 if bidirectional else 6, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(self.embed(tokens))
        h = state[0] if isinstance(self.rnn, nn.LSTM) else state
        if self.rnn.bidirectional:
            return self.fc(torch.cat([h[-2, :, :], h[-1, :, :]], dim=1))
        return self.fc(h[-1] if self.rnn.num_layers > 1 else h.squeeze(0))


@pytest.mark.parametrize(("cell", "layers", "bidirectional", "steps"), [
    (nn.LSTM, 2, False, ["SelectStep"]),
    (nn.GRU, 1, False, ["SelectStep"]),
    (nn.GRU, 2, True, ["Split", "SelectStep", "SelectStep"]),
])
def test_the_final_hidden_state_of_the_last_layer_imports_as_a_step(cell: type, layers: int, bidirectional: bool,
                                                                     steps: list[str]) -> None:
    torch.manual_seed(0)
    model = FinalHidden(cell, layers, bidirectional)
    result = import_pytorch(model, torch.randint(0, 30, (2, 10)))
    types = [node.type for node in result.network.nodes]
    assert [t for t in types if t in ("Split", "SelectStep")] == steps
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (6, 10)
    _agrees_at(result, model, lambda n: torch.randint(0, 30, (2, n)), (1, 25))


def test_other_rows_of_the_final_state_are_refused_by_name() -> None:
    class EarlyLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(4, 6, num_layers=2, batch_first=True)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            _, (h, c) = self.rnn(x)
            return h[0] + c[-1]

    with pytest.raises(UnsupportedOpsError) as caught:
        import_pytorch(EarlyLayer(), torch.randn(2, 5, 4))
    reasons = " ".join(caught.value.ops[0].reasons)
    assert "the final state of layer 1 of 2" in reasons and "final state" in reasons


class Seq2Seq(nn.Module):
    """nn.TransformerEncoder and nn.TransformerDecoder stacks (with a final norm), source and target of their own
    lengths."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 16)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, batch_first=True), 2,
                                             norm=nn.LayerNorm(16))
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 4, 32, batch_first=True), 2)
        self.out = nn.Linear(16, 30)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        return self.out(self.decoder(self.embed(tgt), self.encoder(self.embed(src))))


def test_transformer_stacks_import_layer_by_layer_with_two_variable_lengths() -> None:
    torch.manual_seed(0)
    model = Seq2Seq()
    result = import_pytorch(model, (torch.randint(0, 30, (2, 12)), torch.randint(0, 30, (2, 7))))
    types = [node.type for node in result.network.nodes]
    assert types.count("TransformerEncoderLayer") == 2 and types.count("TransformerDecoderLayer") == 2
    assert "LayerNorm" in types
    assert [node.params["shape"] for node in result.network.inputs()] == [("T",), ("T",)]
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (4, 7, 12)
    assert "at sequence lengths 4, 7 and 12" in result.parity.summary()
    module = result.compile()
    src, tgt = torch.randint(0, 30, (2, 20)), torch.randint(0, 30, (2, 3))
    with torch.no_grad():
        torch.testing.assert_close(module(src, tgt), model.eval()(src, tgt))


# ---------------------------------------------------------------------------------------------------------------
# Causal masks, built in forward for the length at hand, become the layers' causal option


class CausalStack(nn.Module):
    """A decoder-only language model on nn.TransformerEncoder with the mask torch's Transformer builds."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(30, 16)
        self.blocks = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True), 2,
                                            enable_nested_tensor=False)
        self.out = nn.Linear(16, 30)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(tokens.size(1))
        return self.out(self.blocks(self.embed(tokens), mask=mask, is_causal=True))


class CausalBuffer(nn.Module):
    """nanoGPT's way: a boolean mask buffer sliced to the length, for attention and a Transformer layer."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("bias", torch.ones(64, 64, dtype=torch.bool).triu(1))
        self.embed = nn.Embedding(30, 16)
        self.attention = nn.MultiheadAttention(16, 4, batch_first=True)
        self.block = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
        self.out = nn.Linear(16, 30)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        mask = self.bias[:x.size(1), :x.size(1)]
        attended, _ = self.attention(x, x, x, attn_mask=mask, need_weights=False)
        return self.out(self.block(attended, src_mask=mask))


@pytest.mark.parametrize("model", [CausalStack(), CausalBuffer()], ids=["generated-mask", "sliced-buffer"])
def test_a_causal_mask_becomes_the_causal_option(model: nn.Module) -> None:
    torch.manual_seed(0)
    result = import_pytorch(model, torch.randint(0, 30, (2, 12)))
    attention = [node for node in result.network.nodes if "causal" in node.params]
    assert attention and all(node.params["causal"] for node in attention)
    assert not any(node.type in ("Scale", "Reshape") for node in result.network.nodes)  # the mask built nothing
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (7, 12)
    _agrees_at(result, model, lambda n: torch.randint(0, 30, (2, n)), (3, 30))


def test_a_mask_that_is_not_causal_is_refused() -> None:
    class Strict(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(30, 16)
            self.block = nn.TransformerEncoderLayer(16, 4, 32, batch_first=True)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            t = tokens.size(1)
            return self.block(self.embed(tokens), src_mask=torch.full((t, t), float("-inf")).triu(2))

    with pytest.raises(UnsupportedOpsError, match="a mask that is not the causal mask"):
        import_pytorch(Strict(), torch.randint(0, 30, (2, 8)))


def test_cli_token_ids_read_through_a_cast_and_a_traced_buffer(tmp_path: Path, capsys) -> None:
    source = tmp_path / "tagger.py"
    source.write_text(TOKENS_FILE)
    out = tmp_path / "positions.nbg"
    assert main(["import", f"{source}:Positions", "--input-shape", "10", "-o", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["parity"]["ok"] and report["parity"]["sequence_lengths"] == [6, 10]
    net = load_document(out).network()
    assert net.find("ids").params == {"shape": ("T",), "dtype": "int64"}
    assert [node.type for node in net.nodes] == ["Input", "Embedding", "PositionalEncoding", "Output"]


class CausalConvNet(nn.Module):
    """A WaveNet-style stack over a signal of any length: 'same' padding, batch norm over the steps, a dilated
    convolution padded on the left only, a pooled head and a per-step output."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 8, 3, padding="same")
        self.norm = nn.BatchNorm1d(8)
        self.dilated = nn.Conv1d(8, 8, 3, dilation=2)
        self.head = nn.Linear(8, 3)

    def forward(self, signal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.relu(self.norm(self.conv(signal)))
        h = self.dilated(F.pad(h, (4, 0)))
        return self.head(F.adaptive_avg_pool1d(h, 1).squeeze(-1)), h.transpose(1, 2)


def test_a_causal_conv_stack_keeps_the_length_variable() -> None:
    torch.manual_seed(0)
    model = CausalConvNet()
    model.norm.running_var.uniform_(0.5, 2)
    result = import_pytorch(model, torch.randn(2, 2, 30), dynamic_axes=[2])
    assert result.network.find("signal").params["shape"] == (2, "T")
    assert [str(analyze(result.network).nodes[out.id].output) for out in result.network.outputs()] == \
        ["N×3", "N×T×8"]
    assert result.parity is not None and result.parity.ok and result.parity.lengths == (16, 30)
    _agrees_at(result, model, lambda n: torch.randn(2, 2, n, generator=torch.Generator().manual_seed(n)), (5, 99))
