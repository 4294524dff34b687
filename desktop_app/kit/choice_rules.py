"""Choices a parameter lists that cannot be taken here, and why: a rule per parameter name.

A ParameterSpec lists every choice the engine knows (`backend`: torch, tensorflow); whether one
can be trained with depends on this install and on the family. `unavailable_choices(name,
family)` asks the parameter's rule: {choice: why not}. The forms (`ParamForm`) disable those
items of the combo, with the reason as the item's tooltip and in the field's, and show it as
the field's error if the value is one of them anyway (a starting value, a swept list).

    unavailable_choices("backend", "modulo_addition_1layer")
    -> {"tensorflow": "the tensorflow backend trains the mlp and image_classifier families
        only, not modulo_addition_1layer"}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.backends import (
    TENSORFLOW,
    TENSORFLOW_FAMILIES,
    TENSORFLOW_MISSING,
    tensorflow_available,
    tensorflow_family_only,
)

# (family name, or None where the form has none) -> {choice: why it cannot be taken}
ChoiceRule = Callable[[str | None], dict[Any, str]]


def backend_choices(family: str | None) -> dict[Any, str]:
    """tensorflow, for a family it cannot build (installing would not help: said first), or
    where the optional extra is not installed (asked without importing it)."""
    if family is not None and family not in TENSORFLOW_FAMILIES:
        return {TENSORFLOW: tensorflow_family_only(family)}
    if not tensorflow_available():
        return {TENSORFLOW: TENSORFLOW_MISSING}
    return {}


RULES: dict[str, ChoiceRule] = {"backend": backend_choices}


def unavailable_choices(name: str, family: str | None) -> dict[Any, str]:
    """The choices of parameter `name` that `family` cannot take here, each with why."""
    rule = RULES.get(name)
    return dict(rule(family)) if rule is not None else {}
