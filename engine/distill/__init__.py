"""Knowledge distillation of a trained classifier (teacher) into a new variant (student).

    from engine.distill import distill, compare_distillation
    result = distill(ws, "mlp_two_moons_h128x2_seed0", "mlp", {"hidden_dim": 16})
    if result["status"] == "ok":
        print(compare_distillation(ws, result["modelId"]))

This package is the feature on top of the engine's front door (requests, the run, the
comparison, the CLI). The strategy itself (validation, the trainer with the distillation
loss, loading a teacher) is engine.strategies.distill, a layer below.
"""

from engine.distill.api import (
    DistillComparison,
    DistillOptions,
    ModelStats,
    compare_distillation,
    distill,
    distill_config,
)
from engine.strategies.distill import DistillError

__all__ = [
    "DistillComparison",
    "DistillError",
    "DistillOptions",
    "ModelStats",
    "compare_distillation",
    "distill",
    "distill_config",
]
