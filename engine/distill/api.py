"""Distilling a trained teacher into a student: the request, the run, and the comparison."""

from __future__ import annotations

import statistics
import time
from typing import Any, TypedDict, Unpack

from pydantic import BaseModel

from engine.errors import TrainwrightError
from engine.strategies import StrategyConfig, StrategyOrchestrator, StrategyResult
from engine.strategies.distill import DistillError
from engine.strategies.distill.errors import refuse_tensorflow_student
from engine.strategies.distill.teacher import TrainedModel, find_variant, load_trained_model
from engine.strategies.registry import failure
from engine.training.callbacks import Callbacks, CancelEvent
from engine.variants import Variant
from engine.workspace import Workspace

# Training values a student takes from its teacher unless given: they define the data split.
INHERITED_TRAINING = ("training_fraction", "data_seed")


class DistillOptions(TypedDict, total=False):
    """The distillation's own values in a request; None (or absent): the strategy's default."""

    temperature: float | None
    alpha: float | None
    overwrite: bool  # retrain a student that exists


def distill_config(
    workspace: Workspace,
    teacher: str,
    student_family: str,
    domain: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    **options: Unpack[DistillOptions],
) -> StrategyConfig:
    """The strategy request for a student of `teacher` (a variant name).

    A student of the teacher's own family starts from the teacher's domain values (so
    `-p hidden_dim=16` gives a smaller MLP on the same data); every student takes the
    teacher's training_fraction and data_seed unless they are given (and then they must
    match, which the strategy checks). Raises TrainwrightError for a missing teacher or a
    student the tensorflow backend would train.
    """
    unknown = set(options) - set(DistillOptions.__annotations__)
    if unknown:
        raise TypeError(f"distill_config() got unexpected keyword arguments {sorted(unknown)}")
    teacher_variant = find_variant(workspace.registry, teacher)
    domain = dict(domain or {})
    training = dict(training or {})
    if student_family == teacher_variant.family:
        domain = {**teacher_variant.config.domain, **domain}
    for name in INHERITED_TRAINING:
        training.setdefault(name, getattr(teacher_variant.config.training, name))
    family_defaults = workspace.registry.spec(student_family).training_defaults
    refuse_tensorflow_student(training.get("backend", family_defaults.get("backend", "torch")))
    params: dict[str, Any] = {
        "teacher": teacher_variant.name,
        "teacher_family": teacher_variant.family,
    }
    for name in ("temperature", "alpha"):
        if options.get(name) is not None:
            params[name] = options[name]
    return StrategyConfig(
        family=student_family,
        domain=domain,
        training=training,
        strategy="distill",
        strategy_params=params,
        overwrite=options.get("overwrite", False),
    )


def distill(
    workspace: Workspace,
    teacher: str,
    student_family: str,
    domain: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    *,
    callbacks: Callbacks = None,
    cancel_event: CancelEvent = None,
    **options: Unpack[DistillOptions],
) -> StrategyResult:
    """Train a distilled student (`options`: temperature, alpha, overwrite). Returns
    `{status: 'ok', metrics, modelId, modelPath, distilledRun}` or, when anything fails
    (teacher missing, shapes that do not match, training failure), `{status: 'error', error}`
    and nothing else. Never raises for those.
    """
    try:
        config = distill_config(workspace, teacher, student_family, domain, training, **options)
    except TrainwrightError as exc:
        return failure(str(exc))
    return StrategyOrchestrator(workspace).run(config, callbacks, cancel_event)


# ---- teacher vs student --------------------------------------------------------------------
class ModelStats(BaseModel):
    variant: str
    family: str
    parameter_count: int
    test_accuracy: float | None
    test_loss: float | None
    inference_ms_per_1000: float  # measured: median wall time of a forward over 1,000 examples


class DistillComparison(BaseModel):
    teacher: ModelStats
    student: ModelStats
    parameter_ratio: float  # student / teacher
    speedup: float  # teacher time / student time


def compare_distillation(
    workspace: Workspace,
    student: str | Variant,
    teacher: str | Variant | None = None,
    *,
    examples: int = 1000,
    repeats: int = 7,
    threads: int | None = 1,
) -> DistillComparison:
    """Teacher vs student on the student's test split: parameter count, test accuracy and loss
    (recomputed from the final weights), and inference time per 1,000 examples (measured on
    this machine: median of `repeats` timed forwards after a warm-up). The teacher defaults to
    the one named in the student's metadata.

    Timing uses `threads` torch threads (default 1: comparable across machines and immune to
    a busy CPU, where multi-threaded spinning inflates small forwards 100-fold); the setting
    is process-global and restored afterwards, so do not call this while a run trains in the
    same process, or pass threads=None to time with the current setting.
    """
    registry = workspace.registry
    student_variant = student if not isinstance(student, str) else workspace.variant(student)
    student_model = load_trained_model(registry, student_variant, role="student")
    if teacher is None:
        record = student_model.meta.extra.get("teacher")
        if not record:
            raise DistillError(f"{student_variant.name} names no teacher; give one to compare with")
        teacher = find_variant(registry, record["variant"], record.get("family"))
    teacher_variant = teacher if not isinstance(teacher, str) else find_variant(registry, teacher)
    teacher_model = load_trained_model(registry, teacher_variant)
    cfg = student_variant.config
    family = registry.family(cfg.family)
    _, _, test_x, test_y = family.generate_training_dataset(
        cfg.domain, cfg.training.training_fraction, cfg.training.data_seed
    )
    import torch

    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        stats = [
            _stats(workspace, loaded, test_x, test_y, examples, repeats)
            for loaded in (teacher_model, student_model)
        ]
    finally:
        torch.set_num_threads(previous)
    t, s = stats
    return DistillComparison(
        teacher=t,
        student=s,
        parameter_ratio=s.parameter_count / max(1, t.parameter_count),
        speedup=t.inference_ms_per_1000 / max(s.inference_ms_per_1000, 1e-9),
    )


def _stats(
    workspace: Workspace, loaded: TrainedModel, x: Any, y: Any, examples: int, repeats: int
) -> ModelStats:
    import torch

    from engine.training.metrics import evaluate

    family = workspace.registry.family(loaded.variant.family)
    metrics = evaluate(loaded.model, family.compute_loss, x, y) if len(y) else {}
    batch = x.repeat((examples + len(x) - 1) // len(x), *([1] * (x.dim() - 1)))[:examples]
    times = []
    with torch.inference_mode():
        loaded.model(batch)  # warm-up
        for _ in range(max(1, repeats)):
            started = time.perf_counter()
            loaded.model(batch)
            times.append(time.perf_counter() - started)
    per_1000 = statistics.median(times) * 1000.0 * (1000 / examples)
    return ModelStats(
        variant=loaded.variant.name,
        family=loaded.variant.family,
        parameter_count=sum(p.numel() for p in loaded.model.parameters()),
        test_accuracy=metrics.get("test_accuracy"),
        test_loss=metrics.get("test_loss"),
        inference_ms_per_1000=round(per_1000, 6),
    )
