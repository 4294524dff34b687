"""Which parameters a sweep can vary, their bounds and labels, and the list validators.

A swept parameter's values are typed as text, e.g. `epochs = "10, 50, 100"` (commas and/or
spaces separate them). `SweepParameter.parse_list(text)` answers `SweepValues(ok=True,
values=[...])` or `SweepValues(ok=False, error=...)` with a message safe to show a user:

    Epoch values must be numbers: abc
    Epoch values must be whole numbers: 2.5
    Epoch out of range (1-500): 0                      both bounds allowed
    Test size out of range (0-1, exclusive): 1         neither bound allowed
    Learning rate out of range (0-1, excluding 0): 0   one bound not allowed

Bounds come from the family's parameter schema, narrowed for sweeps by `SWEEP_BOUNDS` (the
`mlp` family sweeps epochs over [1, 500], not the trainer's [1, 10^7]). `test_size` is a
sweep-only name for `1 - training_fraction`. Importing this module does not import torch.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.params import ParameterSpec
from engine.training.config import EXECUTION_PARAMETERS

if TYPE_CHECKING:
    from engine.families.spec import FamilySpec

Bounds = dict[str, Any]

# Sweep bounds narrower than the general schema, per family: name -> min/max(/exclusive).
SWEEP_BOUNDS: dict[str, dict[str, Bounds]] = {
    "mlp": {
        "epochs": {"min": 1, "max": 500},
        "batch_size": {"min": 1, "max": 200},
        "hidden_dim": {"min": 8, "max": 500},
        "num_hidden_layers": {"min": 1, "max": 15},
        "dropout": {"min": 0, "max": 0.9},
        "test_size": {"min": 0, "max": 1, "min_exclusive": True, "max_exclusive": True},
        "lr": {"min": 0, "max": 1, "min_exclusive": True, "max_exclusive": False},
    },
}

# Parameters that stop mattering when another has a given value, per family: in linear
# baseline mode an MLP has no hidden layers, so their lists do not multiply the grid and
# every such run records the fixed values the family forces (128, 2, 0.1).
SWEEP_COLLAPSE: dict[str, tuple[str, Any, tuple[str, ...]]] = {
    "mlp": ("linear_baseline", True, ("hidden_dim", "num_hidden_layers", "dropout")),
}

# The words a user reads, for the parameters every sweep form shows.
LABELS = {
    "epochs": "Epoch",
    "batch_size": "Batch size",
    "hidden_dim": "Hidden dim",
    "num_hidden_layers": "Number of hidden layers",
    "dropout": "Dropout",
    "test_size": "Test size",
    "lr": "Learning rate",
    "training_fraction": "Training fraction",
    "weight_decay": "Weight decay",
}

TEST_SIZE = "test_size"
_SPLIT = re.compile(r"[,\s]+")


class SweepValues(BaseModel):
    """A validator's answer: `ok` with the parsed `values`, or not `ok` with an `error`."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    values: list[Any] | None = None
    error: str | None = None


