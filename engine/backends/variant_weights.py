"""A variant checkpoint's weights as its family's torch state dict, verified, whichever
backend trained it: the one way publishing, the checkpoint analyses, init_from and a
distillation teacher read a variant's weights.

A torch checkpoint (`.pt`) is loaded with the safe loader (SHA-256 against its sidecar, then
`weights_only=True`) and its state dict's hash compared with metadata.json's; a tensorflow
checkpoint (`.npz`) is checked the same way over its Keras weights, then converted into the
family's model (keras_weights.py). Either way the caller gets a torch state dict and the hash
that was checked, so nothing downstream needs to know which library trained the variant.

Importing this module imports neither torch nor tensorflow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.backends import TENSORFLOW
from engine.errors import CheckpointError, TrainwrightError
from engine.hashing import weights_sha256 as digest_of
from engine.training.checkpoints import check_weights_hash, load_checkpoint, sidecar_path

if TYPE_CHECKING:
    import torch
    from torch import nn

    from engine.variants import Variant

KERAS_SUFFIX = ".npz"  # engine.backends.keras_files' checkpoints
# The model Keras weights are converted into, built when first needed: a torch checkpoint
# needs none.
Template = Callable[[], "nn.Module"]


@dataclass(frozen=True, eq=False)
class VerifiedWeights:
    """A checkpoint's weights as the family's torch state dict, and the hash checked against
    metadata.json: of that state dict (torch), of the Keras weights it was converted from
    (tensorflow; what the variant's records hold)."""

    state: dict[str, torch.Tensor]
    weights_sha256: str
    backend: str  # "torch" or "tensorflow": which library's checkpoint it was


def load_verified_weights(
    path: Path,
    *,
    sha256: str | None = None,
    weights_sha256: str | None = None,
    template: Template | None = None,
) -> VerifiedWeights:
    """The weights of the checkpoint at `path`, verified; CheckpointError naming the file if
    it is missing or altered.

    The file must match its sidecar, the sidecar the file SHA-256 `sha256` metadata.json
    records (when given), and the weights the recorded `weights_sha256` (when given). A
    tensorflow checkpoint is converted into `template()` (default: the model of the variant
    whose `checkpoints/` folder holds the file)."""
    path = Path(path)
    _check_recorded_sidecar(path, sha256)
    if path.suffix == KERAS_SUFFIX:
        return _converted(path, weights_sha256, template or directory_template(path.parent.parent))
    payload = load_checkpoint(path)
    state = payload.get("model") if isinstance(payload, dict) else None
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path.name} holds no model state dict")
    digest = digest_of(state)
    check_weights_hash(path, digest, weights_sha256)
    return VerifiedWeights(state, digest, "torch")


def _check_recorded_sidecar(path: Path, sha256: str | None) -> None:
    """The sidecar must hold the SHA-256 metadata.json recorded for the file: a file and
    sidecar swapped together for another checkpoint's are refused before loading."""
    sidecar = sidecar_path(path)
    if sha256 and sidecar.is_file():
        recorded = sidecar.read_text(encoding="utf-8").strip()
        if recorded != sha256:
            raise CheckpointError(
                f"checkpoint {path.name} does not match metadata.json: its .sha256 record says "
                f"{recorded[:12]}…, metadata says {sha256[:12]}…"
            )


def _converted(path: Path, weights_sha256: str | None, template: Template) -> VerifiedWeights:
    from engine.backends.keras_weights import load_converted

    try:
        model = template()
    except CheckpointError:
        raise
    except TrainwrightError as exc:  # an unknown family, a domain it refuses now
        raise CheckpointError(
            f"checkpoint {path.name} holds Keras weights, and the model to convert them into "
            f"cannot be built: {exc}"
        ) from None
    state, digest = load_converted(path, weights_sha256, model)
    return VerifiedWeights(state, digest, TENSORFLOW)


def variant_template(variant: Variant, family: Any | None = None) -> Template:
    """`variant`'s model (of `family`, default: found in the variant's home), built once when
    first asked, on the meta device: its names, shapes and dtypes are all a conversion needs,
    and building it for real would draw initial weights from the global random generator
    that a run on another thread may be drawing from."""

    @functools.cache
    def build() -> nn.Module:
        from engine.families.param_count import meta_model

        chosen = family
        if chosen is None:
            from engine.families.registry import FamilyRegistry

            chosen = FamilyRegistry(variant.home).family(variant.family)
        return meta_model(chosen, dict(variant.config.domain))

    return build


def directory_template(directory: Path) -> Template:
    """`variant_template` of the variant stored in `directory` (read when first asked)."""

    @functools.cache
    def build() -> nn.Module:
        from engine.discovery import load_variant

        return variant_template(load_variant(Path(directory)))()

    return build


__all__ = [
    "KERAS_SUFFIX",
    "Template",
    "VerifiedWeights",
    "directory_template",
    "load_verified_weights",
    "variant_template",
]
