"""A sweep's specification and its combinations: the Cartesian product of the swept lists.

Order: parameters in the family's schema order (domain, then training; see sweep_schema),
values in the order typed; the last parameter varies fastest (itertools.product). So the
same lists give the same combinations in the same order however they were entered.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.errors import ParameterError
from engine.families.spec import FamilySpec
from engine.params import inapplicable
from engine.sweeps.endpoint import LlmSettings
from engine.sweeps.errors import SweepError
from engine.sweeps.schema import (
    SweepParameter,
    SweepValues,
    collapse_rule,
    family_spec,
    sweep_schema,
)

MAX_COMBINATIONS = 1000
SEARCH_KINDS = ("grid", "random", "tpe", "llm")
PRUNERS = ("none", "median", "hyperband")
DEFAULT_TRIALS = 20
RANGE = re.compile(
    r"^\s*(?P<low>[^.\s][^\s]*?)\s*\.\.\s*(?P<high>[^\s:]+)\s*(?::(?P<log>log))?\s*$"
)


class Range(BaseModel):
    """A searched interval `low..high` of a number parameter (`log`: sampled on a log scale,
    for learning-rate-like parameters)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    low: float
    high: float
    log: bool = False
    integer: bool = False


class SweepSpec(BaseModel):
    """What a sweep runs: a family, fixed domain and training values, and swept lists; for a
    random, TPE or LLM search also ranges, a trial budget, the objective, pruning, a seed, a
    target to stop at, and for an LLM search the endpoint asked (never its key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    domain: dict[str, Any] = {}
    training: dict[str, Any] = {}
    grid: dict[str, list[Any]]  # sweep name -> values, in schema order
    parallel: int = 1
    search: Literal["grid", "random", "tpe", "llm"] = "grid"
    ranges: dict[str, Range] = {}  # searched intervals (searches only)
    trials: int | None = None  # searches: how many trials at most
    objective: str | None = None  # searches: "METRIC:max" or "METRIC:min"
    prune: Literal["none", "median", "hyperband"] = "none"
    seed: int = 0  # the sampler's seed (an LLM search sends it with each request)
    target: float | None = None  # searches: stop once the best objective reaches this
    llm: LlmSettings | None = None  # an LLM search's endpoint

    def reached(self, objective: float | None) -> bool:
        """Whether a trial's objective meets the target (never without one)."""
        if self.target is None or objective is None:
            return False
        if (self.objective or "").endswith(":max"):
            return objective >= self.target
        return objective <= self.target

    @property
    def searched(self) -> bool:
        return self.search != "grid"

    def swept_names(self) -> list[str]:
        """Every swept name: the lists, then the ranges."""
        return [*self.grid, *self.ranges]


class SweepPlan(BaseModel):
    model_config = ConfigDict(frozen=True)

    spec: SweepSpec
    combinations: list[dict[str, Any]]
    ignored: list[str] = []  # swept names that do not multiply the grid (linear baseline)

    @property
    def total(self) -> int:
        """Runs the sweep makes: its combinations, or a search's trials."""
        return int(self.spec.trials or 0) if self.spec.searched else len(self.combinations)


def parse_grid(spec: FamilySpec, grid: Mapping[str, str | list[Any]]) -> dict[str, list[Any]]:
    """Validate every list (first problem raises SweepError with the validator's message)
    and order the grid by the family's sweep schema."""
    lists, _ranges = parse_space(spec, grid, search="grid")
    return lists


def parse_space(
    spec: FamilySpec, grid: Mapping[str, str | list[Any] | Range], *, search: str
) -> tuple[dict[str, list[Any]], dict[str, Range]]:
    """The lists and (for a random or TPE search) the ranges `lo..hi[:log]`, each checked
    against the parameter's type and bounds with the list validator's messages, in the
    family's sweep-schema order."""
    schema = sweep_schema(spec)
    parsed: dict[str, list[Any]] = {}
    ranges: dict[str, Range] = {}
    for name, text in grid.items():
        if name not in schema:
            known = ", ".join(schema)
            raise SweepError(f"{spec.name} cannot sweep {name!r}; it can sweep: {known}")
        given = _range_of(schema[name], text)
        if given is not None:
            if search == "grid":
                raise SweepError(
                    f"{schema[name].label}: a range ({text}) needs --search random, tpe or llm; "
                    "a grid sweep takes lists (V1,V2,...)"
                )
            ranges[name] = given
            continue
        answer = schema[name].parse_list(text)  # type: ignore[arg-type]
        if not answer.ok:
            raise SweepError(answer.error or f"invalid list for {name}")
        parsed[name] = list(answer.values or [])
    targets: dict[str, str] = {}
    for name in [*parsed, *ranges]:
        target = schema[name].target
        if target in targets:
            raise SweepError(
                f"{schema[name].label} and {schema[targets[target]].label} set the "
                "same value; sweep only one of them"
            )
        targets[target] = name
    if not parsed and not ranges:
        raise SweepError(
            "a sweep needs at least one parameter with a list of values (-g NAME=V1,V2)"
        )
    ordered = {name: parsed[name] for name in schema if name in parsed}
    return ordered, {name: ranges[name] for name in schema if name in ranges}


