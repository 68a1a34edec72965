"""The update step, apart from what a recipe computes: how a loss becomes new weights.

A recipe says *what* the loss is; `UpdateStep` does backward, gradient clipping and the optimiser step, under
autocast and with fp16 loss scaling when mixed precision is on. `direct`, `compiled` and `ddp_wrapped` choose what
a training step calls for each network: the generated ``forward`` itself, torch.compile of it, or a
DistributedDataParallel wrapper. Keeping this here means a new recipe gets mixed precision, clipping, compile and
multi-GPU training without a line of its own.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn as nn

_NULL = contextlib.nullcontext()

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class UpdateStep:
    """Backward, optional clipping and the optimiser step for one precision and one clipping norm."""

    def __init__(self, device: torch.device, precision: str, clip: float):
        self.device = device
        self.precision = precision
        self.clip = clip
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.autocast_dtype = AUTOCAST_DTYPES.get(precision)
        self.grad_norms: list[torch.Tensor] = []  # with clipping: each step's norm, checked for NaN/Inf

    def autocast(self) -> Any:
        """The autocast context of this precision (a no-op in fp32)."""
        if self.autocast_dtype is None:
            return _NULL
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def __call__(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward, optional clipping, step (with fp16 loss scaling when on)."""
        scaler = self.scaler
        if scaler is not None:
            scaler.scale(loss).backward()
        else:
            loss.backward()
        clip = self.clip
        if clip > 0:
            if scaler is not None:
                scaler.unscale_(optimizer)
            params = [p for group in optimizer.param_groups for p in group["params"]]
            norm = torch.nn.utils.clip_grad_norm_(params, clip)
            if scaler is None:  # the scaler skips non-finite steps by design; only plain steps are guarded
                self.grad_norms.append(norm.detach())
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()

    def take_grad_norms(self) -> list[torch.Tensor]:
        """The clipped steps' gradient norms since the last call (the loop checks them for NaN/Inf)."""
        norms, self.grad_norms = self.grad_norms, []
        return norms

    def state(self) -> dict[str, Any] | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def clear_grads(optimizer: torch.optim.Optimizer) -> None:
    """``zero_grad(set_to_none=True)`` without its profiling and compiler-guard wrappers, which cost more than the
    work itself for a small network: the gradients are simply dropped."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.grad = None


def direct(module: nn.Module) -> Any:
    """What the training step calls: the generated ``forward`` itself. The compiled network's own layers still run
    through their usual calls (and hooks); only the outer wrapper layers of GraphModule.__call__ are skipped, as
    nothing registers hooks on the network as a whole."""
    return module.forward


def compiled(call: Any) -> Any:
    """torch.compile of what a step calls (the module behind a bound ``forward``)."""
    return torch.compile(getattr(call, "__self__", call))


def ddp_wrapped(module: nn.Module, device: torch.device) -> Any:
    """A DistributedDataParallel wrapper of ``module``, or ``direct(module)`` when it has nothing to train."""
    if not any(p.requires_grad for p in module.parameters()):
        return direct(module)
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=ids)
