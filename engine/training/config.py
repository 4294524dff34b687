"""Training parameters shared by every family: their schema, and the validated config model."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.params import ParameterSpec

P = ParameterSpec

TRAINING_PARAMETERS: list[ParameterSpec] = [
    P(
        name="epochs",
        type="int",
        default=100,
        min=1,
        max=10_000_000,
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


class TrainingConfig(BaseModel):
    """Validated training parameters; field names match TRAINING_PARAMETERS."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int
    lr: float
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"]
    weight_decay: float
    beta1: float
    beta2: float
    momentum: float
    batch_size: int
    scheduler: Literal["constant", "linear", "cosine", "step"]
    warmup_steps: int
    milestones: list[int]
    gamma: float
    grad_clip: float
    training_fraction: float
    data_seed: int
    eval_every: int
    log_every: int
    checkpoint_every: int
    resume_every: int
    divergence_threshold: float
    stagnation_patience: int
    grokfast: Literal["off", "ema", "ma"]
    grokfast_alpha: float
    grokfast_lambda: float
    grokfast_window: int
    device: Literal["cpu", "cuda", "mps"]
    threads: int

    def identity(self) -> dict[str, Any]:
        """The fields that define what is computed (execution settings left out)."""
        return {k: v for k, v in self.model_dump().items() if k not in EXECUTION_PARAMETERS}


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
