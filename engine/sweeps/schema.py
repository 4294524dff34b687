"""Which parameters a sweep can vary, their bounds and labels, and the list validators.

A swept parameter's values are typed as text, e.g. `epochs = "10, 50, 100"` (commas and/or
spaces separate them). `SweepParameter.parse_list(text)` answers `SweepValues(ok=True,
values=[...])` or `SweepValues(ok=False, error=...)` with a message safe to show a user:

    Epoch values must be numbers: abc
    Epoch values must be whole numbers: 2.5
    Epoch out of range (1-500): 0                      both bounds allowed
    Test size out of range (0-1, exclusive): 1         neither bound allowed
    Learning rate out of range (0-1, excluding 0): 0   one bound not allowed

Nothing here declares a parameter: types, ranges and labels come from the family's parameter
schema (`ParameterSpec`), narrowed by the family's own `sweep_bounds` (family.json: the `mlp`
family sweeps epochs over [1, 500], not the trainer's [1, 10^7]); tokens are read by the same
`ParameterSpec.read` as the forms and the CLI. `test_size` is a sweep-only name for
`1 - training_fraction`. Importing this module does not import torch.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.params import ParameterSpec, ValueProblem
from engine.training.config import EXECUTION_PARAMETERS

if TYPE_CHECKING:
    from engine.families.spec import FamilySpec

TEST_SIZE = "test_size"
_SPLIT = re.compile(r"[,\s]+")
_PROBLEM_WORDS = {
    "not_number": "must be numbers",
    "not_whole": "must be whole numbers",
    "not_bool": "must be true or false",
    "not_duration": "must be durations such as 90s, 20m or 2h",
}


class SweepValues(BaseModel):
    """A validator's answer: `ok` with the parsed `values`, or not `ok` with an `error`."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    values: list[Any] | None = None
    error: str | None = None


class SweepParameter(BaseModel):
    """One sweepable parameter: its spec (with the family's sweep bounds), where it goes in
    the config (test_size -> training_fraction) and in which section."""

    model_config = ConfigDict(frozen=True)

    spec: ParameterSpec
    target: str  # the config field it sets (test_size -> training_fraction)
    section: Literal["domain", "training"]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        return self.spec.sweep_display_label

    @property
    def type(self) -> str:
        return "choice" if self.spec.choices is not None else self.spec.type

    @property
    def choices(self) -> list[Any] | None:
        return self.spec.choices

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
            try:
                value = self._parse(token)
            except _Refused as refused:
                return SweepValues(ok=False, error=str(refused))
            if value in values:
                return SweepValues(ok=False, error=f"{self.label} values must not repeat: {token}")
            values.append(value)
        return SweepValues(ok=True, values=values)

    def _parse(self, token: str) -> Any:
        spec = self.spec
        try:
            value = spec.read(token)
        except ValueProblem as problem:
            words = _PROBLEM_WORDS.get(problem.kind)
            if words is None:
                raise _Refused(self._not_allowed(token)) from None
            raise _Refused(f"{self.label} values {words}: {token}") from None
        if spec.choices is not None and value not in spec.choices:
            raise _Refused(self._not_allowed(token))
        if spec.type in ("int", "float", "duration") and not spec.in_range(value):
            raise _Refused(f"{self.label} out of range {spec.range_text()}: {token}")
        return value

    def _not_allowed(self, token: str) -> str:
        allowed = ", ".join(str(c) for c in self.spec.choices or [])
        return f"{self.label} value not allowed: {token} (allowed: {allowed})"

    def in_range(self, value: float) -> bool:
        return self.spec.in_range(value)

    def range_text(self) -> str:
        return self.spec.range_text()

    # ---- into a config -----------------------------------------------------------------------
    def config_value(self, value: Any) -> Any:
        """The value for `target` (test_size 0.2 -> training_fraction 0.8)."""
        if self.name == TEST_SIZE:
            return round(1.0 - value, 12)
        return value

    def from_config(self, value: Any) -> Any:
        return self.config_value(value)


class _Refused(ValueError):
    """A token a sweep list cannot take; the message is seed 001's, ready to show."""


def sweep_schema(spec: FamilySpec) -> dict[str, SweepParameter]:
    """Sweepable parameters of a family, in the order combinations vary them (domain first,
    then training; the last varies fastest). Execution settings (device, threads) and list
    parameters are not sweepable."""
    bounds = spec.sweep_bounds
    out: dict[str, SweepParameter] = {}
    for p in spec.domain_parameters:
        if p.type != "int_list" and not p.optional:
            out[p.name] = SweepParameter(
                spec=p.bounded(bounds.get(p.name)), target=p.name, section="domain"
            )
    for p in spec.training_parameters():
        if p.name in EXECUTION_PARAMETERS or p.type == "int_list" or p.optional:
            continue
        if p.name == "training_fraction":
            test = p.model_copy(update={"name": TEST_SIZE, "label": "Test size"})
            out[TEST_SIZE] = SweepParameter(
                spec=test.bounded(bounds.get(TEST_SIZE)), target=p.name, section="training"
            )
        out[p.name] = SweepParameter(
            spec=p.bounded(bounds.get(p.name)), target=p.name, section="training"
        )
    return out


def collapse_rule(spec: FamilySpec) -> tuple[str, Any, tuple[str, ...]] | None:
    """(switch, value, parameters) from the family's `sweep_collapse`, or None."""
    rule = spec.sweep_collapse
    return None if rule is None else (rule.when, rule.equals, tuple(rule.ignore))


def sweep_label(spec: FamilySpec, name: str) -> str:
    """The words a user reads for a swept parameter (its name if the family has none)."""
    parameter = sweep_schema(spec).get(name)
    return parameter.label if parameter is not None else name


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
