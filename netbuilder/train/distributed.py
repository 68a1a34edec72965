"""Multi-process data parallelism on torch.distributed, for ``torchrun --nproc_per_node=N netbuilder train ...``.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; the trainer then joins the process group
(gloo on CPU, NCCL on GPU), wraps the model in DistributedDataParallel, gives each rank its own shard of every
epoch's shuffled sample order, and lets only rank 0 write the run folder. All ranks take the same decisions
(report, stop, early stopping) from all-reduced numbers, so no rank waits on a collective the others skip.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def setup(use_cuda: bool) -> DistInfo:
    """Join the process group torchrun describes (or the one already set up); a single process otherwise."""
    if env_world_size() <= 1:
        return DistInfo()
    import torch.distributed as dist

    if not dist.is_available():
        from netbuilder.train.errors import TrainError

        raise TrainError("This PyTorch build has no torch.distributed, so multi-process training is not possible.",
                         "Run without torchrun, or install a PyTorch build with distributed support.")
    here = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
        here = True
    local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, here)


def teardown(info: DistInfo) -> None:
    if info.initialized_here:
        import torch.distributed as dist

        if dist.is_initialized():
            # Every rank reaches this point before any tears down: with gloo, a rank that destroys its group
            # while a peer still sends aborts the peer ("terminate called without an active exception").
            with contextlib.suppress(RuntimeError):  # a peer is already gone (it failed): nothing to wait for
                dist.barrier()
            dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    import torch.distributed as dist

    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def any_rank(flag: bool, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one."""
    value = torch.tensor([1.0 if flag else 0.0], device=device)
    return bool(all_reduce_sum(value).item() > 0)


def broadcast_text(text: str | None) -> str | None:
    """Rank 0's string on every rank (the run folder's path)."""
    import torch.distributed as dist

    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0]
