"""`trainwright jobs` (the history: list, show, logs, cancel, retry) and `trainwright queue`
(list, add, run, remove, pause, unpause, move).

Exit codes: 0 done; 1 `queue run` finished with a job that did not complete; 130 stopped
(Ctrl+C); 2 bad input (one line on stderr naming the job, status or parameter).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

from engine.cli import (
    CancelOnSigint,
    ProgressPrinter,
    _Parser,
    _print_json,
    add_parameter_options,
    train_request,
    warn_once,
)
from engine.errors import TrainwrightError
from engine.jobs import STATUSES, Job, JobStore, LogRecord, run_queue
from engine.jobs.records import parse_time
from engine.units import format_bytes

FOLLOW_POLL_S = 0.5
LIVENESS_EVERY_S = 2.0  # while following, how often to ask whether the job's process died
SHOW_LOG_LINES = 20
EXIT_STOPPED = 130


def register(sub: Any) -> None:
    p = sub.add_parser(
        "jobs",
        help="the job history: list, show, logs, cancel, retry",
        description="Without an action, list the jobs, newest first: every train, resume, "
        "replay, sweep and distill run by this home's window or CLI, and the queue.",
    )
    p.add_argument(
        "--status",
        metavar="S[,S]",
        help=f"only jobs with these statuses ({', '.join(STATUSES)})",
    )
    p.add_argument("--limit", type=int, metavar="N", help="at most N jobs")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)

    a = actions.add_parser("show", help="one job: its request, status, resources and last log")
    a.add_argument("id", type=int)
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=cmd_show)

    a = actions.add_parser("logs", help="a job's log records")
    a.add_argument("id", type=int)
    a.add_argument(
        "--follow", action="store_true", help="print new records until the job ends (Ctrl+C)"
    )
    a.set_defaults(handler=cmd_logs)

    a = actions.add_parser(
        "cancel", help="cancel a queued job, or stop a running one at its next step"
    )
    a.add_argument("id", type=int)
    a.set_defaults(handler=cmd_cancel)

    a = actions.add_parser(
        "retry",
        help="queue a finished job again (an interrupted run resumes from its checkpoint)",
    )
    a.add_argument("id", type=int)
    a.add_argument("--json", action="store_true", help="print the new job as JSON")
    a.set_defaults(handler=cmd_retry)

    q = sub.add_parser(
        "queue",
        help="the queue: list, add, run, remove, pause, unpause, move",
        description="Without an action, list the queued jobs in the order they run. The "
        "queue is kept in the data home: it survives closing the window or the terminal.",
    )
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(handler=cmd_queue)
    actions = q.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)

    a = actions.add_parser("add", help="queue a training run (checked now, run by `queue run`)")
    a.add_argument("family")
    add_parameter_options(a, "domain parameter (repeatable)", "training parameter (repeatable)")
    a.add_argument("--overwrite", action="store_true", help="retrain a variant that exists")
    a.add_argument("--json", action="store_true", help="print the job as JSON")
    a.set_defaults(handler=cmd_add)

    a = actions.add_parser(
        "run", help="run the queued jobs in this process until the queue is empty"
    )
    a.add_argument("--json", action="store_true", help="print the jobs run as JSON at the end")
    a.set_defaults(handler=cmd_run)

    for name, helptext, handler in [
        ("remove", "take a queued job out of the queue", cmd_remove),
        ("pause", "keep a queued job in its place but do not run it", cmd_pause),
        ("unpause", "let a paused job run again", cmd_unpause),
    ]:
        a = actions.add_parser(name, help=helptext)
        a.add_argument("id", type=int)
        a.set_defaults(handler=handler)

    a = actions.add_parser("move", help="put a queued job before another (or at the end)")
    a.add_argument("id", type=int)
    a.add_argument("--before", type=int, metavar="ID", help="the job to run after it")
    a.set_defaults(handler=cmd_move)


def open_store(ws: Any) -> JobStore:
    """The home's job store; what opening it did (a rebuild) goes to stderr, once."""
    store = JobStore(ws.home)
    for warning in store.warnings:
        warn_once(warning)
    for note in store.notes:
        print(f"trainwright: note: {note}", file=sys.stderr)
    return store


