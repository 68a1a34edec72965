"""PyTorch's CPU thread pools, set before Qt and PyTorch get busy.

With OpenMP, every thread that runs a parallel PyTorch operation gets a pool of helper threads of its own. When the
GUI thread has one (any tensor operation in an editor view makes one) and the training thread has another, the
process has more busy-waiting threads than cores and OpenMP falls back to sleeping at every barrier: a small network
then trains 3-4 times slower than from the command line (measured on 2 cores: 30k instead of 115k samples/s for the
mlp template). `keep_gui_thread_light` makes the calling (GUI) thread run PyTorch single-threaded before it ever
builds a pool, and `training_threads` gives the training thread every core but one: the GUI thread keeps a core of
its own, so repainting a plot never pre-empts one of training's helper threads in the middle of a parallel
operation (on 2 cores training runs single-threaded, which for the small networks of the templates is as fast as
two threads and immune to both effects).
"""

from __future__ import annotations

_training_threads: int | None = None


def keep_gui_thread_light() -> None:
    """Run PyTorch single-threaded on the calling thread (the GUI thread); see the module docstring."""
    global _training_threads
    if _training_threads is not None:
        return
    import torch

    cores = max(1, torch.get_num_threads())
    _training_threads = max(1, cores - 1) if cores > 1 else 1
    torch.set_num_threads(1)


def training_threads() -> int:
    """How many CPU threads a training run may use: all the cores PyTorch found but one (at least one)."""
    if _training_threads is None:
        import torch

        return max(1, torch.get_num_threads())
    return _training_threads
