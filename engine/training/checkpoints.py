"""Checkpoint files: written atomically with a SHA-256 sidecar, verified before `torch.load`.

`torch.load` happily loads a file whose tensor bytes were flipped, so every load checks the
file's SHA-256 against its `.sha256` sidecar first, then loads with `weights_only=True`.
The file names are spelled here; torch is imported only to save or load one.

A full checkpoint's state hash (`state_sha256`) covers what a resume continues from (the model,
the optimizer, every RNG and the config's hash) by content, not by file bytes; its chronicle
mark (`ChronicleMark`) records how much of chronicle.jsonl it covers. `engine.verify` checks both.

A resume continues from `latest_valid_full`: the newest full checkpoint that verifies, holds a
checkpoint of this config, and whose chronicle is still there; or from scratch when none does
and none was ever recorded (a run killed before its first full save: redoing it is exact).
`remove_debris` removes what a killed write leaves behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import variants
from engine.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    remove_temp_files,
    sha256_file,
)
from engine.errors import CheckpointError
from engine.hashing import tree_sha256
from engine.training.chronicle import ChronicleCut

if TYPE_CHECKING:
    import torch

    from engine.metadata import CheckpointEntry

WEIGHTS_PATTERN = re.compile(r"^weights_e(\d+)\.pt$")
FULL_PATTERN = re.compile(r"^state_e(\d+)_s(\d+)\.pt$")
KEEP_FULL = 2
# The parts of a full checkpoint its state hash covers: what the run continues from.
STATE_FIELDS = ("model", "optimizer", "rng", "config_hash")
# What a resume reads from a full checkpoint, by type: a file without them is not one.
RESUME_FIELDS: dict[str, type | tuple[type, ...]] = {
    "model": dict,
    "optimizer": dict,
    "scheduler": dict,
    "rng": dict,
    "epoch": int,
    "step": int,
    "batch_index": int,
    "accumulator": dict,
    "stagnation": dict,
    "config_hash": str,
    "chronicle_offset": int,
    "perm": object,  # a tensor, or None at an epoch's start
    "grokfast": object,  # a dict, or None without Grokfast
}
# Files a killed write leaves: temp files of these names (engine.atomic), orphan sidecars.
_CHECKPOINT_NAMES = r"(?:weights_e\d+|state_e\d+_s\d+|best)\.pt(?:\.sha256)?"
_VARIANT_NAMES = "|".join(re.escape(n) for n in (variants.CONFIG_FILE, variants.METADATA_FILE))
_SIDECAR = re.compile(r"(?:weights_e\d+|state_e\d+_s\d+|best)\.pt\.sha256")


def weights_name(epoch: int) -> str:
    return f"weights_e{epoch:07d}.pt"


def full_name(epoch: int, step: int) -> str:
    return f"state_e{epoch:07d}_s{step:010d}.pt"


def sidecar_path(path: Path) -> Path:
    """The `.sha256` record written next to a checkpoint file."""
    return path.with_name(path.name + ".sha256")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> str:
    """Write `payload` (torch.save) atomically, then its sidecar; return the file's SHA-256."""
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_with_sidecar(path, buffer.getvalue())


def write_with_sidecar(path: Path, data: bytes) -> str:
    """Write a checkpoint file's bytes atomically, then its `.sha256` sidecar; the SHA-256.

    If the sidecar cannot be written (a full disk) the file is removed again: a checkpoint
    without its record is never left behind by a write that failed. Every backend's
    checkpoints are written by this (engine.backends.keras_files too)."""
    digest = atomic_write_bytes(path, data)
    try:
        atomic_write_text(sidecar_path(path), digest + "\n")
    except OSError:
        for leftover in (path, sidecar_path(path)):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        raise
    return digest


