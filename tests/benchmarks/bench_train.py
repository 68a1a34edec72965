"""Training-engine figures: throughput of `Trainer` against hand-written PyTorch loops, and peak memory.

All three train the same MLP (the ``mlp`` template's layers: 64-128-ReLU-Dropout-64-ReLU-10, built in code with
the same sizes when the template file is absent) on the bundled ``digits`` (1,797 samples, 15 % validation) with
Adam, the same epochs and batch size, and validate once per epoch.

* the DataLoader loop is written the way pytorch/examples write it (mnist/main.py): a ``TensorDataset`` and a
  ``DataLoader(shuffle=True)``, ``loss.item()`` every ``log_interval`` batches, and a test pass per epoch summing
  ``.item()`` per batch;
* the tuned loop is the fastest plain loop we know for in-memory data: one ``randperm`` per epoch, batches by
  tensor indexing, ``zero_grad(set_to_none=True)``, one host read per epoch, and PyTorch's fused Adam kernel, the
  implementation the Trainer picks; ``train_vs_tuned_unfused_loop_ratio`` compares with the same loop on the
  default (unfused) Adam, which is what most hand-written loops use.
* the Trainer run is timed end to end: data preparation, run folder, per-epoch validation, checkpoints, metrics
  files and final weights included.

Throughput is training samples per second (epochs × training samples / wall time). The contenders run
interleaved in one process, one after the other in each of several repeats; a ratio is the median over the
repeats of the two speeds measured in the same repeat, so that machine load affects both sides alike
(``train_vs_tuned_ratio_of_medians`` shows the plain ratio of the medians for comparison).

Peak memory is measured in fresh subprocesses, one per contender (three each, median): each imports what it
needs, loads the data set once and runs one tiny optimisation step (PyTorch's one-time set-up), records its
resident set size (RSS, from /proc/self/statm), resets the kernel's high-water mark (``/proc/self/clear_refs``),
trains, and reports the high-water mark (``VmHWM``): the peak RSS while training. ``train_peak_memory_ratio`` is
the Trainer process's peak over the DataLoader loop process's: the whole cost of training through NetBuilder,
imports included. The growth during training alone (peak minus the RSS just before training, in MiB) and its
ratio are reported too; for data this small they are a few MiB either way, so that ratio is noisy.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent.parent
EPOCHS = 20  # the mlp template's own setting
BATCH = 64
LR = 1e-3
REPEATS = 9


def _document() -> Any:
    from netbuilder.document import Document

    template = ROOT / "resources" / "templates" / "mlp.nbg"
    if template.is_file():
        from netbuilder.io import load_document

        return load_document(template)
    doc = Document()
    net = doc.network()
    net.chain(net.add("Input", name="pixels", shape=(64,)), net.add("Linear", name="hidden1", units=128),
              net.add("ReLU"), net.add("Dropout", p=0.1), net.add("Linear", name="hidden2", units=64),
              net.add("ReLU"), net.add("Linear", name="classes", units=10),
              net.add("Output", name="digit", role="logits"))
    return doc


def _hand_model(doc: Any) -> nn.Module:
    """The same layers written as nn.Sequential, read off the document so that all train the same network."""
    layers: list[nn.Module] = []
    net = doc.network()
    features = 64
    for node_id in net.topological_order():
        node = net.node(node_id)
        if node.type == "Linear":
            layers.append(nn.Linear(features, node.params["units"]))
            features = node.params["units"]
        elif node.type == "ReLU":
            layers.append(nn.ReLU())
        elif node.type == "Dropout":
            layers.append(nn.Dropout(node.params["p"]))
    return nn.Sequential(*layers)


def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The training and validation tensors, split and standardised exactly as the Trainer does it."""
    from netbuilder.data import load_data

    prepared = load_data("digits").prepare(val_fraction=0.15, seed=0)
    assert prepared.val is not None
    return prepared.train.x, prepared.train.y, prepared.val.x, prepared.val.y  # type: ignore[attr-defined]


def dataloader_loop(doc: Any, epochs: int = EPOCHS) -> int:
    """pytorch/examples style. Returns the number of training samples seen."""
    from torch.utils.data import DataLoader, TensorDataset

    x, y, vx, vy = _digits()
    torch.manual_seed(0)
    model = _hand_model(doc)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    train_loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True)
    test_loader = DataLoader(TensorDataset(vx, vy), batch_size=1000)
    log_interval = 10
    for _epoch in range(1, epochs + 1):
        model.train()
        for batch_idx, (data, target) in enumerate(train_loader):
            optimizer.zero_grad()
            output = model(data)
            loss = F.cross_entropy(output, target)
            loss.backward()
            optimizer.step()
            if batch_idx % log_interval == 0:
                _ = loss.item()
        model.eval()
        test_loss, correct = 0.0, 0
        with torch.no_grad():
            for data, target in test_loader:
                output = model(data)
                test_loss += F.cross_entropy(output, target, reduction="sum").item()
                pred = output.argmax(dim=1, keepdim=True)
                correct += pred.eq(target.view_as(pred)).sum().item()
    return epochs * len(x)