def default_space(
    spec: FamilySpec, domain: Mapping[str, Any], training: Mapping[str, Any]
) -> dict[str, str | list[Any]]:
    """The family's `search_space` less the parameters fixed by `domain` or `training` (a
    search given no lists or ranges explores it)."""
    schema = sweep_schema(spec)
    fixed = {name for name in domain} | {name for name in training}
    return {
        name: values
        for name, values in spec.search_space.items()
        if name not in schema or schema[name].target not in fixed
    }


def is_range_text(text: object) -> bool:
    """Whether `text` is written as a range `lo..hi[:log]` (not whether it is a valid one)."""
    return isinstance(text, str) and RANGE.match(text) is not None


def validate_sweep_range(
    name: str, text: str, family: str | FamilySpec = "mlp", *, registry: Any = None
) -> SweepValues:
    """Check a range `lo..hi[:log]` for a random or TPE search (the forms' live check):
    ok with values [low, high], or the rule it breaks."""
    spec = family_spec(family, registry)
    schema = sweep_schema(spec)
    if name not in schema:
        return SweepValues(ok=False, error=f"{spec.name} cannot sweep {name!r}")
    try:
        given = _range_of(schema[name], text)
    except SweepError as exc:
        return SweepValues(ok=False, error=str(exc))
    if given is None:
        return SweepValues(ok=False, error=f"{schema[name].label}: not a range (LO..HI[:log])")
    return SweepValues(ok=True, values=[given.low, given.high])


def _range_of(parameter: SweepParameter, text: Any) -> Range | None:
    """A `lo..hi[:log]` range checked like a list of its two ends, or None for a list."""
    if isinstance(text, Range):
        return text
    match = RANGE.match(text) if isinstance(text, str) else None
    if match is None:
        return None
    label = parameter.label
    if parameter.choices is not None or parameter.type not in ("int", "float"):
        raise SweepError(f"{label} takes a list of values, not a range: {text.strip()}")
    ends = parameter.parse_list(f"{match['low']}, {match['high']}")
    if not ends.ok:
        same = match["low"] == match["high"]
        raise SweepError(
            f"{label}: a range needs two different ends: {text.strip()}"
            if same
            else (ends.error or f"invalid range for {parameter.name}")
        )
    low, high = (float(v) for v in ends.values or [])
    if low >= high:
        raise SweepError(f"{label}: a range goes from low to high: {text.strip()}")
    log = match["log"] is not None
    if log and low <= 0:
        raise SweepError(f"{label}: a :log range needs a low end above 0: {text.strip()}")
    return Range(low=low, high=high, log=log, integer=parameter.type == "int")


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
    search: str = "grid",
    trials: int | None = None,
    objective: str | None = None,
    prune: str = "none",
    seed: int = 0,
    target: float | None = None,
    llm: LlmSettings | None = None,
) -> SweepPlan:
    """Validate a sweep and list its combinations (a search's are drawn as it runs);
    SweepError (or ParameterError for a fixed value) says what is wrong. `registry` is a
    FamilyRegistry or a Workspace. A search given no lists or ranges searches the family's
    `search_space` (family.json). An LLM search needs `llm`, an endpoint that is set."""
    registry = getattr(registry, "registry", registry)
    spec = family_spec(family, registry)
    domain, training = dict(domain or {}), dict(training or {})
    _check_search(search, trials, prune, objective, max_combinations, target)
    if search == "llm":
        llm = (llm or LlmSettings()).require()
        if parallel != 1:
            raise SweepError(
                "an LLM search proposes each trial from the results before it, so it runs "
                f"one trial at a time: --parallel 1, not {parallel}"
            )
    else:
        llm = None
    if search != "grid" and not grid:
        grid = default_space(spec, domain, training)
        if not grid:
            raise SweepError(
                f"{spec.name} has no default search space: give lists or ranges "
                "(-g NAME=V1,V2 or -g NAME=LO..HI[:log])"
            )
    parsed, ranges = parse_space(spec, grid, search=search)
    schema = sweep_schema(spec)
    for name in [*parsed, *ranges]:
        param = schema[name]
        fixed = domain if param.section == "domain" else training
        if param.target in fixed:
            raise SweepError(f"{param.label} is both swept and fixed; give it one way only")
    if parallel < 1:
        raise SweepError(f"parallel runs must be at least 1, not {parallel}")
    every = {**parsed, **{name: [r.low] for name, r in ranges.items()}}
    for name, why in never_applying(spec, every, domain):
        raise ParameterError(name, why)
    if search == "grid":
        total = count_combinations(spec, parsed, domain)
        if total > max_combinations:
            raise SweepError(
                f"This sweep would run {total} combinations; at most {max_combinations} are "
                "allowed. Shorten some lists."
            )
    # Fixed values are checked up front; one that applies in only some combinations (depth
    # with architecture swept) is not refused for the combinations where it does not.
    registry.resolve_config(family, domain, training, explicit=())
    searched = search != "grid"
    sweep_spec = SweepSpec(
        family=family,
        domain=domain,
        training=training,
        grid=parsed,
        parallel=parallel,
        search=search,  # type: ignore[arg-type]
        ranges=ranges,
        trials=(trials or DEFAULT_TRIALS) if searched else None,
        objective=(
            check_objective(objective or default_objective(registry, family, domain))
            if searched
            else None
        ),
        prune=prune,  # type: ignore[arg-type]
        seed=seed,
        target=target,
        llm=llm,
    )
    return SweepPlan(
        spec=sweep_spec,
        combinations=[] if searched else combinations(spec, parsed, domain),
        ignored=ignored_parameters(spec, parsed, domain),
    )


