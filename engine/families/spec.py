"""The family.json schema: read without torch, so forms can be built before torch loads."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from engine.errors import FamilyError, ParameterError
from engine.params import Bounds, ParameterSpec
from engine.training.config import training_specs


class SweepCollapse(BaseModel):
    """Parameters a sweep stops varying when another has a given value: in linear-baseline
    mode an MLP has no hidden layers, so their lists do not multiply the grid."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    when: str
    equals: Any
    ignore: list[str]


# A family's name is a folder under variants/ and starts its sweeps' ids.
MAX_FAMILY_NAME_BYTES = 100
# Sweep-only names: `test_size` sweeps `1 - training_fraction`.
SWEEP_ONLY_PARAMETERS = frozenset({"test_size"})


class FamilySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    display_name: str
    description: str = ""
    architecture: str = ""
    task_type: Literal["classification", "regression", "dataset"] = "classification"
    implementation: str | None = None  # "module:Class" for built-ins; else family.py's `Family`
    seed_parameter: str = "seed"
    domain_parameters: list[ParameterSpec]
    variant_pattern: str
    training_defaults: dict[str, Any] = {}
    analyses: list[str] = ["parameter_norm"]
    # Sweep ranges narrower than the parameters' own (seed 001: epochs 1-500 for the MLP).
    sweep_bounds: dict[str, Bounds] = {}
    sweep_collapse: SweepCollapse | None = None
    # The space a random, TPE or LLM search explores when given no lists or ranges: sweep
    # names -> "LO..HI[:log]" or a list of values, checked like -g values when a search runs.
    search_space: dict[str, str | list[Any]] = {}

    @model_validator(mode="after")
    def _check(self) -> FamilySpec:
        if not self.name.isidentifier():
            raise ValueError(f"name {self.name!r} must be a Python identifier")
        if len(self.name.encode()) > MAX_FAMILY_NAME_BYTES:
            raise ValueError(f"name must be at most {MAX_FAMILY_NAME_BYTES} bytes long")
        names = {p.name for p in self.domain_parameters}
        fields = {f for _, f, _, _ in string.Formatter().parse(self.variant_pattern) if f}
        unknown = fields - names
        if unknown:
            raise ValueError(
                f"variant_pattern uses unknown parameter(s) {', '.join(sorted(unknown))}"
            )
        if self.seed_parameter not in names:
            raise ValueError(f"seed_parameter {self.seed_parameter!r} is not a domain parameter")
        for spec in self.domain_parameters:
            spec.validate_value(spec.default)
        try:
            self.variant_pattern.format(**{p.name: p.default for p in self.domain_parameters})
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ValueError(f"variant_pattern cannot be filled in: {exc}") from None
        training = {p.name for p in training_specs(self.training_defaults)}  # unknown names raise
        known = names | training | SWEEP_ONLY_PARAMETERS
        unknown = sorted((set(self.sweep_bounds) | set(self.search_space)) - known)
        if unknown:
            raise ValueError(
                f"sweep_bounds or search_space names unknown parameter(s) {', '.join(unknown)}"
            )
        _check_conditions(self.domain_parameters)
        if self.sweep_collapse is not None:
            rule = self.sweep_collapse
            missing = sorted({rule.when, *rule.ignore} - names)
            if missing:
                raise ValueError(f"sweep_collapse names unknown parameter(s) {', '.join(missing)}")
        return self

    def pattern_fields(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.variant_pattern) if f}

    def training_parameters(self) -> list[ParameterSpec]:
        return training_specs(self.training_defaults)


def _check_conditions(specs: list[ParameterSpec]) -> None:
    """Each `applies_when` names other domain parameters and valid values of them, and no
    parameter depends on itself through others (a cycle would leave nothing to decide it)."""
    by_name = {spec.name: spec for spec in specs}
    for spec in specs:
        where = f"domain_parameters.{spec.name}.applies_when"
        for name, values in (spec.applies_when or {}).items():
            if name == spec.name:
                raise ValueError(f"{where}: {name} cannot depend on itself")
            if name not in by_name:
                known = ", ".join(n for n in by_name if n != spec.name)
                raise ValueError(f"{where}: unknown parameter {name!r}; known: {known}")
            if not values:
                raise ValueError(f"{where}.{name}: lists no value")
            for value in values:
                try:
                    by_name[name].validate_value(value)
                except ParameterError as exc:
                    raise ValueError(f"{where}.{name}: {exc.message}") from None
    for spec in specs:
        chain = _cycle(spec.name, by_name, [])
        if chain:
            where = f"domain_parameters.{spec.name}.applies_when"
            raise ValueError(f"{where}: a cycle: {' → '.join(chain)}")


def _cycle(name: str, by_name: dict[str, ParameterSpec], path: list[str]) -> list[str]:
    """The names of a cycle of `applies_when` through `name` ([] when there is none)."""
    if name in path:
        return [*path[path.index(name) :], name]
    for controller in by_name[name].applies_when or {}:
        found = _cycle(controller, by_name, [*path, name])
        if found:
            return found
    return []


def load_family_spec(path: Path | Any) -> FamilySpec:
    """Parse a family.json (a Path or importlib Traversable) with a message naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise FamilyError(f"{path}: cannot read family.json: not a UTF-8 text file") from None
    except RecursionError:
        raise FamilyError(f"{path}: cannot read family.json: nested too deeply") from None
    except (OSError, ValueError, MemoryError) as exc:
        raise FamilyError(f"{path}: cannot read family.json: {exc}") from None
    try:
        return FamilySpec.model_validate(data)
    except RecursionError:
        raise FamilyError(f"{path}: family.json is nested too deeply") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "family.json"
        error = first.get("ctx", {}).get("error")
        if first["type"] == "value_error" and not first["loc"] and error is not None:
            # A whole-file check: its message says which field (no "Value error, " prefix).
            raise FamilyError(f"{path}: {error}") from None
        raise FamilyError(f"{path}: {where}: {first['msg']}") from None
