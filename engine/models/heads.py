"""Which part of a model is its output layer (the head), for transfer and parameter counts.

A transfer run re-initialises the head when the class count differs and with
`freeze=features` trains it alone; the Training form counts the parameters that train. Both
must agree on what the head is, so it is decided here once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn


def head_name(model: nn.Module) -> str:
    """The model's output layer: its `head_name` attribute, else the last module (in
    registration order) that owns parameters itself ("": the model itself, e.g. a Linear)."""
    named = getattr(model, "head_name", None)
    if isinstance(named, str) and named:
        return named
    last = ""
    for name, module in model.named_modules():
        if next(module.parameters(recurse=False), None) is not None:
            last = name
    return last


def in_module(key: str, module: str) -> bool:
    """Whether a parameter or state-dict entry named `key` belongs to the module `module`
    ("": the root model's own entries, when the root is the last module owning any)."""
    return key.startswith(module + ".") if module else "." not in key
