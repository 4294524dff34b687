"""Lists trained variants from their directories alone: no index to fall out of date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine import variants
from engine.errors import VariantError
from engine.metadata import VariantMetadata, check_config_hash, validation_summary
from engine.training.lock import is_locked


class VariantSummary(BaseModel):
    family: str
    variant: str
    path: str
    # metadata status (created, completed, failed, cancelled, timed_out), "interrupted"
    # (training but no live run) or "broken"
    status: str
    epochs_completed: int = 0
    total_epochs: int = 0
    final_metrics: dict[str, Any] = {}
    last_modified: str = ""
    problem: str | None = None
    extra: dict[str, Any] = {}


def discover_variants(home: Path) -> list[VariantSummary]:
    root = Path(home) / "variants"
    found: list[VariantSummary] = []
    if not root.is_dir():
        return found
    for family_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for directory in sorted(p for p in family_dir.iterdir() if p.is_dir()):
            found.append(summarise(directory))
    return found


def summarise(directory: Path) -> VariantSummary:
    """A variant's status from its files. Damaged files (config.json or metadata.json missing,
    undecodable, of the wrong shape, naming another folder, edited by hand) make it "broken",
    with the reason in `problem`; nothing here raises for what is in them."""
    base = {
        "family": directory.parent.name,
        "variant": directory.name,
        "path": str(directory),
        "last_modified": _mtime(directory),
    }
    problem = config_problem(directory)
    if problem is not None:
        return VariantSummary(**base, status="broken", problem=problem)
    metadata_path = variants.metadata_path(directory)
    try:
        meta = VariantMetadata.load(metadata_path)
    except (OSError, ValueError) as exc:
        # Without metadata.json (and with checkpoints) it reads as a run cut short, as before.
        trained = variants.checkpoints_dir(directory).is_dir() and not metadata_path.exists()
        status = "interrupted" if trained else "broken"
        return VariantSummary(**base, status=status, problem=str(exc))
    status = meta.status
    if status == "training" and not is_locked(variants.lock_path(directory)):
        status = "interrupted"
    return VariantSummary(
        **base,
        status=status,
        epochs_completed=meta.epochs_completed,
        total_epochs=meta.total_epochs,
        final_metrics=meta.final_metrics,
        problem=meta.error_message,
        extra=meta.extra,
    )


def config_problem(directory: Path) -> str | None:
    """Why the config.json in `directory` cannot be used (one line), or None: missing,
    undecodable, not a config, naming another variant or family than its folder's, or edited
    by hand (its config_hash no longer matches its contents)."""
    try:
        config = _read_config(directory)
        check_config_hash(config, variants.config_path(directory))
    except VariantError as exc:
        return str(exc)
    return None


def load_variant(directory: Path) -> variants.Variant:
    """The variant stored in `directory`, or VariantError in one line when its config.json is
    missing, undecodable, not a config, or names another folder. (An edited config still
    loads: verify reports it, resume and replay refuse it.)"""
    return variants.Variant(
        home=Path(directory).parent.parent.parent, config=_read_config(directory)
    )


def _read_config(directory: Path) -> variants.RunConfig:
    path = variants.config_path(directory)
    name = path.name
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise VariantError(f"{name} is missing") from None
    except (OSError, ValueError, RecursionError) as exc:
        raise VariantError(f"{name} is unreadable: {' '.join(str(exc).split())[:200]}") from None
    try:
        config = variants.RunConfig.model_validate(data)
    except ValidationError as exc:
        raise VariantError(f"{name} is unreadable: {validation_summary(exc)}") from None
    if (config.family, config.variant) != (directory.parent.name, directory.name):
        raise VariantError(
            f"{name} names {_shown(config.family)}/{_shown(config.variant)}, but it is stored "
            f"in {_shown(directory.parent.name)}/{_shown(directory.name)}"
        )
    return config


def _shown(name: str) -> str:
    """A name as a message may print it: control characters (a NUL) escaped."""
    return name if name.isprintable() else repr(name)


def _mtime(directory: Path) -> str:
    times = []
    for path in directory.glob("*"):
        try:
            if path.is_file():
                times.append(path.stat().st_mtime)
        except OSError:  # removed meanwhile
            continue
    try:
        times = times or [directory.stat().st_mtime]
    except OSError:
        return ""
    return datetime.fromtimestamp(max(times), UTC).isoformat(timespec="seconds")
