"""Resolving parameters: what the form, the CLI and the sweep planner all ask before a run.

`resolve_parameters` takes the values a user gave (typed, not yet validated) and answers, in
one synchronous call that imports no torch:

- the effective default of every parameter and where it comes from — the parameter's own
  schema, the family (family.json), the dataset (a family's domain-dependent defaults, e.g.
  two_moons trains 20 epochs at lr 1e-2) or the preferences (threads, device);
- an error per field, in the order a user reads the form (unknown names first), including
  a `loss` that does not serve the family's task type (engine.training.losses);
- the resolved `RunConfig` (variant name and config hash included) when nothing is wrong.

The GUI shows the defaults at once, with their origin as a hint, and never overwrites what
the user typed; `FamilyRegistry.resolve_config` is this with the first error raised.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.errors import ParameterError
from engine.hashing import config_hash
from engine.names import VARIANT_NAME, cap_name
from engine.params import ParameterSpec, applicable_values
from engine.training.config import TRAINING_PARAMETERS, TrainingConfig, training_specs
from engine.training.losses import loss_errors
from engine.training.provenance import current_record
from engine.variants import DataRecord, RunConfig

if TYPE_CHECKING:
    from engine.families.base import ModelFamily
    from engine.families.spec import FamilySpec

DefaultOrigin = Literal["parameter", "family", "dataset", "preferences"]
# Parameter values by name as a caller gives them (typed, not yet validated); None: defaults.
Values = dict[str, Any] | None

# Where a default came from, as a user reads it after the value: "20 — default of dataset …".
_ORIGIN_WORDS = {
    "parameter": "built-in default",
    "family": "default of family {}",
    "dataset": "default of {}",
    "preferences": "from Preferences",
}


class EffectiveDefault(BaseModel):
    """The default a field shows, and why."""

    model_config = ConfigDict(frozen=True)

    value: Any
    origin: DefaultOrigin
    source: str = ""  # the family's name, "dataset two_moons", … ("" for the parameter)

    def hint(self) -> str:
        """`20 — default of dataset two_moons`: a tooltip or placeholder beside the field."""
        words = _ORIGIN_WORDS[self.origin].format(self.source)
        return f"{_show(self.value)} — {words}"


class Resolution(BaseModel):
    """Everything a form needs to show about a set of parameters, from one call."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    family: str
    domain_specs: list[ParameterSpec]
    training_specs: list[ParameterSpec]  # with the effective defaults filled in
    defaults: dict[str, EffectiveDefault]  # training parameters' effective defaults
    errors: dict[str, str]  # field -> message (without the field name), in reading order
    config: RunConfig | None = None

    @property
    def ok(self) -> bool:
        return self.config is not None

    def first_error(self) -> ParameterError:
        field, message = next(iter(self.errors.items()))
        return ParameterError(field, message)


def resolve_parameters(
    spec: FamilySpec,
    family: ModelFamily,
    domain: Values = None,
    training: Values = None,
    *,
    preferences: dict[str, Any] | None = None,
    strategy: str = "native",
    strategy_params: dict[str, Any] | None = None,
    explicit: Collection[str] | None = None,
) -> Resolution:
    """Validate `domain` and `training` (omitted names take their defaults) for `family`.

    A domain parameter that does not apply (its `applies_when` fails: `depth` with a
    simple_cnn) takes its default before anything else looks at it, so it never changes the
    config hash or the variant's name. A value given for it is refused (an error on its
    field, "applies only when architecture is resnet (architecture is simple_cnn)") when its
    name is `explicit` — by default every name in `domain` — and differs from the default:
    a resolved config's own domain resolves to itself. A sweep passes `explicit=()`: a fixed
    value that applies in some of its combinations is dropped in the others."""
    errors: dict[str, str] = {}
    domain_values = _validate(spec.domain_parameters, domain or {}, "domain", errors)
    if not errors:
        given = set(domain or {}) if explicit is None else set(explicit) & set(domain or {})
        domain_values = _applicable(spec.domain_parameters, domain_values, given, errors)
    if not errors:
        try:
            domain_values = family.validate_domain(domain_values)
        except ParameterError as exc:
            errors[exc.field] = exc.message
    defaults = effective_defaults(spec, family, domain_values if not errors else None)
    unpreferred = dict(defaults)  # the name's baseline: preferences are execution settings
    if preferences:
        defaults.update(_preferred(preferences))
    specs = training_specs({name: d.value for name, d in defaults.items()})
    domain_ok = not errors
    training_values = _validate(specs, training or {}, "training", errors)
    loss = training_values.get("loss", "auto")
    smoothing = training_values.get("label_smoothing", 0.0)
    chosen = loss != "auto" or bool(smoothing)
    if chosen and domain_ok and not {"loss", "label_smoothing"} & set(errors):
        errors.update(loss_errors(loss, smoothing, family.task_type(domain_values)))
    config = None
    if not errors:
        values = TrainingConfig(**training_values)
        base = TrainingConfig(**{name: d.value for name, d in unpreferred.items()})
        try:
            name = variant_name(spec, domain_values, values, base, strategy, strategy_params)
        except ParameterError as exc:
            errors[exc.field] = exc.message
    data = None
    if not errors:
        try:
            data = current_record(family, domain_values)
        except ValueError as exc:  # the data became unreadable since validate_domain
            errors["dataset" if "dataset" in domain_values else "domain"] = str(exc)
    if not errors:
        config = RunConfig(
            family=spec.name,
            variant=name if data is None else _with_data(name, data),
            domain=domain_values,
            training=values,
            strategy=strategy,
            strategy_params=strategy_params or {},
            data=data,
        ).with_hash()
    return Resolution(
        family=spec.name,
        domain_specs=list(spec.domain_parameters),
        training_specs=specs,
        defaults=defaults,
        errors=errors,
        config=config,
    )


