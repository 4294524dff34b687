"""Training parameters shared by every family: their schema, and the config model made from it.

`TRAINING_PARAMETERS` is the one declaration of a training parameter (type, default, range,
choices, help, unit, sweep label), read from resources/training_parameters.json;
`TrainingConfig`'s fields are generated from it, so a new parameter is one entry there and
nothing else.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

from engine.params import ParameterSpec

# The training schema is data, like a family's family.json: resources/training_parameters.json.
TRAINING_PARAMETERS: list[ParameterSpec] = [
    ParameterSpec.model_validate(entry)
    for entry in json.loads(
        (files("resources") / "training_parameters.json").read_text(encoding="utf-8")
    )
]

# Settings that change how fast a run goes, how often it is saved or when it stops to be
# resumed, or which extra files it keeps, not what it computes: they stay out of the variant's
# identity (its name suffix and config hash). A run stopped by its `timeout` and resumed ends
# as an uninterrupted one; `keep_best` only adds the `best` weights file.
EXECUTION_PARAMETERS = frozenset({"device", "threads", "resume_every", "timeout", "keep_best"})


_NO_DEFAULT = object()
_ADDED_LATER = {p.name: p.default for p in TRAINING_PARAMETERS if p.added_in}


class _TrainingConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def identity(self) -> dict[str, Any]:
        """The fields that define what is computed: execution settings left out, and so are
        parameters added after the first release while at their default (a config stored
        before they existed computes the same, and must keep its hash)."""
        return {
            k: v
            for k, v in self.model_dump().items()
            if k not in EXECUTION_PARAMETERS and _ADDED_LATER.get(k, _NO_DEFAULT) != v
        }


def _field_type(spec: ParameterSpec) -> Any:
    """The Python type of a parameter's values, for the generated pydantic model."""
    if spec.choices is not None:
        kind: Any = Literal[tuple(spec.choices)]  # type: ignore[valid-type]
    else:
        kind = {
            "int": int,
            "float": float,
            "bool": bool,
            "str": str,
            "int_list": list[int],
            "duration": float,  # seconds; typed as text (20m) and read by ParameterSpec.read
        }[spec.type]
    return kind | None if spec.optional else kind


# Validated training parameters: one field per entry of TRAINING_PARAMETERS, in that order.
# Values are range-checked by the specs (`validate_values`) before the model is built.
# A field absent from the input takes its parameter's default: a config.json written before a
# parameter existed still loads, and a new parameter's default is the behaviour it had then.
TrainingConfig: type[_TrainingConfigBase] = create_model(  # type: ignore[call-overload]
    "TrainingConfig",
    __base__=_TrainingConfigBase,
    __module__=__name__,
    **{spec.name: (_field_type(spec), spec.default) for spec in TRAINING_PARAMETERS},
)


def training_specs(overrides: dict[str, Any]) -> list[ParameterSpec]:
    """The shared training schema with a family's defaults (family.json) filled in."""
    known = {spec.name for spec in TRAINING_PARAMETERS}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"unknown training parameter(s) {', '.join(unknown)}")
    return [
        spec.model_copy(update={"default": overrides[spec.name]})
        if spec.name in overrides
        else spec
        for spec in TRAINING_PARAMETERS
    ]
