"""CPU thread count: training steps of a small GRU (the char-gru template's size) with torch's own thread count
(one per core) and with NetBuilder's automatic count, on an idle machine and with one busy process beside it.

``python tests/benchmarks/run.py --json --only threads``. On a loaded two-core machine the automatic count (1)
ran char-gru 3.7-8.5x faster than two threads, with the same losses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import torch
from torch import nn

STEPS_SECONDS = 3.0  # time each measurement takes


def _steps_per_second(threads: int) -> float:
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    model = nn.GRU(32, 128, batch_first=True)
    head = nn.Linear(128, 60)
    optimizer = torch.optim.Adam([*model.parameters(), *head.parameters()], lr=1e-3)
    x = torch.randn(64, 64, 32)
    y = torch.randint(0, 60, (64 * 64,))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < STEPS_SECONDS or steps < 3:
        out, _ = model(x)
        loss = nn.functional.cross_entropy(head(out).reshape(-1, 60), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        steps += 1
    return steps / (time.perf_counter() - start)


def bench_threads() -> dict[str, float]:
    from netbuilder.train.threads import auto_threads, usable_cores

    before = torch.get_num_threads()
    default = usable_cores()  # what torch starts with: one thread per core it may use
    figures: dict[str, float] = {"threads_default": float(default)}
    try:
        figures["threads_auto_idle"] = float(auto_threads())
        figures["steps_per_s_default_idle"] = _steps_per_second(default)
        figures["steps_per_s_auto_idle"] = _steps_per_second(auto_threads())
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            time.sleep(0.5)
            auto = auto_threads()
            figures["threads_auto_busy"] = float(auto)
            figures["steps_per_s_default_busy"] = _steps_per_second(default)
            figures["steps_per_s_auto_busy"] = _steps_per_second(auto)
        finally:
            hog.kill()
            hog.wait()
    finally:
        torch.set_num_threads(before)
    figures["speedup_auto_vs_default_busy"] = figures["steps_per_s_auto_busy"] / figures["steps_per_s_default_busy"]
    figures["cpu_count"] = float(os.cpu_count() or 1)
    return {k: round(v, 3) for k, v in figures.items()}


BENCHMARKS = {"threads": bench_threads}
