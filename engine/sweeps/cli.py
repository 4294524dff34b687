"""`trainwright sweep FAMILY -g NAME=V1,V2 ...`, `trainwright sweep resume ID`, `trainwright sweeps`.

`sweep` takes FAMILY or the word `resume` as its first argument (so a family named "resume"
cannot be swept from the CLI). Exit codes: 0 every combination completed, 1 some failed,
130 stopped (Ctrl-C; resume it later), 2 bad input (one line on stderr).
`--parallel N`, `--executor local|ray` and `--ray-address` go with both forms: they say how
runs are run, not what they compute, so a sweep may resume somewhere else.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from engine.cli import CancelOnSigint, add_parameter_options, run_as_job
from engine.errors import TrainwrightError
from engine.jobs import JobRequest
from engine.params import parse_assignments
from engine.sweeps import create_sweep, list_sweeps, load_sweep, plan_sweep
from engine.sweeps.endpoint import load_llm_settings
from engine.sweeps.executors import EXECUTORS, check_executor
from engine.sweeps.llm.cli import add_endpoint_options, settings_with
from engine.sweeps.plan import DEFAULT_TRIALS, PRUNERS, SEARCH_KINDS
from engine.sweeps.store import best_trial

RESUME = "resume"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "sweep",
        help="train every combination of parameter lists (or `sweep resume ID`)",
        description="Train every combination of the listed values, e.g. "
        "`trainwright sweep mlp -g epochs=10,50 -g lr=1e-3,3e-3`; "
        "`trainwright sweep resume SWEEP_ID` continues a stopped sweep.",
    )
    p.add_argument("target", metavar="FAMILY|resume", help="the family to sweep, or `resume`")
    p.add_argument("sweep_id", nargs="?", metavar="SWEEP_ID", help="with `resume`: the sweep")
    p.add_argument(
        "-g",
        dest="grid",
        action="append",
        default=[],
        metavar="NAME=V1,V2,...",
        help="a swept parameter and its values (repeatable; test_size is 1 - training_fraction)",
    )
    add_parameter_options(
        p, "fixed domain parameter (repeatable)", "fixed training parameter (repeatable)"
    )
    p.add_argument(
        "--parallel",
        type=int,
        default=None,
        metavar="N",
        help="run N combinations at once, in worker processes (or Ray tasks with --executor "
        "ray; default 1)",
    )
    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="local",
        help="where runs go: local (this machine's processes, default) or ray (Ray tasks; "
        "needs the ray extra, and on a cluster the home on a shared file system)",
    )
    p.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="with --executor ray: the cluster to use (default RAY_ADDRESS, else one `ray "
        "start` began on this machine, else a new local one)",
    )
    p.add_argument(
        "--search",
        choices=SEARCH_KINDS,
        default="grid",
        help="grid: every combination of the lists (default); random or tpe (Bayesian, "
        "Optuna): --trials draws from lists and ranges -g NAME=LO..HI[:log]; llm: an LLM "
        "proposes each trial from the results so far (`trainwright llm set` first). A search "
        "given no -g explores the family's default space",
    )
    p.add_argument(
        "--trials", type=int, metavar="N", help=f"searches: trials (default {DEFAULT_TRIALS})"
    )
    p.add_argument(
        "--objective",
        metavar="METRIC[:max|min]",
        help="searches: what to optimise (default test_accuracy:max for a classifier, "
        "test_loss:min otherwise)",
    )
    p.add_argument(
        "--prune",
        choices=PRUNERS,
        default="none",
        help="random/tpe: stop unpromising trials early (median or hyperband; default none)",
    )
    p.add_argument("--seed", type=int, default=0, help="searches: the sampler's seed (default 0)")
    p.add_argument(
        "--target",
        dest="stop_at",
        type=float,
        metavar="VALUE",
        help="searches: stop once a trial's objective reaches VALUE (e.g. 0.99 for accuracy)",
    )
    add_endpoint_options(p, prefix="llm-")
    p.add_argument("--dry-run", action="store_true", help="validate and list the combinations only")
    p.add_argument("--json", action="store_true", help="print the sweep record as JSON at the end")
    p.set_defaults(handler=cmd_sweep)

    p = sub.add_parser("sweeps", help="list sweeps")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_sweeps)


def cmd_sweep(ws: Any, args: argparse.Namespace) -> int:
    if args.parallel is not None and args.parallel < 1:
        raise TrainwrightError(f"--parallel must be at least 1, not {args.parallel}")
    # Before a sweep is created: Ray asked for but not installed, or an address without it.
    check_executor(args.executor, args.ray_address)
    if args.target == RESUME:
        if not args.sweep_id:
            raise TrainwrightError("sweep resume needs a SWEEP_ID (see `trainwright sweeps`)")
        searching = (
            args.search != "grid"
            or args.trials
            or args.objective
            or args.prune != "none"
            or args.stop_at is not None
        )
        if args.grid or args.params or args.training or args.dry_run or searching:
            raise TrainwrightError("sweep resume takes only a SWEEP_ID: the sweep keeps its lists")
        record = load_sweep(ws, args.sweep_id)
        if _endpoint_given(args):  # an LLM search's server that moved
            if record.spec.llm is None:
                raise TrainwrightError("--llm-url, --llm-model, ... are for LLM searches")
            args.llm_endpoint = settings_with(record.spec.llm, args, "llm-")
        return _run(ws, record, args)
    if args.sweep_id:
        raise TrainwrightError(f"unexpected argument {args.sweep_id!r}; lists go in -g NAME=V1,V2")
    spec = ws.registry.spec(args.target)
    domain = parse_assignments(spec.domain_parameters, args.params, kind="domain")
    training = parse_assignments(spec.training_parameters(), args.training, kind="training")
    grid: dict[str, str] = {}
    for item in args.grid:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise TrainwrightError(f"-g {item}: expected NAME=V1,V2,...")
        if name in grid:
            raise TrainwrightError(f"-g {name} is given twice; list all its values once")
        grid[name] = text
    parallel = args.parallel or 1
    search = {
        "search": args.search,
        "trials": args.trials,
        "objective": args.objective,
        "prune": args.prune,
        "seed": args.seed,
        "target": args.stop_at,
    }
    if args.search == "llm":
        search["llm"] = settings_with(load_llm_settings(ws.home), args, "llm-")
    elif _endpoint_given(args):
        raise TrainwrightError("--llm-url, --llm-model, ... are for --search llm")
    if args.dry_run:
        plan = plan_sweep(ws, args.target, grid, domain, training, parallel=parallel, **search)
        if plan.spec.searched:
            _print_search(plan.spec, args.json)
            return 0
        if args.json:
            _print_json(
                {"total": plan.total, "combinations": plan.combinations, "ignored": plan.ignored}
            )
        else:
            for i, combo in enumerate(plan.combinations, 1):
                print(f"{i:>4}  {_params(combo)}")
            print(f"{plan.total} combinations")
        return 0
    record = create_sweep(ws, args.target, grid, domain, training, parallel=parallel, **search)
    return _run(ws, record, args)


def _endpoint_given(args: argparse.Namespace) -> bool:
    return any(
        getattr(args, o, None) is not None for o in ("url", "model", "api_key_env", "timeout")
    )


def _print_search(spec: Any, as_json: bool) -> None:
    """A search's dry run: its space, budget, objective and pruning (trials are drawn as it
    runs)."""
    space = {name: values for name, values in spec.grid.items()}
    for name, bounds in spec.ranges.items():
        low, high = (
            (int(bounds.low), int(bounds.high)) if bounds.integer else (bounds.low, bounds.high)
        )
        space[name] = f"{low}..{high}" + (":log" if bounds.log else "")
    if as_json:
        _print_json(
            {
                "search": spec.search,
                "trials": spec.trials,
                "objective": spec.objective,
                "prune": spec.prune,
                "seed": spec.seed,
                "target": spec.target,
                "space": space,
                **(
                    {"llm": {"url": spec.llm.base_url, "model": spec.llm.model}} if spec.llm else {}
                ),
            }
        )
        return
    for name, values in space.items():
        print(f"  {name} = {values}")
    target = f", stops at {spec.target:g}" if spec.target is not None else ""
    print(
        f"{spec.search} search: {spec.trials} trials, objective {spec.objective}{target}, "
        f"pruning {spec.prune}, seed {spec.seed}"
    )
    if spec.llm is not None:
        print(f"proposals from {spec.llm.model} at {spec.llm.base_url}")


def _run(ws: Any, record: Any, args: argparse.Namespace) -> int:
    quiet = args.json
    if not quiet:
        done = len(record.finished())
        note = f", {done} already done" if done else ""
        what = "trials" if record.spec.searched else "combinations"
        print(f"sweep {record.id}: {record.total} {what}{note}", file=sys.stderr)
        for name in record.ignored:
            print(
                f"note: {name} does not apply in linear baseline mode; not swept", file=sys.stderr
            )

    def on_row(row: Any) -> None:
        if quiet:
            return
        score = row.metric_score if isinstance(row.metric_score, str) else f"{row.metric_score:.4g}"
        line = f"[{row.index + 1}/{record.total}] {row.result:<9} {row.variant or '-'}"
        if row.result == "completed":
            line += f"  {row.metric_name} {score}" + ("  (reused)" if row.reused else "")
        elif row.result == "pruned":
            line += f"  at epoch {row.stopped_epoch}"
        elif row.error:
            line += f"  {row.error}"
        print(line, file=sys.stderr, flush=True)

    request = JobRequest(
        kind="sweep",
        sweep_id=record.id,
        family=record.spec.family,
        parallel=args.parallel,
        options=_executor_options(args),
    )
    cancel = threading.Event()
    with CancelOnSigint(cancel):
        # As a job (history and log), by run_sweep with these rows and this cancel event.
        record = run_as_job(ws, request, [], cancel, on_sweep_row=on_row)
    counts = record.counts()
    if quiet:
        _print_json(record.model_dump(mode="json"))
    else:
        pruned = f", {counts['pruned']} pruned" if counts["pruned"] else ""
        print(
            f"sweep {record.id} {record.status}: {counts['completed']} completed, "
            f"{counts['failed']} failed{pruned} of {record.total}"
        )
        best = best_trial(record)
        if best is not None:
            print(
                f"best: {best.variant} ({record.spec.objective.split(':')[0]} {best.objective:.4g})"
            )
        if record.status != "completed":
            print(f"resume with: trainwright sweep resume {record.id}")
    if record.status != "completed":
        return 130
    return 1 if counts["failed"] else 0


def cmd_sweeps(ws: Any, args: argparse.Namespace) -> int:
    found = list_sweeps(ws)
    if args.json:
        _print_json([s.model_dump(mode="json") for s in found])
        return 0
    for s in found:
        done = s.completed + s.failed + s.pruned
        line = f"{s.id:<40} {s.family:<24} {s.status:<12} {done:>4}/{s.total:<4}"
        print(
            line
            + (f" ({s.failed} failed)" if s.failed else "")
            + (f" ({s.pruned} pruned)" if s.pruned else "")
            + (f" {s.problem}" if s.problem else "")
        )
    return 0


def _executor_options(args: argparse.Namespace) -> dict[str, Any]:
    """The sweep job's executor (and a new LLM endpoint given on resume), kept in its
    request's options (so a retried job runs where the first did); none for the default, so
    a local job's request is as it always was."""
    options: dict[str, Any] = {}
    endpoint = getattr(args, "llm_endpoint", None)
    if endpoint is not None:
        options["llm"] = endpoint.model_dump(mode="json")
    if args.executor == "local":
        return options
    options["executor"] = args.executor
    if args.ray_address:
        options["ray_address"] = args.ray_address
    return options


def _params(combo: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in combo.items())


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))
