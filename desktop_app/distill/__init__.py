"""Distillation: a trained classifier (the teacher) taught to a smaller student, compared.

- `dialog`: DistillDialog (the student's settings, its training, the comparison)
- `workers`: the teacher check and the distillation tasks
"""
