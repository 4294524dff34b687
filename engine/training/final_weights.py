"""A completed variant's final weights, verified twice: what distillation's teacher and a
transfer run (`init_from`) start from.

The file's SHA-256 is checked against its sidecar before `torch.load(weights_only=True)`
(load_checkpoint), then the tensors' hash against the one metadata.json recorded: a file
swapped for another valid checkpoint is refused too. Errors are CheckpointError; callers say
in their own words what the variant was for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.errors import CheckpointError
from engine.hashing import weights_sha256
from engine.metadata import CheckpointEntry, VariantMetadata
from engine.training.checkpoints import load_checkpoint
from engine.variants import Variant

if TYPE_CHECKING:
    import torch


@dataclass(eq=False)
class FinalWeights:
    entry: CheckpointEntry
    path: Path
    state: dict[str, torch.Tensor]
    weights_sha256: str


def final_weights_entry(variant: Variant, meta: VariantMetadata) -> CheckpointEntry:
    """The weights checkpoint of the last epoch trained."""
    entries = [c for c in meta.checkpoints if c.kind == "weights"]
    final = max(entries, key=lambda c: (c.epoch, c.step), default=None)
    if final is None or final.epoch != meta.epochs_completed:
        raise CheckpointError(f"{variant.name} has no final weights checkpoint")
    return final


def load_final_weights(variant: Variant, meta: VariantMetadata) -> FinalWeights:
    """The final weights of `variant` (whose metadata is `meta`), verified."""
    from engine.backends import torch_only

    torch_only(
        variant.config,
        variant.name,
        "init_from and distillation (the supported pair: a torch teacher, a torch student)",
    )
    entry = final_weights_entry(variant, meta)
    path = variant.checkpoints_dir / entry.file
    payload = load_checkpoint(path)
    state = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path.name} of {variant.name} holds no model weights")
    digest = weights_sha256(state)
    expected = entry.weights_sha256 or meta.weights_sha256
    if expected and digest != expected:
        raise CheckpointError(
            f"checkpoint {path.name} of {variant.name} does not hold the recorded final weights"
        )
    return FinalWeights(entry, path, state, digest)
