"""The networks behind the ONNX files in ``tests/core/data/``, and how those files were made.

All are dynamo exports: NetBuilder's own of a causal self-attention model, a cross-attention and a decoder tied to
its embedding (attention written out as ~100 operations: packed projections, head split, the causal mask from
Trilu/Equal/Where on the sequence length, shape arithmetic on the batch and length; cross-attention splits its
packed weights with SplitToSequence), and PyTorch's of attention written by hand as nanoGPT does. Exporting takes
seconds each, importing milliseconds, so the tests read the stored files (stack traces dropped); the round-trip
test (``NETBUILDER_ROUNDTRIP_ALL=1``) exports the templates live. Regenerate with ``python tests/core/onnx_fixtures.py``
after an exporter change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netbuilder.document import Document, Network

FIXTURE = Path(__file__).parent / "data" / "tiny-causal-attention.onnx"
CROSS_FIXTURE = Path(__file__).parent / "data" / "tiny-cross-attention.onnx"
NANOGPT_FIXTURE = Path(__file__).parent / "data" / "nanogpt-attention.onnx"
TIED_FIXTURE = Path(__file__).parent / "data" / "tiny-tied-decoder.onnx"


def save_graph(graph: Any, path: Path | str, opset: int = 17) -> Path:
    """Write a hand-built ONNX graph as a model file (IR version 8, which every onnxruntime here reads)."""
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return Path(path)


def tiny_causal_network() -> Network:
    net = Document(("tiny_causal",)).network()
    tokens = net.add("Input", name="tokens", shape=("T",), dtype="int64")
    embed = net.add("Embedding", name="embed", vocab_size=11, dim=8)
    position = net.add("PositionalEncoding", name="position", kind="learned", max_len=12)
    norm = net.add("LayerNorm", name="norm")
    attention = net.add("MultiheadAttention", name="attn", num_heads=2, causal=True)
    add = net.add("Add", name="residual")
    head = net.add("Linear", name="head", units=11)
    net.chain(tokens, embed, position, norm, attention)
    net.connect(position, add)
    net.connect(attention, add)
    net.chain(add, head, net.add("Output", name="logits", role="token_logits"))
    return net


def tiny_cross_network() -> Network:
    """Queries N×T×8 attend to a memory N×5×6 of another width (kdim = vdim = 6)."""
    net = Document(("tiny_cross",)).network()
    queries = net.add("Input", name="queries", shape=("T", 8))
    memory = net.add("Input", name="memory", shape=(5, 6))
    attention = net.add("MultiheadAttention", name="attn", num_heads=2, mode="cross")
    net.connect(queries, attention)
    net.connect(memory, attention, dst_port="memory")
    net.connect(attention, net.add("Output", name="attended", role="features"))
    return net


def tiny_tied_network() -> Network:
    """A decoder Linear tied to the input Embedding (``tie_weight_to``): one stored table in the ONNX file."""
    net = Document(("tiny_tied",)).network()
    tokens = net.add("Input", name="tokens", shape=("T",), dtype="int64")
    embed = net.add("Embedding", name="embed", vocab_size=20, dim=8)
    decoder = net.add("Linear", name="decoder", units=20, tie_weight_to="embed")
    net.chain(tokens, embed, net.add("Tanh", name="act"), decoder,
              net.add("Output", name="logits", role="token_logits"))
    return net


def nanogpt_attention() -> Any:
    """Causal self-attention as nanoGPT writes it by hand (packed c_attn split in three, a tril buffer sliced to the
    length and masked_fill, softmax, c_proj): not NetBuilder's module, the same computation."""
    import math

    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class CausalSelfAttention(nn.Module):
        def __init__(self, dim: int = 16, heads: int = 4, block: int = 12) -> None:
            super().__init__()
            self.heads = heads
            self.c_attn = nn.Linear(dim, 3 * dim)
            self.c_proj = nn.Linear(dim, dim)
            self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b, t, c = x.size()
            q, k, v = self.c_attn(x).split(c, dim=2)
            k = k.view(b, t, self.heads, c // self.heads).transpose(1, 2)
            q = q.view(b, t, self.heads, c // self.heads).transpose(1, 2)
            v = v.view(b, t, self.heads, c // self.heads).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
            att = att.masked_fill(self.bias[:, :, :t, :t] == 0, float("-inf"))
            y = F.softmax(att, dim=-1) @ v
            return self.c_proj(y.transpose(1, 2).contiguous().view(b, t, c))

    return CausalSelfAttention()


def write(network: Network | Any, path: Path) -> None:
    import onnx
    import torch

    from netbuilder.export import export_onnx

    if isinstance(network, Network):
        print(export_onnx(network, path).summary())
    else:
        torch.onnx.export(network.eval(), (torch.randn(2, 6, 16),), str(path), dynamo=True, external_data=False,
                          input_names=["x"],
                          output_names=["y"], dynamic_shapes={"x": {0: torch.export.Dim("N"),
                                                                    1: torch.export.Dim("T", max=12)}})
    model = onnx.load(str(path))
    for node in model.graph.node:  # stack traces and FX details are most of the file; the module scopes stay
        kept = [(p.key, p.value) for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"]
        del node.metadata_props[:]
        for key, value in kept:
            node.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))
    print(f"{path.stat().st_size / 1024:.1f} KiB once the stack traces are dropped")


if __name__ == "__main__":
    import torch

    torch.manual_seed(0)
    FIXTURE.parent.mkdir(exist_ok=True)
    write(tiny_causal_network(), FIXTURE)
    write(tiny_cross_network(), CROSS_FIXTURE)
    write(nanogpt_attention(), NANOGPT_FIXTURE)
    write(tiny_tied_network(), TIED_FIXTURE)
