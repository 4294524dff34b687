"""`trainwright models export` and `trainwright models import`, added to the `models` command's
subcommands by engine.models_cli (which calls `add_commands`).

Exit codes: 0 done; 2 bad input (one line on stderr: engine.cli prints a TrainwrightError).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.registry.export import FORMATS


def add_commands(models_sub: Any) -> None:
    """Add `export` and `import` to the `models` command's subparsers object."""
    p = models_sub.add_parser(
        "export",
        help="export a model version: onnx, safetensors, torch-export or a bundle ZIP",
        description="Write a published version to a file for use elsewhere. A bundle holds the "
        "ONNX model, the weights, the preprocessing, the version record, a model card and a "
        "manifest of hashes; `models import` adds it to another home.",
    )
    p.add_argument("ref", metavar="NAME[:VERSION]", help="the model, and a version or alias")
    p.add_argument("--format", dest="fmt", required=True, choices=FORMATS)
    p.add_argument("--out", required=True, metavar="PATH", help="the file to write")
    p.add_argument("--force", action="store_true", help="replace PATH if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=cmd_export)

    p = models_sub.add_parser(
        "import",
        help="add a model bundle (from `models export --format bundle`) as a new version",
        description="Check a bundle (safe ZIP, manifest hashes, weights against the version "
        "record) and add it as the next version of its model, or of --name.",
    )
    p.add_argument("bundle", metavar="BUNDLE.zip")
    p.add_argument("--name", help="the model to add it to (default: the bundle's model name)")
    p.add_argument("--json", action="store_true", help="print the new version as JSON")
    p.set_defaults(handler=cmd_import)


def cmd_export(workspace: Any, args: argparse.Namespace) -> int:
    from engine.cli import _print_json
    from engine.registry.export import export_version
    from engine.units import format_bytes

    result = export_version(workspace, args.ref, args.fmt, args.out, force=args.force)
    if args.json:
        _print_json(result.as_json())
        return 0
    print(f"exported {result.name} v{result.version} as {result.format} to {result.path}")
    print(f"  size: {format_bytes(result.size_bytes)} ({result.size_bytes} bytes)")
    if result.max_abs_diff is not None:
        print(f"  ONNX vs torch max abs difference: {result.max_abs_diff:.3g}")
    return 0


def cmd_import(workspace: Any, args: argparse.Namespace) -> int:
    from engine.cli import _print_json
    from engine.registry.bundle import import_bundle

    notes: list[str] = []
    version = import_bundle(workspace, args.bundle, name=args.name, notes=notes)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.json:
        _print_json(version.model_dump(mode="json"))
        return 0
    print(f"imported {args.bundle} as {version.name} v{version.version}")
    print(f"  from variant {version.variant} ({version.family}), weights {version.weights_sha256}")
    return 0
