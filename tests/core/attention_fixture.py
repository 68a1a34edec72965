"""The NetBuilder network behind ``tests/core/data/tiny-causal-attention.onnx``, and how that file was made.

The file is NetBuilder's own dynamo export of this network (attention written out as ~100 operations: packed
projections, head split, the causal mask from Trilu/Equal/Where on the sequence length, shape arithmetic on the
batch and length). Exporting takes ten seconds, importing it milliseconds, so the tests read the stored file; the
round-trip test (``NETBUILDER_ROUNDTRIP_ALL=1``) exports the templates live. Regenerate with
``python tests/core/attention_fixture.py`` after an exporter change.
"""

from __future__ import annotations

from pathlib import Path

from netbuilder.document import Document, Network

FIXTURE = Path(__file__).parent / "data" / "tiny-causal-attention.onnx"


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


if __name__ == "__main__":
    import onnx
    import torch

    from netbuilder.export import export_onnx

    torch.manual_seed(0)
    FIXTURE.parent.mkdir(exist_ok=True)
    print(export_onnx(tiny_causal_network(), FIXTURE).summary())
    model = onnx.load(str(FIXTURE))
    for node in model.graph.node:  # stack traces and FX details are most of the file; the module scopes stay
        kept = [(p.key, p.value) for p in node.metadata_props if p.key == "pkg.torch.onnx.name_scopes"]
        del node.metadata_props[:]
        for key, value in kept:
            node.metadata_props.add(key=key, value=value)
    onnx.save(model, str(FIXTURE))
    print(f"{FIXTURE.stat().st_size / 1024:.1f} KiB once the stack traces are dropped")
