"""Training parameters shared by every family: their schema, and the config model made from it.

`TRAINING_PARAMETERS` is the one declaration of a training parameter (type, default, range,
choices, help, unit, sweep label); `TrainingConfig`'s fields are generated from it, so a new
parameter is one entry here and nothing else.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

from engine.params import ParameterSpec

P = ParameterSpec

TRAINING_PARAMETERS: list[ParameterSpec] = [
    P(
        name="epochs",
        type="int",
        default=100,
        min=1,
        max=10_000_000,
        sweep_label="Epoch",
        help="Passes over the training set.",
    ),
    P(
        name="lr",
        type="float",
        default=1e-3,
        min=0,
        min_exclusive=True,
        max=1e6,
        label="Learning rate",
        help="Peak learning rate.",
    ),
    P(
        name="optimizer",
        type="choice",
        default="adamw",
        choices=["adam", "adamw", "sgd", "rmsprop"],
        help="Optimizer.",
    ),
    P(
        name="weight_decay",
        type="float",
        default=0.0,
        min=0,
        max=100,
        help="Decoupled for AdamW, L2 for the others.",
    ),
    P(
        name="beta1",
        type="float",
        default=0.9,
        min=0,
        max=1,
        max_exclusive=True,
        help="Adam/AdamW first-moment decay.",
    ),
    P(
        name="beta2",
        type="float",
        default=0.999,
        min=0,
        max=1,
        max_exclusive=True,
        help="Adam/AdamW second-moment decay.",
    ),
    P(
        name="momentum",
        type="float",
        default=0.0,
        min=0,
        max=1,
        max_exclusive=True,
        help="SGD and RMSprop momentum.",
    ),
    P(
        name="batch_size",
        type="int",
        default=32,
        min=0,
        max=10_000_000,
        help="Examples per step; 0 = full batch (also when >= the training set).",
    ),
    P(
        name="scheduler",
        type="choice",
        default="constant",
        choices=["constant", "linear", "cosine", "step"],
        help="Learning-rate schedule after warm-up.",
    ),
    P(
        name="warmup_steps",
        type="int",
        default=0,
        min=0,
        max=10_000_000,
        help="Linear warm-up steps before the schedule.",
    ),
    P(
        name="milestones",
        type="int_list",
        default=[],
        min=1,
        help="Epochs at which the step schedule multiplies lr by gamma.",
    ),
    P(
        name="gamma",
        type="float",
        default=0.1,
        min=0,
        min_exclusive=True,
        max=1,
        help="Step schedule factor.",
    ),
    P(
        name="grad_clip",
        type="float",
        default=0.0,
        min=0,
        max=1e6,
        help="Clip the gradient norm to this; 0 = off.",
    ),
    P(
        name="training_fraction",
        type="float",
        default=0.8,
        min=0,
        max=1,
        min_exclusive=True,
        max_exclusive=True,
        help="Share of the data used for training; the rest is the test set.",
    ),
    P(
        name="data_seed",
        type="int",
        default=0,
        min=0,
        max=2**31 - 1,
        help="Seed of the train/test split and of batch order.",
    ),
    P(
        name="eval_every",
        type="int",
        default=1,
        min=1,
        max=1_000_000,
        help="Evaluate on the test set every N epochs.",
    ),
    P(
        name="log_every",
        type="int",
        default=1,
        min=1,
        max=1_000_000,
        help="Write a chronicle line every N steps (and at every evaluation).",
    ),
    P(
        name="checkpoint_every",
        type="int",
        default=0,
        min=0,
        max=10_000_000,
        help="Save weights for analysis every N epochs; 0 = only first and last.",
    ),
    P(
        name="resume_every",
        type="int",
        default=0,
        min=0,
        max=10_000_000,
        help="Full resumable checkpoint every N epochs; 0 = automatic (at least every 30 s).",
    ),
    P(
        name="divergence_threshold",
        type="float",
        default=1e6,
        min=0,
        min_exclusive=True,
        help="Fail when the loss exceeds this.",
    ),
    P(
        name="stagnation_patience",
        type="int",
        default=0,
        min=0,
        max=10_000_000,
        help="Warn after N epochs without a better test loss; 0 = off.",
    ),
    P(
        name="grokfast",
        type="choice",
        default="off",
        choices=["off", "ema", "ma"],
        help="Grokfast gradient filter (Lee et al. 2024).",
    ),
    P(
        name="grokfast_alpha",
        type="float",
        default=0.98,
        min=0,
        max=1,
        max_exclusive=True,
        help="Grokfast EMA decay.",
    ),
    P(
        name="grokfast_lambda",
        type="float",
        default=2.0,
        min=0,
        max=100,
        help="Grokfast amplification.",
    ),
    P(
        name="grokfast_window",
        type="int",
        default=100,
        min=1,
        max=10_000,
        help="Grokfast moving-average window.",
    ),
    P(
        name="device",
        type="choice",
        default="cpu",
        choices=["cpu", "cuda", "mps"],
        help="Where to train.",
    ),
    P(
        name="threads",
        type="int",
        default=0,
        min=0,
        max=256,
        help="Torch CPU threads; 0 = the engine's default.",
    ),
]

# Settings that change how fast a run goes or how often it is saved, not what it computes:
# they stay out of the variant's identity (its name suffix and config hash).
EXECUTION_PARAMETERS = frozenset({"device", "threads", "resume_every"})


class _TrainingConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def identity(self) -> dict[str, Any]:
        """The fields that define what is computed (execution settings left out)."""
        return {k: v for k, v in self.model_dump().items() if k not in EXECUTION_PARAMETERS}


def _field_type(spec: ParameterSpec) -> Any:
    """The Python type of a parameter's values, for the generated pydantic model."""
    if spec.choices is not None:
        kind: Any = Literal[tuple(spec.choices)]  # type: ignore[valid-type]
    else:
        kind = {"int": int, "float": float, "bool": bool, "str": str, "int_list": list[int]}[
            spec.type
        ]
    return kind | None if spec.optional else kind


# Validated training parameters: one field per entry of TRAINING_PARAMETERS, in that order.
# Values are range-checked by the specs (`validate_values`) before the model is built.
TrainingConfig: type[_TrainingConfigBase] = create_model(  # type: ignore[call-overload]
    "TrainingConfig",
    __base__=_TrainingConfigBase,
    __module__=__name__,
    **{spec.name: (_field_type(spec), ...) for spec in TRAINING_PARAMETERS},
)


def training_specs(overrides: dict[str, Any]) -> list[ParameterSpec]:
    """The shared training schema with a family's defaults (family.json) filled in."""
    known = {spec.name for spec in TRAINING_PARAMETERS}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown training parameter(s) {', '.join(unknown)}")
    return [
        spec.model_copy(update={"default": overrides[spec.name]})
        if spec.name in overrides
        else spec
        for spec in TRAINING_PARAMETERS
    ]
