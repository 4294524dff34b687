"""Training backends: torch (engine.training.trainer) and tensorflow (Keras 3, an optional
extra, run in a spawned process: engine.backends.keras_trainer and keras_run).

Importing this package imports neither torch nor tensorflow: `tensorflow_available` asks
whether the extra is installed without loading it (the forms ask it to disable the choice).
"""

from __future__ import annotations

import importlib.util

from engine.errors import ParameterError

BACKENDS = ("torch", "tensorflow")
TENSORFLOW = "tensorflow"
TENSORFLOW_MISSING = (
    "the tensorflow backend needs the optional extra: pip install 'trainwright[tensorflow]' "
    "(tensorflow-cpu 2.21 and keras 3, about 1.5 GB); it is not part of this install"
)
# Families the tensorflow backend can build (their model as Keras layers, keras_run.py).
TENSORFLOW_FAMILIES = ("mlp", "image_classifier")


def tensorflow_family_only(family: str) -> str:
    """Why `family` cannot train with the tensorflow backend (the engine's refusal and the
    forms' tooltip)."""
    names = " and ".join(TENSORFLOW_FAMILIES)
    plural = "families" if len(TENSORFLOW_FAMILIES) > 1 else "family"
    return f"the tensorflow backend trains the {names} {plural} only, not {family}"


def tensorflow_available() -> bool:
    """Whether tensorflow and keras are installed (found, not imported: importing costs
    seconds and fixes Keras's backend for the process)."""
    try:
        return all(importlib.util.find_spec(name) is not None for name in ("tensorflow", "keras"))
    except (ImportError, ValueError):  # a broken or hidden install counts as none
        return False


def require_tensorflow() -> None:
    """ParameterError naming `backend` where the extra is missing."""
    if not tensorflow_available():
        raise ParameterError("backend", TENSORFLOW_MISSING)


def trained_with(config: object) -> str:
    """The backend a variant's config trains with ("torch" for configs from before it)."""
    training = getattr(config, "training", None)
    return str(getattr(training, "backend", "torch") or "torch")