# ---- jobs ----------------------------------------------------------------------------------
def cmd_list(ws: Any, args: argparse.Namespace) -> int:
    status = None
    if args.status:
        status = {s.strip() for s in args.status.split(",") if s.strip()}
    if args.limit is not None and args.limit < 1:
        raise TrainwrightError(f"--limit must be at least 1, not {args.limit}")
    with open_store(ws) as store:
        jobs = store.list(status, args.limit)
    if args.json:
        _print_json([job_json(job) for job in jobs])
        return 0
    rows = [
        [
            str(job.id),
            job.kind,
            job.status + (" (paused)" if job.paused and job.status == "queued" else ""),
            _clip(job.describe(), 56),
            _when(job.created_at),
            _duration(job.duration_s),
            str(job.attempts or ""),
            _clip(job.error or "", 60),
        ]
        for job in jobs
    ]
    _table(["ID", "KIND", "STATUS", "WHAT", "CREATED", "DURATION", "TRIES", "ERROR"], rows)
    return 0


def cmd_show(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        job = store.get(args.id)
        logs = store.last_logs(job.id, SHOW_LOG_LINES)
    if args.json:
        _print_json({**job_json(job), "logs": [r.model_dump(mode="json") for r in logs]})
        return 0
    print(f"job {job.id}: {job.describe()}")
    facts = [
        ("kind", job.kind),
        ("status", job.status + (" (paused)" if job.paused else "")),
        ("variant", job.variant),
        ("sweep", job.sweep_id),
        ("family", job.family),
        ("created", _when(job.created_at)),
        ("started", _when(job.started_at)),
        ("finished", _when(job.finished_at)),
        ("duration", _duration(job.duration_s)),
        ("attempts", job.attempts or None),
        ("error", job.error),
        ("process", job.pid if job.status == "running" else None),
        ("cancel asked", "yes" if job.cancel_requested else None),
        ("CPU time", _duration(job.cpu_time_s) if job.cpu_time_s is not None else None),
        ("peak memory", format_bytes(job.peak_rss_bytes)),
        ("peak GPU memory", format_bytes(job.peak_gpu_bytes)),
        ("retry of job", job.retry_of),
    ]
    for name, value in facts:
        if value not in (None, ""):
            print(f"  {name + ':':<17}{value}")
    request = job.request.model_dump(exclude_defaults=True, exclude={"kind"})
    print(f"  {'request:':<17}{json.dumps(request, sort_keys=True)}")
    if logs:
        print("log (last lines):")
        for record in logs:
            print("  " + _log_line(record))
    return 0


def cmd_logs(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        store.get(args.id)  # JobError for an unknown id
        last = _print_logs(store.logs(args.id))
        if not args.follow:
            return 0
        checked = time.monotonic()
        try:
            while True:
                job = store.get(args.id)
                records = store.logs(args.id, last)
                last = _print_logs(records) or last
                if job.finished and not records:
                    return 0
                if time.monotonic() - checked >= LIVENESS_EVERY_S:
                    store.mark_interrupted()  # a process that died while we follow it
                    checked = time.monotonic()
                time.sleep(FOLLOW_POLL_S)
        except KeyboardInterrupt:
            return EXIT_STOPPED


def cmd_cancel(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        before = store.get(args.id)
        after = store.request_cancel(args.id)
    if before.status == "queued" and after.status == "cancelled":
        print(f"cancelled job {after.id} ({after.describe()}); it was queued and never ran")
    elif after.status == "running":
        print(
            f"asked job {after.id} to stop: process {after.pid} stops it at its next step, "
            f"resumable with `trainwright jobs retry {after.id}`"
        )
    else:
        print(f"job {after.id} is already {after.status}; nothing to cancel")
    return 0


def cmd_retry(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        job = store.retry(args.id)
    if args.json:
        _print_json(job_json(job))
    else:
        print(f"queued job {job.id}: {job.describe()} (retry of job {args.id})")
        print("run it with: trainwright queue run")
    return 0


# ---- queue ---------------------------------------------------------------------------------
def cmd_queue(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        queued = store.queue()
    if args.json:
        _print_json([job_json(job) for job in queued])
        return 0
    rows = [
        [
            str(n),
            str(job.id),
            "paused" if job.paused else "",
            _clip(job.describe(), 64),
            _when(job.created_at),
        ]
        for n, job in enumerate(queued, 1)
    ]
    _table(["#", "ID", "", "WHAT", "CREATED"], rows)
    return 0


def cmd_add(ws: Any, args: argparse.Namespace) -> int:
    exists = "queue it with --overwrite to replace it, or resume it with `trainwright resume {0}`"
    request = train_request(ws, args, exists)
    with open_store(ws) as store:
        job = store.submit(request)
        waiting = len(store.queue())
    if args.json:
        _print_json(job_json(job))
    else:
        print(f"queued job {job.id}: {job.describe()} ({waiting} in the queue)")
    return 0


def cmd_run(ws: Any, args: argparse.Namespace) -> int:
    stop = threading.Event()
    callbacks = [] if args.json else [ProgressPrinter()]

    def started(job: Job) -> None:
        if not args.json:
            print(f"job {job.id}: {job.describe()}", file=sys.stderr, flush=True)

    def finished(job: Job) -> None:
        if not args.json:
            line = f"job {job.id} {job.status}: {job.describe()} ({_duration(job.duration_s)})"
            print(line + (f" — {job.error}" if job.error else ""), flush=True)

    message = "stopping the current job at its next step (resumable); the rest stay queued…"
    with open_store(ws) as store, CancelOnSigint(stop, message):
        done = run_queue(
            ws, store=store, callbacks=callbacks, cancel_event=stop,
            on_start=started, on_finish=finished,
        )  # fmt: skip
        left = store.queue()
    if args.json:
        _print_json([job_json(job) for job in done])
    else:
        counts = {s: sum(1 for j in done if j.status == s) for s in STATUSES}
        parts = [f"{n} {s}" for s, n in counts.items() if n]
        summary = f"{len(done)} job(s) run" + (f": {', '.join(parts)}" if parts else "")
        if left:
            paused = sum(1 for j in left if j.paused)
            summary += f"; {len(left)} still queued" + (f" ({paused} paused)" if paused else "")
        print(summary)
    if stop.is_set():
        return EXIT_STOPPED
    return 0 if all(job.status == "completed" for job in done) else 1


def cmd_remove(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        job = store.get(args.id)
        store.remove(args.id)
    print(f"removed job {job.id} ({job.describe()}) from the queue")
    return 0


def cmd_pause(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        job = store.set_paused(args.id, True)
    print(f"paused job {job.id} ({job.describe()}); it keeps its place in the queue")
    return 0


def cmd_unpause(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        job = store.set_paused(args.id, False)
    print(f"job {job.id} ({job.describe()}) will run in its turn")
    return 0


def cmd_move(ws: Any, args: argparse.Namespace) -> int:
    with open_store(ws) as store:
        store.move(args.id, args.before)
        order = [job.id for job in store.queue()]
    print(f"queue order: {' '.join(map(str, order))}")
    return 0


# ---- formatting ----------------------------------------------------------------------------
def job_json(job: Job) -> dict[str, Any]:
    return {**job.model_dump(mode="json"), "duration_s": job.duration_s, "what": job.describe()}


def _print_logs(records: list[LogRecord]) -> int:
    for record in records:
        print(_log_line(record), flush=True)
    return records[-1].id if records else 0


def _log_line(record: LogRecord) -> str:
    return f"{_when(record.time, seconds=True)} {record.level:<7} {record.message}"


def _when(stamp: str | None, seconds: bool = False) -> str:
    """A stored UTC time in local time: "2026-11-30 15:24" (with seconds for log lines)."""
    if not stamp:
        return ""
    try:
        local = parse_time(stamp).astimezone()
    except ValueError:
        return stamp
    return local.strftime("%H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


__all__ = ["job_json", "open_store", "register"]
