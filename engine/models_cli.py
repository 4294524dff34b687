"""`trainwright models`: the model registry — list, publish, show, alias, unalias, rename,
notes, delete (and export/import, added by engine.registry.export_cli when it is installed).

Exit codes: 0 done; 1 a deletion not confirmed; 2 bad input (one line on stderr naming the
model, version, alias or variant).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli import _Parser, _print_json
from engine.registry.records import ModelVersion, RegistryError, parse_ref
from engine.units import format_bytes

EXPORT_MODULE = "engine.registry.export_cli"
MAIN_METRICS = ("test_accuracy", "test_r2", "test_loss")

# The `models` subparsers, for commands other modules add (see `_extend`).
models_sub: Any = None


def register(sub: Any) -> Any:
    """Add `models` and its actions to the CLI's subparsers; the actions' subparsers."""
    global models_sub
    p = sub.add_parser(
        "models",
        help="the model registry: list, publish, show, alias, rename, notes, delete",
        description="Without an action, list the published models: each publish of a "
        "completed variant adds the next version (v1, v2, ...) of a named model.",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    _add_publish(actions)
    _add_show(actions)
    _add_changes(actions)
    models_sub = actions
    _extend(actions)
    return actions


def _add_publish(actions: Any) -> None:
    a = actions.add_parser(
        "publish", help="publish a completed variant as the next version of a model"
    )
    a.add_argument("variant")
    a.add_argument("--name", required=True, help="the model's name")
    a.add_argument("--notes", default="", help="notes kept with the version")
    a.add_argument("--alias", help="point this alias at the new version")
    a.add_argument(
        "--checkpoint",
        choices=("best", "final"),
        default="best",
        help="the best checkpoint's weights (default; the last weights when there is none) "
        "or the last weights",
    )
    a.add_argument("--json", action="store_true", help="print the version as JSON")
    a.set_defaults(handler=cmd_publish)


def _add_show(actions: Any) -> None:
    a = actions.add_parser("show", help="one version's record (default: the latest)")
    a.add_argument("ref", metavar="NAME[:VERSION]")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=cmd_show)


def _add_changes(actions: Any) -> None:
    a = actions.add_parser("alias", help="point an alias at a version (moving it if set)")
    a.add_argument("name")
    a.add_argument("alias")
    a.add_argument("version")
    a.set_defaults(handler=cmd_alias)

    a = actions.add_parser("unalias", help="remove an alias")
    a.add_argument("name")
    a.add_argument("alias")
    a.set_defaults(handler=cmd_unalias)

    a = actions.add_parser("rename", help="rename a model")
    a.add_argument("old")
    a.add_argument("new")
    a.set_defaults(handler=cmd_rename)

    a = actions.add_parser(
        "notes", help="set the notes of a model (NAME) or of one version (NAME:VERSION)"
    )
    a.add_argument("ref", metavar="NAME[:VERSION]")
    a.add_argument("text")
    a.set_defaults(handler=cmd_notes)

    a = actions.add_parser(
        "delete", help="delete one version (NAME:VERSION) or a model and all its versions (NAME)"
    )
    a.add_argument("ref", metavar="NAME[:VERSION]")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    a.set_defaults(handler=cmd_delete)


def _extend(actions: Any) -> None:
    """Let engine.registry.export_cli add its actions (export, import) when it is installed."""
    import importlib

    try:
        module = importlib.import_module(EXPORT_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name != EXPORT_MODULE:
            raise
        return
    module.add_commands(actions)


def open_store(ws: Any) -> Any:
    """The home's registry; what it could not read goes to stderr."""
    from engine.registry.store import RegistryStore

    store = RegistryStore(ws.home)
    for warning in store.warnings:
        print(f"trainwright: warning: {warning}", file=sys.stderr)
    return store


# ---- commands ------------------------------------------------------------------------------
def cmd_list(ws: Any, args: argparse.Namespace) -> int:
    summaries = open_store(ws).models()
    if args.json:
        _print_json([s.model_dump(mode="json") for s in summaries])
        return 0
    if not summaries:
        print("no published models (publish one: trainwright models publish VARIANT --name NAME)")
        return 0
    print(
        f"{'NAME':<32} {'VERSIONS':>8} {'LATEST':>6}  {'ALIASES':<24} {'METRIC':<22} "
        f"{'SIZE':>9} {'MS/1000':>9}"
    )
    for s in summaries:
        aliases = ", ".join(f"{a}→v{v}" for a, v in sorted(s.aliases.items())) or "-"
        print(
            f"{s.name:<32} {s.versions:>8} {'v' + str(s.latest):>6}  {aliases:<24} "
            f"{main_metric(s.metrics):<22} {format_bytes(s.size_bytes):>9} "
            f"{_ms(s.inference_ms_per_1000):>9}"
        )
    return 0


def cmd_publish(ws: Any, args: argparse.Namespace) -> int:
    from engine.registry.publish import publish

    version = publish(
        ws,
        args.variant,
        args.name,
        notes=args.notes,
        alias=args.alias,
        checkpoint=args.checkpoint,
    )
    if args.json:
        _print_json(version.model_dump(mode="json"))
        return 0
    alias = f", alias {args.alias}" if args.alias else ""
    print(
        f"published {version.name} v{version.version} from {version.variant} "
        f"({version.checkpoint} weights, epoch {version.epoch}{alias}): "
        f"{main_metric(version.metrics)}, {format_bytes(version.size_bytes)}, "
        f"{_ms(version.inference_ms_per_1000)} ms per 1,000 examples"
    )
    return 0


