"""Loading a trained variant's final weights (verified) as a model in eval mode.

Torch is imported when a model is loaded, not with this module: finding a teacher and
checking its metadata (a distillation request) need none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import CheckpointError, TrainwrightError
from engine.families.registry import FamilyRegistry
from engine.metadata import VariantMetadata
from engine.strategies.distill.errors import DistillError
from engine.training.final_weights import load_final_weights
from engine.variants import Variant

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass(eq=False)
class TrainedModel:
    variant: Variant
    meta: VariantMetadata
    model: nn.Module
    weights_sha256: str
    checkpoint: Path

    @property
    def teacher_record(self) -> dict[str, Any]:
        """What a student's metadata.extra["teacher"] names."""
        return {
            "variant": self.variant.name,
            "family": self.variant.family,
            "weights_sha256": self.weights_sha256,
        }


def find_variant(registry: FamilyRegistry, name: str, family: str | None = None) -> Variant:
    try:
        return registry.variant(name, family)
    except TrainwrightError:
        where = f" in family {family}" if family else ""
        raise DistillError(f"teacher variant {name!r} was not found{where}") from None


def completed_metadata(variant: Variant, role: str = "teacher") -> VariantMetadata:
    try:
        meta = VariantMetadata.load(variant.metadata_path)
    except (OSError, ValueError) as exc:
        raise DistillError(
            f"{role} {variant.name} has no readable {variant.metadata_path.name}: {exc}"
        ) from None
    if meta.status != "completed":
        raise DistillError(
            f"{role} {variant.name} is {meta.status}, not completed; finish training it first"
        )
    return meta


def load_trained_model(
    registry: FamilyRegistry,
    variant: Variant,
    device: str | torch.device = "cpu",
    *,
    role: str = "teacher",
) -> TrainedModel:
    """The variant's model with its final weights, verified twice: the file's SHA-256 against
    its sidecar, then the weights' hash against metadata.json (a tensorflow variant's Keras
    weights converted into the family's torch model: a teacher of either backend). Eval
    mode, no gradients. The global RNG is left as it was (building a model draws initial
    weights).
    """
    import torch

    meta = completed_metadata(variant, role)
    family = registry.family(variant.family)
    final = load_final_weights(variant, meta, family)  # a tensorflow teacher's: converted
    model_state, digest, path = final.state, final.weights_sha256, final.path
    with torch.random.fork_rng(devices=[]):
        model = family.create_model(variant.config.domain)
    try:
        model.load_state_dict(model_state)
    except RuntimeError as exc:
        raise CheckpointError(
            f"the weights of {variant.name} do not fit its family's model: {exc}"
        ) from None
    model = model.to(device).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return TrainedModel(variant, meta, model, digest, path)