OBJECTIVE_METRICS = {  # what a search can optimise, and which way by default
    "test_accuracy": "max",
    "test_r2": "max",
    "test_loss": "min",
    "test_mae": "min",
}


def check_objective(text: str) -> str:
    """`METRIC[:max|min]` as `METRIC:DIRECTION`, or SweepError naming what is allowed."""
    metric, _, direction = text.strip().partition(":")
    if metric not in OBJECTIVE_METRICS:
        known = ", ".join(OBJECTIVE_METRICS)
        raise SweepError(f"objective {text!r}: the metric must be one of {known}")
    direction = direction or OBJECTIVE_METRICS[metric]
    if direction not in ("max", "min"):
        raise SweepError(f"objective {text!r}: the direction is max or min, not {direction!r}")
    return f"{metric}:{direction}"


def default_objective(registry: Any, family: str, domain: Mapping[str, Any]) -> str:
    """test_accuracy:max for a classifier, test_loss:min otherwise (or when the family
    cannot tell without its data)."""
    try:
        resolved = registry.resolve_config(family, dict(domain), {}, explicit=())
        task = registry.family(family).task_type(dict(resolved.domain))
    except Exception:  # a family that needs its data to tell: the loss is always there
        task = None
    return "test_accuracy:max" if task == "classification" else "test_loss:min"


def _check_search(
    search: str,
    trials: int | None,
    prune: str,
    objective: str | None,
    max_trials: int,
    target: float | None = None,
) -> None:
    if search not in SEARCH_KINDS:
        raise SweepError(f"search {search!r} is not one of {', '.join(SEARCH_KINDS)}")
    if prune not in PRUNERS:
        raise SweepError(f"pruning {prune!r} is not one of {', '.join(PRUNERS)}")
    if search == "grid":
        for given, what in ((trials, "--trials"), (objective, "--objective"), (target, "--target")):
            if given is not None:
                raise SweepError(
                    f"{what} is for random, tpe and llm searches; a grid runs every list"
                )
        if prune != "none":
            raise SweepError("pruning is for random and tpe searches (--search random|tpe)")
    elif search == "llm" and prune != "none":
        raise SweepError(
            "pruning is for random and tpe searches: an LLM search trains each proposal in full"
        )
    if target is not None and not math.isfinite(target):
        raise SweepError(f"--target must be a finite number, not {target}")
    elif trials is not None and not 1 <= trials <= max_trials:
        raise SweepError(f"trials must be between 1 and {max_trials}, not {trials}")


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
