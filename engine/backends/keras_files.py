"""The tensorflow backend's checkpoint files: NumPy archives with a SHA-256 sidecar.

A Keras model's weights, its optimizer's variables, every RNG state and the run's counters
are arrays, so one `.npz` holds a full resumable state (`allow_pickle=False` on load: no
code runs from a file) and another the weights of an epoch. Written atomically, the sidecar
after the file (engine.training.checkpoints' rule), checked before a load. Names stay apart
from the torch backend's `.pt` files, so its listings never mistake one for the other.
Imports neither torch nor tensorflow.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import CheckpointError
from engine.training.checkpoints import check_sidecar, sidecar_path, write_with_sidecar

BEST_FILE = "best.npz"
KERAS_MODEL_FILE = "model.keras"  # a completed run's final model, for Keras (keras_run)
_FULL = re.compile(r"^state_e(\d{7})_s(\d{10})\.npz$")
_WEIGHTS = re.compile(r"^weights_e(\d{7})\.npz$")
KEEP_FULL = 2  # the two newest full states, as the torch backend keeps
MODEL_PREFIX = "w:"  # a full state's model weights (keras_run's `_save_full`)


def weights_name(epoch: int) -> str:
    return f"weights_e{epoch:07d}.npz"


def full_name(epoch: int, step: int) -> str:
    return f"state_e{epoch:07d}_s{step:010d}.npz"


def save_arrays(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> str:
    """Write `arrays` and `meta` (JSON, as the array "__meta__") with their sidecar
    (engine.training.checkpoints.write_with_sidecar); the file's SHA-256."""
    buffer = io.BytesIO()
    payload = {**arrays, "__meta__": np.array(json.dumps(meta, sort_keys=True))}
    np.savez(buffer, **payload)
    return write_with_sidecar(path, buffer.getvalue())


def load_arrays(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The arrays and meta of a file whose SHA-256 matches its sidecar; CheckpointError
    naming the file otherwise."""
    check_sidecar(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(str(arrays.pop("__meta__")))
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path.name} cannot be read: {exc}") from None
    return arrays, meta


def weights_files(directory: Path) -> dict[int, Path]:
    """Weights files by epoch, found by their names alone (not verified): the listing of a
    variant whose metadata.json cannot be read."""
    if not directory.is_dir():
        return {}
    return {int(m[1]): p for p in directory.iterdir() if (m := _WEIGHTS.match(p.name))}


def model_arrays(path: Path, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The model's weights (Keras variable path -> array) among a loaded file's arrays: a full
    state keeps them under "w:" beside the optimizer's, the RNGs' and the best weights; a
    weights or best file holds nothing else."""
    if not _FULL.match(path.name):
        return arrays
    return {
        name[len(MODEL_PREFIX) :]: a for name, a in arrays.items() if name.startswith(MODEL_PREFIX)
    }


def full_checkpoints(directory: Path) -> list[Path]:
    """Full states, oldest first."""
    if not directory.is_dir():
        return []
    found = [(int(m[2]), p) for p in directory.iterdir() if (m := _FULL.match(p.name))]
    return [p for _step, p in sorted(found)]


def full_step(path: Path) -> int:
    match = _FULL.match(path.name)
    return int(match[2]) if match else -1


def latest_valid_full(
    directory: Path, config_hash: str
) -> tuple[Path | None, dict[str, np.ndarray], dict[str, Any], list[str]]:
    """The newest full state that verifies and is this config's: (path, arrays, meta,
    skipped reasons); path None when there is none."""
    skipped: list[str] = []
    for path in reversed(full_checkpoints(directory)):
        try:
            arrays, meta = load_arrays(path)
        except CheckpointError as exc:
            skipped.append(str(exc))
            continue
        if meta.get("config_hash") != config_hash:
            skipped.append(f"checkpoint {path.name} belongs to another config")
            continue
        return path, arrays, meta, skipped
    return None, {}, {}, skipped


def prune_full(directory: Path) -> None:
    """Keep the newest KEEP_FULL full states (and their sidecars)."""
    for path in full_checkpoints(directory)[:-KEEP_FULL]:
        for doomed in (path, sidecar_path(path)):
            doomed.unlink(missing_ok=True)


def remove_full_after(directory: Path, step: int) -> None:
    for path in full_checkpoints(directory):
        if full_step(path) > step:
            for doomed in (path, sidecar_path(path)):
                doomed.unlink(missing_ok=True)
