"""The distillation strategy: a student trained on a trained teacher's soft targets.

`strategy` (DistillStrategy: validation, the trainer with the distillation loss), `teacher`
(loading a trained variant's verified final weights), `objective` (the loss; imports torch).
The user-facing requests and the teacher/student comparison are in engine.distill.
"""

from engine.strategies.distill.errors import DistillError
from engine.strategies.distill.strategy import DEFAULT_ALPHA, DEFAULT_TEMPERATURE, DistillStrategy

__all__ = ["DEFAULT_ALPHA", "DEFAULT_TEMPERATURE", "DistillError", "DistillStrategy"]
