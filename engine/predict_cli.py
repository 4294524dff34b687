"""`trainwright predict NAME[:VERSION] INPUT`: a published model's predictions on new data.

INPUT is a CSV (table and modular-addition models) or an image file or a folder of images
(image models). The output is a CSV (a `row` or `file` column, `prediction`, then `p_<class>`
per class for a classifier) on stdout or atomically in --out, or a JSON list with --json.
Exit codes: 0 done; 2 bad input (a missing column, an unparseable cell, an unreadable image,
an unknown model or version), one line on stderr naming it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.inference.predictor import BACKENDS, PredictionResult


def register(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a published model on new data (a CSV, an image or a folder)",
        description="Run a published model version on new inputs, prepared exactly as its "
        "training data was. VERSION is a number (3 or v3) or an alias; none: the latest.",
    )
    p.add_argument("model", metavar="NAME[:VERSION]", help="the model, and its version or alias")
    p.add_argument("input", metavar="INPUT", help="a CSV file, an image file or a folder of images")
    p.add_argument("--out", metavar="FILE", help="write the predictions to FILE (else stdout)")
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="torch",
        help="torch: the family's model with the version's weights; onnx: its ONNX export run "
        "by onnxruntime (default: torch)",
    )
    p.add_argument("--json", action="store_true", help="JSON (a list of objects) instead of CSV")
    p.set_defaults(handler=cmd_predict)


def cmd_predict(workspace: Any, args: argparse.Namespace) -> int:
    from engine.inference.inputs import InputError
    from engine.inference.predictor import load_predictor

    source = Path(args.input).expanduser()
    if not source.exists():
        raise InputError(f"{args.input}: no such file or folder")
    result = load_predictor(workspace, args.model, backend=args.backend).predict(source)
    text = result_json(result) if args.json else result.csv_text()
    if args.out is None:
        print(text, end="")
        return 0
    from engine.atomic import atomic_write_text

    atomic_write_text(Path(args.out).expanduser(), text)
    if not args.json:
        print(
            f"{len(result)} predictions of {result.model} v{result.version} written to {args.out}"
        )
    return 0


def result_json(result: PredictionResult) -> str:
    """The predictions as a JSON list of {row|file, prediction[, probabilities]}."""
    return json.dumps(result.records(), indent=2) + "\n"
