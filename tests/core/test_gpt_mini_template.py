"""gpt-mini: a decoder-only character Transformer built from one DecoderBlock repeated in sequence."""

from __future__ import annotations

import torch

from netbuilder.analysis import analyze
from netbuilder.compile import compile_network
from netbuilder.templates import load_template


def test_gpt_mini_is_a_repeated_causal_block_over_the_bundled_text() -> None:
    doc = load_template("gpt-mini")
    assert doc.settings["data"]["source"] == "text" and doc.settings["training"]["recipe"] == "language_model"
    net = doc.network()
    blocks = net.find("blocks")
    assert blocks.block == "DecoderStack"
    stack = doc.block("DecoderStack").network
    assert [n.block for n in stack.nodes if n.type == "Block"] == ["DecoderBlock", "DecoderBlock"]
    attention = doc.block("DecoderBlock").network.find("attn")
    assert attention.params["causal"] and attention.bindings == {"num_heads": "heads"}
    result = analyze(net)
    assert result.ok and str(result.nodes[net.find("head").id].output) == "N×T×53"
    keys = list(compile_network(net).state_dict())
    assert [k for k in keys if k.startswith("blocks.1.")] == [
        "blocks.1.ln1.weight", "blocks.1.ln1.bias", "blocks.1.attn.in_proj_weight", "blocks.1.attn.in_proj_bias",
        "blocks.1.attn.out_proj.weight", "blocks.1.attn.out_proj.bias", "blocks.1.ln2.weight", "blocks.1.ln2.bias",
        "blocks.1.fc.weight", "blocks.1.fc.bias", "blocks.1.proj.weight", "blocks.1.proj.bias"]


def test_gpt_mini_never_looks_ahead() -> None:
    """Changing a later character leaves the predictions for every earlier position unchanged."""
    model = compile_network(load_template("gpt-mini").network(), seed=0).eval()
    tokens = torch.randint(0, 53, (1, 20), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[0, 12:] = (changed[0, 12:] + 7) % 53
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert torch.allclose(before[0, :12], after[0, :12], atol=1e-5)
    assert not torch.allclose(before[0, 12:], after[0, 12:], atol=1e-3)
