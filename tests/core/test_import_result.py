"""What an import reports about itself: parameters counted as the model has them (a tied table once), and weights
that save even when two layers share one tensor."""

from __future__ import annotations

import safetensors.torch
import torch
import torch.nn as nn

from netbuilder.analysis import analyze
from netbuilder.importers import save_import
from netbuilder.importers.pytorch import import_pytorch


class TiedLanguageModel(nn.Module):
    def __init__(self, vocab: int = 17, dim: int = 12) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.rnn = nn.GRU(dim, dim, batch_first=True)
        self.decoder = nn.Linear(dim, vocab)
        self.decoder.weight = self.embed.weight  # weight tying, as in AWD-LSTM and GPT-2

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(tokens))
        return self.decoder(states)


def test_a_tied_table_is_counted_once_as_pytorch_and_the_analysis_count_it(tmp_path):
    torch.manual_seed(0)
    model = TiedLanguageModel()
    result = import_pytorch(model, torch.randint(0, 17, (2, 5)))
    own = sum(p.numel() for p in model.parameters())  # PyTorch lists a shared Parameter once
    assert result.parameter_count == own == analyze(result.network).total_params
    assert f"{own:,} parameters" in result.summary()


def test_weights_sharing_one_tensor_save_and_load_back(tmp_path):
    torch.manual_seed(0)
    result = import_pytorch(TiedLanguageModel(), torch.randint(0, 17, (2, 5)))
    table = result.weights["embed.weight"]
    result.weights["decoder.weight"] = table  # the very same tensor, as an importer may hand it over
    assert result.parameter_count == analyze(result.network).total_params
    _, weights_file = save_import(result, tmp_path / "lm.nbg")
    loaded = safetensors.torch.load_file(str(weights_file))
    assert torch.equal(loaded["decoder.weight"], table) and torch.equal(loaded["embed.weight"], table)
