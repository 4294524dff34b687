"""What a classifier gets wrong: its confusion matrices over training, and the test examples it
misclassifies.

The confusion matrices are the trainer's (metadata.json: on the weights and best checkpoints
of evaluated epochs, and the latest evaluation's), so reading them costs nothing. Finding the
misclassified examples loads one checkpoint's verified weights, rebuilds the test split with
the family (`generate_training_dataset`, and `test_images` for pictures) and runs the model in
eval mode, in chunks.

The model is built with its tensors on the meta device and the checkpoint's tensors put in
their place: building it for real would draw its initial weights from the global random
generator, which a run training on another thread is drawing from (dropout) at the same time.

Importing this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.analysis.checkpoints import WeightsCheckpoint, load_weights
from engine.backends.variant_weights import variant_template
from engine.errors import CheckpointError, TrainwrightError
from engine.metadata import CheckpointEntry, VariantMetadata
from engine.training.callbacks import CancelEvent
from engine.variants import Variant

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

DEFAULT_LIMIT = 64
CHUNK = 512  # examples per forward pass: bounds the memory of a large test split


class NotAClassifier(TrainwrightError):
    """The variant's task is not classification: there is nothing to misclassify."""


@dataclass(frozen=True)
class ConfusionPoint:
    """One evaluated epoch's confusion matrix (rows: true class, columns: predicted).

    `kind` is the checkpoint's ("weights" or "best"), or "latest" for the last evaluation when
    no checkpoint of its epoch carries it; `file` is the checkpoint's file (None for latest).
    `best`: these are the best checkpoint's weights (a weights checkpoint of the best epoch is
    the best one too, listed once)."""

    epoch: int
    step: int
    kind: str
    confusion: list[list[int]]
    file: str | None = None
    best: bool = False

    @property
    def total(self) -> int:
        return sum(sum(row) for row in self.confusion)

    @property
    def correct(self) -> int:
        return sum(self.confusion[i][i] for i in range(len(self.confusion)))

    @property
    def accuracy(self) -> float | None:
        total = self.total
        return self.correct / total if total else None


@dataclass(frozen=True)
class ConfusionSeries:
    """A variant's confusion matrices in training order, with its class names."""

    class_names: list[str]
    points: list[ConfusionPoint] = field(default_factory=list)

    @property
    def best_index(self) -> int | None:
        """The index of the best checkpoint's point (None: no best recorded)."""
        return next((i for i, p in enumerate(self.points) if p.best), None)


def class_labels(names: list[str] | None, count: int) -> list[str]:
    """`count` class labels: the recorded names, else (or where missing) the indices."""
    names = list(names or [])
    return [names[i] if i < len(names) else str(i) for i in range(count)]


def confusion_series(metadata: VariantMetadata) -> ConfusionSeries:
    """The checkpoints of `metadata` that carry a confusion matrix, one point per evaluated
    (epoch, step) in training order (the best checkpoint marks the weights checkpoint of its
    epoch, or is a point of its own), plus the latest evaluation's when no checkpoint has it;
    and the class names (indices where none are recorded)."""
    at: dict[tuple[int, int], ConfusionPoint] = {}  # one point per evaluated (epoch, step)
    for entry in metadata.checkpoints:
        if entry.kind == "weights" and entry.confusion:
            at[(entry.epoch, entry.step)] = ConfusionPoint(
                entry.epoch, entry.step, "weights", entry.confusion, entry.file
            )
    latest = metadata.classification
    if latest is not None and latest.confusion and (latest.epoch, latest.step) not in at:
        at[(latest.epoch, latest.step)] = ConfusionPoint(
            latest.epoch, latest.step, "latest", latest.confusion
        )
    for entry in metadata.checkpoints:
        if entry.kind == "best" and entry.confusion:
            key = (entry.epoch, entry.step)
            same = at.get(key)
            if same is not None and same.kind == "weights":
                at[key] = ConfusionPoint(*key, "weights", same.confusion, same.file, best=True)
            else:  # its own point (a "latest" of the same epoch is the same evaluation)
                at[key] = ConfusionPoint(*key, "best", entry.confusion, entry.file, best=True)
    points = [at[key] for key in sorted(at)]
    count = max((len(p.confusion) for p in points), default=len(metadata.class_names or []))
    return ConfusionSeries(class_labels(metadata.class_names, count), points)


