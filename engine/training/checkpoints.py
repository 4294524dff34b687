"""Checkpoint files: written atomically with a SHA-256 sidecar, verified before `torch.load`.

`torch.load` happily loads a file whose tensor bytes were flipped, so every load checks the
file's SHA-256 against its `.sha256` sidecar first, then loads with `weights_only=True`.
The file names are spelled here; torch is imported only to save or load one.

A full checkpoint's state hash (`state_sha256`) covers what a resume continues from (the model,
the optimizer, every RNG and the config's hash) by content, not by file bytes; its chronicle
mark (`ChronicleMark`) records how much of chronicle.jsonl it covers. `engine.verify` checks both.
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import atomic_write_bytes, atomic_write_text, sha256_file
from engine.errors import CheckpointError
from engine.hashing import tree_sha256

if TYPE_CHECKING:
    import torch

WEIGHTS_PATTERN = re.compile(r"^weights_e(\d+)\.pt$")
FULL_PATTERN = re.compile(r"^state_e(\d+)_s(\d+)\.pt$")
KEEP_FULL = 2
# The parts of a full checkpoint its state hash covers: what the run continues from.
STATE_FIELDS = ("model", "optimizer", "rng", "config_hash")


def weights_name(epoch: int) -> str:
    return f"weights_e{epoch:07d}.pt"


def full_name(epoch: int, step: int) -> str:
    return f"state_e{epoch:07d}_s{step:010d}.pt"


def sidecar_path(path: Path) -> Path:
    """The `.sha256` record written next to a checkpoint file."""
    return path.with_name(path.name + ".sha256")


def save_checkpoint(path: Path, payload: dict[str, Any]) -> str:
    """Write `payload` atomically, then its sidecar; return the file's SHA-256."""
    import torch

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    digest = atomic_write_bytes(path, buffer.getvalue())
    atomic_write_text(sidecar_path(path), digest + "\n")
    return digest


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Verify the SHA-256, then load with weights_only=True; CheckpointError if anything is off."""
    import torch

    path = Path(path)
    sidecar = sidecar_path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path.name} is missing")
    if not sidecar.is_file():
        raise CheckpointError(f"checkpoint {path.name} has no .sha256 record; it may be incomplete")
    expected = sidecar.read_text().strip()
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"checkpoint {path.name} is corrupt or was modified: SHA-256 {actual[:12]}… "
            f"does not match the recorded {expected[:12]}…"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path.name} cannot be loaded safely: {exc}") from None


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


def prune_full_checkpoints(directory: Path, keep: int = KEEP_FULL) -> None:
    for path in full_checkpoints(directory)[keep:]:
        path.unlink(missing_ok=True)
        sidecar_path(path).unlink(missing_ok=True)


def latest_valid_full(directory: Path) -> tuple[Path, dict[str, Any], list[str]]:
    """The newest full checkpoint that verifies, and why any newer ones were skipped."""
    skipped: list[str] = []
    for path in full_checkpoints(directory):
        try:
            return path, load_checkpoint(path), skipped
        except CheckpointError as exc:
            skipped.append(str(exc))
    reason = "; ".join(skipped) if skipped else "none was written"
    raise CheckpointError(f"no valid resumable checkpoint in {directory}: {reason}")


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
