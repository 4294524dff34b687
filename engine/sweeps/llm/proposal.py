"""An LLM's answer read as a trial: the JSON schema it is asked to match, and the checks.

The schema is built from the search space (the sweep's lists and ranges, each already checked
against the family's parameter schema), so a proposal that matches it is a valid combination.
Models do not always match: `read_proposal` takes the first JSON object of the answer (code
fences and chatter around it are skipped), then for each parameter
  - a number outside its range is clamped to the nearer end, a whole-number parameter's
    fraction rounded, a number not among a list's values replaced by the nearest one, a
    choice matched ignoring case — each change kept in `adjustments`, to be logged;
  - a missing parameter, a word that is no choice, a value of the wrong kind, or a proposal
    equal to an earlier trial raise InvalidProposal saying which, to be sent back once.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.sweeps.plan import Range, SweepSpec
from engine.sweeps.schema import SweepParameter

REASON = "reason"
MAX_REASON = 500


class Proposal(BaseModel):
    """A checked proposal: the combination to train, the model's reason, what was changed."""

    model_config = ConfigDict(frozen=True)

    parameters: dict[str, Any]
    reason: str = ""
    adjustments: list[str] = []


class InvalidProposal(ValueError):
    """An answer that cannot be a trial; the message says why (sent back to the model)."""


def answer_schema(spec: SweepSpec, schema: Mapping[str, SweepParameter]) -> dict[str, Any]:
    """The JSON schema of an answer: every searched parameter, and a short reason."""
    properties: dict[str, Any] = {}
    for name, values in spec.grid.items():
        properties[name] = {"enum": list(values), "description": schema[name].label}
    for name, bounds in spec.ranges.items():
        properties[name] = {
            "type": "integer" if bounds.integer else "number",
            "minimum": _plain(bounds.low, bounds.integer),
            "maximum": _plain(bounds.high, bounds.integer),
            "description": schema[name].label + (" (log scale)" if bounds.log else ""),
        }
    properties[REASON] = {"type": "string", "description": "why this configuration, briefly"}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def read_proposal(
    text: str,
    spec: SweepSpec,
    schema: Mapping[str, SweepParameter],
    tried: Sequence[Mapping[str, Any]] = (),
) -> Proposal:
    """The answer `text` as a checked combination (see the module's rules)."""
    answer = _first_object(text)
    adjustments: list[str] = []
    parameters: dict[str, Any] = {}
    for name in spec.swept_names():
        if name not in answer:
            raise InvalidProposal(f"{name} is missing; give every parameter of the schema")
        raw = answer[name]
        if name in spec.grid:
            value = _listed(name, raw, spec.grid[name], adjustments)
        else:
            value = _ranged(name, raw, spec.ranges[name], adjustments)
        checked = schema[name].parse_list([value])
        if not checked.ok:
            raise InvalidProposal(checked.error or f"{name}: {value!r} is not allowed")
        parameters[name] = value
    extra = sorted(set(answer) - set(parameters) - {REASON})
    if extra:
        adjustments.append(f"ignored what is not searched: {', '.join(extra)}")
    for number, earlier in enumerate(tried):
        if all(earlier.get(k) == v for k, v in parameters.items()) and earlier:
            raise InvalidProposal(
                f"trial {number + 1} already tried exactly this configuration; "
                "propose one not tried yet"
            )
    reason = answer.get(REASON)
    reason = " ".join(str(reason).split())[:MAX_REASON] if reason is not None else ""
    return Proposal(parameters=parameters, reason=reason, adjustments=adjustments)


def _first_object(text: str) -> dict[str, Any]:
    """The first JSON object in `text` (inside ``` fences or prose, or the whole of it)."""
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _end = decoder.raw_decode(text, start)
        except ValueError:
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    shown = " ".join(text.split())[:200] or "(nothing)"
    raise InvalidProposal(f"the answer holds no JSON object: {shown}")


def _number(name: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise InvalidProposal(f"{name} must be a number, not {json.dumps(raw)}")
    if isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise InvalidProposal(f"{name} must be a number, not {json.dumps(raw)}") from None
    else:
        raise InvalidProposal(f"{name} must be a number, not {json.dumps(raw)}")
    if not math.isfinite(value):
        raise InvalidProposal(f"{name} must be a finite number, not {raw}")
    return value


def _ranged(name: str, raw: Any, bounds: Range, adjustments: list[str]) -> int | float:
    given = _number(name, raw)
    value = min(max(given, bounds.low), bounds.high)
    if value != given:
        end = "above" if given > bounds.high else "below"
        adjustments.append(f"{name} {_show(given)} is {end} the range: clamped to {_show(value)}")
    if bounds.integer:
        whole = round(value)
        if whole != value:
            adjustments.append(f"{name} {_show(value)} rounded to {whole}")
        return int(whole)
    return value


def _listed(name: str, raw: Any, values: list[Any], adjustments: list[str]) -> Any:
    if raw in values and type(raw) is type(values[values.index(raw)]):
        return raw
    allowed = ", ".join(json.dumps(v) for v in values)
    if all(isinstance(v, bool) for v in values):
        text = str(raw).strip().lower()
        if text in ("true", "false") and (text == "true") in values:
            return text == "true"
        raise InvalidProposal(f"{name} must be one of {allowed}, not {json.dumps(raw)}")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        given = _number(name, raw)
        nearest = min(values, key=lambda v: (abs(v - given), values.index(v)))
        if nearest != given:
            adjustments.append(f"{name} {_show(given)} is not listed: took the nearest, {nearest}")
        return nearest
    matches = [v for v in values if str(v).lower() == str(raw).strip().lower()]
    if matches:
        if matches[0] != raw:
            adjustments.append(f"{name} {json.dumps(raw)} read as {json.dumps(matches[0])}")
        return matches[0]
    raise InvalidProposal(f"{name} must be one of {allowed}, not {json.dumps(raw)}")


def _plain(value: float, integer: bool) -> int | float:
    return int(value) if integer else value


def _show(value: float) -> str:
    return f"{value:g}"


__all__ = ["InvalidProposal", "Proposal", "answer_schema", "read_proposal"]
