"""Verify a stored variant: every checkpoint against its records, the chronicle against the
last save. Nothing is trained and nothing is written.

For each checkpoint the file's SHA-256 is recomputed and compared with metadata.json and with
its `.sha256` sidecar; the file is then loaded with the safe loader (`load_checkpoint`:
SHA-256 first, then `weights_only=True`) and its content hashed again: the weights
(`weights_sha256`) and, for a full checkpoint, the state hash (model, optimizer, RNG, config:
`checkpoints.state_sha256`). The chronicle must still hold the lines (and bytes) the newest
full checkpoint covers. Checkpoints and metadata written before a record existed are checked
for what they have; what could not be checked is listed in `notes`.

A tensorflow variant's checkpoints (`.npz`, engine.backends.keras_files) get the same checks
through their own loader (`KERAS`): the weights hash is over the Keras weights by variable
path, as the run recorded it; its full states record no state hash (noted in the report).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from engine.atomic import sha256_file
from engine.backends import TENSORFLOW, keras_files, trained_with
from engine.discovery import summarise
from engine.errors import CheckpointError
from engine.hashing import weights_sha256
from engine.metadata import CheckpointEntry, ConfigEdited, VariantMetadata, check_config_hash
from engine.training import checkpoints as ckpt
from engine.variants import CHRONICLE_FILE, CONFIG_FILE, METADATA_FILE, Variant


class Mismatch(BaseModel):
    """One thing that does not match its record."""

    file: str  # the checkpoint, chronicle.jsonl, metadata.json or config.json
    # "file", "sidecar", "weights", "state", "content", "missing", "chronicle", "metadata",
    # "config"
    what: str
    message: str

    def line(self) -> str:
        return f"{self.file}: {self.message}"


class VerifyReport(BaseModel):
    variant: str
    family: str
    verified: bool
    message: str  # one line: "verified: …" or how many mismatches
    checkpoints_checked: int = 0
    state_hashes_checked: int = 0
    chronicle_lines: int | None = None  # lines the chronicle has now
    mismatches: list[Mismatch] = []
    notes: list[str] = []  # what could not be checked (older records), and why
    cancelled: bool = False


@dataclass(frozen=True)
class Checkpoints:
    """One backend's checkpoint files: how they are found and loaded (everything verify
    compares is the same for both backends)."""

    on_disk: Callable[[Path], list[Path]]  # the weights and full checkpoint files there
    # The file's content, sidecar checked first: "epoch", "step", "model" (the tensors its
    # weights hash covers), and for a full one "config_hash" and "chronicle_offset".
    load: Callable[[Path], Any]
    state_hashes: bool  # whether a full checkpoint's state hash is recorded


def _torch_files(directory: Path) -> list[Path]:
    return [*ckpt.weights_files(directory).values(), *ckpt.full_checkpoints(directory)]


def _keras_files(directory: Path) -> list[Path]:
    return [
        *keras_files.weights_files(directory).values(),
        *keras_files.full_checkpoints(directory),
    ]


def _keras_payload(path: Path) -> dict[str, Any]:
    from engine.backends.keras_weights import keras_tensors, load_keras_weights

    arrays, meta = load_keras_weights(path)
    return {**meta, "model": keras_tensors(arrays)}


TORCH = Checkpoints(_torch_files, ckpt.load_checkpoint, state_hashes=True)
KERAS = Checkpoints(_keras_files, _keras_payload, state_hashes=False)
NO_KERAS_STATE_HASH = (
    "full states (.npz): the tensorflow backend records no state hash over the model, "
    "optimizer and RNG states; each was checked by its SHA-256, sidecar, weights hash, config "
    "hash and chronicle offset"
)


def verify_variant(
    variant: Variant,
    *,
    cancel_event: threading.Event | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Recompute every hash of `variant` and compare; the report lists each mismatch.

    `progress(done, total)` is called after each checkpoint; once `cancel_event` is set it
    stops early with `cancelled` (and not verified)."""
    files = KERAS if trained_with(variant.config) == TENSORFLOW else TORCH
    report = VerifyReport(variant=variant.name, family=variant.family, verified=False, message="")
    try:
        meta = VariantMetadata.load(variant.metadata_path)
    except (OSError, ValueError) as exc:
        report.mismatches.append(
            Mismatch(file=METADATA_FILE, what="metadata", message=f"cannot be read: {exc}")
        )
        return _finish(report)
    if summarise(variant.dir).status == "training":
        report.notes.append("a run is training it right now: what it writes meanwhile may differ")
    try:
        check_config_hash(variant.config, variant.config_path)
    except ConfigEdited as exc:
        report.mismatches.append(Mismatch(file=CONFIG_FILE, what="config", message=str(exc)))
    if meta.config_hash != variant.config.config_hash:
        report.mismatches.append(
            Mismatch(
                file=METADATA_FILE,
                what="metadata",
                message=f"config hash {meta.config_hash[:12]}… does not match config.json's "
                f"{variant.config.config_hash[:12]}…",
            )
        )
    directory = variant.checkpoints_dir
    entries = sorted(meta.checkpoints, key=lambda c: (c.step, c.kind, c.file))
    listed = {c.file for c in entries}
    unlisted = sorted(p for p in files.on_disk(directory) if p.name not in listed)
    total = len(entries) + len(unlisted)
    for done, entry in enumerate(entries, 1):
        if cancel_event is not None and cancel_event.is_set():
            report.cancelled = True
            return _finish(report)
        _check_entry(report, variant, entry, files)
        if progress is not None:
            progress(done, total)
    for done, path in enumerate(unlisted, len(entries) + 1):
        _check_unlisted(report, path, files)
        if progress is not None:
            progress(done, total)
    if meta.status == "completed" and meta.weights_sha256:
        final = [c for c in entries if c.kind == "weights" and c.step == meta.steps]
        if final and final[-1].weights_sha256 != meta.weights_sha256:
            report.mismatches.append(
                Mismatch(
                    file=METADATA_FILE,
                    what="metadata",
                    message=f"final weights_sha256 {meta.weights_sha256[:12]}… does not match "
                    f"{final[-1].file}'s {str(final[-1].weights_sha256)[:12]}…",
                )
            )
    if not files.state_hashes and any(c.kind == "full" for c in entries):
        report.notes.append(NO_KERAS_STATE_HASH)
    _check_chronicle(report, variant, meta, entries)
    return _finish(report)


