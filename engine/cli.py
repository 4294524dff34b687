"""`trainwright`: everything the window does, headless. Bad input: exit 2, one line on stderr."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

from engine._version import __version__
from engine.errors import TrainwrightError

EXIT_BAD_INPUT = 2
EXIT_TIMED_OUT = 124  # the run stopped at its `timeout` (resumable), as timeout(1) exits


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"trainwright: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="trainwright",
        description="Train neural networks reproducibly.",
        epilog="Without a COMMAND, `trainwright` opens the desktop window.",
    )
    parser.add_argument(
        "--home", help="data home (default: $TRAINWRIGHT_HOME or the user data dir)"
    )
    parser.add_argument("--version", action="version", version=f"trainwright {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for name, helptext in [
        ("families", "list model families"),
        ("variants", "list trained variants"),
    ]:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--json", action="store_true", help="print JSON")

    p = sub.add_parser("train", help="train a new variant of a family")
    p.add_argument("family")
    add_parameter_options(p, "domain parameter (repeatable)", "training parameter (repeatable)")
    p.add_argument("--overwrite", action="store_true", help="retrain a variant that already exists")
    p.add_argument("--json", action="store_true", help="print one JSON object at the end")

    for name, helptext in [
        ("resume", "continue a stopped or crashed variant from its last valid checkpoint"),
        ("replay", "train a variant again from scratch and compare it step by step"),
    ]:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("variant")
        p.add_argument("--json", action="store_true", help="print one JSON object at the end")

    p = sub.add_parser(
        "verify", help="check every checkpoint's hashes and the chronicle against the records"
    )
    p.add_argument("variant")
    p.add_argument("--json", action="store_true", help="print one JSON object")

    p = sub.add_parser("delete", help="delete a variant (refused while a run is training it)")
    p.add_argument("variant")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    for register in _EXTENSIONS:
        register(sub)
    return parser


def add_parameter_options(
    parser: argparse.ArgumentParser, domain_help: str, training_help: str
) -> None:
    """The repeatable `-p NAME=VALUE` (domain) and `-t NAME=VALUE` (training) options."""
    common = {"action": "append", "default": [], "metavar": "NAME=VALUE"}
    parser.add_argument("-p", dest="params", help=domain_help, **common)
    parser.add_argument("-t", dest="training", help=training_help, **common)


# Subcommands contributed by other engine packages (sweeps, distillation): (subparsers) -> None.
_EXTENSIONS: list[Callable[[Any], None]] = []


def main(argv: list[str] | None = None) -> int:
    """Run one headless command. With none, print the help: the window lives in desktop_app,
    whose `trainwright` entry point opens it and hands every subcommand to this function."""
    argv = list(sys.argv[1:] if argv is None else argv)
    _load_extensions()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        from engine.workspace import Workspace

        workspace = Workspace(args.home)
        handler = getattr(args, "handler", None) or COMMANDS[args.command]
        return int(handler(workspace, args))
    except TrainwrightError as exc:
        print(f"trainwright: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


def names_a_command(argv: list[str]) -> bool:
    """Whether `argv` asks for a headless subcommand (exits here for --help and --version)."""
    _load_extensions()
    args, _unknown = build_parser().parse_known_args(argv)
    return args.command is not None


def _load_extensions() -> None:
    if _EXTENSIONS:
        return
    import importlib

    for module in (
        "engine.datasets_cli",
        "engine.sweeps.cli",
        "engine.sweeps.llm.cli",
        "engine.distill.cli",
        "engine.jobs_cli",
        "engine.models_cli",
        "engine.predict_cli",
    ):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:  # that package is not part of this install
            if not exc.name or not module.startswith(exc.name):
                raise
            continue
        _EXTENSIONS.append(mod.register)


# ---- commands ------------------------------------------------------------------------------
def cmd_families(ws: Any, args: argparse.Namespace) -> int:
    from engine.training.config import TRAINING_PARAMETERS

    specs = ws.registry.specs()
    if args.json:
        out = [s.model_dump(mode="json") for s in specs]
        training = [p.model_dump(mode="json") for p in TRAINING_PARAMETERS]
        errors = [e.__dict__ for e in ws.registry.errors]
        _print_json({"families": out, "training_parameters": training, "errors": errors})
        return 0
    for spec in specs:
        print(f"{spec.name:<26} {spec.display_name}")
        for p in spec.domain_parameters:
            only = f"({p.condition_short()}) " if p.applies_when else ""
            print(f"    -p {p.name}={p.default!s:<12} {p.allowed()}. {only}{p.help}")
    print("\ntraining options, for every family (a family or its dataset may change a default):")
    for p in TRAINING_PARAMETERS:
        default = ",".join(map(str, p.default)) if isinstance(p.default, list) else p.default
        print(f"    -t {p.name}={default!s:<12} {p.allowed()}. {p.help}")
    for error in ws.registry.errors:
        print(f"skipped {error.source}: {error.message}", file=sys.stderr)
    return 0


def cmd_variants(ws: Any, args: argparse.Namespace) -> int:
    from engine.training.session import headline

    found = ws.discover_variants()
    if args.json:
        _print_json([v.model_dump(mode="json") for v in found])
        return 0
    for v in found:
        score = headline(v.final_metrics)
        line = f"{v.family:<24} {v.variant:<48} {v.status:<11} {v.epochs_completed:>6}/{v.total_epochs:<6} {score}"
        print(line + (f"  ({v.problem})" if v.problem and v.status == "broken" else ""))
    return 0


def cmd_train(ws: Any, args: argparse.Namespace) -> int:
    exists = "use `trainwright resume {0}`, `replay`, or train with --overwrite to replace it"
    return _run(ws, args, train_request(ws, args, exists))


def train_request(ws: Any, args: argparse.Namespace, exists: str) -> Any:
    """The train job of `FAMILY -p … -t … [--overwrite]` (train, queue add), every value
    checked now; a variant that exists without --overwrite is refused with `exists` (its
    name filled in as {0})."""
    from engine.jobs import JobRequest
    from engine.params import parse_assignments

    spec = ws.registry.spec(args.family)
    domain = parse_assignments(spec.domain_parameters, args.params, kind="domain")
    training = parse_assignments(spec.training_parameters(), args.training, kind="training")
    variant = ws.create_variant(args.family, domain, training)
    if variant.exists() and not args.overwrite:
        raise TrainwrightError(
            f"variant {variant.name} already exists; {exists.format(variant.name)}"
        )
    return JobRequest(
        kind="train",
        family=args.family,
        domain=domain,
        training=training,
        variant=variant.name,
        overwrite=args.overwrite,
    )


def cmd_resume(ws: Any, args: argparse.Namespace) -> int:
    from engine.jobs import JobRequest

    variant = ws.variant(args.variant)
    return _run(ws, args, JobRequest(kind="resume", variant=variant.name, family=variant.family))


def cmd_replay(ws: Any, args: argparse.Namespace) -> int:
    from engine.jobs import JobRequest

    variant = ws.variant(args.variant)
    request = JobRequest(kind="replay", variant=variant.name, family=variant.family)
    cancel = threading.Event()
    callbacks = [] if args.json else [ProgressPrinter(prefix="replay ")]
    with CancelOnSigint(cancel):
        result = run_as_job(ws, request, callbacks, cancel)
    if args.json:
        _print_json(result.model_dump(mode="json"))
    else:
        print(result.message)
    return 0 if result.identical else 1


def cmd_verify(ws: Any, args: argparse.Namespace) -> int:
    variant = ws.variant(args.variant)
    report = ws.verify(variant)
    if args.json:
        _print_json(report.model_dump(mode="json"))
    elif report.verified:
        print(f"{report.message} ({variant.name})")
        for note in report.notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        for mismatch in report.mismatches:
            print(mismatch.line())
    return 0 if report.verified else 1


def cmd_delete(ws: Any, args: argparse.Namespace) -> int:
    from engine.run_rules import can_delete

    variant = ws.variant(args.variant)
    summary = ws.summary(variant.name, variant.family)
    if not can_delete(summary.status):
        raise TrainwrightError(f"{variant.name} is being trained right now; stop that run first")
    if not args.yes:
        if not sys.stdin.isatty():
            raise TrainwrightError(
                f"deleting {variant.name} needs --yes when not run in a terminal"
            )
        done = f"{summary.epochs_completed}/{summary.total_epochs} epochs"
        answer = input(f"Delete {variant.name} ({summary.status}, {done})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    ws.delete(variant.name, variant.family)
    print(f"deleted {variant.name}")
    return 0


COMMANDS: dict[str, Callable[[Any, argparse.Namespace], int]] = {
    "families": cmd_families,
    "variants": cmd_variants,
    "train": cmd_train,
    "resume": cmd_resume,
    "replay": cmd_replay,
    "verify": cmd_verify,
    "delete": cmd_delete,
}


def _run(ws: Any, args: argparse.Namespace, request: Any) -> int:
    from engine.training.session import headline

    cancel = threading.Event()
    callbacks = [] if args.json else [ProgressPrinter()]
    with CancelOnSigint(cancel):
        session = run_as_job(ws, request, callbacks, cancel)
    if args.json:
        _print_json(
            {
                "variant": session.variant,
                "family": session.family,
                "status": session.status,
                "epochs_completed": session.epochs_completed,
                "final_metrics": session.final_metrics,
                "weights_sha256": session.weights_sha256,
                "path": session.path,
                "error_message": session.error_message,
                "warnings": session.warnings,
                "stop_reason": session.stop_reason,
            }
        )
    else:
        print(f"{session.status}: {session.variant} — {headline(session.final_metrics)}")
        if session.stop_reason:
            print(f"stopped early: {session.stop_reason}")
        if session.error_message:
            print(f"error: {session.error_message}", file=sys.stderr)
        if session.status in ("cancelled", "timed_out"):
            print(f"resume with: trainwright resume {session.variant}")
        print(f"weights sha256 {session.weights_sha256}  in {session.path}")
    # timed_out exits like timeout(1) does; a stop (Ctrl+C) like a SIGINT.
    return {"completed": 0, "failed": 1, "timed_out": EXIT_TIMED_OUT}.get(session.status, 130)


def run_as_job(
    ws: Any,
    request: Any,
    callbacks: list[Any],
    cancel: threading.Event,
    on_sweep_row: Callable[[Any], None] | None = None,
) -> Any:
    """Run `request` now as a job of this process, so the history and its log record it;
    what the engine returns (a session, a replay's result, a sweep record, (strategy,
    session)). A job store that cannot be used never stops the run: one warning instead."""
    from engine.jobs import run_now

    outcome = run_now(ws, request, callbacks, cancel, on_sweep_row=on_sweep_row, warn=warn_once)
    return outcome.result


_WARNED: set[str] = set()


def warn_once(message: str) -> None:
    """One line on stderr, once per process for the same message."""
    if message not in _WARNED:
        _WARNED.add(message)
        print(f"trainwright: warning: {message}", file=sys.stderr)


class CancelOnSigint:
    """Ctrl+C sets the run's cancel event: it stops at the next step, resumable."""

    def __init__(
        self,
        event: threading.Event,
        message: str = "stopping at the next step (a resumable checkpoint is written)…",
    ) -> None:
        self.event, self.previous, self.message = event, None, message

    def __enter__(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, *_: Any) -> None:
        print(f"\n{self.message}", file=sys.stderr)
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