def per_class_accuracy(confusion: list[list[int]]) -> list[float | None]:
    """Each class's share of its test examples predicted right (None: it has none)."""
    accuracy: list[float | None] = []
    for i, row in enumerate(confusion):
        total = sum(row)
        accuracy.append(row[i] / total if total else None)
    return accuracy


def confusion_array(confusion: list[list[int]]) -> np.ndarray:
    """The matrix as an int64 array [true, predicted]."""
    import numpy as np

    return np.asarray(confusion, dtype=np.int64).reshape(len(confusion), -1)


# ---- misclassified examples ------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Misclassified:
    """One test example the model gets wrong: its position in the test split, its image (uint8
    [c, h, w]; None when the inputs are not images), its true and predicted class, and the
    probability the model gives the predicted class."""

    index: int
    image: np.ndarray | None
    true: int
    predicted: int
    probability: float


@dataclass(frozen=True, eq=False)
class MisclassifiedReport:
    """The misclassified examples at one checkpoint, most confident mistakes first."""

    variant: str
    checkpoint: str  # "best", "final" or a checkpoint's file name, as asked
    file: str  # the checkpoint file read
    epoch: int
    class_names: list[str]
    test_size: int
    wrong: int  # how many the model gets wrong (all of them, not only those listed)
    items: list[Misclassified]
    cancelled: bool = False

    @property
    def accuracy(self) -> float | None:
        return 1.0 - self.wrong / self.test_size if self.test_size else None


def misclassified(
    source: Any,
    variant: Any,
    checkpoint: str = "best",
    limit: int = DEFAULT_LIMIT,
    *,
    cancel_event: CancelEvent = None,
) -> list[Misclassified]:
    """Up to `limit` test examples the variant's model gets wrong at `checkpoint` ("best",
    "final", or a checkpoint file of kind weights or best), most confident first. `source` is a
    Workspace or a FamilyRegistry; `variant` a name, a Variant or a variant directory."""
    report = find_misclassified(source, variant, checkpoint, limit, cancel_event=cancel_event)
    return report.items


def find_misclassified(
    source: Any,
    variant: Any,
    checkpoint: str = "best",
    limit: int = DEFAULT_LIMIT,
    *,
    cancel_event: CancelEvent = None,
) -> MisclassifiedReport:
    """`misclassified`, with how many were wrong in all and which checkpoint was read."""
    import torch

    registry = getattr(source, "registry", source)
    found = _variant(registry, variant)
    meta = VariantMetadata.load(found.metadata_path)
    entry = checkpoint_entry(found, meta, checkpoint)
    family = registry.family(found.family)
    domain = found.config.domain
    training = found.config.training
    if family.task_type(domain) != "classification":
        raise NotAClassifier(f"{found.name} is a regression model: nothing is misclassified")
    state = load_weights(
        WeightsCheckpoint(
            entry.epoch,
            entry.step,
            found.checkpoints_dir / entry.file,
            entry.sha256,
            entry.weights_sha256,
        ),
        variant_template(found, family),
    )
    model = model_with_weights(family, domain, state, found.name)
    _, _, test_x, test_y = family.generate_training_dataset(
        domain, training.training_fraction, training.data_seed
    )
    images_of = getattr(family, "test_images", None)
    images = (
        images_of(domain, training.training_fraction, training.data_seed) if images_of else None
    )
    predicted, probability, cancelled = _predict(model, test_x, cancel_event)
    true = test_y[: len(predicted)].to(torch.int64)
    wrong = (predicted != true).nonzero().flatten()
    # Most confident mistakes first; the test order breaks ties.
    order = sorted(wrong.tolist(), key=lambda i: (-float(probability[i]), i))[: max(limit, 0)]
    items = [
        Misclassified(
            index=i,
            image=images[i].numpy().copy() if images is not None else None,
            true=int(true[i]),
            predicted=int(predicted[i]),
            probability=float(probability[i]),
        )
        for i in order
    ]
    classes = int(torch.as_tensor(test_y).max()) + 1 if len(test_y) else 0
    names = class_labels(meta.class_names, max(classes, len(meta.class_names or [])))
    return MisclassifiedReport(
        variant=found.name,
        checkpoint=checkpoint,
        file=entry.file,
        epoch=entry.epoch,
        class_names=names,
        test_size=len(predicted),
        wrong=len(wrong),
        items=items,
        cancelled=cancelled,
    )


