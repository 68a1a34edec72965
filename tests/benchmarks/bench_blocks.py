"""Blocks: analysis of a 1,000-layer network made of blocks, re-analysis after an edit inside a block, and the
compiled resnet18 template (nested block modules) against ResNet-18 written as plain nn.Modules."""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "core"))

from netbuilder.analysis import Analyzer  # noqa: E402
from netbuilder.analysis.blocks import clear_caches  # noqa: E402
from netbuilder.compile import compile_network  # noqa: E402
from netbuilder.document import Document  # noqa: E402

BLOCK_LAYERS, INSTANCES = 20, 50


def blocks_document() -> tuple[Document, str]:
    """50 instances of a 20-layer block in a chain (1,000 layers); returns the document and a Linear inside."""
    doc = Document()
    inner = doc.define_block("Layer20")
    previous = inner.add("Input", name="x", shape=(32,))
    middle = ""
    kinds = ["Linear", "ReLU", "LayerNorm", "Dropout"]
    for index in range(BLOCK_LAYERS):
        kind = kinds[index % len(kinds)]
        node = inner.add(kind, **({"units": 32} if kind == "Linear" else {}))
        if kind == "Linear" and index == 8:  # a Linear in the middle
            middle = node
        inner.connect(previous, node)
        previous = node
    inner.connect(previous, inner.add("Output", name="y", role="features"))
    net = doc.network()
    previous = net.add("Input", shape=(32,))
    for _ in range(INSTANCES):
        node = net.add_block("Layer20")
        net.connect(previous, node)
        previous = node
    net.connect(previous, net.add("Output", role="regression"))
    return doc, middle


def _median_ms(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def analysis_figures() -> dict[str, float]:
    doc, middle = blocks_document()
    net = doc.network()

    def cold() -> None:
        clear_caches()
        result = Analyzer(net).analyze()
        assert result.ok and result.total_params == INSTANCES * 5 * (32 * 32 + 32) + INSTANCES * 5 * 64

    cold_ms = _median_ms(cold, repeats=5)
    analyzer = Analyzer(net)
    analyzer.analyze()
    inner = doc.network("Layer20")
    sizes = iter([16, 32] * 50)

    def edit_inside() -> None:
        inner.set_param(middle, "units", next(sizes))
        result = analyzer.analyze()
        assert result.ok

    edit_ms = _median_ms(edit_inside, repeats=9)
    return {"analysis_blocks_1000_nodes_ms": round(cold_ms, 2), "reanalysis_edit_inside_block_ms": round(edit_ms, 2)}


def _step(model: torch.nn.Module, x: torch.Tensor, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
    return time.perf_counter() - start


def compiled_vs_handwritten() -> dict[str, float]:
    """resnet18 forward+backward, compiled template over hand-written (handwritten time / compiled time: >1
    means the compiled one is faster); best of alternating rounds, one thread, with a noise floor from a second
    hand-written copy."""
    from handwritten_resnet import ResNet18

    from netbuilder.templates import load_template

    torch.manual_seed(0)
    compiled = compile_network(load_template("resnet18").network(), seed=0)
    hand, twin = ResNet18(), ResNet18()
    hand.load_state_dict(compiled.state_dict())
    twin.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 3, 64, 64)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for model in (compiled, hand, twin):
            _step(model, x, 2)
        best = {"compiled": float("inf"), "hand": float("inf"), "twin": float("inf")}
        for _ in range(12):
            for name, model in (("compiled", compiled), ("hand", hand), ("twin", twin)):
                best[name] = min(best[name], _step(model, x, 3))
    finally:
        torch.set_num_threads(threads)
    return {"compiled_blocks_vs_handwritten_ratio": round(best["hand"] / best["compiled"], 3),
            "compiled_blocks_vs_handwritten_noise_floor": round(abs(1 - best["hand"] / best["twin"]), 3)}


BENCHMARKS = {"blocks_analysis": analysis_figures, "blocks_compiled_vs_handwritten": compiled_vs_handwritten}
