"""Sweeps on disk: `<home>/sweeps/<sweep_id>/sweep.json`, rewritten atomically after each run."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.atomic import atomic_write_json
from engine.hashing import canonical_json
from engine.metadata import now
from engine.names import safe_component
from engine.sweeps.errors import SweepError
from engine.sweeps.plan import SweepPlan, SweepSpec
from engine.training.lock import is_locked

NA = "n/a"
# timed_out: the run stopped at its `timeout`; like cancelled it runs again (resumed) when the
# sweep is resumed, but it does not stop the sweep.
# pruned: a search's pruner stopped the trial early (its variant keeps a resumable checkpoint,
# status cancelled); done for good, like completed and failed.
RowResult = Literal["completed", "failed", "cancelled", "timed_out", "pruned"]
FINAL_RESULTS = ("completed", "failed", "pruned")
SweepStatus = Literal["pending", "running", "completed", "cancelled"]


class SweepRow(BaseModel):
    """One combination's outcome. A failed one has 'n/a' metrics and its error message."""

    model_config = ConfigDict(extra="allow")

    index: int
    variant: str | None
    parameters: dict[str, Any]
    result: RowResult
    metric_name: str  # "accuracy", "r2", "test_loss" or "n/a"
    metric_score: float | str
    train_loss: float | str
    test_loss: float | str
    duration_s: float = 0.0  # the variant's total training time (all of its sessions)
    error: str | None = None
    weights_sha256: str | None = None
    reused: bool = False  # the variant was already trained (by an earlier run or sweep)
    objective: float | None = None  # a search's objective value of the trial (None: none)
    stopped_epoch: int | None = None  # a pruned trial: the last epoch it trained
    finished_at: str = Field(default_factory=now)


class SweepRecord(BaseModel):
    model_config = ConfigDict(extra="allow")

    format_version: int = 1
    id: str
    spec: SweepSpec
    combinations: list[dict[str, Any]]
    ignored: list[str] = []
    total: int
    status: SweepStatus = "pending"
    rows: list[SweepRow] = []  # in combination order; at most one per index
    in_progress: list[int] = []  # combinations started and not yet recorded
    created_at: str = Field(default_factory=now)
    updated_at: str | None = None
    finished_at: str | None = None

    def finished(self) -> set[int]:
        """Indices done for good (completed, failed or pruned); cancelled and timed-out ones
        run again on resume."""
        return {r.index for r in self.rows if r.result in FINAL_RESULTS}

    def put(self, row: SweepRow) -> None:
        self.rows = sorted(
            [r for r in self.rows if r.index != row.index] + [row], key=lambda r: r.index
        )

    def counts(self) -> dict[str, int]:
        out = {"completed": 0, "failed": 0, "cancelled": 0, "timed_out": 0, "pruned": 0}
        for r in self.rows:
            out[r.result] += 1
        return out


def best_trial(record: SweepRecord) -> SweepRow | None:
    """A search's best completed trial by its objective, the first of equals (None: a grid,
    or no trial completed with its metric)."""
    if not record.spec.searched:
        return None
    scored = [r for r in record.rows if r.result == "completed" and r.objective is not None]
    if not scored:
        return None
    sign = -1 if (record.spec.objective or "").endswith(":max") else 1
    return min(scored, key=lambda r: (sign * float(r.objective or 0.0), r.index))


class SweepSummary(BaseModel):
    id: str
    family: str
    status: str  # the record's status, or "interrupted" (running, but no process holds it)
    total: int
    completed: int
    failed: int
    pruned: int = 0  # a search's trials stopped early by its pruner
    created_at: str
    updated_at: str | None
    path: str
    problem: str | None = None


def sweeps_root(home: Path) -> Path:
    return Path(home) / "sweeps"


def sweep_dir(home: Path, sweep_id: str) -> Path:
    safe_component(sweep_id, "sweep id", error=SweepError)
    if sweep_id.startswith("."):
        raise SweepError(f"{sweep_id!r} is not a sweep id: it cannot start with '.'")
    return sweeps_root(home) / sweep_id