def tuned_loop(doc: Any, epochs: int = EPOCHS, fused: bool = True) -> int:
    """Tensor indexing, no per-batch host reads, and (``fused``) PyTorch's fused Adam kernel, as the Trainer uses.
    Returns the number of training samples seen."""
    x, y, vx, vy = _digits()
    torch.manual_seed(0)
    model = _hand_model(doc)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, fused=fused)
    count = len(x)
    for _epoch in range(epochs):
        model.train()
        order = torch.randperm(count)
        total = torch.zeros(())
        for start in range(0, count, BATCH):
            index = order[start:start + BATCH]
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
            total += loss.detach()
        model.eval()
        with torch.inference_mode():
            out = model(vx)
            metrics = torch.stack([F.cross_entropy(out, vy), (out.argmax(1) == vy).float().mean()])
        _ = (total.item(), metrics.tolist())
    return epochs * count


def trainer_run(doc: Any, run_root: str, epochs: int = EPOCHS) -> int:
    from netbuilder.train import Done, TrainConfig, Trainer

    config = TrainConfig.from_dict({"epochs": epochs, "batch_size": BATCH, "lr": LR, "seed": 0, "device": "cpu"},
                                   {"source": "digits", "val_fraction": 0.15, "seed": 0})
    trainer = Trainer(doc, config, run_root=run_root)
    result = trainer.run()
    if not isinstance(result, Done):
        raise RuntimeError(f"the Trainer run failed: {result}")
    assert trainer.data is not None
    return epochs * len(trainer.data.train)


def _throughput(function: Any) -> float:
    start = time.perf_counter()
    samples = function()
    return samples / (time.perf_counter() - start)


def throughput_figures() -> dict[str, float]:
    doc = _document()
    with tempfile.TemporaryDirectory() as root:
        contenders = {
            "dataloader": lambda: dataloader_loop(doc),
            "tuned": lambda: tuned_loop(doc),
            "tuned_unfused": lambda: tuned_loop(doc, fused=False),
            "trainer": lambda: trainer_run(doc, root),
        }
        for function in contenders.values():  # warm-up: imports, caches, allocator
            function()
        speeds: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(REPEATS):
            for name, function in contenders.items():
                speeds[name].append(_throughput(function))
    median = {name: statistics.median(values) for name, values in speeds.items()}

    def paired(other: str) -> float:
        """The median over repeats of the Trainer's speed over the other's in the same repeat: load that drifts
        during the benchmark moves both sides of a pair alike, and the median drops the odd disturbed pair."""
        return round(statistics.median(t / o for t, o in zip(speeds["trainer"], speeds[other], strict=True)), 3)

    return {
        "train_vs_dataloader_loop_ratio": paired("dataloader"),
        "train_vs_tuned_loop_ratio": paired("tuned"),
        "train_vs_tuned_unfused_loop_ratio": paired("tuned_unfused"),
        "train_vs_tuned_ratio_of_medians": round(median["trainer"] / median["tuned"], 3),
        "train_samples_per_s": round(median["trainer"]),
        "dataloader_loop_samples_per_s": round(median["dataloader"]),
        "tuned_loop_samples_per_s": round(median["tuned"]),
        "tuned_unfused_loop_samples_per_s": round(median["tuned_unfused"]),
    }


# ---- peak memory, one fresh process per contender ------------------------------------------------------------

_MEMORY_SCRIPT = """
import json, resource, sys, tempfile
sys.path.insert(0, {root!r})
sys.path.insert(0, {here!r})
import bench_train as bench
import netbuilder.data, torch
from torch.utils.data import DataLoader, TensorDataset
if {which!r} == "trainer":
    import netbuilder.train
doc = bench._document()
netbuilder.data.load_data("digits")
warm = torch.nn.Linear(64, 10)  # PyTorch's one-time set-up (autograd engine, allocator pools) happens here,
torch.optim.Adam(warm.parameters()).step()  # before the measurement, for both contenders alike
warm(torch.randn(8, 64)).sum().backward()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
def high_water():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM"))
try:  # reset the high-water mark, so that the peak is the training's, not the imports'
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
except OSError:
    pass
before = rss()
with tempfile.TemporaryDirectory() as root:
    if {which!r} == "trainer":
        bench.trainer_run(doc, root)
    else:
        bench.dataloader_loop(doc)
peak = max(high_water(), rss())
print(json.dumps({{"before": before, "peak": peak}}))
"""


def _memory(which: str) -> dict[str, float]:
    script = _MEMORY_SCRIPT.format(root=str(ROOT), here=str(Path(__file__).resolve().parent), which=which)
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            cwd=str(ROOT)).stdout
    return json.loads(output.strip().splitlines()[-1])


def memory_figures() -> dict[str, float]:
    runs = {which: [_memory(which) for _ in range(3)] for which in ("dataloader", "trainer")}
    peak = {w: statistics.median(r["peak"] for r in rs) for w, rs in runs.items()}
    growth = {w: statistics.median(max(0.0, r["peak"] - r["before"]) for r in rs) for w, rs in runs.items()}
    return {
        "train_peak_memory_ratio": round(peak["trainer"] / peak["dataloader"], 3),
        "train_peak_rss_mib": round(peak["trainer"], 1),
        "dataloader_loop_peak_rss_mib": round(peak["dataloader"], 1),
        "train_rss_growth_mib": round(growth["trainer"], 1),
        "dataloader_loop_rss_growth_mib": round(growth["dataloader"], 1),
        "train_rss_growth_ratio": round(growth["trainer"] / max(growth["dataloader"], 0.1), 3),
    }


def training_figures() -> dict[str, float]:
    return {**throughput_figures(), **memory_figures()}


BENCHMARKS = {"training": training_figures}
