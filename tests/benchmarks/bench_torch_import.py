"""PyTorch import figures, on a ResNet-18-shaped module built here (11.7 M parameters, 8 residual blocks, no
download):

- ``torch_import_resnet18_ms``: nn.Module to a laid-out document with its weights (trace, shape propagation,
  mapping, layout; no parity run), median of 3 after one warm-up import in the same process;
- ``torch_import_resnet18_parity_ms``: the parity run alone (compile the document, load the weights, run both on
  one batch of 3×64×64 images);
- ``torch_import_resnet18_rel_diff``: the parity figure itself (relative, goal <= 1e-4);
- ``torch_import_resnet18_layers``: layers in the document (one per traced call).
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, inputs: int, outputs: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(outputs)
        self.down = (nn.Sequential(nn.Conv2d(inputs, outputs, 1, stride, bias=False), nn.BatchNorm2d(outputs))
                     if stride != 1 or inputs != outputs else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.down(x))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        widths = [(64, 64, 1), (64, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
                  (256, 512, 2), (512, 512, 1)]
        self.blocks = nn.Sequential(*(Block(i, o, s) for i, o, s in widths))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def run_all() -> dict[str, float]:
    from netbuilder.importers.pytorch import import_pytorch, pytorch_parity

    torch.manual_seed(0)
    model = ResNet18()
    example = torch.randn(2, 3, 64, 64)
    result = import_pytorch(model, example, parity=False)  # warm-up
    times = []
    for _ in range(3):
        start = time.perf_counter()
        result = import_pytorch(model, example, parity=False)
        times.append((time.perf_counter() - start) * 1000)
    start = time.perf_counter()
    parity = pytorch_parity(result, model.eval(), (example,))
    parity_ms = (time.perf_counter() - start) * 1000
    return {"torch_import_resnet18_ms": round(statistics.median(times), 1),
            "torch_import_resnet18_parity_ms": round(parity_ms, 1),
            "torch_import_resnet18_rel_diff": parity.max_rel_diff,
            "torch_import_resnet18_layers": result.layer_count}


BENCHMARKS = {"torch_import": run_all}
