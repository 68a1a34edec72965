"""PyTorch import of a sequence model with a variable length, on a small Transformer language model built here
(Embedding, sinusoidal positions in a buffer, 4 encoder layers of width 256, a token head; 3.6 M parameters):

- ``torch_seq_import_variable_ms``: nn.Module to a laid-out document with the length variable (T), which runs the
  model once more at a second length to learn which sizes follow it; median of 3 after a warm-up, no parity;
- ``torch_seq_import_fixed_ms``: the same import with every length fixed (``dynamic_axes=[]``), for the cost of
  the second run;
- ``torch_seq_import_parity_ms``: the parity run alone (both models at the traced length 64 and at 33);
- ``torch_seq_import_rel_diff``: the worst relative difference over both lengths (goal <= 1e-4);
- ``torch_seq_import_other_length_rel_diff``: the compiled import against the original at length 300, which the
  import never saw.
"""

from __future__ import annotations

import math
import statistics
import time

import torch
import torch.nn as nn


class TransformerLM(nn.Module):
    def __init__(self, vocab: int = 2000, dim: int = 256, layers: int = 4, max_len: int = 512) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        rate = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        table = torch.zeros(1, max_len, dim)
        table[0, :, 0::2] = torch.sin(position * rate)
        table[0, :, 1::2] = torch.cos(position * rate)
        self.register_buffer("pe", table)
        self.embed = nn.Embedding(vocab, dim)
        self.layers = nn.ModuleList([nn.TransformerEncoderLayer(dim, 4, 4 * dim, dropout=0.1, batch_first=True)
                                     for _ in range(layers)])
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) * math.sqrt(self.embed.embedding_dim)
        x = x + self.pe[:, :x.size(1)]
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def _median_ms(run) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def run_all() -> dict[str, float]:
    from netbuilder.importers.parity import worst_differences
    from netbuilder.importers.pytorch import import_pytorch, pytorch_parity

    torch.manual_seed(0)
    model = TransformerLM().eval()
    example = torch.randint(0, 2000, (2, 64))
    result = import_pytorch(model, example, parity=False)  # warm-up
    variable_ms = _median_ms(lambda: import_pytorch(model, example, parity=False))
    fixed_ms = _median_ms(lambda: import_pytorch(model, example, parity=False, dynamic_axes=[]))
    start = time.perf_counter()
    parity = pytorch_parity(result, model, (example,), ((1,),))
    parity_ms = (time.perf_counter() - start) * 1000
    tokens = torch.randint(0, 2000, (2, 300), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        _, other_rel = worst_differences([(result.compile()(tokens).numpy(), model(tokens).numpy())])
    return {"torch_seq_import_variable_ms": variable_ms, "torch_seq_import_fixed_ms": fixed_ms,
            "torch_seq_import_parity_ms": round(parity_ms, 1), "torch_seq_import_rel_diff": parity.max_rel_diff,
            "torch_seq_import_other_length_rel_diff": other_rel}


BENCHMARKS = {"torch_seq_import": run_all}
