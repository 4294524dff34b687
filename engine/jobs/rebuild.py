"""A history rebuilt from the directories, the source of truth, when trainwright.db is
missing or damaged: one finished job per variant (train, or distill for a distilled
student) and one per sweep that ran, each with the status its files tell. A sweep that was
created and never run (no row yet) made no job: the one about to run it will be recorded."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.discovery import discover_variants, load_variant
from engine.errors import TrainwrightError
from engine.jobs.records import JobRequest, now
from engine.metadata import VariantMetadata
from engine.sweeps import store as sweeps_store
from engine.variants import metadata_path

# A variant's or sweep's status as discovery reports it -> its job's status. "training"
# and "running" (a live run holds the lock) stay running: the store's liveness check asks
# the lock again. A variant created but never trained was cut short: interrupted.
_VARIANT_STATUS = {
    "completed": "completed",
    "failed": "failed",
    "cancelled": "cancelled",
    "timed_out": "timed_out",
    "interrupted": "interrupted",
    "created": "interrupted",
    "training": "running",
    "broken": "failed",
}
_SWEEP_STATUS = {
    "completed": "completed",
    "cancelled": "cancelled",
    "interrupted": "interrupted",
    "pending": "interrupted",  # stopped before its first row was stored
    "running": "running",
    "broken": "failed",
}


@dataclass
class Rebuilt:
    """Rows for the jobs table (column -> value), oldest first, and what they came from."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    variants: int = 0
    sweeps: int = 0

    def summary(self) -> str:
        return f"{_count(self.variants, 'variant')} and {_count(self.sweeps, 'sweep')}"


def from_directories(home: Path) -> Rebuilt:
    """The jobs the directories under `home` tell of; never raises for what is in them."""
    rebuilt = Rebuilt()
    for summary in discover_variants(home):
        rebuilt.rows.append(_variant_row(Path(summary.path), summary))
        rebuilt.variants += 1
    for sweep in sweeps_store.list_sweeps(home):
        if sweep.status == "pending" and not (sweep.completed or sweep.failed):
            continue  # never run
        rebuilt.rows.append(_sweep_row(sweep))
        rebuilt.sweeps += 1
    rebuilt.rows.sort(key=lambda row: row["created_at"])
    return rebuilt


def _variant_row(directory: Path, summary: Any) -> dict[str, Any]:
    family, name = summary.family, summary.variant
    request = JobRequest(kind="train", family=family, variant=name)
    try:
        config = load_variant(directory).config
    except TrainwrightError:
        config = None
    if config is not None:
        # The values it was resolved with: a retry that starts over makes the same variant.
        values = {"family": family, "domain": dict(config.domain), "variant": name}
        values["training"] = config.training.model_dump(mode="json")
        if config.strategy == "distill" and config.strategy_params.get("teacher"):
            params = config.strategy_params
            options = {k: params[k] for k in ("temperature", "alpha") if k in params}
            request = JobRequest(
                kind="distill", teacher=params["teacher"], options=options, **values
            )
        else:
            request = JobRequest(kind="train", **values)
    meta = _metadata(directory)
    status = _VARIANT_STATUS.get(summary.status, "failed")
    created = (meta.created_at if meta else None) or summary.last_modified or now()
    finished = None
    if status != "running":
        finished = (meta and (meta.finished_at or meta.updated_at)) or summary.last_modified
    return {
        "kind": request.kind,
        "request": request,
        "status": status,
        "created_at": created,
        "started_at": meta.started_at if meta else None,
        "finished_at": finished,
        "attempts": attempts_from_metadata(meta) if meta else 0,
        "variant": name,
        "family": family,
        "error": summary.problem if status in ("failed", "interrupted") else None,
    }


def _sweep_row(sweep: Any) -> dict[str, Any]:
    status = _SWEEP_STATUS.get(sweep.status, "failed")
    error = sweep.problem
    if status == "completed" and sweep.failed:
        status, error = "failed", f"{sweep.failed} of {sweep.total} combinations failed"
    family = sweep.family if sweep.family != "?" else None
    request = JobRequest(kind="sweep", sweep_id=sweep.id, family=family)
    return {
        "kind": "sweep",
        "request": request,
        "status": status,
        "created_at": sweep.created_at or now(),
        "started_at": sweep.created_at or None,
        "finished_at": None if status == "running" else sweep.updated_at or sweep.created_at,
        "attempts": 1,
        "sweep_id": sweep.id,
        "family": family,
        "error": error,
    }


def _metadata(directory: Path) -> VariantMetadata | None:
    try:
        return VariantMetadata.load(metadata_path(directory))
    except (OSError, ValueError, TrainwrightError):
        return None


def attempts_from_metadata(meta: VariantMetadata) -> int:
    """How many tries the trainer made: metadata.json's `attempts` lists each (the first,
    one per retry; the last is the one that ended the run); 1 for a run recorded before
    retries existed."""
    numbers = []
    for entry in getattr(meta, "attempts", None) or []:
        number = (
            entry.get("attempt") if isinstance(entry, dict) else getattr(entry, "attempt", None)
        )
        if isinstance(number, int):
            numbers.append(number)
    return max(numbers, default=1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def request_json(request: JobRequest) -> str:
    return json.dumps(request.model_dump(mode="json"), sort_keys=True)
