"""A seeded subset of the ``.nbg`` fuzz, run as a normal test: every mutated file either fails to load with a
clean LoadError, or loads, analyses, saves and loads back to the same text. The full run of 10,000 files with a
per-file time limit is ``python tests/fuzz/run_fuzz.py``."""

from __future__ import annotations

import collections
import signal
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbg_mutations import TEMPLATES, check, mutated_file  # noqa: E402

SEED = 20_261_203
COUNT = 1_200
PER_FILE_LIMIT_S = 5


class _Hang(Exception):
    pass


def _alarm(*_: object) -> None:
    raise _Hang


@pytest.mark.skipif(not hasattr(signal, "SIGALRM"), reason="the per-file limit uses SIGALRM")
def test_mutated_files_load_cleanly_or_save_and_reload_equal() -> None:
    check(TEMPLATES[0].read_bytes())  # imports done before the per-file clock runs
    previous = signal.signal(signal.SIGALRM, _alarm)
    counts: collections.Counter[str] = collections.Counter()
    findings = []
    started = time.perf_counter()
    try:
        for index in range(COUNT):
            signal.alarm(PER_FILE_LIMIT_S)
            try:
                kind, message = check(mutated_file(SEED, index))
            except _Hang:
                kind, message = "hang", f"over {PER_FILE_LIMIT_S} s"
            finally:
                signal.alarm(0)
            counts[kind] += 1
            if kind not in ("load_error", "loaded"):
                findings.append((index, kind, message))
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not findings, f"{len(findings)} findings (replay: run_fuzz.py --seed {SEED} --only INDEX): {findings[:5]}"
    # the mix stays useful: most files are refused cleanly, and a good share still loads
    assert counts["load_error"] > COUNT // 2 and counts["loaded"] > COUNT // 30, counts
    print(f"{dict(counts)} in {time.perf_counter() - started:.1f} s")
