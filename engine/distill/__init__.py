"""Knowledge distillation of a trained classifier (teacher) into a new variant (student).

    from engine.distill import distill, compare_distillation
    result = distill(ws, "mlp_two_moons_h128x2_seed0", "mlp", {"hidden_dim": 16})
    if result["status"] == "ok":
        print(compare_distillation(ws, result["modelId"]))

The strategy itself (validation, the trainer with the distillation loss) is
engine.strategies.distill.DistillStrategy; the loss is engine.distill.objective.
"""

from engine.distill.api import (
    DistillComparison,
    ModelStats,
    compare_distillation,
    distill,
    distill_config,
)
from engine.distill.errors import DistillError

__all__ = [
    "DistillComparison",
    "DistillError",
    "ModelStats",
    "compare_distillation",
    "distill",
    "distill_config",
]