# ---- checkpoints ---------------------------------------------------------------------------
def _check_entry(
    report: VerifyReport, variant: Variant, entry: CheckpointEntry, files: Checkpoints
) -> None:
    path = variant.checkpoints_dir / entry.file

    def mismatch(what: str, message: str) -> None:
        report.mismatches.append(Mismatch(file=entry.file, what=what, message=message))

    if not path.is_file():
        mismatch("missing", "listed in metadata.json but missing")
        return
    report.checkpoints_checked += 1
    actual = sha256_file(path)
    if actual != entry.sha256:
        mismatch(
            "file",
            f"SHA-256 {actual[:12]}… does not match metadata.json's {entry.sha256[:12]}…",
        )
    if not _sidecar_matches(report, path, actual):
        return  # the safe loader would refuse it: its content cannot be checked
    payload = _load(report, path, files)
    if payload is None:
        return
    if (payload.get("epoch"), payload.get("step")) != (entry.epoch, entry.step):
        mismatch(
            "content",
            f"holds epoch {payload.get('epoch')}, step {payload.get('step')}; "
            f"metadata.json says epoch {entry.epoch}, step {entry.step}",
        )
    model = payload.get("model")
    if entry.weights_sha256 is not None and isinstance(model, dict):
        wsha = weights_sha256(model)
        if wsha != entry.weights_sha256:
            mismatch(
                "weights",
                f"weights SHA-256 {wsha[:12]}… does not match metadata.json's "
                f"{entry.weights_sha256[:12]}…",
            )
    if entry.kind != "full":
        return
    if payload.get("config_hash") != variant.config.config_hash:
        mismatch("content", "was written for another config")
    if files.state_hashes and not _check_state(report, entry, payload):
        return
    if entry.chronicle_bytes is not None and payload.get("chronicle_offset") != (
        entry.chronicle_bytes
    ):
        mismatch(
            "content",
            f"covers {payload.get('chronicle_offset')} chronicle bytes; metadata.json says "
            f"{entry.chronicle_bytes}",
        )


