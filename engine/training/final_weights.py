"""A completed variant's final weights, verified twice: what distillation's teacher and a
transfer run (`init_from`) start from.

The file's SHA-256 is checked against its sidecar before it is loaded, then the weights' hash
against the one metadata.json recorded: a file swapped for another valid checkpoint is
refused too (engine.backends.variant_weights, for either backend: a tensorflow variant's
Keras weights come converted into its family's torch model). Errors are CheckpointError
naming the variant; callers say in their own words what the variant was for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends.variant_weights import load_verified_weights, variant_template
from engine.errors import CheckpointError
from engine.metadata import CheckpointEntry, VariantMetadata
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


def load_final_weights(
    variant: Variant, meta: VariantMetadata, family: Any | None = None
) -> FinalWeights:
    """The final weights of `variant` (whose metadata is `meta`; of `family`, default: found in
    its home) as its family's torch state dict, verified; `weights_sha256` is the hash that
    was checked, the one the variant's metadata records."""
    entry = final_weights_entry(variant, meta)
    path = variant.checkpoints_dir / entry.file
    try:
        verified = load_verified_weights(
            path,
            weights_sha256=entry.weights_sha256 or meta.weights_sha256,
            template=variant_template(variant, family),
        )
    except CheckpointError as exc:
        said = str(exc)
        raise CheckpointError(said if variant.name in said else f"{variant.name}: {said}") from None
    return FinalWeights(entry, path, verified.state, verified.weights_sha256)
