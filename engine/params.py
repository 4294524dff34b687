"""Typed parameter schemas: the one description that forms, the CLI and validation all read."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from engine.errors import ParameterError

ParamType = Literal["int", "float", "bool", "str", "choice", "int_list", "duration"]


class ValueProblem(ValueError):
    """Why a typed token is not a value of a parameter; `kind` lets each caller word it.

    The form and the CLI say "'abc' is not valid; allowed: a number"; a sweep list says
    "Epoch values must be numbers: abc" (seed 001's words). Both read tokens the same way.
    """

    def __init__(self, kind: ProblemKind, token: str) -> None:
        super().__init__(token)
        self.kind = kind
        self.token = token


ProblemKind = Literal[
    "not_number", "not_whole", "not_bool", "not_allowed", "not_valid", "not_duration"
]
TRUE_WORDS = ("true", "1", "yes", "on")
BOOL_WORDS = (*TRUE_WORDS, "false", "0", "no", "off")

# A duration's units, largest first: `1h30m` reads as 5400 seconds, `90s` as 90.
DURATION_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DURATION_EXAMPLE = "90s, 20m or 2h"
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([dhms])")
_DURATION_OFF = ("", "0", "off", "none")


def parse_duration(token: str) -> float:
    """Seconds from `90s`, `20m`, `2h`, `1h30m`, `1.5h`, `1d` or plain seconds (`45`); an
    empty token, `off` or `none` is 0 (no limit). ValueProblem("not_duration") otherwise.

    Units may be combined, each once and largest first, so `1h30m` is unambiguous; spaces
    between the parts are allowed (`1h 30m`)."""
    text = token.strip().lower()
    if text in _DURATION_OFF:
        return 0.0
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ValueProblem("not_duration", token.strip())
        return seconds
    compact = "".join(text.split())
    total, position, last_rank = 0.0, 0, -1
    order = list(DURATION_UNITS)
    for part in _DURATION_PART.finditer(compact):
        rank = order.index(part.group(2))
        if part.start() != position or rank <= last_rank:
            break
        total += float(part.group(1)) * DURATION_UNITS[part.group(2)]
        position, last_rank = part.end(), rank
    if position == 0 or position != len(compact):
        raise ValueProblem("not_duration", token.strip())
    return total


def duration_text(seconds: float) -> str:
    """The compact text of a duration, as a user would type it: 5400 → `1h30m`, 90 → `1m30s`,
    0.3 → `0.3s`, 0 → `0` (off). `parse_duration` reads it back to the same number."""
    if seconds == 0:
        return "0"
    if seconds < 0:
        return "-" + duration_text(-seconds)
    minutes = int(seconds // 60)
    rest = seconds - 60 * minutes  # exact: what is left below a whole minute
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    if rest or not text:
        shown = repr(float(rest)) if "e" not in repr(float(rest)) else f"{rest:.9f}"
        text += (shown.rstrip("0").rstrip(".") if "." in shown else shown) + "s"
    return text


class Bounds(BaseModel):
    """A numeric range; a family's family.json narrows a parameter's range for sweeps with one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False


class ParameterSpec(BaseModel):
    """One parameter as a family.json (or the trainer) declares it: the single declaration
    that the forms, the CLI, the trainer's config model and the sweep validators all read."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    type: ParamType
    default: Any = None
    min: float | None = None
    max: float | None = None
    min_exclusive: bool = False
    max_exclusive: bool = False
    choices: list[Any] | None = None
    help: str = ""
    label: str | None = None
    unit: str = ""  # shown after the field ("epochs", "steps"); empty for none
    sweep_label: str | None = None  # the subject of sweep messages ("Epoch out of range …")
    optional: bool = False  # None is an allowed value ("off", "auto")
    # The version that added this parameter. At its default it stays out of a config's
    # identity, so configs stored before it existed keep their hash and variant name.
    added_in: str | None = None
    # A richer editor than a text field: "dataset" is a picker over the dataset library.
    widget: Literal["dataset"] | None = None
    # With widget "dataset": the kinds of dataset it takes (None: every kind); the picker lists
    # only these, and the family refuses another kind by name.
    dataset_kinds: list[Literal["tabular", "images"]] | None = None
    # The parameter applies only when each named parameter has one of the listed values
    # ({"architecture": ["resnet"]}). Elsewhere it takes its default, so it never changes a
    # variant's identity; a form hides it, a sweep does not multiply its grid by it, and a
    # value given for it explicitly is refused (engine.resolution).
    applies_when: dict[str, list[Any]] | None = None
    # What 0 means ("native size", "full batch", "off"): a form shows it instead of a bare 0.
    zero_label: str | None = None

    @model_validator(mode="after")
    def _check_zero_label(self) -> ParameterSpec:
        if self.zero_label is not None and self.type not in ("int", "float", "duration"):
            raise ValueError(f"{self.name}: zero_label is for numbers, not {self.type}")
        return self

    @property
    def display_label(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    @property
    def sweep_display_label(self) -> str:
        return self.sweep_label or self.display_label

    def bounded(self, bounds: Bounds | None) -> ParameterSpec:
        """This parameter with a narrower range (a family's sweep bounds), or itself."""
        if bounds is None:
            return self
        return self.model_copy(update=bounds.model_dump(exclude_unset=True))

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether this parameter applies given the other parameters' `values` (a name left
        out of `values` does not restrict: the caller gives every value it knows)."""
        return not self.failed_conditions(values)

    def failed_conditions(self, values: Mapping[str, Any]) -> list[str]:
        """The names in `applies_when` whose value in `values` is not one of those listed."""
        return [
            name
            for name, allowed in (self.applies_when or {}).items()
            if name in values and values[name] not in allowed
        ]

    def condition_text(self) -> str:
        """`architecture is resnet`, `pooling is max or avg and batch_norm is true`: when the
        parameter applies, in words ("" when it always does)."""
        return " and ".join(
            f"{name} is " + " or ".join(_word(v) for v in allowed)
            for name, allowed in (self.applies_when or {}).items()
        )

    def condition_short(self) -> str:
        """`resnet only`, `architecture=resnet, pooling=max only`: the condition as a note
        after a parameter in a listing ("" when it always applies)."""
        rules = self.applies_when or {}
        if not rules:
            return ""
        if len(rules) == 1:
            ((_name, allowed),) = rules.items()
            if all(isinstance(v, str) for v in allowed):
                return " or ".join(allowed) + " only"
        parts = [
            f"{name}=" + "|".join(_word(v) for v in allowed) for name, allowed in rules.items()
        ]
        return ", ".join(parts) + " only"

    def not_applying(self, values: Mapping[str, Any]) -> str:
        """Why a value of this parameter is refused in `values`, in one line:
        `applies only when architecture is resnet (architecture is simple_cnn)`."""
        now = ", ".join(
            f"{name} is {_word(values[name])}" for name in self.failed_conditions(values)
        )
        return f"applies only when {self.condition_text()}" + (f" ({now})" if now else "")

    def allowed(self) -> str:
        """What values are allowed, in words, for error messages and tooltips (with what 0
        means, for a parameter that has a `zero_label`)."""
        text = self._allowed()
        return f"{text}, 0 = {self.zero_label}" if self.zero_label and self.in_range(0) else text

    def _allowed(self) -> str:
        if self.type == "bool":
            return "true or false"
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type == "duration":
            limit = f" up to {duration_text(self.max)}" if self.max is not None else ""
            return f"a duration such as {DURATION_EXAMPLE} (0 = off){limit}"
        kind = {"int": "an integer", "float": "a number", "str": "text", "int_list": "integers"}
        words = kind.get(self.type, self.type)
        lo = None if self.min is None else ("> " if self.min_exclusive else ">= ") + _fmt(self.min)
        hi = None if self.max is None else ("< " if self.max_exclusive else "<= ") + _fmt(self.max)
        bounds = " and ".join(b for b in (lo, hi) if b)
        if self.type == "int_list":
            words = "comma-separated integers" + (f" each {bounds}" if bounds else "")
            return words
        return f"{words} {bounds}".strip()

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

    def read(self, token: str) -> Any:
        """One typed token as a value of this type (no range or choice check), or ValueProblem.

        The one reader of typed text: `parse` (forms, CLI) and sweep lists both use it."""
        token = token.strip()
        if self.type == "duration":
            return parse_duration(token)
        if self.type in ("int", "float"):
            try:
                number = float(token)
            except ValueError:
                raise ValueProblem("not_number", token) from None
            if not math.isfinite(number):
                raise ValueProblem("not_number", token)
            if self.type == "float":
                return number
            if not number.is_integer():
                raise ValueProblem("not_whole", token)
            return int(number)
        if self.type == "bool":
            if token.lower() not in BOOL_WORDS:
                raise ValueProblem("not_bool", token)
            return token.lower() in TRUE_WORDS
        if self.type == "int_list":
            parts = [part for part in token.split(",") if part.strip()]
            item = self.model_copy(update={"type": "int"})
            return [item.read(part) for part in parts]
        if self.choices is not None:
            for choice in self.choices:
                if str(choice) == token:
                    return choice
            if not isinstance(self.choices[0], str):
                try:
                    return type(self.choices[0])(token)
                except ValueError:
                    raise ValueProblem("not_valid", token) from None
            return token
        return token

    def parse(self, text: str) -> Any:
        """Parse a value typed as text (CLI `-p name=value`, a line edit) and validate it."""
        text = text.strip()
        if self.optional and text.lower() in ("", "none", "off", "null"):
            return None
        try:
            value = self.read(text)
        except ValueProblem as problem:
            if problem.kind == "not_duration":
                raise ParameterError(
                    self.name, f"{text!r} is not a duration; write e.g. {DURATION_EXAMPLE}"
                ) from None
            raise ParameterError(
                self.name, f"{text!r} is not valid; allowed: {self.allowed()}"
            ) from None
        return self.validate_value(value)

    def validate_value(self, value: Any) -> Any:
        """Coerce a Python value to this type and check its range, or raise ParameterError."""
        if value is None:
            if self.optional:
                return None
            raise ParameterError(self.name, f"a value is required; allowed: {self.allowed()}")
        value = self._coerce(value)
        if self.choices is not None and value not in self.choices:
            raise ParameterError(self.name, f"{value!r} is not allowed; allowed: {self.allowed()}")
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int | float) and not isinstance(item, bool):
                self._check_range(item)
        return value

    def _coerce(self, value: Any) -> Any:
        bad = ParameterError(self.name, f"{value!r} is not valid; allowed: {self.allowed()}")
        if self.type == "int":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad
            if isinstance(value, float) and not value.is_integer():
                raise bad
            return int(value)
        if self.type == "duration" and isinstance(value, str):
            return self.parse(value)  # typed text: "20m"
        if self.type in ("float", "duration"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad
            if not math.isfinite(value):
                raise bad
            return float(value)
        if self.type == "bool":
            if not isinstance(value, bool):
                raise bad
            return value
        if self.type == "int_list":
            if isinstance(value, str):
                return self.parse(value)
            if not isinstance(value, list | tuple) or any(
                isinstance(v, bool) or not isinstance(v, int) for v in value
            ):
                raise bad
            return list(value)
        if self.type == "str" and not isinstance(value, str):
            raise bad
        return value

    def in_range(self, value: float) -> bool:
        too_low = self.min is not None and (
            value <= self.min if self.min_exclusive else value < self.min
        )
        too_high = self.max is not None and (
            value >= self.max if self.max_exclusive else value > self.max
        )
        return not (too_low or too_high)

    def _check_range(self, value: float) -> None:
        if not self.in_range(value):
            shown = duration_text(value) if self.type == "duration" else repr(value)
            raise ParameterError(self.name, f"{shown} is out of range; allowed: {self.allowed()}")

    def show(self, value: Any) -> str:
        """A value as the user reads and types it (what `parse` reads back): a duration in
        its compact text (1200.0 → `20m`), a list comma-separated, anything else as text."""
        if (
            self.type == "duration"
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return duration_text(float(value))
        if isinstance(value, list | tuple):
            return ", ".join(str(item) for item in value)
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "none"
        if isinstance(value, float):
            return _fmt(value) if value.is_integer() else repr(value)
        return str(value)


def inapplicable(specs: list[ParameterSpec], values: Mapping[str, Any]) -> list[ParameterSpec]:
    """The parameters of `specs` that do not apply given `values` (every parameter's value):
    their `applies_when` fails, or a parameter it names does not apply itself (pool_size
    "when pooling is max" does not apply where pooling does not). Specs order."""
    by_name = {spec.name: spec for spec in specs}
    known: dict[str, bool] = {}

    def applies(spec: ParameterSpec, seen: frozenset[str]) -> bool:
        if spec.name not in known:
            if spec.name in seen:  # a cycle (a family.json refuses them): let it apply
                return True
            controllers = [by_name[n] for n in spec.applies_when or {} if n in by_name]
            inner = seen | {spec.name}
            known[spec.name] = spec.applies(values) and all(applies(c, inner) for c in controllers)
        return known[spec.name]

    return [spec for spec in specs if not applies(spec, frozenset())]


def applicable_values(
    specs: list[ParameterSpec], values: Mapping[str, Any]
) -> tuple[dict[str, Any], list[ParameterSpec]]:
    """`values` with every parameter that does not apply set to its default (what is
    computed does not depend on it, so neither does the identity), and those parameters."""
    skipped = inapplicable(specs, values)
    out = dict(values)
    for spec in skipped:
        out[spec.name] = spec.default
    return out, skipped


def validate_values(
    specs: list[ParameterSpec], values: dict[str, Any], *, kind: str
) -> dict[str, Any]:
    """Defaults overlaid with `values`, each validated; unknown names are refused."""
    by_name = {spec.name: spec for spec in specs}
    for name in values:
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            raise ParameterError(name, f"unknown {kind} parameter; known: {known}")
    resolved = {}
    for spec in specs:
        raw = values.get(spec.name, spec.default)
        resolved[spec.name] = spec.validate_value(raw)
    return resolved


def parse_assignments(
    specs: list[ParameterSpec], assignments: list[str], *, kind: str
) -> dict[str, Any]:
    """Parse `NAME=VALUE` strings against `specs` (typed, range-checked)."""
    by_name = {spec.name: spec for spec in specs}
    parsed: dict[str, Any] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(item, f"expected NAME=VALUE for a {kind} parameter")
        if name not in by_name:
            known = ", ".join(sorted(by_name))
            raise ParameterError(name, f"unknown {kind} parameter; known: {known}")
        parsed[name] = by_name[name].parse(text)
    return parsed


def _word(value: Any) -> str:
    """A value as a condition reads it: `resnet`, `true`, `3`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _fmt(value) if isinstance(value, float) else str(value)


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() and abs(number) < 1e15 else f"{number:g}"


__all__ = [
    "Bounds",
    "ParameterSpec",
    "ValueProblem",
    "applicable_values",
    "duration_text",
    "inapplicable",
    "parse_assignments",
    "parse_duration",
    "validate_values",
]
