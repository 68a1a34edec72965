"""``netbuilder explain RUN --sample K``: which inputs drove one prediction of a trained run (see
netbuilder.explain). Prints the prediction, the method's verdict (integrated gradients' convergence delta) and,
with ``-o``, writes the sample and its heat map as a PNG."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def cmd_explain(args: argparse.Namespace) -> int:
    from netbuilder.data import DataError
    from netbuilder.explain import METHODS, ExplainError, explain_run, write_png
    from netbuilder.train import ConfigError, RunError, TrainError

    if args.sample < 1:
        return _fail(args, f"--sample counts from 1 (the first validation sample), not {args.sample}.",
                     "", EXIT_USAGE)
    document = None
    if args.file:
        from netbuilder.io import LoadError, load_document

        try:
            document = load_document(args.file)
        except LoadError as error:
            return _fail(args, str(error), "", EXIT_USAGE)
    try:
        explanation = explain_run(args.run, args.sample - 1, method=args.method, target=args.target,
                                  weights=args.weights, steps=args.steps, document=document)
        written = write_png(explanation, args.output) if args.output else None
    except ExplainError as error:
        return _fail(args, str(error), error.suggestion)
    except (TrainError, RunError, ConfigError, DataError) as error:
        return _fail(args, str(error), str(getattr(error, "suggestion", "") or ""))
    except OSError as error:
        return _fail(args, f"Could not write {args.output}: {error.strerror or error}.",
                     "Choose a folder you can write to.")
    if args.json:
        print(json.dumps({"event": "explanation", "method": METHODS[explanation.method],
                          "sample": explanation.sample + 1, "split": explanation.split,
                          "predicted": explanation.predicted_name, "target": explanation.target_name,
                          "score": explanation.score, "baseline_score": explanation.baseline_score,
                          "convergence_delta": explanation.delta, "trusted": explanation.trusted,
                          "verdict": explanation.trust(), "top_features": explanation.top_features(),
                          "weights": explanation.weights,
                          "written": str(written) if written else None}))
        return EXIT_OK
    print(f"Using the {explanation.weights}.", file=sys.stderr)
    print(explanation.summary())
    print(explanation.trust())
    if explanation.image is None:
        for name, value in explanation.top_features():
            print(f"  {name:24s} {value:+.4g}")
    if written is not None:
        print(f"Wrote {written}")
    return EXIT_OK


def _fail(args: argparse.Namespace, message: str, suggestion: str, code: int = EXIT_FAILED) -> int:
    if getattr(args, "json", False):
        print(json.dumps({"event": "error", "message": message, "suggestion": suggestion}))
    else:
        print(f"error: {message}" + (f"\n  {suggestion}" if suggestion else ""), file=sys.stderr)
    return code


def add_commands(subparsers: Any) -> None:
    """Register ``explain`` on an argparse subparsers object."""
    p = subparsers.add_parser("explain", help="which inputs drove one prediction of a trained run (heat map PNG)")
    p.add_argument("run", metavar="RUN", help="a run folder (runs/<time>-<name>)")
    p.add_argument("--sample", type=int, required=True, metavar="K",
                   help="which validation sample, counting from 1 (as the app's Results panel numbers them)")
    p.add_argument("--method", default="ig", choices=("ig", "saliency", "occlusion"),
                   help="integrated gradients (default; reports its convergence delta), saliency or occlusion")
    p.add_argument("--target", metavar="CLASS", help="the class to explain, by index or name (default: the "
                                                      "predicted class)")
    p.add_argument("--steps", type=int, default=50, metavar="N", help="integration steps (ig only; default 50)")
    p.add_argument("--weights", default="best", choices=("best", "final", "latest"))
    p.add_argument("--file", metavar="NBG", help="the network's document (default: the copy the run saved)")
    p.add_argument("-o", "--output", metavar="OUT.png", help="write the sample and its heat map to a PNG")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)
