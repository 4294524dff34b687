"""Knowledge distillation: a student variant trained on a trained teacher's soft targets.

Hyperparameters (recorded in the student's config as strategy_params): `teacher` (variant
name), `teacher_family` (filled in from the teacher), `temperature` (T, default 4) and `alpha`
(weight of the soft term, default 0.7). The loss is in engine.distill.objective.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from engine.errors import TrainwrightError
from engine.params import ParameterSpec
from engine.strategies.base import StrategyConfig, StrategyRejected, TrainingStrategy, make_trainer

if TYPE_CHECKING:
    from engine.distill.teacher import TrainedModel
    from engine.training.callbacks import Callback
    from engine.training.trainer import Objective, Trainer
    from engine.variants import RunConfig, Variant

DEFAULT_TEMPERATURE = 4.0
DEFAULT_ALPHA = 0.7

P = ParameterSpec


class DistillStrategy(TrainingStrategy):
    name = "distill"
    description = "Train a student on a trained classifier's softened logits and the labels."
    parameters: ClassVar[list[ParameterSpec]] = [
        P(name="teacher", type="str", default="", help="The trained teacher variant."),
        P(
            name="teacher_family",
            type="str",
            default="",
            help="The teacher's family (found from its name).",
        ),
        P(
            name="temperature",
            type="float",
            default=DEFAULT_TEMPERATURE,
            min=0,
            min_exclusive=True,
            max=100,
            label="Temperature",
            help="Softmax temperature T of the soft targets.",
        ),
        P(
            name="alpha",
            type="float",
            default=DEFAULT_ALPHA,
            min=0,
            max=1,
            label="Alpha",
            help="Weight of the soft (teacher) term; 1 - alpha weighs the labels.",
        ),
    ]

    def default_hyperparameters(self, config: StrategyConfig) -> dict[str, Any]:
        defaults = super().default_hyperparameters(config)
        name = config.strategy_params.get("teacher")
        if isinstance(name, str) and name and not config.strategy_params.get("teacher_family"):
            from engine.distill.teacher import find_variant

            with contextlib.suppress(TrainwrightError):  # validate() says it is missing
                defaults["teacher_family"] = find_variant(self.workspace, name).family
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

        from engine.distill.errors import DistillError
        from engine.distill.teacher import completed_metadata, find_variant, load_trained_model

        params = student.strategy_params
        registry = self.workspace.registry
        teacher = find_variant(
            self.workspace, params["teacher"], params.get("teacher_family") or None
        )
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
            loaded = load_trained_model(self.workspace, teacher)
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
    def teacher_for(self, variant: Variant) -> TrainedModel:
        """The teacher named in the student's config, on the student's device; refused if its
        weights changed since the student started (as recorded in the student's metadata)."""
        from engine.distill.errors import DistillError
        from engine.distill.teacher import find_variant, load_trained_model
        from engine.metadata import VariantMetadata
        from engine.training.trainer import resolve_device

        params = variant.config.strategy_params
        if not params.get("teacher"):
            raise DistillError(f"{variant.name} was not distilled: its config names no teacher")
        teacher = find_variant(
            self.workspace, params["teacher"], params.get("teacher_family") or None
        )
        device = resolve_device(variant.config.training.device)
        loaded = load_trained_model(self.workspace, teacher, device)
        if variant.metadata_path.is_file():
            recorded = VariantMetadata.load(variant.metadata_path).extra.get("teacher") or {}
            expected = recorded.get("weights_sha256")
            if expected and expected != loaded.weights_sha256:
                raise DistillError(
                    f"teacher {teacher.name} was retrained since {variant.name} started (its "
                    "final weights differ); train the student again instead"
                )
        return loaded

    def _objective(self, variant: Variant, loaded: TrainedModel) -> Objective:
        from engine.distill.objective import DistillObjective

        params = variant.config.strategy_params
        family = self.workspace.registry.family(variant.family)
        return DistillObjective(
            loaded.model, family.compute_loss, params["temperature"], params["alpha"]
        )

    def objective(self, variant: Variant) -> Objective | None:
        return self._objective(variant, self.teacher_for(variant))

    def metadata_extra(self, variant: Variant) -> dict[str, Any]:
        return {"teacher": self.teacher_for(variant).teacher_record}

    def trainer(
        self,
        variant: Variant,
        callbacks: list[Callback] | None = None,
        cancel_event: threading.Event | None = None,
        **kwargs: Any,
    ) -> Trainer:
        loaded = self.teacher_for(variant)  # loaded once for the loss and the metadata
        family = self.workspace.registry.family(variant.family)
        return make_trainer(
            family,
            variant,
            callbacks,
            cancel_event,
            objective=self._objective(variant, loaded),
            metadata_extra={"teacher": loaded.teacher_record},
            **kwargs,
        )