class SweepParameter(BaseModel):
    """One sweepable parameter: where it goes in the config, its type, bounds and label."""

    model_config = ConfigDict(frozen=True)

    name: str
    target: str  # the config field it sets (test_size -> training_fraction)
    section: Literal["domain", "training"]
    label: str
    type: Literal["int", "float", "bool", "choice", "str"]
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: list[Any] | None = None

    # ---- validation ------------------------------------------------------------------------
    def parse_list(self, text: str | list[Any] | tuple[Any, ...]) -> SweepValues:
        """Parse a list typed as text (or given as a list) into typed, checked values."""
        if isinstance(text, list | tuple):
            text = ", ".join(str(v) for v in text)
        tokens = [t for t in _SPLIT.split(str(text).strip()) if t]
        if not tokens:
            return SweepValues(ok=False, error=f"{self.label} needs at least one value")
        values: list[Any] = []
        for token in tokens:
            value = self._parse(token)
            if isinstance(value, _Problem):
                return SweepValues(ok=False, error=value.message)
            if value in values:
                return SweepValues(ok=False, error=f"{self.label} values must not repeat: {token}")
            values.append(value)
        return SweepValues(ok=True, values=values)

    def _parse(self, token: str) -> Any:
        if self.type in ("int", "float"):
            try:
                number = float(token)
            except ValueError:
                number = math.nan
            if not math.isfinite(number):
                return _Problem(f"{self.label} values must be numbers: {token}")
            if self.type == "int":
                if not number.is_integer():
                    return _Problem(f"{self.label} values must be whole numbers: {token}")
                number = int(number)
            if not self.in_range(number):
                return _Problem(f"{self.label} out of range {self.range_text()}: {token}")
            return number
        if self.type == "bool":
            lowered = token.lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                return _Problem(f"{self.label} values must be true or false: {token}")
            return lowered in ("true", "1", "yes", "on")
        if self.choices is not None:
            for choice in self.choices:
                if str(choice) == token:
                    return choice
            allowed = ", ".join(str(c) for c in self.choices)
            return _Problem(f"{self.label} value not allowed: {token} (allowed: {allowed})")
        return token

    def in_range(self, value: float) -> bool:
        if self.min is not None and (value <= self.min if self.min_exclusive else value < self.min):
            return False
        return not (
            self.max is not None and (value >= self.max if self.max_exclusive else value > self.max)
        )

    def range_text(self) -> str:
        """`(1-500)`, `(0-1, exclusive)` or `(0-1, excluding 0)`; `(>= 0)` for one-sided."""
        lo, hi = self.min, self.max
        if lo is None and hi is None:
            return "(any number)"
        if lo is None or hi is None:
            bound = lo if hi is None else hi
            assert bound is not None
            exclusive = self.min_exclusive if hi is None else self.max_exclusive
            sign = (">" if hi is None else "<") + ("" if exclusive else "=")
            return f"({sign} {_fmt(bound)})"
        text = f"{_fmt(lo)}-{_fmt(hi)}"
        if self.min_exclusive and self.max_exclusive:
            return f"({text}, exclusive)"
        if self.min_exclusive or self.max_exclusive:
            return f"({text}, excluding {_fmt(lo if self.min_exclusive else hi)})"
        return f"({text})"

    # ---- into a config -----------------------------------------------------------------------
    def config_value(self, value: Any) -> Any:
        """The value for `target` (test_size 0.2 -> training_fraction 0.8)."""
        if self.name == TEST_SIZE:
            return round(1.0 - value, 12)
        return value

    def from_config(self, value: Any) -> Any:
        if self.name == TEST_SIZE:
            return round(1.0 - value, 12)
        return value


class _Problem:
    def __init__(self, message: str) -> None:
        self.message = message


def sweep_schema(spec: FamilySpec) -> dict[str, SweepParameter]:
    """Sweepable parameters of a family, in the order combinations vary them (domain first,
    then training; the last varies fastest). Execution settings (device, threads) and list
    parameters are not sweepable."""
    bounds = SWEEP_BOUNDS.get(spec.name, {})
    out: dict[str, SweepParameter] = {}
    for p in spec.domain_parameters:
        if p.type != "int_list" and not p.optional:
            out[p.name] = _parameter(p, p.name, "domain", bounds.get(p.name))
    for p in spec.training_parameters():
        if p.name in EXECUTION_PARAMETERS or p.type == "int_list" or p.optional:
            continue
        if p.name == "training_fraction":
            test = p.model_copy(update={"name": TEST_SIZE, "label": None})
            out[TEST_SIZE] = _parameter(test, p.name, "training", bounds.get(TEST_SIZE))
        out[p.name] = _parameter(p, p.name, "training", bounds.get(p.name))
    return out


def _parameter(
    p: ParameterSpec, target: str, section: str, bounds: Bounds | None
) -> SweepParameter:
    fields: dict[str, Any] = {
        "min": p.min,
        "max": p.max,
        "min_exclusive": p.min_exclusive,
        "max_exclusive": p.max_exclusive,
    }
    fields.update(bounds or {})
    kind = "choice" if p.choices is not None else p.type
    return SweepParameter(
        name=p.name,
        target=target,
        section=section,  # type: ignore[arg-type]
        label=LABELS.get(p.name) or p.label or p.name.replace("_", " ").capitalize(),
        type=kind,  # type: ignore[arg-type]
        choices=p.choices,
        **fields,
    )


def validate_sweep_list(
    name: str, text: str | list[Any], family: str | FamilySpec = "mlp", *, registry: Any = None
) -> SweepValues:
    """Validate one parameter's list for a family (a FamilySpec, or a name looked up in
    `registry` or, without one, among the built-in families)."""
    spec = family_spec(family, registry)
    schema = sweep_schema(spec)
    if name not in schema:
        known = ", ".join(schema)
        return SweepValues(
            ok=False, error=f"{spec.name} cannot sweep {name!r}; it can sweep: {known}"
        )
    return schema[name].parse_list(text)


def family_spec(family: str | FamilySpec, registry: Any = None) -> FamilySpec:
    if not isinstance(family, str):
        return family
    if registry is None:
        from engine.families.registry import FamilyRegistry
        from engine.home import resolve_home

        registry = FamilyRegistry(resolve_home())
    registry = getattr(registry, "registry", registry)  # a Workspace works too
    return registry.spec(family)


def _fmt(number: float) -> str:
    if float(number).is_integer() and abs(number) < 1e15:
        return str(int(number))
    return f"{number:g}"
