"""One runner for every benchmark: ``python tests/benchmarks/run.py --json [--only NAME ...]``.

Each ``bench_*.py`` beside this file defines ``BENCHMARKS``: a dict of group name -> function returning a dict of
named figures (floats). Ratios are measured against plain PyTorch in the same run, so they compare like with like
on whatever machine runs them. Figures are printed, never asserted: speed belongs in numbers, not flaky tests.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def discover() -> dict[str, object]:
    groups: dict[str, object] = {}
    for path in sorted(HERE.glob("bench_*.py")):
        spec = importlib.util.spec_from_file_location(f"netbuilder_bench_{path.stem}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        for name, function in getattr(module, "BENCHMARKS", {}).items():
            groups[name] = function
    return groups


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object of figures")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these groups or figures")
    parser.add_argument("--list", action="store_true", help="list the benchmark groups")
    args = parser.parse_args(argv)
    groups = discover()
    if args.list:
        print("\n".join(groups))
        return 0
    figures: dict[str, float] = {}
    timings: dict[str, float] = {}
    for name, function in groups.items():
        if args.only and not any(o == name or o.startswith(name) or name.startswith(o) for o in args.only):
            continue
        start = time.perf_counter()
        try:
            result = function()  # type: ignore[operator]
        except Exception as error:  # report, keep going: one broken benchmark must not hide the others
            result = {f"{name}_error": f"{type(error).__name__}: {error}"}
        timings[name] = round(time.perf_counter() - start, 2)
        if args.only:
            wanted = {k: v for k, v in result.items() if k in args.only or name in args.only}
            result = wanted or result
        figures.update(result)
        if not args.json:
            for key, value in result.items():
                print(f"{key:40s} {value}")
    if args.json:
        print(json.dumps({**figures, "_seconds": timings}, indent=2, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
