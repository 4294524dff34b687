"""Using a trained variant on new data: raw inputs prepared exactly as its training data was
(from the `preprocessing` its metadata.json records), and its outputs read as predictions.

Importing this package does not import torch; `engine.inference.inputs` (which does) is
imported when one of its names is first used (PEP 562).
"""

from __future__ import annotations

from typing import Any

# What an image model's preprocessing record says it takes (`kind`); here, torch-free, so the
# desktop's listing can tell image models from the rest without importing torch.
IMAGE_KINDS = ("image", "image_flat")

_FROM_INPUTS = (
    "InputError",
    "image_inputs",
    "image_paths",
    "inputs_for",
    "modulo_inputs",
    "predictions",
    "table_inputs",
)


def __getattr__(name: str) -> Any:
    if name in _FROM_INPUTS:
        from engine.inference import inputs

        return getattr(inputs, name)
    raise AttributeError(f"module 'engine.inference' has no attribute {name!r}")


__all__ = list(_FROM_INPUTS)
