"""A variant's weights checkpoints, listed and loaded in epoch order, each verified first.

The list comes from metadata.json (file, epoch, step and both SHA-256 values); without a
readable metadata.json (an interrupted run) the weights files in `checkpoints/` are used
instead (`weights_e*.pt`, or a tensorflow variant's `weights_e*.npz`), checked against their
`.sha256` sidecars only. A tensorflow variant's Keras weights are converted into its family's
torch model (engine.backends.variant_weights), so every analysis reads torch state dicts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine import variants
from engine.backends import keras_files
from engine.backends.variant_weights import Template, directory_template, load_verified_weights
from engine.errors import CheckpointError
from engine.metadata import VariantMetadata
from engine.training.callbacks import CancelEvent
from engine.training.checkpoints import weights_files

if TYPE_CHECKING:
    import torch

# A variant, its directory (str or Path), or anything with a `path` (a VariantSummary).
VariantRef = Any


@dataclass(frozen=True)
class WeightsCheckpoint:
    """One weights-only checkpoint of a variant."""

    epoch: int
    step: int
    path: Path
    sha256: str | None = None  # the file's SHA-256 recorded in metadata.json
    weights_sha256: str | None = None  # the tensors' hash recorded in metadata.json


def variant_directory(source: VariantRef) -> Path:
    """The directory of a Variant, a VariantSummary (its `path`) or a path given directly."""
    if isinstance(source, str | Path):
        return Path(source)
    directory = getattr(source, "dir", None)
    if directory is None:
        directory = getattr(source, "path", None)
    if directory is None:
        raise TypeError(f"not a variant or a variant directory: {source!r}")
    return Path(directory)


def weights_checkpoints(source: VariantRef) -> list[WeightsCheckpoint]:
    """The variant's weights checkpoints sorted by epoch (then step); empty if there are none."""
    directory = variant_directory(source)
    folder = variants.checkpoints_dir(directory)
    found: dict[int, WeightsCheckpoint] = {}
    try:
        meta: VariantMetadata | None = VariantMetadata.load(variants.metadata_path(directory))
    except (OSError, ValueError):
        meta = None
    if meta is not None:
        for entry in meta.checkpoints:
            if entry.kind == "weights":
                found[entry.epoch] = WeightsCheckpoint(
                    entry.epoch, entry.step, folder / entry.file, entry.sha256, entry.weights_sha256
                )
    else:  # a variant holds one backend's files: the torch ones or the tensorflow ones
        for epoch, path in {**weights_files(folder), **keras_files.weights_files(folder)}.items():
            found[epoch] = WeightsCheckpoint(epoch, -1, path)
    return sorted(found.values(), key=lambda c: (c.epoch, c.step))


def load_weights(
    checkpoint: WeightsCheckpoint, template: Template | None = None
) -> dict[str, torch.Tensor]:
    """The checkpoint's state dict, verified; CheckpointError if the file is missing or altered.

    The file must match its sidecar (checked by the loader), the sidecar must match the
    SHA-256 in metadata.json, and the loaded weights must match the recorded weights hash. A
    tensorflow checkpoint is converted into `template()` (default: its variant's model).
    """
    return load_verified_weights(
        checkpoint.path,
        sha256=checkpoint.sha256,
        weights_sha256=checkpoint.weights_sha256,
        template=template,
    ).state


def iter_weights(
    source: VariantRef,
    *,
    strict: bool = True,
    problems: list[str] | None = None,
    cancel_event: CancelEvent = None,
) -> Iterator[tuple[WeightsCheckpoint, dict[str, torch.Tensor]]]:
    """Each verified checkpoint with its state dict, in epoch order, one at a time.

    strict: a bad checkpoint raises CheckpointError; otherwise it is skipped and its message
    appended to `problems`. Stops early (quietly) once `cancel_event` is set.
    """
    directory = variant_directory(source)
    template = directory_template(directory)  # built once, for a tensorflow variant only
    for checkpoint in weights_checkpoints(directory):
        if cancel_event is not None and cancel_event.is_set():
            return
        try:
            state = load_weights(checkpoint, template)
        except CheckpointError as exc:
            if strict:
                raise
            if problems is not None:
                problems.append(str(exc))
            continue
        yield checkpoint, state


__all__ = [
    "VariantRef",
    "WeightsCheckpoint",
    "iter_weights",
    "load_weights",
    "variant_directory",
    "weights_checkpoints",
]