def check_sidecar(path: Path) -> None:
    """CheckpointError unless `path` exists and hashes to its `.sha256` record: checked
    before any checkpoint is loaded, by every backend."""
    path = Path(path)
    sidecar = sidecar_path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path.name} is missing")
    if not sidecar.is_file():
        raise CheckpointError(f"checkpoint {path.name} has no .sha256 record; it may be incomplete")
    try:
        expected = sidecar.read_bytes().decode("ascii", "replace").strip()
        actual = sha256_file(path)
    except OSError as exc:
        raise CheckpointError(
            f"checkpoint {path.name} cannot be read: {exc.strerror or exc}"
        ) from None
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {path.name} is corrupt or was modified: SHA-256 {actual[:12]}… "
            f"does not match the recorded {expected[:12]}…"
        )


def check_weights_hash(path: Path, actual: str, recorded: str | None) -> None:
    """CheckpointError unless a loaded checkpoint's weights hash is the one metadata.json
    recorded for it (None: nothing recorded, nothing to compare): a file swapped for another
    valid checkpoint, sidecar and all, is refused too. Every backend's loads check this."""
    if recorded and actual != recorded:
        raise CheckpointError(
            f"checkpoint {Path(path).name}: its weights do not match metadata.json"
        )


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Verify the SHA-256, then load with weights_only=True; CheckpointError if anything is off."""
    import torch

    path = Path(path)
    check_sidecar(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(
            f"checkpoint {path.name} cannot be loaded safely: {_load_failure(exc)}"
        ) from None


def _load_failure(exc: Exception) -> str:
    """Why torch.load(weights_only=True) refused a file, in a few words: torch's own text runs
    to several lines and advises loading with weights_only=False, which is never safe here."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    code = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if code:
        return f"it refers to {code.group(1)}, which weights-only loading refuses"
    if "WeightsUnpickler error:" in text:
        detail = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation")[0]
        detail = " ".join(detail.split())[:120]
        return f"it holds what weights-only loading refuses ({detail or type(exc).__name__})"
    first = " ".join(text.strip().split("\n", 1)[0].split())
    if not first or "weights_only" in first:
        return f"it is not a checkpoint weights-only loading accepts ({type(exc).__name__})"
    return first[:160]


def weights_files(directory: Path) -> dict[int, Path]:
    """Weights-only checkpoint files by epoch, found by their names alone (not verified)."""
    found = {}
    for path in Path(directory).glob("weights_e*.pt"):
        match = WEIGHTS_PATTERN.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def full_checkpoints(directory: Path) -> list[Path]:
    """Full-state checkpoints, newest (highest step) first."""
    found = []
    for path in Path(directory).glob("state_e*_s*.pt"):
        match = FULL_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(2)), path))
    return [path for _, path in sorted(found, reverse=True)]


def prune_full_checkpoints(
    directory: Path, keep: int = KEEP_FULL, protect: Callable[[Path], bool] | None = None
) -> None:
    """Keep the `keep` newest full checkpoints, and the newest one `protect` accepts (a retry's
    anchor, which Stop, timeout and autosave checkpoints written after it must not push out)."""
    found = full_checkpoints(directory)
    older = found[keep:]
    if protect is not None:
        anchor = next((path for path in found if protect(path)), None)
        older = [path for path in older if path != anchor]
    for path in older:
        path.unlink(missing_ok=True)
        sidecar_path(path).unlink(missing_ok=True)


