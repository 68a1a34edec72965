"""Attention import figures, on the gpt-mini template exported by NetBuilder itself (dynamo exporter; its two
causal attention layers are ~100 ONNX operations each):

- ``import_gpt_mini_ms``: ONNX file to a laid-out document with its weights (no parity run), median of 3 after a
  warm-up import in the same process;
- ``attention_plan_ms``: finding the attention regions of the graph before the walk (median over the imports);
- ``attention_match_ms``: proving one region equal to a MultiheadAttention layer (labels run at two sizes) and
  reading off its weights (median over the regions of the imports);
- ``import_gpt_mini_parity_rel``: the relative difference onnxruntime vs. the imported network (tolerance 1e-4).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _timed(fn: Any, times: list[float]) -> Any:
    def wrapper(*args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            times.append((time.perf_counter() - start) * 1000)

    return wrapper


def gpt_mini() -> dict[str, float]:
    import netbuilder.importers.onnx_attention as onnx_attention
    import netbuilder.importers.onnx_import as onnx_import
    from netbuilder.export import export_onnx
    from netbuilder.templates import load_template

    plans: list[float] = []
    matches: list[float] = []
    plan, match = onnx_import.plan_attention, onnx_attention.match
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gpt-mini.onnx"
        export_onnx(load_template("gpt-mini").network("model"), path)
        checked = onnx_import.import_onnx(path)  # warm-up, with the parity run
        onnx_import.plan_attention = _timed(plan, plans)
        onnx_attention.match = _timed(match, matches)
        try:
            times = []
            for _ in range(3):
                start = time.perf_counter()
                result = onnx_import.import_onnx(path, parity=False)
                times.append((time.perf_counter() - start) * 1000)
        finally:
            onnx_import.plan_attention, onnx_attention.match = plan, match
    return {"import_gpt_mini_ms": round(statistics.median(times), 1),
            "import_gpt_mini_layers": result.layer_count,
            "attention_plan_ms": round(statistics.median(plans), 2),
            "attention_match_ms": round(statistics.median(matches), 2),
            "import_gpt_mini_parity_rel": checked.parity.max_rel_diff if checked.parity else float("nan")}


BENCHMARKS = {"import_attention": gpt_mini}
