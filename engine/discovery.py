"""Lists trained variants from their directories alone: no index to fall out of date."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine import variants
from engine.metadata import VariantMetadata
from engine.training.lock import is_locked


class VariantSummary(BaseModel):
    family: str
    variant: str
    path: str
    status: str  # metadata status, "interrupted" (training but no live run) or "broken"
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
    base = {
        "family": directory.parent.name,
        "variant": directory.name,
        "path": str(directory),
        "last_modified": _mtime(directory),
    }
    config_path = variants.config_path(directory)
    if not config_path.is_file():
        return VariantSummary(**base, status="broken", problem=f"{config_path.name} is missing")
    try:
        json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problem = f"{config_path.name} is unreadable: {exc}"
        return VariantSummary(**base, status="broken", problem=problem)
    metadata_path = variants.metadata_path(directory)
    try:
        meta = VariantMetadata.load(metadata_path)
    except FileNotFoundError:
        status = "interrupted" if variants.checkpoints_dir(directory).is_dir() else "created"
        return VariantSummary(**base, status=status, problem=f"{metadata_path.name} is missing")
    except (OSError, ValueError) as exc:
        problem = f"{metadata_path.name} is unreadable: {exc}"
        return VariantSummary(**base, status="broken", problem=problem)
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


def _mtime(directory: Path) -> str:
    times = [p.stat().st_mtime for p in directory.glob("*") if p.is_file()] or [
        directory.stat().st_mtime
    ]
    return datetime.fromtimestamp(max(times), UTC).isoformat(timespec="seconds")
