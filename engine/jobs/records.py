"""What the job store holds: a job's request, the job itself, and its log records.

Torch-free and Qt-free: the window's Jobs panel and the CLI read these the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

JobKind = Literal["train", "resume", "replay", "sweep", "distill"]
JobStatus = Literal[
    "queued", "running", "completed", "failed", "cancelled", "timed_out", "interrupted"
]
KINDS: tuple[str, ...] = ("train", "resume", "replay", "sweep", "distill")
STATUSES: tuple[str, ...] = (
    "queued", "running", "completed", "failed", "cancelled", "timed_out", "interrupted"
)  # fmt: skip
# A job still to run or running; every other status is final (a retry is a new job).
ACTIVE = frozenset({"queued", "running"})
FINISHED = frozenset(STATUSES) - ACTIVE
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# What each kind needs in its request, checked when the request is made.
_NEEDS: dict[str, tuple[str, ...]] = {
    "train": ("family",),
    "resume": ("variant",),
    "replay": ("variant",),
    "sweep": ("sweep_id",),
    "distill": ("teacher", "family"),
}


class JobRequest(BaseModel):
    """What to run, as plain JSON: enough to run it again (a retry, a queued job after a
    restart). `domain`/`training` are parsed values (`engine.params.parse_assignments`, or
    a form's values); `variant` is the variant a train/resume/replay is about (for a train,
    the name it will have); `options` holds a kind's own values (distill: temperature, alpha).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: JobKind
    family: str | None = None
    domain: dict[str, Any] = {}
    training: dict[str, Any] = {}
    variant: str | None = None
    overwrite: bool = False
    sweep_id: str | None = None
    parallel: int | None = None
    teacher: str | None = None
    options: dict[str, Any] = {}

    @model_validator(mode="after")
    def _complete(self) -> JobRequest:
        missing = [name for name in _NEEDS[self.kind] if not getattr(self, name)]
        if missing:
            raise ValueError(f"a {self.kind} job needs {' and '.join(missing)}")
        return self

    def describe(self) -> str:
        """One short line for a table or a notification: "Train mlp_two_moons_…"."""
        if self.kind == "train":
            what = self.variant or " ".join(
                [self.family or "?", *(f"{k}={v}" for k, v in self.domain.items())]
            )
            return f"Train {what}" + (" (overwrite)" if self.overwrite else "")
        if self.kind in ("resume", "replay"):
            return f"{self.kind.capitalize()} {self.variant}"
        if self.kind == "sweep":
            return f"Sweep {self.sweep_id}"
        student = self.variant or self.family
        return f"Distill {self.teacher} into {student}"


class Job(BaseModel):
    """One row of the history: a request, where it stands, and what it used.

    Times are ISO 8601 in UTC. `pid` is the process running it (while running);
    `position` orders the queue (lower runs first); `attempts` counts the trainer's tries
    (a retried divergence is 2); `retry_of` is the job this one retries.
    """

    model_config = ConfigDict(frozen=True)

    id: int
    kind: JobKind
    request: JobRequest
    status: JobStatus
    position: float = 0.0
    paused: bool = False
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    attempts: int = 0
    variant: str | None = None
    family: str | None = None
    sweep_id: str | None = None
    error: str | None = None
    pid: int | None = None
    cancel_requested: bool = False
    cpu_time_s: float | None = None
    peak_rss_bytes: int | None = None
    peak_gpu_bytes: int | None = None
    retry_of: int | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to finish (to now while it runs); None before it started."""
        if self.started_at is None:
            return None
        end = parse_time(self.finished_at) if self.finished_at else datetime.now(UTC)
        return max(0.0, (end - parse_time(self.started_at)).total_seconds())

    def describe(self) -> str:
        """The request's line, naming the variant the job made when the request did not."""
        if self.request.kind == "train" and not self.request.variant and self.variant:
            return self.request.model_copy(update={"variant": self.variant}).describe()
        if self.request.kind == "distill" and self.variant:
            return self.request.model_copy(update={"variant": self.variant}).describe()
        return self.request.describe()


class LogRecord(BaseModel):
    """One line of a job's log. `id` grows with every record of the store: a viewer asks
    for `logs(job_id, after_id=last_seen)` to follow a live run."""

    model_config = ConfigDict(frozen=True)

    id: int
    job_id: int
    time: str
    level: LogLevel
    message: str


def now() -> str:
    """The current time as the store writes it: ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def parse_time(text: str) -> datetime:
    stamp = datetime.fromisoformat(text)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
