"""Data provenance: a variant trained on the user's data resumes and replays on that data only.

The config records the content hash of an imported dataset or a `csv:PATH` file
(`RunConfig.data`); before a run touches anything, the family is asked for the hash of the
data the same parameters name now, and a difference is refused in one line naming both.
"""

from __future__ import annotations

from typing import Any

from engine.errors import VariantError
from engine.variants import DataRecord, RunConfig


def current_record(family: Any, domain: dict[str, Any]) -> DataRecord | None:
    """The family's record of the data `domain` names now; None for families (or data) that
    record none: built-in datasets, and user families without a `data_record` method."""
    record = getattr(family, "data_record", None)
    return record(domain) if callable(record) else None


def check_data_unchanged(family: Any, config: RunConfig) -> None:
    """Raise VariantError when the data `config` was trained on is gone or has changed."""
    then = config.data
    if then is None:
        return
    try:
        now = current_record(family, config.domain)
    except ValueError as exc:  # DatasetError: the file or the library entry is gone
        raise VariantError(
            f"dataset {then.id} of variant {config.variant} cannot be read any more ({exc}); "
            f"it was trained on sha256 {then.short()}"
        ) from None
    if now is None or now.sha256 != then.sha256:
        now_text = now.short() if now is not None else "nothing"
        raise VariantError(
            f"dataset {then.id} changed since this variant was trained: "
            f"sha256 {then.short()} then, {now_text} now"
        )


# The first engine version that standardises regression targets (engine.datasets.split).
TARGETS_STANDARDISED_SINCE = (0, 2, 0)


def check_target_scaling(family: Any, config: RunConfig, engine_version: str) -> None:
    """Refuse to resume or replay a regression variant trained before targets were
    standardised: this engine would train it on other numbers, so it could not match."""
    if _version_tuple(engine_version) >= TARGETS_STANDARDISED_SINCE:
        return
    if getattr(family, "target_scale", None) is None:
        return  # the family's data is not rescaled by this engine
    if family.task_type(config.domain) != "regression":
        return
    since = ".".join(map(str, TARGETS_STANDARDISED_SINCE))
    raise VariantError(
        f"variant {config.variant} was trained by Trainwright {engine_version} on raw "
        f"regression targets; since {since} targets are standardised, so it cannot be resumed "
        "or replayed bit for bit: train it again"
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)