class ProgressPrinter:
    """A progress bar on a terminal; one line per reporting interval otherwise."""

    def __init__(self, interval: float = 2.0, prefix: str = "") -> None:
        self.interval, self.prefix = interval, prefix
        self.tty = sys.stderr.isatty()
        self.total = 0
        self.last = 0.0
        self.started = time.monotonic()

    def on_train_start(self, info: dict[str, Any]) -> None:
        self.total = info["total_epochs"]
        verb = "resuming" if info["resumed"] else "training"
        print(
            f"{self.prefix}{verb} {info['variant']} from epoch {info['start_epoch']}",
            file=sys.stderr,
        )

    def on_epoch_end(self, metrics: Any) -> None:
        now = time.monotonic()
        last_epoch = metrics.epoch == self.total
        if not last_epoch and now - self.last < (0.1 if self.tty else self.interval):
            return
        self.last = now
        from engine.training.session import headline

        score = headline(metrics.model_dump(exclude_none=True))
        if self.tty:
            width = 30
            done = int(width * metrics.epoch / max(1, self.total))
            bar = "#" * done + "-" * (width - done)
            end = "\n" if last_epoch else ""
            print(
                f"\r{self.prefix}[{bar}] {metrics.epoch}/{self.total} {score}   ",
                end=end,
                file=sys.stderr,
                flush=True,
            )
        else:
            print(
                f"{self.prefix}epoch {metrics.epoch}/{self.total} {score}",
                file=sys.stderr,
                flush=True,
            )

    def on_warning(self, message: str) -> None:
        print(f"\n{self.prefix}warning: {message}", file=sys.stderr)

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
