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

from engine.errors import ParameterError
from engine.families.spec import FamilySpec
from engine.params import inapplicable
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
    """How many runs the grid makes, without listing them (for a live count in a form): for
    each distinct case of the parameters that decide what applies, the product of the lists
    that apply in it."""
    deciding = _deciding(spec)
    total = 0
    for dropped in _cases(spec, grid, domain or {}).values():
        total += math.prod(
            len(values) for name, values in grid.items() if name not in deciding | dropped
        )
    return total


def combinations(
    spec: FamilySpec, grid: Mapping[str, list[Any]], domain: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every distinct combination, in order. A parameter that does not apply in a
    combination is left out of it: one whose `applies_when` fails there (resolution gives it
    its default), or one the family's `sweep_collapse` stops varying (the family records
    its fixed values)."""
    names = list(grid)
    base = _domain_values(spec, domain or {})
    domain_names = {p.name for p in spec.domain_parameters}
    out: list[dict[str, Any]] = []
    seen: set[tuple[tuple[str, Any], ...]] = set()
    for values in itertools.product(*(grid[n] for n in names)):
        combo = dict(zip(names, values, strict=True))
        effective = {**base, **{k: v for k, v in combo.items() if k in domain_names}}
        dropped = _dropped(spec, effective)
        if dropped:
            combo = {k: v for k, v in combo.items() if k not in dropped}
        key = tuple((k, repr(v)) for k, v in combo.items())
        if key not in seen:
            seen.add(key)
            out.append(combo)
    return out


def ignored_parameters(
    spec: FamilySpec, grid: Mapping[str, list[Any]], domain: Mapping[str, Any]
) -> list[str]:
    """Swept names the family's `sweep_collapse` leaves out of every combination (a linear
    baseline's hidden_dim): noted, not refused."""
    collapse = collapse_rule(spec)
    if collapse is None or collapse[0] in grid or _fixed(spec, domain, collapse[0]) != collapse[1]:
        return []
    return [n for n in collapse[2] if n in grid]


def never_applying(
    spec: FamilySpec, grid: Mapping[str, list[Any]], domain: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(name, why) for each swept or fixed domain parameter that applies in none of the
    combinations (`depth` listed with architecture simple_cnn only): refused, as a value
    given for a parameter that does not apply is refused for one run."""
    by_name = {p.name: p for p in spec.domain_parameters}
    fixed = [n for n in domain if n in by_name and domain[n] != by_name[n].default]
    given = [n for n in dict.fromkeys([*grid, *fixed]) if n in by_name and by_name[n].applies_when]
    if not given:
        return []
    cases = _controller_cases(spec, grid, _domain_values(spec, domain))
    out = []
    for name in given:
        if all(name in _inapplicable_names(spec, effective) for effective in cases):
            effective = cases[0]
            why = by_name[name].not_applying(effective)
            controllers = [n for n in by_name[name].applies_when or {} if n in grid]
            if controllers and why.endswith(")"):
                why = why[:-1] + " in every combination)"
            out.append((name, why))
    return out


def _deciding(spec: FamilySpec) -> set[str]:
    """The domain parameters whose values decide whether others apply."""
    names = {n for p in spec.domain_parameters for n in p.applies_when or {}}
    collapse = collapse_rule(spec)
    return names | ({collapse[0]} if collapse is not None else set())


def _controller_cases(
    spec: FamilySpec, grid: Mapping[str, list[Any]], base: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The domain values of each combination of the swept deciding parameters (the rest as
    fixed or default): few, whatever the other lists are."""
    swept = [n for n in grid if n in _deciding(spec)]
    return [
        {**base, **dict(zip(swept, values, strict=True))}
        for values in itertools.product(*(grid[n] for n in swept))
    ]


def _cases(
    spec: FamilySpec, grid: Mapping[str, list[Any]], domain: Mapping[str, Any]
) -> dict[tuple[tuple[str, str], ...], set[str]]:
    """Each distinct case of the swept deciding parameters (those that apply in it, with
    their values) and the names dropped in it."""
    out: dict[tuple[tuple[str, str], ...], set[str]] = {}
    for effective in _controller_cases(spec, grid, _domain_values(spec, domain)):
        dropped = _dropped(spec, effective)
        key = tuple(
            (n, repr(effective[n])) for n in grid if n in _deciding(spec) and n not in dropped
        )
        out.setdefault(key, dropped)
    return out


def _dropped(spec: FamilySpec, values: Mapping[str, Any]) -> set[str]:
    """The domain parameters that do not apply given every domain value `values`."""
    dropped = _inapplicable_names(spec, values)
    collapse = collapse_rule(spec)
    if collapse is not None and values.get(collapse[0]) == collapse[1]:
        dropped |= set(collapse[2])
    return dropped


def _inapplicable_names(spec: FamilySpec, values: Mapping[str, Any]) -> set[str]:
    return {p.name for p in inapplicable(spec.domain_parameters, values)}


def _domain_values(spec: FamilySpec, domain: Mapping[str, Any]) -> dict[str, Any]:
    """Every domain parameter's value: fixed, else its default."""
    return {p.name: domain.get(p.name, p.default) for p in spec.domain_parameters}


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
    for name, why in never_applying(spec, parsed, domain):
        raise ParameterError(name, why)
    total = count_combinations(spec, parsed, domain)
    if total > max_combinations:
        raise SweepError(
            f"This sweep would run {total} combinations; at most {max_combinations} are "
            "allowed. Shorten some lists."
        )
    # Fixed values are checked up front; one that applies in only some combinations (depth
    # with architecture swept) is not refused for the combinations where it does not.
    registry.resolve_config(family, domain, training, explicit=())
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