def cmd_show(ws: Any, args: argparse.Namespace) -> int:
    store = open_store(ws)
    version, directory = store.get(args.ref)
    record = store.record(version.name)
    aliases = sorted(a for a, v in record.aliases.items() if v == version.version)
    if args.json:
        data = version.model_dump(mode="json")
        data.update(path=str(directory), aliases=aliases, model_notes=record.notes)
        _print_json(data)
        return 0
    for line in describe(version, aliases, record.notes):
        print(line)
    print(f"{'folder':<22} {directory}")
    return 0


def cmd_alias(ws: Any, args: argparse.Namespace) -> int:
    open_store(ws).set_alias(args.name, args.alias, args.version)
    print(f"{args.name}:{args.alias} now points at v{args.version.lstrip('vV')}")
    return 0


def cmd_unalias(ws: Any, args: argparse.Namespace) -> int:
    open_store(ws).remove_alias(args.name, args.alias)
    print(f"removed alias {args.alias} of {args.name}")
    return 0


def cmd_rename(ws: Any, args: argparse.Namespace) -> int:
    open_store(ws).rename(args.old, args.new)
    print(f"renamed {args.old} to {args.new}")
    return 0


def cmd_notes(ws: Any, args: argparse.Namespace) -> int:
    name, version = parse_ref(args.ref)
    open_store(ws).set_notes(name, args.text, version)
    print(f"notes of {args.ref} saved")
    return 0


def cmd_delete(ws: Any, args: argparse.Namespace) -> int:
    store = open_store(ws)
    name, asked = parse_ref(args.ref)
    if args.ref.endswith(":"):
        raise RegistryError(f"{args.ref!r} names no version: write NAME for the whole model")
    versions = store.versions(name)
    ref = args.ref
    if asked is not None:
        target = store.get(args.ref)[0]
        what = f"{name} v{target.version}"
        ref = f"{name}:{target.version}"  # the version confirmed, even if an alias moves
    else:
        what = f"model {name} and its {len(versions)} version(s)"
    if not args.yes:
        if not sys.stdin.isatty():
            raise RegistryError(f"deleting {what} needs --yes when not run in a terminal")
        answer = input(f"Delete {what}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    deleted = store.delete(ref)
    print(f"deleted {name} " + ", ".join(f"v{v}" for v in deleted))
    return 0


# ---- formatting ----------------------------------------------------------------------------
def main_metric(metrics: dict[str, float]) -> str:
    """The metric a model is judged by: test accuracy, else R², else the test loss."""
    for key in MAIN_METRICS:
        if key in metrics:
            return f"{key} {metrics[key]:.4g}"
    return "-"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def describe(version: ModelVersion, aliases: list[str], model_notes: str = "") -> list[str]:
    """Every field of a version, one `label  value` line each, in words."""
    domain = version.config.get("domain", {})
    training = version.config.get("training", {})
    lineage = version.lineage
    rows = [
        ("model", f"{version.name} v{version.version}"),
        ("aliases", ", ".join(aliases) or "-"),
        ("created", version.created_at),
        ("variant", version.variant),
        ("family", version.family),
        ("weights", f"{version.checkpoint} (epoch {version.epoch})"),
        ("task", version.task_type or "-"),
        ("classes", ", ".join(version.class_names or []) or "-"),
        ("metrics", ", ".join(f"{k} {v:.4g}" for k, v in sorted(version.metrics.items())) or "-"),
        ("dataset", version.dataset or "-"),
        ("data sha256", version.data_sha256 or "built-in data"),
        ("parameters", f"{version.parameters:,}"),
        ("size", format_bytes(version.size_bytes)),
        ("ms per 1,000", _ms(version.inference_ms_per_1000) + " (one thread)"),
        ("weights sha256", version.weights_sha256),
        ("trained with", _trained_with(version)),
        ("file sha256", version.file_sha256),
        ("teacher", lineage.teacher or "-"),
        ("started from", _init_from(version)),
        ("engine", version.engine_version),
        ("domain", _pairs(domain)),
        ("training", _pairs(training)),
        ("notes", version.notes or "-"),
        ("model notes", model_notes or "-"),
    ]
    return [f"{label:<22} {value}" for label, value in rows]


def _trained_with(version: ModelVersion) -> str:
    """ "torch", or the backend whose weights were converted, with their recorded hash."""
    if version.trained_with == "torch":
        return "torch"
    digest = version.trained_weights_sha256 or ""
    return f"{version.trained_with} (weights {digest[:12]}…, converted to torch)"


def _init_from(version: ModelVersion) -> str:
    lineage = version.lineage
    if not lineage.init_from:
        return "-"
    digest = lineage.init_from_weights_sha256
    return lineage.init_from + (f" (weights {digest[:12]}…)" if digest else "")


def _pairs(values: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(values.items())) or "-"