def checkpoint_entry(variant: Variant, meta: VariantMetadata, checkpoint: str) -> CheckpointEntry:
    """The metadata entry of "best", "final" (the last weights checkpoint) or a file."""
    weights = [c for c in meta.checkpoints if c.kind == "weights"]
    if checkpoint == "best":
        best = [c for c in meta.checkpoints if c.kind == "best"]
        if not best:
            raise CheckpointError(
                f"{variant.name} has no best checkpoint (keep_best was off, or nothing was "
                "evaluated)"
            )
        return best[-1]
    if checkpoint == "final":
        final = max(weights, key=lambda c: (c.epoch, c.step), default=None)
        if final is None:
            raise CheckpointError(f"{variant.name} has no weights checkpoint")
        return final
    named = [c for c in meta.checkpoints if c.file == checkpoint and c.kind in ("weights", "best")]
    if not named:
        raise CheckpointError(f"{variant.name} has no weights checkpoint named {checkpoint}")
    return named[-1]


def model_with_weights(
    family: Any, domain: dict[str, Any], state: dict[str, torch.Tensor], name: str
) -> nn.Module:
    """The family's model holding `state`, in eval mode, built without drawing from the global
    random generator (its tensors start on the meta device and are replaced by the state's)."""
    from engine.families.param_count import meta_model

    model = meta_model(family, domain)
    try:
        model.load_state_dict(state, assign=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"the weights of {name} do not fit its family's model: {exc}"
        ) from None
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(
            f"the model of {name} has tensors its checkpoint does not hold: {', '.join(left)}"
        )
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def _predict(
    model: nn.Module, x: torch.Tensor, cancel_event: CancelEvent
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Predicted class and its probability for every row of `x` (up to a cancel)."""
    import torch

    predicted: list[torch.Tensor] = []
    probability: list[torch.Tensor] = []
    cancelled = False
    with torch.inference_mode():
        for start in range(0, len(x), CHUNK):
            if cancel_event is not None and cancel_event.is_set():
                cancelled = True
                break
            logits = model(x[start : start + CHUNK]).to(torch.float64)
            p, k = logits.softmax(dim=-1).max(dim=-1)
            predicted.append(k)
            probability.append(p)
    if not predicted:
        return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.float64), cancelled
    return torch.cat(predicted), torch.cat(probability), cancelled


def _variant(registry: Any, variant: Any) -> Variant:
    if isinstance(variant, Variant):
        return variant
    if isinstance(variant, str) and not any(sep in variant for sep in ("/", "\\")):
        return registry.variant(variant)
    return Variant.load(Path(variant))


__all__ = [
    "ConfusionPoint",
    "ConfusionSeries",
    "Misclassified",
    "MisclassifiedReport",
    "NotAClassifier",
    "checkpoint_entry",
    "class_labels",
    "confusion_array",
    "confusion_series",
    "find_misclassified",
    "misclassified",
    "model_with_weights",
    "per_class_accuracy",
]
