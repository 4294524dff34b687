"""`trainwright datasets`: list the dataset library, and import, show, rename or delete its
datasets. Exit codes: 0 done, 1 not confirmed, 2 bad input or a refused import (one line on
stderr naming the file or entry and the rule; nothing is written)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from engine.cli import CancelOnSigint, _Parser
from engine.errors import TrainwrightError
from engine.units import format_bytes


def register(sub: Any) -> None:
    p = sub.add_parser(
        "datasets",
        help="the dataset library: list, import, show, rename, delete",
        description="Without an action, list the built-in and imported datasets. "
        "`-p dataset=ID` trains on any of them; `-p dataset=csv:PATH` reads a CSV file in "
        "place (it is not imported: its content hash is recorded, and resume refuses if the "
        "file changed).",
    )
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(handler=cmd_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)

    a = actions.add_parser(
        "import", help="copy a CSV file, an image folder or a ZIP into the library"
    )
    a.add_argument(
        "path", help="a .csv file, a folder of class folders of images, or a .zip of either"
    )
    a.add_argument("--name", help="display name (default: the file or folder name)")
    a.add_argument(
        "--strict",
        action="store_true",
        help="refuse the import at an unreadable image instead of skipping it with a warning",
    )
    a.add_argument("--json", action="store_true", help="print the manifest as JSON")
    a.set_defaults(handler=cmd_import)

    a = actions.add_parser(
        "show", help="one dataset: its manifest (columns, classes, skipped files)"
    )
    a.add_argument("id")
    a.add_argument("--json", action="store_true", help="print JSON")
    a.set_defaults(handler=cmd_show)

    a = actions.add_parser(
        "rename", help="give an imported dataset a new display name (the id stays)"
    )
    a.add_argument("id")
    a.add_argument("name")
    a.set_defaults(handler=cmd_rename)

    a = actions.add_parser("delete", help="delete an imported dataset and its files")
    a.add_argument("id")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    a.set_defaults(handler=cmd_delete)


def _library(ws: Any) -> Any:
    from engine.datasets.library import DatasetLibrary

    return DatasetLibrary(ws.home)


def cmd_list(ws: Any, args: argparse.Namespace) -> int:
    from engine.datasets.summary import summarize_datasets

    rows = summarize_datasets(ws.home)
    if args.json:
        _print_json([r.model_dump(mode="json") for r in rows])
        return 0
    print(
        f"{'ID':<24} {'KIND':<8} {'ORIGIN':<9} {'SIZE':>9} {'ROWS/IMAGES':>14} {'CLASSES':>7}  NAME"
    )
    for r in rows:
        classes = "" if r.classes is None else str(r.classes)
        line = (
            f"{r.id:<24} {r.kind:<8} {r.origin:<9} {_size(r.size_bytes):>9} "
            f"{r.count_text:>14} {classes:>7}  {r.name}"
        )
        if r.status != "ready":
            line += f"  [{r.status}: {r.error}]" if r.error else f"  [{r.status}]"
        print(line)
    print("csv:PATH  any CSV file, read in place (-p target=COLUMN picks the target)")
    return 0


def cmd_import(ws: Any, args: argparse.Namespace) -> int:
    cancel = threading.Event()
    bar = ImportBar()
    with CancelOnSigint(cancel, "stopping the import (nothing will be kept)…"):
        try:
            manifest = _library(ws).import_path(
                args.path, args.name, strict_images=args.strict, progress=bar, cancel=cancel
            )
        finally:
            bar.close()
    if args.json:
        _print_json(manifest.model_dump(mode="json"))
        return 0
    print(f"imported {manifest.id} ({manifest.name}): {_contents(manifest)}")
    for skipped in manifest.skipped:
        print(f"warning: skipped {skipped.path}: {skipped.reason}", file=sys.stderr)
    print(f"train on it with: trainwright train mlp -p dataset={manifest.id}")
    return 0


def cmd_show(ws: Any, args: argparse.Namespace) -> int:
    from engine.datasets.summary import summarize_dataset

    summary = summarize_dataset(args.id, ws.home)
    manifest = _library(ws).get(args.id) if summary.origin == "imported" else None
    if args.json:
        out = summary.model_dump(mode="json")
        if manifest is not None:
            out["manifest"] = manifest.model_dump(mode="json")
        _print_json(out)
        return 0
    print(f"{summary.id}: {summary.name} ({summary.origin} {summary.kind}, {summary.status})")
    if summary.description:
        print(f"  {summary.description}")
    facts = [summary.count_text, _size(summary.size_bytes)]
    if summary.classes is not None:
        facts.append(f"{summary.classes} classes")
    print("  " + ", ".join(f for f in facts if f))
    if manifest is None:
        return 0
    if manifest.error:
        print(f"  error: {manifest.error}")
    print(f"  imported {manifest.imported_at} from {manifest.source}")
    print(f"  sha256 {manifest.sha256}")
    for column in manifest.columns:
        mark = "  (target)" if column.name == manifest.target else ""
        missing = f", {column.missing} missing" if column.missing else ""
        print(f"  column {column.name}: {column.type}, {column.distinct} distinct{missing}{mark}")
    if manifest.task_type:
        print(f"  task: {manifest.task_type} on '{manifest.target}'")
    for cls in manifest.classes:
        print(f"  class {cls.name}: {cls.count} images")
    if manifest.image_sizes:
        sizes = ", ".join(f"{k} ×{v}" for k, v in manifest.image_sizes.items())
        print(f"  image sizes: {sizes}")
    if manifest.formats:
        print("  formats: " + ", ".join(f"{k} ×{v}" for k, v in manifest.formats.items()))
    for skipped in manifest.skipped:
        print(f"  skipped {skipped.path}: {skipped.reason}")
    users = _library(ws).variants_using(args.id)
    if users:
        print(f"  trained on by {len(users)} variant(s): {', '.join(users)}")
    return 0


def cmd_rename(ws: Any, args: argparse.Namespace) -> int:
    manifest = _library(ws).rename(args.id, args.name)
    print(f"renamed {manifest.id} to {manifest.name!r}")
    return 0


def cmd_delete(ws: Any, args: argparse.Namespace) -> int:
    library = _library(ws)
    manifest = library.get(args.id)
    users = library.variants_using(args.id)
    if users:
        print(
            f"warning: {len(users)} variant(s) were trained on {args.id}: {', '.join(users)}; "
            "they cannot be resumed or replayed without it",
            file=sys.stderr,
        )
    if not args.yes:
        if not sys.stdin.isatty():
            raise TrainwrightError(
                f"deleting dataset {args.id} needs --yes when not run in a terminal"
            )
        answer = input(f"Delete dataset {args.id} ({manifest.name}, {_contents(manifest)})? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted")
            return 1
    library.delete(args.id)
    print(f"deleted dataset {args.id}")
    return 0


class ImportBar:
    """A progress bar on a terminal (stage, files done of total); silent otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.shown = False

    def __call__(self, progress: Any) -> None:
        if not self.tty:
            return
        width = 30
        total = max(1, progress.total)
        done = int(width * min(progress.done, total) / total)
        bar = "#" * done + "-" * (width - done)
        print(
            f"\r{progress.stage:<16} [{bar}] {progress.done}/{progress.total}   ",
            end="",
            file=sys.stderr,
            flush=True,
        )
        self.shown = True

    def close(self) -> None:
        if self.shown:
            print(file=sys.stderr)


def _contents(manifest: Any) -> str:
    if manifest.kind == "images":
        return f"{manifest.image_count():,} images in {len(manifest.classes)} classes"
    return f"{manifest.rows:,} rows, {len(manifest.columns)} columns, target '{manifest.target}'"


def _size(size: int | None) -> str:
    return "generated" if size is None else format_bytes(size)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))
