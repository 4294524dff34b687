"""Replay: train a variant again from scratch elsewhere and compare it step by step."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.errors import TrainwrightError, VariantError
from engine.metadata import VariantMetadata, check_config_hash
from engine.strategies import WorkspaceLike, trainer_for
from engine.training.callbacks import Callbacks, CancelEvent
from engine.training.checkpoints import remove_debris
from engine.training.chronicle import read_chronicle, stable_fields
from engine.training.lock import VariantLock
from engine.training.provenance import check_target_scaling
from engine.variants import Variant


class ReplayResult(BaseModel):
    variant: str
    identical: bool
    status: str  # "identical", "diverged", "cancelled" or "failed"
    message: str
    first_divergence: dict[str, Any] | None = None  # epoch, step, what
    checkpoints_compared: int = 0
    lines_compared: int = 0
    weights_sha256: str | None = None


def replay(
    workspace: WorkspaceLike,
    variant: Variant,
    callbacks: Callbacks = None,
    cancel_event: CancelEvent = None,
) -> ReplayResult:
    """Train a copy of the completed `variant` in a temporary home, by the strategy its config
    names (what it refers to, a teacher, is looked up in `workspace`), and compare the two.

    Refused in one line (a TrainwrightError), writing nothing, when metadata.json cannot be
    read or config.json was edited since the run; what killed writes left is removed first."""
    original = VariantMetadata.load(variant.metadata_path)  # MetadataError: one line
    if original.status != "completed":
        raise VariantError(
            f"variant {variant.name} is {original.status}; only completed runs replay"
        )
    check_config_hash(variant.config, variant.config_path)
    family = workspace.registry.family(variant.family)
    check_target_scaling(family, variant.config, original.versions.get("engine", ""))
    _remove_debris(variant)
    threads = int(original.platform.get("torch_threads") or 0) or None
    with tempfile.TemporaryDirectory(prefix="trainwright-replay-") as tmp:
        copy = variant.at_home(Path(tmp))
        # No time limit: a replay of a variant trained with a `timeout` runs to the end.
        trainer = trainer_for(workspace, copy, callbacks, cancel_event, threads=threads, timeout=0)
        if trainer.initial_weights is not None:  # init_from: the source's weights unchanged
            trainer.initial_weights.check_recorded(original.extra.get("init_from"), variant.name)
        session = trainer.train()
        if session.status != "completed":
            return ReplayResult(
                variant=variant.name,
                identical=False,
                status=session.status,
                message=f"replay {session.status}: {session.error_message or 'stopped'}",
            )
        replayed = VariantMetadata.load(copy.metadata_path)
        return _compare(variant, copy, original, replayed)


def _remove_debris(variant: Variant) -> None:
    """Temp files and orphan sidecars a killed write left, removed under the variant's lock;
    skipped when the lock cannot be had (a read-only home, a run holding it)."""
    lock = VariantLock(variant.lock_path)
    try:
        lock.acquire()
    except TrainwrightError:
        return
    try:
        remove_debris(variant.dir)
    finally:
        lock.release()


def _compare(
    variant: Variant, copy: Variant, original: VariantMetadata, replayed: VariantMetadata
) -> ReplayResult:
    """The first place the copy differs from the original: a weights checkpoint (counted in
    `checkpoints_compared`), the best weights (keep_best: "best weights"), a chronicle line,
    its length, or the final weights."""
    kinds = ("weights", "best")
    theirs = {(c.kind, c.epoch, c.step): c for c in replayed.checkpoints if c.kind in kinds}
    compared = 0
    divergence = None
    for entry in sorted(original.checkpoints, key=lambda c: c.step):
        other = theirs.get((entry.kind, entry.epoch, entry.step))
        if entry.kind not in kinds:
            continue
        if entry.kind == "best" and other is None and replayed.best is not None:
            divergence = {"epoch": entry.epoch, "step": entry.step, "what": "best weights"}
            break
        if other is None:
            continue
        compared += entry.kind == "weights"
        if other.weights_sha256 != entry.weights_sha256:
            what = "weights" if entry.kind == "weights" else "best weights"
            divergence = {"epoch": entry.epoch, "step": entry.step, "what": what}
            break
    lines = 0
    a = list(read_chronicle(variant.chronicle_path))
    b = list(read_chronicle(copy.chronicle_path))
    for row_a, row_b in zip(a, b, strict=False):
        lines += 1
        if stable_fields(row_a) != stable_fields(row_b):
            line_div = {"epoch": row_a.get("epoch"), "step": row_a.get("step"), "what": "chronicle"}
            if divergence is None or line_div["step"] <= divergence["step"]:
                divergence = line_div
            break
    if divergence is None and len(a) != len(b):
        last = (a or b)[min(len(a), len(b)) - 1] if min(len(a), len(b)) else {}
        divergence = {
            "epoch": last.get("epoch"),
            "step": last.get("step"),
            "what": "chronicle length",
        }
    if divergence is None and original.weights_sha256 != replayed.weights_sha256:
        divergence = {
            "epoch": original.epochs_completed,
            "step": original.steps,
            "what": "final weights",
        }
    identical = divergence is None
    message = (
        f"identical: {compared} checkpoints and {lines} chronicle lines match"
        if identical
        else f"diverged at epoch {divergence['epoch']}, step {divergence['step']} ({divergence['what']})"
    )
    return ReplayResult(
        variant=variant.name,
        identical=identical,
        status="identical" if identical else "diverged",
        message=message,
        first_divergence=divergence,
        checkpoints_compared=compared,
        lines_compared=lines,
        weights_sha256=replayed.weights_sha256,
    )
