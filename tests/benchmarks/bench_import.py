"""Import figures, on the model-zoo graphs the onnx wheel ships:

- ``import_resnet50_ms``: ResNet-50 (176 layers, 25.6 M parameters), ONNX file to a laid-out document with its
  weights in memory (no parity run), median of 3 after one warm-up import in the same process (goal < 3000);
- ``import_vgg19_peak_rss_ratio``: VGG-19 (143.7 M parameters, 575 MB of float32 weights filled in by
  ConstantOfShape) imported in a fresh process whose libraries are already loaded: the growth of the peak resident
  memory during the import over the bytes of the model's weights (goal <= 1.5; 1.0 is the weights alone).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import onnx

ZOO = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data" / "light"

PEAK_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy, onnx, torch, netbuilder.importers.onnx_import as onnx_import
    import netbuilder.importers.layout, netbuilder.importers.parity
    from netbuilder.specs.interop import onnx_rules

    onnx_rules()

    def status(key):
        with open("/proc/self/status") as file:
            for line in file:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024

    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")  # reset the peak to the present size
    before = status("VmRSS")
    model = onnx.load(sys.argv[1])
    weights = onnx_import.weight_bytes(model)
    del model
    result = onnx_import.import_onnx(sys.argv[1], parity=False)
    peak = status("VmHWM")
    json.dump({"before": before, "peak": peak, "weights": weights,
               "parameters": result.parameter_count}, sys.stdout)
    """
)


def import_resnet50() -> dict[str, float]:
    from netbuilder.importers import import_onnx

    path = ZOO / "light_resnet50.onnx"
    result = import_onnx(path, parity=False)  # warm-up: library imports, rule registry
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = import_onnx(path, parity=False)
        times.append((time.perf_counter() - start) * 1000)
    return {"import_resnet50_ms": round(statistics.median(times), 1), "import_resnet50_layers": result.layer_count,
            "import_resnet50_parameters": result.parameter_count}


def import_vgg19_peak() -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(ZOO / "light_vgg19.onnx")], capture_output=True,
                          text=True, timeout=600, check=True)
    figures = json.loads(done.stdout)
    growth = figures["peak"] - figures["before"]
    return {"import_vgg19_peak_rss_ratio": round(growth / figures["weights"], 3),
            "import_vgg19_peak_rss_growth_mb": round(growth / 2**20, 1),
            "import_vgg19_weight_mb": round(figures["weights"] / 2**20, 1)}


def run_all() -> dict[str, float]:
    return {**import_resnet50(), **import_vgg19_peak()}


BENCHMARKS = {"import": run_all}