def _with_data(name: str, data: DataRecord) -> str:
    """A variant of the user's data is named after its content too: the same parameters on an
    edited CSV make a new variant instead of colliding with the old one."""
    return cap_name(f"{name}_d{data.sha256[:8]}")


def effective_defaults(
    spec: FamilySpec, family: ModelFamily, domain: dict[str, Any] | None
) -> dict[str, EffectiveDefault]:
    """Each training parameter's default and its origin; the dataset layer only for a valid
    `domain` (a family's `training_defaults(domain)` may read its dataset)."""
    out = {
        p.name: EffectiveDefault(value=p.default, origin="parameter") for p in TRAINING_PARAMETERS
    }
    for name, value in spec.training_defaults.items():
        out[name] = EffectiveDefault(value=value, origin="family", source=spec.name)
    if domain is None:
        return out
    describe = getattr(family, "defaults_source", None)
    source = (describe(domain) if describe else "") or "these model parameters"
    for name, value in family.training_defaults(domain).items():
        if name in out and out[name].value != value:
            out[name] = EffectiveDefault(value=value, origin="dataset", source=source)
    return out


def _preferred(preferences: dict[str, Any]) -> dict[str, EffectiveDefault]:
    """Preferences (threads, device) as defaults; a value the schema refuses is ignored."""
    by_name = {p.name: p for p in TRAINING_PARAMETERS}
    out = {}
    for name, value in preferences.items():
        try:
            checked = by_name[name].validate_value(value)
        except (KeyError, ParameterError):
            continue
        out[name] = EffectiveDefault(value=checked, origin="preferences")
    return out


def with_preferences(
    specs: list[ParameterSpec], preferences: dict[str, Any]
) -> list[ParameterSpec]:
    """`specs` whose defaults are the preferences' (threads, device) where the spec takes them:
    what a form shows before the engine has resolved anything."""
    preferred = _preferred(preferences)
    return [
        spec.model_copy(update={"default": preferred[spec.name].value})
        if spec.name in preferred
        else spec
        for spec in specs
    ]


def _applicable(
    specs: list[ParameterSpec], values: dict[str, Any], given: set[str], errors: dict[str, str]
) -> dict[str, Any]:
    """`values` with the parameters that do not apply at their defaults; a value `given`
    for one of them, other than its default, is an error on its field."""
    applied, skipped = applicable_values(specs, values)
    off = {spec.name: spec for spec in skipped}
    for spec in skipped:
        if spec.name in given and values[spec.name] != spec.default:
            message = spec.not_applying(values)
            controller = next((off[n] for n in spec.applies_when or {} if n in off), None)
            if not spec.failed_conditions(values) and controller is not None:
                # Its own rule holds, but a parameter it names does not apply itself.
                why = controller.not_applying(values)
                message += f" ({controller.name} does not apply here: it {why})"
            errors[spec.name] = message
    return applied


def _validate(
    specs: list[ParameterSpec], values: dict[str, Any], kind: str, errors: dict[str, str]
) -> dict[str, Any]:
    """Each value (or its default) validated; problems go into `errors` by field name."""
    by_name = {spec.name: spec for spec in specs}
    for name in values:
        if name not in by_name:
            errors[name] = f"unknown {kind} parameter; known: {', '.join(sorted(by_name))}"
    resolved: dict[str, Any] = {}
    for spec in specs:
        try:
            resolved[spec.name] = spec.validate_value(values.get(spec.name, spec.default))
        except ParameterError as exc:
            errors[spec.name] = exc.message
    return resolved


def variant_name(
    spec: FamilySpec,
    domain: dict[str, Any],
    training: Any,
    defaults: Any,
    strategy: str = "native",
    strategy_params: dict[str, Any] | None = None,
) -> str:
    """`variant_pattern` filled in, plus a short hash of everything else that is not default.

    Two configs that differ anywhere but in execution settings get different names, and the
    same config always gets the same name. The name is one folder: a name over
    `MAX_NAME_BYTES` keeps a prefix and a hash of the whole (engine.names.cap_name), and one
    that is empty, '.' or '..' (a free-text parameter in the pattern) is refused
    (ParameterError on the pattern's first parameter).
    """
    formatted = spec.variant_pattern.format(**domain)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", formatted)
    in_pattern = spec.pattern_fields() if name == formatted else set()
    extra: dict[str, Any] = {
        key: value
        for key, value in domain.items()
        if key not in in_pattern and value != _default(spec.domain_parameters, key)
    }
    base = defaults.identity()
    changed = {k: v for k, v in training.identity().items() if base.get(k) != v}
    if changed:
        extra["training"] = changed
    if strategy != "native" or strategy_params:
        extra["strategy"] = [strategy, strategy_params or {}]
    if extra:
        name += "_" + config_hash(extra)[:8]
    name = cap_name(name)
    if not VARIANT_NAME.fullmatch(name) or name in (".", ".."):
        fields = [p.name for p in spec.domain_parameters if p.name in spec.pattern_fields()]
        raise ParameterError(
            fields[0] if fields else "variant_pattern",
            f"makes the variant name {name!r}, which cannot name a folder; "
            "give a value with letters, digits, '_', '.' or '-'",
        )
    return name


def _default(specs: list[Any], name: str) -> Any:
    return next(s.default for s in specs if s.name == name)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    return f"{value:g}" if isinstance(value, float) else str(value)