def _check_state(report: VerifyReport, entry: CheckpointEntry, payload: dict[str, Any]) -> bool:
    """A torch full checkpoint's state hash against its record; False when none was recorded
    (written before it existed, and its chronicle offset with it): nothing more to check."""
    if entry.state_sha256 is None:
        report.notes.append(f"{entry.file}: no state hash recorded (written before it existed)")
        return False
    report.state_hashes_checked += 1
    state = ckpt.state_sha256(payload)
    if state != entry.state_sha256:
        report.mismatches.append(
            Mismatch(
                file=entry.file,
                what="state",
                message=f"state SHA-256 {state[:12]}… does not match metadata.json's "
                f"{entry.state_sha256[:12]}…",
            )
        )
    return True


def _check_unlisted(report: VerifyReport, path: Path, files: Checkpoints) -> None:
    """A checkpoint file metadata.json does not list (a run stopped between writing it and
    recording it): its sidecar must still match, and it must load."""
    report.checkpoints_checked += 1
    if _sidecar_matches(report, path, sha256_file(path)) and _load(report, path, files) is not None:
        report.notes.append(f"{path.name}: not listed in metadata.json (checked by its sidecar)")


def _sidecar_matches(report: VerifyReport, path: Path, actual: str) -> bool:
    sidecar = ckpt.sidecar_path(path)
    try:
        recorded = sidecar.read_bytes().decode("ascii", "replace").strip()
    except OSError:
        report.mismatches.append(
            Mismatch(file=path.name, what="sidecar", message=f"{sidecar.name} is missing")
        )
        return False
    if recorded != actual:
        report.mismatches.append(
            Mismatch(
                file=path.name,
                what="sidecar",
                message=f"SHA-256 {actual[:12]}… does not match {sidecar.name}'s {recorded[:12]}…",
            )
        )
        return False
    return True


def _load(report: VerifyReport, path: Path, files: Checkpoints) -> dict[str, Any] | None:
    try:
        payload = files.load(path)
    except CheckpointError as exc:
        report.mismatches.append(Mismatch(file=path.name, what="file", message=str(exc)))
        return None
    if not isinstance(payload, dict):
        report.mismatches.append(
            Mismatch(file=path.name, what="content", message="does not hold a checkpoint")
        )
        return None
    return payload


# ---- the chronicle -------------------------------------------------------------------------
def _check_chronicle(
    report: VerifyReport, variant: Variant, meta: VariantMetadata, entries: list[CheckpointEntry]
) -> None:
    path = variant.chronicle_path
    size = path.stat().st_size if path.is_file() else 0
    everything = ckpt.ChronicleMark().advance(path, size) if size else ckpt.ChronicleMark()
    report.chronicle_lines = everything.lines
    marked = [c for c in entries if c.kind == "full" and c.chronicle_lines is not None]
    if not marked:
        report.notes.append(
            f"{CHRONICLE_FILE}: its length at the last save was not recorded; not checked"
        )
        return
    last = max(marked, key=lambda c: c.step)
    lines, length = last.chronicle_lines or 0, last.chronicle_bytes or 0

    def mismatch(message: str) -> None:
        report.mismatches.append(Mismatch(file=CHRONICLE_FILE, what="chronicle", message=message))

    if size < length:
        mismatch(
            f"is truncated: {everything.lines} lines ({size} bytes); {last.file} recorded "
            f"{lines} lines ({length} bytes)"
        )
        return
    prefix = ckpt.ChronicleMark().advance(path, length)
    if prefix.lines != lines:
        mismatch(f"has {prefix.lines} lines where {last.file} recorded {lines}")
    elif last.chronicle_sha256 is not None and prefix.sha256 != last.chronicle_sha256:
        mismatch(f"its first {lines} lines were modified since {last.file} was written")
    extra = everything.lines - prefix.lines
    if size > length and meta.status == "completed":
        mismatch(f"has {extra} lines after the final checkpoint, {last.file}")
    elif size > length:
        report.notes.append(
            f"{CHRONICLE_FILE}: {extra} lines after the last checkpoint (a resume drops them)"
        )


def _finish(report: VerifyReport) -> VerifyReport:
    report.verified = not report.mismatches and not report.cancelled
    if report.cancelled:
        report.message = "verify cancelled"
    elif report.verified:
        report.message = (
            f"verified: {report.checkpoints_checked} checkpoints "
            f"({report.state_hashes_checked} state hashes), "
            f"{report.chronicle_lines or 0} chronicle lines"
        )
    else:
        count = len(report.mismatches)
        report.message = f"{count} mismatch{'es' if count != 1 else ''} in {report.variant}"
    return report
