"""Knowledge distillation: a student variant trained on a trained teacher's soft targets.

Hyperparameters (recorded in the student's config as strategy_params): `teacher` (variant
name), `teacher_family` (filled in from the teacher), `temperature` (T, default 4) and `alpha`
(weight of the soft term, default 0.7). The loss is in engine.strategies.distill.objective.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, ClassVar

from engine.errors import TrainwrightError
from engine.metadata import VariantMetadata
from engine.params import ParameterSpec
from engine.strategies.base import StrategyConfig, StrategyRejected, TrainingStrategy
from engine.strategies.distill.errors import DistillError, refuse_tensorflow_student
from engine.strategies.distill.teacher import (
    TrainedModel,
    completed_metadata,
    find_variant,
    load_trained_model,
)
from engine.variants import RunConfig, Variant

if TYPE_CHECKING:  # torch: imported when a teacher is loaded or a trainer built
    from engine.training.trainer import Objective

DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.7

P = ParameterSpec


class DistillStrategy(TrainingStrategy):
    name = "distill"
    description = "Train a student on a trained classifier's softened logits and the labels."
    parameters: ClassVar[list[ParameterSpec]] = [
        P(name="teacher", type="str", default="", help="The trained teacher variant."),
        P(name="teacher_family", type="str", default="",
          help="The teacher's family (found from its name)."),
        P(name="temperature", type="float", default=DEFAULT_TEMPERATURE, label="Temperature",
          min=0, min_exclusive=True, max=100, help="Softmax temperature T of the soft targets."),
        P(name="alpha", type="float", default=DEFAULT_ALPHA, label="Alpha", min=0, max=1,
          help="Weight of the soft (teacher) term; 1 - alpha weighs the labels."),
    ]  # fmt: skip

    def default_hyperparameters(self, config: StrategyConfig) -> dict[str, Any]:
        defaults = super().default_hyperparameters(config)
        name = config.strategy_params.get("teacher")
        if isinstance(name, str) and name and not config.strategy_params.get("teacher_family"):
            with contextlib.suppress(TrainwrightError):  # validate() says it is missing
                defaults["teacher_family"] = find_variant(self.workspace.registry, name).family
        return defaults

    def validate(self, config: StrategyConfig) -> None:
        """Refuses (StrategyRejected) a config without a teacher, so `auto` moves on; once a
        teacher is named, any problem with it is a DistillError naming the problem."""
        if not config.strategy_params.get("teacher"):
            raise StrategyRejected("distillation needs a teacher variant (strategy_params.teacher)")
        self.check(self.resolve(config))

    def check(self, student: RunConfig) -> TrainedModel:
        """The loaded teacher, once the student's config is shown to fit it."""
        import torch

        refuse_tensorflow_student(student.training.backend)
        registry = self.workspace.registry
        teacher = self.teacher_variant(student)
        completed_metadata(teacher)
        teacher_family = registry.family(teacher.family)
        student_family = registry.family(student.family)
        if teacher_family.task_type(teacher.config.domain) != "classification":
            raise DistillError(
                f"teacher {teacher.name} is a regression model; distillation needs a teacher "
                "whose outputs are class logits"
            )
        if student_family.task_type(student.domain) != "classification":
            raise DistillError("the student is a regression model; distillation needs a classifier")
        for field in ("training_fraction", "data_seed"):
            mine, theirs = getattr(student.training, field), getattr(teacher.config.training, field)
            if mine != theirs:
                raise DistillError(
                    f"the student's {field} {mine} differs from the teacher's {theirs}; the "
                    "student must train on the teacher's data split"
                )
        for key in ("dataset", "target"):
            mine, theirs = student.domain.get(key), teacher.config.domain.get(key)
            if key in student.domain and key in teacher.config.domain and mine != theirs:
                raise DistillError(
                    f"the student's {key} {mine!r} differs from the teacher's {theirs!r}; the "
                    "student must train on the teacher's data"
                )
        fraction, data_seed = student.training.training_fraction, student.training.data_seed
        with torch.random.fork_rng(devices=[]):
            theirs = teacher_family.generate_training_dataset(
                teacher.config.domain, fraction, data_seed
            )
            mine = student_family.generate_training_dataset(student.domain, fraction, data_seed)
            if not all(
                a.shape == b.shape and torch.equal(a, b) for a, b in zip(mine, theirs, strict=True)
            ):
                raise DistillError(
                    f"the student's data differs from teacher {teacher.name}'s (same dataset, "
                    "data seed and split are required; for mlp also the same seed)"
                )
            loaded = load_trained_model(registry, teacher)
            model = student_family.create_model(student.domain).eval()
            sample = mine[0][:2]
            with torch.no_grad():
                student_out, teacher_out = model(sample), loaded.model(sample)
        if student_out.shape != teacher_out.shape:
            raise DistillError(
                f"teacher {teacher.name} outputs shape {tuple(teacher_out.shape[1:])} per example "
                f"but the student outputs {tuple(student_out.shape[1:])}; they must match"
            )
        return loaded

    # ---- building the trainer (train, resume, replay) ----------------------------------------
    def teacher_variant(self, student: RunConfig) -> Variant:
        """The teacher the student's config names (DistillError if there is none)."""
        params = student.strategy_params
        return find_variant(
            self.workspace.registry, params["teacher"], params.get("teacher_family") or None
        )

    def teacher_for(self, variant: Variant) -> TrainedModel:
        """The teacher named in the student's config, on the student's device; refused if its
        weights changed since the student started (as recorded in the student's metadata)."""
        from engine.training.trainer import resolve_device

        if not variant.config.strategy_params.get("teacher"):
            raise DistillError(f"{variant.name} was not distilled: its config names no teacher")
        teacher = self.teacher_variant(variant.config)
        device = resolve_device(variant.config.training.device)
        loaded = load_trained_model(self.workspace.registry, teacher, device)
        if variant.metadata_path.is_file():
            recorded = VariantMetadata.load(variant.metadata_path).extra.get("teacher") or {}
            expected = recorded.get("weights_sha256")
            if expected and expected != loaded.weights_sha256:
                raise DistillError(
                    f"teacher {teacher.name} was retrained since {variant.name} started (its "
                    "final weights differ); train the student again instead"
                )
        return loaded

    def prepare(self, variant: Variant) -> tuple[Objective, dict[str, Any]]:
        """The distillation loss and the teacher's record, from one load of the teacher."""
        from engine.strategies.distill.objective import DistillObjective
        from engine.training.losses import chosen_loss

        loaded = self.teacher_for(variant)
        params = variant.config.strategy_params
        family = self.workspace.registry.family(variant.family)
        objective = DistillObjective(
            loaded.model,
            chosen_loss(family, variant.config.training),  # the hard term: `-t loss=`
            params["temperature"],
            params["alpha"],
        )
        return objective, {"teacher": loaded.teacher_record}

    def objective(self, variant: Variant) -> Objective:
        return self.prepare(variant)[0]

    def metadata_extra(self, variant: Variant) -> dict[str, Any]:
        return {"teacher": self.teacher_for(variant).teacher_record}
