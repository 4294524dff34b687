"""The family.json schema: read without torch, so forms can be built before torch loads."""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from engine.errors import FamilyError
from engine.params import ParameterSpec
from engine.training.config import training_specs


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

    @model_validator(mode="after")
    def _check(self) -> FamilySpec:
        if not self.name.isidentifier():
            raise ValueError(f"name {self.name!r} must be a Python identifier")
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
        training_specs(self.training_defaults)  # unknown names raise
        return self

    def pattern_fields(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.variant_pattern) if f}

    def training_parameters(self) -> list[ParameterSpec]:
        return training_specs(self.training_defaults)


def load_family_spec(path: Path | Any) -> FamilySpec:
    """Parse a family.json (a Path or importlib Traversable) with a message naming the file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FamilyError(f"{path}: cannot read family.json: {exc}") from None
    try:
        return FamilySpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "family.json"
        raise FamilyError(f"{path}: {where}: {first['msg']}") from None
