"""Analyses of trained variants: curves from the chronicle and measurements on checkpoints.

Which analyses a family offers is listed in its family.json (`"analyses"`); the GUI and CLI
ask `available_analyses(spec)`. `analyse_checkpoints` runs the checkpoint analyses in one pass
over the weights files (each loaded once, verified, and dropped before the next).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine import variants
from engine.analysis.checkpoints import iter_weights, variant_directory, weights_checkpoints
from engine.analysis.norms import parameter_norm
from engine.training.callbacks import CancelEvent

if TYPE_CHECKING:
    import numpy as np

    from engine.analysis.grokking import GrokkingReadout
    from engine.families.spec import FamilySpec

PARAMETER_NORM = "parameter_norm"
FOURIER = "fourier"
GROKKING = "grokking"
# Confusion matrices: recorded by the trainer at each evaluation (metadata.json), not measured
# on checkpoints here (engine.training.trainer.CONFUSION_ANALYSIS is the same name).
CONFUSION = "confusion_matrix"
KNOWN_ANALYSES = (PARAMETER_NORM, FOURIER, GROKKING, CONFUSION)

ProgressCallback = Callable[[int, int], None]  # (checkpoints done, checkpoints in all)


def available_analyses(family_spec: FamilySpec | None) -> list[str]:
    """The family's analyses from family.json that this engine knows, in the listed order.

    No spec (an unknown family): parameter norm only, which works for every model.
    """
    if family_spec is None:
        return [PARAMETER_NORM]
    listed = list(getattr(family_spec, "analyses", None) or [PARAMETER_NORM])
    return [name for name in dict.fromkeys(listed) if name in KNOWN_ANALYSES]


@dataclass
class CheckpointAnalysis:
    """Everything measured on one variant's checkpoints (row i of each array: checkpoint i)."""

    variant: str
    path: str
    analyses: list[str]
    epochs: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    parameter_norms: list[float] = field(default_factory=list)
    prime: int | None = None
    component_norms: np.ndarray | None = None  # [checkpoints, p]: const, cos 1, sin 1, …
    frequency_norms: np.ndarray | None = None  # [checkpoints, (p−1)/2]: k = 1 …
    key_frequencies: list[list[int]] = field(default_factory=list)  # per checkpoint
    grokking: GrokkingReadout | None = None
    problems: list[str] = field(default_factory=list)  # skipped checkpoints, unusable analyses
    cancelled: bool = False

    @property
    def has_fourier(self) -> bool:
        return self.frequency_norms is not None and len(self.frequency_norms) > 0


def analyse_checkpoints(
    source: Any,
    analyses: Sequence[str],
    *,
    key_fraction: float = 0.25,
    cancel_event: CancelEvent = None,
    progress: ProgressCallback | None = None,
) -> CheckpointAnalysis:
    """Run `analyses` on a variant (Variant, VariantSummary or directory) in one checkpoint pass.

    A corrupt or tampered checkpoint is skipped and named in `problems`, never used. The
    Fourier analysis needs a `W_E` parameter; p is the config's `prime` (else W_E rows − 1).
    """
    import numpy as np

    from engine.analysis.fourier import frequency_norms, key_frequencies
    from engine.analysis.grokking import grokking_readout

    directory = variant_directory(source)
    result = CheckpointAnalysis(
        variant=directory.name, path=str(directory), analyses=list(analyses)
    )
    want_norm, want_fourier = PARAMETER_NORM in analyses, FOURIER in analyses
    if GROKKING in analyses:
        result.grokking = grokking_readout(directory)
    if want_fourier:
        result.prime = _domain(directory).get("prime")
    components: list[np.ndarray] = []
    total = len(weights_checkpoints(directory))
    done = 0
    if want_norm or want_fourier:
        for checkpoint, state in iter_weights(
            directory, strict=False, problems=result.problems, cancel_event=cancel_event
        ):
            result.epochs.append(checkpoint.epoch)
            result.steps.append(checkpoint.step)
            if want_norm:
                result.parameter_norms.append(parameter_norm(state))
            if want_fourier:
                components.append(_fourier_components(state, result))
            done += 1
            if progress is not None:
                progress(done, total)
    result.cancelled = bool(cancel_event is not None and cancel_event.is_set())
    if want_fourier and components and all(c is not None for c in components):
        result.component_norms = np.stack(components)
        result.frequency_norms = np.stack([frequency_norms(c) for c in components])
        result.key_frequencies = [key_frequencies(f, key_fraction) for f in result.frequency_norms]
    return result


def _fourier_components(state: dict[str, Any], result: CheckpointAnalysis) -> np.ndarray | None:
    from engine.analysis.fourier import embedding_fourier_norms

    W_E = state.get("W_E")
    if W_E is None:
        _note(result, "fourier: the checkpoints have no W_E embedding")
        return None
    p = result.prime or int(W_E.shape[0]) - 1
    result.prime = p
    try:
        return embedding_fourier_norms(W_E, p)
    except ValueError as exc:
        _note(result, f"fourier: {exc}")
        return None


def _note(result: CheckpointAnalysis, message: str) -> None:
    if message not in result.problems:
        result.problems.append(message)


def _domain(directory: Any) -> dict[str, Any]:
    try:
        data = json.loads(variants.config_path(directory).read_text(encoding="utf-8"))
        return dict(data.get("domain") or {})
    except (OSError, ValueError, AttributeError):
        return {}


__all__ = [
    "CONFUSION",
    "FOURIER",
    "GROKKING",
    "KNOWN_ANALYSES",
    "PARAMETER_NORM",
    "CheckpointAnalysis",
    "analyse_checkpoints",
    "available_analyses",
]
