"""A sweep's specification and its combinations: the Cartesian product of the swept lists.

Order: parameters in the family's schema order (domain, then training; see sweep_schema),
values in the order typed; the last parameter varies fastest (itertools.product). So the
same lists give the same combinations in the same order however they were entered.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.families.spec import FamilySpec
from engine.sweeps.errors import SweepError
from engine.sweeps.schema import SweepParameter, collapse_rule, family_spec, sweep_schema

MAX_COMBINATIONS = 1000


class SweepSpec(BaseModel):
    """What a sweep runs: a family, fixed domain and training values, and swept lists."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    domain: dict[str, Any] = {}
    training: dict[str, Any] = {}
    grid: dict[str, list[Any]]  # sweep name -> values, in schema order
    parallel: int = 1


class SweepPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    spec: SweepSpec
    combinations: list[dict[str, Any]]
    ignored: list[str] = []  # swept names that do not multiply the grid (linear baseline)

    @property
    def total(self) -> int:
        return len(self.combinations)


def parse_grid(spec: FamilySpec, grid: Mapping[str, str | list[Any]]) -> dict[str, list[Any]]:
    """Validate every list (first problem raises SweepError with the validator's message)
    and order the grid by the family's sweep schema."""
    schema = sweep_schema(spec)
    parsed: dict[str, list[Any]] = {}
    for name, text in grid.items():
        if name not in schema:
            known = ", ".join(schema)
            raise SweepError(f"{spec.name} cannot sweep {name!r}; it can sweep: {known}")
        answer = schema[name].parse_list(text)
        if not answer.ok:
            raise SweepError(answer.error or f"invalid list for {name}")
        parsed[name] = list(answer.values or [])
    targets: dict[str, str] = {}
    for name in parsed:
        target = schema[name].target
        if target in targets:
            raise SweepError(
                f"{schema[name].label} and {schema[targets[target]].label} set the "
                "same value; sweep only one of them"
            )
        targets[target] = name
    if not parsed:
        raise SweepError(
            "a sweep needs at least one parameter with a list of values (-g NAME=V1,V2)"
        )
    return {name: parsed[name] for name in schema if name in parsed}


def count_combinations(
    spec: FamilySpec, grid: Mapping[str, list[Any]], domain: Mapping[str, Any] | None = None
) -> int:
    """How many runs the grid makes, without listing them (for a live count in a form)."""
    collapse = collapse_rule(spec)
    sizes = {name: len(values) for name, values in grid.items()}
    if collapse is None:
        return math.prod(sizes.values())
    switch, when, names = collapse
    collapsed = [n for n in names if n in grid]
    others = math.prod(n for k, n in sizes.items() if k not in collapsed and k != switch)
    full = math.prod(sizes[n] for n in collapsed)
    switch_values = grid.get(switch, [_fixed(spec, domain or {}, switch)])
    return others * sum(1 if value == when else full for value in switch_values)


def combinations(
    spec: FamilySpec, grid: Mapping[str, list[Any]], domain: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every distinct combination, in order; collapsed parameters are left out of a
    combination in which they do not apply (the family records its fixed values)."""
    collapse = collapse_rule(spec)
    names = list(grid)
    out: list[dict[str, Any]] = []
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for values in itertools.product(*(grid[n] for n in names)):
        combo = dict(zip(names, values, strict=True))
        if collapse is not None:
            switch, when, collapsed = collapse
            if combo.get(switch, _fixed(spec, domain or {}, switch)) == when:
                combo = {k: v for k, v in combo.items() if k not in collapsed}
        key = tuple((k, repr(v)) for k, v in combo.items())
        if key not in seen:
            seen.add(key)
            out.append(combo)
    return out


def ignored_parameters(
    spec: FamilySpec, grid: Mapping[str, list[Any]], domain: Mapping[str, Any]
) -> list[str]:
    collapse = collapse_rule(spec)
    if collapse is None or collapse[0] in grid or _fixed(spec, domain, collapse[0]) != collapse[1]:
        return []
    return [n for n in collapse[2] if n in grid]


def plan_sweep(
    registry: Any,
    family: str,
    grid: Mapping[str, str | list[Any]],
    domain: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
    *,
    parallel: int = 1,
    max_combinations: int = MAX_COMBINATIONS,
) -> SweepPlan:
    """Validate a sweep and list its combinations; SweepError (or ParameterError for a fixed
    value) says what is wrong. `registry` is a FamilyRegistry or a Workspace."""
    registry = getattr(registry, "registry", registry)
    spec = family_spec(family, registry)
    domain, training = dict(domain or {}), dict(training or {})
    parsed = parse_grid(spec, grid)
    schema = sweep_schema(spec)
    for name in parsed:
        param = schema[name]
        fixed = domain if param.section == "domain" else training
        if param.target in fixed:
            raise SweepError(f"{param.label} is both swept and fixed; give it one way only")
    if parallel < 1:
        raise SweepError(f"parallel runs must be at least 1, not {parallel}")
    total = count_combinations(spec, parsed, domain)
    if total > max_combinations:
        raise SweepError(
            f"This sweep would run {total} combinations; at most {max_combinations} are "
            "allowed. Shorten some lists."
        )
    registry.resolve_config(family, domain, training)  # fixed values are checked up front
    sweep_spec = SweepSpec(
        family=family, domain=domain, training=training, grid=parsed, parallel=parallel
    )
    return SweepPlan(
        spec=sweep_spec,
        combinations=combinations(spec, parsed, domain),
        ignored=ignored_parameters(spec, parsed, domain),
    )


def combination_config(
    schema: Mapping[str, SweepParameter], spec: SweepSpec, combo: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The domain and training values of one combination (fixed values plus swept ones)."""
    domain, training = dict(spec.domain), dict(spec.training)
    for name, value in combo.items():
        param = schema[name]
        section = domain if param.section == "domain" else training
        section[param.target] = param.config_value(value)
    return domain, training


def _fixed(spec: FamilySpec, domain: Mapping[str, Any], name: str) -> Any:
    if name in domain:
        return domain[name]
    return next((p.default for p in spec.domain_parameters if p.name == name), None)
