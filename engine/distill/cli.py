"""`trainwright distill TEACHER STUDENT_FAMILY [-p ...] [-t ...] [--json]`.

`-t temperature=4 -t alpha=0.7` are the distillation's own parameters; every other `-t` is a
training parameter of the student. Exit codes: 0 trained, 1 training failed, 130 stopped,
2 bad input (teacher missing, other data, mismatched outputs, a bad value).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from engine.cli import CancelOnSigint, ProgressPrinter, add_parameter_options, run_as_job
from engine.distill.api import distill_config
from engine.errors import VariantError
from engine.jobs import JobRequest
from engine.names import safe_component
from engine.params import parse_assignments
from engine.strategies import DistillStrategy
from engine.strategies.registry import result_from_session

STRATEGY_PARAMETERS = ("temperature", "alpha")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "distill",
        help="train a student variant on a trained classifier's soft targets",
        description="Distil a trained teacher variant into a new student variant, trained on "
        "alpha * T^2 * KL(teacher/T || student/T) + (1 - alpha) * cross-entropy.",
    )
    p.add_argument("teacher", metavar="TEACHER_VARIANT")
    p.add_argument("student_family", metavar="STUDENT_FAMILY")
    add_parameter_options(
        p,
        "student domain parameter (repeatable); a student of the teacher's "
        "family starts from the teacher's values",
        "training parameter, or temperature=T / alpha=A (repeatable)",
    )
    p.add_argument("--overwrite", action="store_true", help="retrain a student that already exists")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")
    p.set_defaults(handler=cmd_distill)


def split_training(assignments: list[str]) -> tuple[list[str], list[str]]:
    """(-t values for the strategy, -t values for training)."""
    strategy, training = [], []
    for item in assignments:
        name = item.partition("=")[0].strip()
        (strategy if name in STRATEGY_PARAMETERS else training).append(item)
    return strategy, training


def cmd_distill(ws: Any, args: argparse.Namespace) -> int:
    safe_component(args.teacher, "teacher variant name", error=VariantError, variant=True)
    spec = ws.registry.spec(args.student_family)
    strategy_items, training_items = split_training(args.training)
    hyper = parse_assignments(DistillStrategy.parameters, strategy_items, kind="distillation")
    domain = parse_assignments(spec.domain_parameters, args.params, kind="domain")
    training = parse_assignments(spec.training_parameters(), training_items, kind="training")
    options = {"temperature": hyper.get("temperature"), "alpha": hyper.get("alpha")}
    # A missing teacher or other data is refused here, before anything is recorded.
    distill_config(
        ws, args.teacher, args.student_family, domain, training, **options,
        overwrite=args.overwrite,
    )  # fmt: skip
    request = JobRequest(
        kind="distill",
        teacher=args.teacher,
        family=args.student_family,
        domain=domain,
        training=training,
        options={k: v for k, v in options.items() if v is not None},
        overwrite=args.overwrite,
    )
    cancel = threading.Event()
    callbacks = [] if args.json else [ProgressPrinter()]
    with CancelOnSigint(cancel):
        # As a job: bad requests raise here (exit 2); a failed run is reported as a result.
        strategy, session = run_as_job(ws, request, callbacks, cancel)
    result = result_from_session(ws, strategy.name, session)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    elif result["status"] == "ok":
        metrics = result["metrics"]
        teacher = (result["distilledRun"] or {}).get("teacher") or {}
        acc = metrics.get("test_accuracy")
        score = f"test acc {acc:.4g}" if acc is not None else "no test accuracy"
        print(f"completed: {result['modelId']} (student of {teacher.get('variant')}) — {score}")
        print(f"weights sha256 {session.weights_sha256}  in {result['modelPath']}")
    else:
        print(f"error: {result['error']}", file=sys.stderr)
    return {"completed": 0, "failed": 1}.get(session.status, 130)


__all__ = ["register", "split_training"]
