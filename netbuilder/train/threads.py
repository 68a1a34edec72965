"""How many CPU threads torch uses for a run.

torch starts with one thread per core it sees. On a busy machine that is slow: each operation is split across
threads, and the operation waits for the slowest, which another process has pre-empted (char-gru took 335 s with
the default threads and 35 s with one thread on two loaded cores). Small networks gain little from more threads
anyway. So the automatic count is small, never more than the cores this process may run on (its CPU affinity and
container quota), and leaves out the cores other processes keep busy right now.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

MAX_AUTO_THREADS = 4


def usable_cores() -> int:
    """Cores this process may run on: its affinity mask, capped by a cgroup (container) CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def physical_cores() -> int:
    """Physical cores (hyper-threads counted once) where Linux says; else the logical count."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return os.cpu_count() or 1
    pairs, physical = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            physical = value.strip()
        elif key == "core id":
            pairs.add((physical, value.strip()))
    return len(pairs) or os.cpu_count() or 1


def busy_cores(sample_s: float = 0.05) -> int:
    """Cores other processes keep busy now, measured over ``sample_s`` from /proc/stat on the cores this process
    may use (this process is idle meanwhile, so its own past runs do not count). Elsewhere: the 1-minute load
    average."""
    first = _cpu_times()
    if first is None:
        try:
            return int(os.getloadavg()[0])
        except (AttributeError, OSError):
            return 0
    time.sleep(sample_s)
    second = _cpu_times()
    if second is None:
        return 0
    busy = 0.0
    for cpu, (idle0, total0) in first.items():
        idle1, total1 = second.get(cpu, (idle0, total0))
        if total1 > total0:
            busy += 1.0 - (idle1 - idle0) / (total1 - total0)
    return int(round(busy))


def _cpu_times() -> dict[str, tuple[int, int]] | None:
    """cpu name -> (idle + iowait ticks, all ticks), for the cores in this process's affinity mask."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
        allowed = {f"cpu{index}" for index in os.sched_getaffinity(0)}
    except (OSError, AttributeError):
        return None
    result = {}
    for line in lines:
        name, *fields = line.split()
        if name in allowed and len(fields) >= 5:
            ticks = [int(v) for v in fields[:8]]
            result[name] = (ticks[3] + ticks[4], sum(ticks))
    return result or None


def auto_threads() -> int:
    """The automatic thread count: at most 4, physical cores only, and only the usable cores that are idle."""
    usable = min(usable_cores(), physical_cores())
    idle = max(1, usable - busy_cores())
    return max(1, min(MAX_AUTO_THREADS, usable, idle))


def _cgroup_quota() -> float | None:
    """CPUs granted by a cgroup v2 ``cpu.max`` or v1 ``cfs_quota_us``; None when unlimited or unknown."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
        period_us = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        return None if quota_us <= 0 else quota_us / period_us
    except (OSError, ValueError):
        return None


def set_threads(setting: int) -> int:
    """Set torch's CPU thread count from the ``threads`` setting (0 = automatic); returns the count used.
    An explicit setting is capped at the usable cores: more threads than cores only wait for each other."""
    import torch

    count = auto_threads() if setting <= 0 else max(1, min(setting, usable_cores()))
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