def full_position(path: Path) -> tuple[int, int] | None:
    """(epoch, step) of a full checkpoint, from its name; None for another file."""
    match = FULL_PATTERN.match(Path(path).name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def remove_weights_after(directory: Path, epoch: int) -> None:
    """Remove the weights-only checkpoints (and sidecars) of epochs after `epoch`: a retry
    going back to `epoch` writes its own, of another trajectory, in their place."""
    for number, path in weights_files(directory).items():
        if number > epoch:
            for doomed in (path, sidecar_path(path)):
                with contextlib.suppress(OSError):
                    doomed.unlink(missing_ok=True)


def remove_full_after(directory: Path, step: int) -> None:
    """Remove the full checkpoints (and sidecars) of steps after `step`: a resume from `step`
    skipped them (unusable) and writes its own in their place."""
    for path in full_checkpoints(directory):
        match = FULL_PATTERN.match(path.name)
        if match and int(match.group(2)) > step:
            for doomed in (path, sidecar_path(path)):
                with contextlib.suppress(OSError):
                    doomed.unlink(missing_ok=True)


def payload_problem(payload: Any, config_hash: str | None = None) -> str | None:
    """Why a loaded file is not a full checkpoint a resume of `config_hash` can continue from
    (None if it is one): another config's, or lacking what a resume reads."""
    if not isinstance(payload, dict):
        return "it does not hold a checkpoint"
    for field, kind in RESUME_FIELDS.items():
        if field not in payload:
            return f"it lacks {field!r}"
        value = payload[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"its {field!r} is not a {getattr(kind, '__name__', 'value')}"
    if config_hash is not None and payload["config_hash"] != config_hash:
        return "it was written for another config"
    return None


def chronicle_problem(
    chronicle: Path, offset: int, entry: CheckpointEntry | None = None
) -> str | None:
    """Why chronicle.jsonl no longer holds the `offset` bytes a checkpoint covers (None if it
    does): shorter, or (when metadata.json recorded them, in `entry`) other lines."""
    try:
        size = Path(chronicle).stat().st_size
    except FileNotFoundError:
        size = 0
    name = Path(chronicle).name
    if size < offset:
        return f"{name} holds {size} bytes, fewer than the {offset} it covers"
    if entry is not None and entry.chronicle_sha256 and entry.chronicle_bytes == offset:
        mark = ChronicleMark().advance(Path(chronicle), offset)
        if (mark.lines, mark.sha256) != (entry.chronicle_lines, entry.chronicle_sha256):
            return f"the first {offset} bytes of {name} are not those it covers"
    return None


def latest_valid_full(
    directory: Path,
    *,
    config_hash: str | None = None,
    records: Mapping[str, CheckpointEntry] | None = None,
    chronicle: Path | None = None,
    only: Callable[[Path], bool] | None = None,
) -> tuple[Path | None, dict[str, Any] | None, list[str]]:
    """Where a resume of the variant whose checkpoints are in `directory` continues from.

    The newest full checkpoint that verifies (`load_checkpoint`), is a full checkpoint of
    `config_hash` (`payload_problem`) and whose chronicle is still whole (`chronicle_problem`,
    against its entry in `records`, by file name); with why any newer ones were skipped.
    When none is, and `records` lists no full checkpoint (the run was killed before its first
    full save completed), the path is None: the run starts over, which is exact.
    Otherwise CheckpointError (ChronicleCut when only the chronicle is wanting) in one line.

    Left out, `config_hash`, `records` and `chronicle` are read from the variant directory
    above `directory` (config.json, metadata.json, chronicle.jsonl). `only`, when given, says
    which files to consider at all (a retry's anchors); the others are passed over silently."""
    directory = Path(directory)
    variant_dir = directory.parent
    if config_hash is None:
        config_hash = _stored_config_hash(variant_dir)
    if records is None:
        records = _stored_records(variant_dir)
    if chronicle is None:
        chronicle = variants.chronicle_path(variant_dir)
    skipped: list[str] = []
    cut: list[str] = []
    for path in full_checkpoints(directory):
        if only is not None and not only(path):
            continue
        try:
            payload = load_checkpoint(path)
        except CheckpointError as exc:
            skipped.append(str(exc))
            continue
        problem = payload_problem(payload, config_hash)
        if problem is not None:
            skipped.append(f"checkpoint {path.name}: {problem}")
            continue
        entry = records.get(path.name) if records else None
        if entry is not None and entry.sha256 != sha256_file(path):
            entry = None  # recorded for an earlier file of that name: not this one's record
        problem = chronicle_problem(chronicle, payload["chronicle_offset"], entry)
        if problem is not None:
            skipped.append(f"checkpoint {path.name}: {problem}")
            cut.append(path.name)
            continue
        return path, payload, skipped
    if records is not None and not any(e.kind == "full" for e in records.values()):
        return None, None, skipped
    if cut:
        raise ChronicleCut(
            f"{variants.CHRONICLE_FILE} was cut or changed: it no longer holds what "
            f"{', '.join(cut)} covers{_also(skipped, len(cut))}; the variant must be retrained "
            "(train it again with --overwrite)"
        )
    reason = "; ".join(skipped) if skipped else "none was written"
    raise CheckpointError(
        f"no valid resumable checkpoint in {directory}: {reason}; the variant must be "
        "retrained (train it again with --overwrite)"
    )


def _also(skipped: list[str], cut: int) -> str:
    others = len(skipped) - cut
    return f" (and {others} other checkpoint{'s' if others != 1 else ''} failed)" if others else ""


def _stored_config_hash(variant_dir: Path) -> str | None:
    try:
        data = json.loads(variants.config_path(variant_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = data.get("config_hash") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None


def _stored_records(variant_dir: Path) -> dict[str, CheckpointEntry] | None:
    """metadata.json's checkpoint entries by file name; None if it cannot be read."""
    from engine.metadata import VariantMetadata

    try:
        meta = VariantMetadata.load(variants.metadata_path(variant_dir))
    except (OSError, ValueError):
        return None
    return {entry.file: entry for entry in meta.checkpoints}


def remove_debris(variant_dir: Path) -> list[str]:
    """Remove what killed writes left in a variant's directory: temp files of config.json,
    metadata.json and the checkpoints (and their sidecars), and sidecars whose checkpoint is
    gone (a prune cut short). Only those names, only in this directory and its checkpoints
    folder; call it holding the variant's lock. The names removed."""
    variant_dir = Path(variant_dir)
    removed = remove_temp_files(variant_dir, _VARIANT_NAMES)
    folder = variants.checkpoints_dir(variant_dir)
    removed += remove_temp_files(folder, _CHECKPOINT_NAMES)
    try:
        sidecars = [p for p in folder.iterdir() if _SIDECAR.fullmatch(p.name)]
    except OSError:
        sidecars = []
    for sidecar in sidecars:
        checkpoint = sidecar.with_name(sidecar.name.removesuffix(".sha256"))
        if checkpoint.exists() or not sidecar.is_file():
            continue
        try:
            sidecar.unlink()
        except OSError:
            continue
        removed.append(sidecar.name)
    return removed


def state_sha256(payload: dict[str, Any]) -> str:
    """SHA-256 of a full checkpoint's model, optimizer, RNG states and config hash (in a
    canonical order: see `engine.hashing.tree_sha256`); the same before saving and after loading."""
    return tree_sha256({field: payload.get(field) for field in STATE_FIELDS})


class ChronicleMark:
    """The line count and SHA-256 of a chronicle's first `offset` bytes.

    `advance` reads only the bytes added since the last call, so a run can mark its chronicle
    at every full save without reading it all again; a shorter offset starts over.
    """

    CHUNK = 1 << 20

    def __init__(self) -> None:
        self._start()

    def _start(self) -> None:
        self.offset = 0
        self.lines = 0
        self._digest = hashlib.sha256()

    def advance(self, path: Path, offset: int) -> ChronicleMark:
        if offset < self.offset:
            self._start()
        if offset > self.offset:
            with open(path, "rb") as handle:
                handle.seek(self.offset)
                left = offset - self.offset
                while left > 0:
                    chunk = handle.read(min(self.CHUNK, left))
                    if not chunk:
                        break  # the file is shorter than `offset`: mark what is there
                    self._digest.update(chunk)
                    self.lines += chunk.count(b"\n")
                    self.offset += len(chunk)
                    left -= len(chunk)
        return self

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def record(self) -> dict[str, Any]:
        """The CheckpointEntry fields of this mark."""
        return {
            "chronicle_bytes": self.offset,
            "chronicle_lines": self.lines,
            "chronicle_sha256": self.sha256,
        }
