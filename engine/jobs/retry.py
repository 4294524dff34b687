"""What a retry runs: the same request, or, for a run whose variant is already there, a
resume from its checkpoint (interrupted, cancelled, timed out) or a fresh start over it
(completed, failed, broken). Torch-free: it reads files and locks only."""

from __future__ import annotations

from pathlib import Path

from engine.discovery import summarise
from engine.jobs.errors import JobError
from engine.jobs.records import ACTIVE, Job, JobRequest
from engine.metadata import VariantMetadata
from engine.training.checkpoints import full_checkpoints
from engine.variants import checkpoints_dir, config_path, metadata_path, variant_dir

# Kinds whose request makes (or continues) one variant.
_VARIANT_KINDS = ("train", "resume", "distill")
# Variant statuses a retry continues from a checkpoint; any other (completed, failed,
# broken) starts over: a failure by NaN or a bug would only repeat from its checkpoint.
RESUMED_ON_RETRY = frozenset({"interrupted", "cancelled", "timed_out", "created"})


def retry_request(home: Path, job: Job) -> JobRequest:
    """The request a retry of `job` queues; JobError while it is still queued or running,
    or when its variant is being trained by a live run."""
    if job.status in ACTIVE:
        raise JobError(f"job {job.id} is {job.status}; only a finished job can be retried")
    request = job.request
    if request.kind not in _VARIANT_KINDS:
        return request  # a replay runs again; a sweep resumes where it stopped
    name = job.variant or request.variant
    directory = find_variant_dir(home, name, job.family or request.family) if name else None
    if directory is None:
        return request  # never made (refused, failed before its first write): as asked
    status = summarise(directory).status
    if status == "training":
        raise JobError(f"variant {name} is being trained right now; stop that run first")
    family = directory.parent.name
    if status in RESUMED_ON_RETRY and resumable(directory):
        return JobRequest(kind="resume", variant=name, family=family)
    if request.kind == "resume":
        if status == "completed":
            raise JobError(f"variant {name} is already completed; nothing to resume")
        return request
    return request.model_copy(update={"overwrite": True, "variant": name})


def resumable(directory: Path) -> bool:
    """True when a resume can continue the variant in `directory`: it holds a full
    checkpoint, or it never took a step (a resume then starts it, exactly)."""
    if full_checkpoints(checkpoints_dir(directory)):
        return True
    try:
        meta = VariantMetadata.load(metadata_path(directory))
    except (OSError, ValueError):
        return False
    return meta.steps == 0


def find_variant_dir(home: Path, name: str, family: str | None = None) -> Path | None:
    """The directory of variant `name` under `home` (in `family` when known), or None."""
    root = Path(home) / "variants"
    candidates = [variant_dir(home, family, name)] if family else []
    if root.is_dir():
        candidates += [p / name for p in sorted(root.iterdir()) if p.is_dir()]
    for directory in candidates:
        if config_path(directory).exists() or metadata_path(directory).exists():
            return directory
    return None
