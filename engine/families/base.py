"""The ModelFamily protocol and a base class that derives the common parts from family.json."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from engine.families.spec import FamilySpec

if TYPE_CHECKING:
    import torch
    from torch import nn

Split = tuple["torch.Tensor", "torch.Tensor", "torch.Tensor", "torch.Tensor"]
# A random transform of a whole training batch (augmentation): (batch, generator) -> batch.
# Every draw comes from the generator, whose state the trainer keeps in its checkpoints.
BatchAugment = Callable[["torch.Tensor", "torch.Generator"], "torch.Tensor"]


@runtime_checkable
class ModelFamily(Protocol):
    spec: FamilySpec

    def create_model(self, params: dict[str, Any]) -> nn.Module: ...

    def generate_training_dataset(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> Split: ...

    def training_defaults(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def validate_domain(self, params: dict[str, Any]) -> dict[str, Any]: ...

    def task_type(self, params: dict[str, Any]) -> str: ...

    def compute_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...


class FamilyBase:
    """Defaults for everything but the model and the data, taken from the family's spec.

    A model returns one row of class logits (or one regression value) per example; the loss
    is cross-entropy or mean squared error accordingly.
    """

    # The data home whose dataset library imported datasets come from; FamilyRegistry sets it.
    home: Path | None = None

    def __init__(self, spec: FamilySpec) -> None:
        self.spec = spec

    def training_defaults(self, params: dict[str, Any]) -> dict[str, Any]:
        """Training defaults for these domain parameters (a dataset may bring its own)."""
        return dict(self.spec.training_defaults)

    def with_dataset_defaults(self, defaults: Any) -> dict[str, Any]:
        """The spec's training defaults with a dataset's epochs, lr and batch size over them
        (for a family whose good hyperparameters depend on its data)."""
        return {
            **self.spec.training_defaults,
            "epochs": defaults.epochs,
            "lr": defaults.lr,
            "batch_size": defaults.batch_size,
        }

    def defaults_source(self, params: dict[str, Any]) -> str:
        """What `training_defaults` took its values from, in words ("dataset two_moons")."""
        return ""

    def validate_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        return params

    def task_type(self, params: dict[str, Any]) -> str:
        return self.spec.task_type

    def compute_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        import torch.nn.functional as F

        if targets.is_floating_point():
            return F.mse_loss(outputs.reshape(targets.shape), targets)
        return F.cross_entropy(outputs, targets)

    # ---- optional: what families with more to say about their data offer ------------------
    def batch_augment(self, params: dict[str, Any]) -> BatchAugment | None:
        """The augmentation applied to each training batch (None: none)."""
        return None

    def class_names(self, params: dict[str, Any]) -> list[str] | None:
        """The label of each class index (classification), for confusion matrices and
        predictions; None when the family has no names for them."""
        return None

    def preprocessing(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> dict[str, Any] | None:
        """What raw inputs go through before the model (JSON: image size, channels, the
        training split's normalisation), recorded in the variant's metadata; None: nothing."""
        return None

    def test_images(
        self, params: dict[str, Any], training_fraction: float, data_seed: int
    ) -> torch.Tensor | None:
        """The test split's examples as uint8 images [n, c, h, w], in the order of the test
        tensors `generate_training_dataset` returns (to show misclassified ones); None when
        the inputs are not images."""
        return None