def sweep_path(home: Path, sweep_id: str) -> Path:
    return sweep_dir(home, sweep_id) / "sweep.json"


def lock_path(home: Path, sweep_id: str) -> Path:
    return sweep_dir(home, sweep_id) / ".lock"


def save(home: Path, record: SweepRecord) -> None:
    record.updated_at = now()
    atomic_write_json(sweep_path(home, record.id), record.model_dump(mode="json"))


def load(home: Path, sweep_id: str) -> SweepRecord:
    path = sweep_path(home, sweep_id)
    if not path.is_file():
        raise SweepError(f"no sweep {sweep_id!r} under {sweeps_root(home)}")
    try:
        record = SweepRecord.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except RecursionError:
        raise SweepError(f"{path}: unreadable: nested too deeply") from None
    except (OSError, ValueError) as exc:
        raise SweepError(f"sweep {sweep_id}: sweep.json is unreadable: {exc}") from None
    problem = _inconsistency(record, sweep_id)
    if problem:
        raise SweepError(f"{path}: {problem}")
    return record


def _inconsistency(record: SweepRecord, sweep_id: str) -> str | None:
    """What in a stored sweep contradicts itself (edited or damaged), or None."""
    if record.id != sweep_id:
        return f"it names sweep {record.id!r}, but lies in the folder of {sweep_id!r}"
    listed = len(record.combinations)
    # A search draws its trials as it runs: fewer are listed than its total until it ends.
    if record.total != listed and not (record.spec.searched and listed <= record.total):
        return f"total is {record.total}, but it lists {listed} combinations"
    for what, indices in (
        ("a row", [r.index for r in record.rows]),
        ("in_progress", record.in_progress),
    ):
        bad = [i for i in indices if not 0 <= i < listed]
        if bad:
            return f"{what} names combination {bad[0]}, but there are {listed}"
    return None


def new_id(home: Path, spec: SweepSpec) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    digest = hashlib.sha256(
        (canonical_json(spec.model_dump(mode="json")) + str(time.time_ns())).encode()
    )
    base = f"{spec.family}_{stamp}_{digest.hexdigest()[:6]}"
    candidate, n = base, 1
    while sweep_dir(home, candidate).exists():
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def create(home: Path, plan: SweepPlan) -> SweepRecord:
    """Write a new sweep (no rows yet) and return it; its id names its directory."""
    record = SweepRecord(
        id=new_id(home, plan.spec),
        spec=plan.spec,
        combinations=plan.combinations,
        ignored=plan.ignored,
        total=plan.total,
    )
    sweep_dir(home, record.id).mkdir(parents=True, exist_ok=False)
    save(home, record)
    return record


def list_sweeps(home: Path) -> list[SweepSummary]:
    """Every sweep under the home, oldest first; an unreadable one is listed with its problem."""
    root = sweeps_root(home)
    out: list[SweepSummary] = []
    if not root.is_dir():
        return out
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        try:
            record = load(home, directory.name)
        except SweepError as exc:
            out.append(
                SweepSummary(
                    id=directory.name, family="?", status="broken", total=0, completed=0,
                    failed=0, created_at="", updated_at=None, path=str(directory), problem=str(exc),
                )
            )  # fmt: skip
            continue
        status = record.status
        if status == "running" and not is_locked(lock_path(home, record.id)):
            status = "interrupted"
        counts = record.counts()
        out.append(
            SweepSummary(
                id=record.id,
                family=record.spec.family,
                status=status,
                total=record.total,
                completed=counts["completed"],
                failed=counts["failed"],
                pruned=counts["pruned"],
                created_at=record.created_at,
                updated_at=record.updated_at,
                path=str(directory),
            )
        )
    out.sort(key=lambda s: (s.created_at, s.id))
    return out
