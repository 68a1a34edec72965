"""Run the full ``.nbg`` fuzz: ``python tests/fuzz/run_fuzz.py [--count 10000] [--seed 1] [--timeout 10]``.

Each mutated file (see `nbg_mutations`) is checked in a worker process with a per-file time limit: a file that
takes longer is a hang, the worker is killed and a new one continues. The report counts clean load errors, loads,
hangs, leaked exception types (anything but LoadError escaping the loader or the analysis) and unsaveable loads
(a loaded document that does not save and load back to the same text); the last three must be 0. Findings are
written to ``--out`` (default ``fuzz-findings/``) as the files themselves, so each can be opened and replayed:
``python tests/fuzz/run_fuzz.py --seed S --only INDEX``.
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from nbg_mutations import check, mutated_file  # noqa: E402

FINDINGS = ("hang", "leak", "unsaveable")


def _worker(seed: int, big: int, tasks: mp.Queue, results: mp.Queue) -> None:
    from nbg_mutations import TEMPLATES

    check(TEMPLATES[0].read_bytes())  # the first load imports torch; no file should be charged for that

    while True:
        index = tasks.get()
        if index is None:
            return
        started = time.perf_counter()
        kind, message = check(mutated_file(seed, index, big))
        results.put((index, kind, message, time.perf_counter() - started))


def run(count: int, seed: int, timeout: float, big: int, only: list[int] | None = None) -> dict[str, object]:
    context = mp.get_context("spawn")
    indexes = only if only is not None else list(range(count))
    counts: collections.Counter[str] = collections.Counter()
    findings: list[dict[str, object]] = []
    slowest = (0.0, -1)
    started = time.perf_counter()
    position = 0
    while position < len(indexes):
        tasks, results = context.Queue(), context.Queue()
        worker = context.Process(target=_worker, args=(seed, big, tasks, results), daemon=True)
        worker.start()
        first = True
        while position < len(indexes):
            index = indexes[position]
            tasks.put(index)
            try:  # the first file also waits for the worker to import torch
                got_index, kind, message, seconds = results.get(timeout=timeout + (120 if first else 0))
            except Exception:  # queue.Empty: the file hangs the loader
                worker.kill()
                worker.join()
                counts["hang"] += 1
                print(f"file {index} took over {timeout} s", file=sys.stderr)
                findings.append({"index": index, "kind": "hang", "message": f"over {timeout} s"})
                position += 1
                break
            first = False
            assert got_index == index
            counts[kind] += 1
            slowest = max(slowest, (seconds, index))
            if kind in FINDINGS:
                findings.append({"index": index, "kind": kind, "message": message})
            position += 1
            if position % 1000 == 0:
                print(f"{position} files, {dict(counts)}, {time.perf_counter() - started:.0f} s", file=sys.stderr)
        else:
            tasks.put(None)
            worker.join(timeout=10)
    leaked = collections.Counter(str(f["message"]).split(":")[0] for f in findings if f["kind"] == "leak")
    return {"files": len(indexes), "seed": seed, "load_errors": counts["load_error"], "loads": counts["loaded"],
            "hangs": counts["hang"], "leaks": counts["leak"], "leaked_types": dict(leaked),
            "unsaveable": counts["unsaveable"], "slowest_file_s": round(slowest[0], 3),
            "slowest_file_index": slowest[1], "seconds": round(time.perf_counter() - started, 1),
            "findings": findings}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="how many mutated files (default 10,000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds one file may take (default 10)")
    parser.add_argument("--big", type=int, default=100_000, help="size of long strings and lists in mutations")
    parser.add_argument("--only", type=int, nargs="+", metavar="INDEX", help="replay these files only")
    parser.add_argument("--out", type=Path, default=Path("fuzz-findings"), help="where findings are written")
    args = parser.parse_args(argv)
    report = run(args.count, args.seed, args.timeout, args.big, args.only)
    if report["findings"]:
        args.out.mkdir(parents=True, exist_ok=True)
        for finding in report["findings"]:  # type: ignore[union-attr]
            name = f"seed{args.seed}-{finding['index']}-{finding['kind']}.nbg"
            (args.out / name).write_bytes(mutated_file(args.seed, int(finding["index"]), args.big))
    print(json.dumps(report, indent=2))
    return 1 if any(report[k] for k in ("hangs", "leaks", "unsaveable")) else 0


if __name__ == "__main__":
    raise SystemExit(main())
