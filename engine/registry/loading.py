"""A published version's model, rebuilt for the torch backend: its family's architecture
holding the version's verified weights.

The weights file is checked against the sha256 version.json records before safetensors reads
it, and the state dict against the weights hash: a changed byte is refused, never loaded.
Rebuilding needs the version's family and, for families that size their model from their
data (the MLP), the dataset in this home; where either is missing, ONNX is the way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import sha256_file
from engine.errors import CheckpointError
from engine.registry.records import (
    PREPROCESSING_FILE,
    WEIGHTS_FILE,
    ModelVersion,
    RegistryError,
    read_version,
)

if TYPE_CHECKING:
    import torch
    from torch import nn


def load_state(directory: Path, version: ModelVersion) -> dict[str, torch.Tensor]:
    """The version's weights, after their file's and their tensors' hashes are checked."""
    from safetensors.torch import load_file

    from engine.hashing import weights_sha256

    path = directory / WEIGHTS_FILE
    if not path.is_file():
        raise CheckpointError(f"{version.name} v{version.version}: {WEIGHTS_FILE} is missing")
    if sha256_file(path) != version.file_sha256:
        raise CheckpointError(
            f"{version.name} v{version.version}: {WEIGHTS_FILE} does not match its recorded "
            "sha256 (changed or damaged); it is not loaded"
        )
    state = load_file(str(path))
    if weights_sha256(state) != version.weights_sha256:
        raise CheckpointError(
            f"{version.name} v{version.version}: the weights do not hash to the recorded "
            "weights_sha256"
        )
    return state


def read_preprocessing(directory: Path) -> dict[str, Any]:
    return json.loads((directory / PREPROCESSING_FILE).read_text(encoding="utf-8"))


def load_model(registry: Any, directory: Path) -> tuple[nn.Module, ModelVersion]:
    """The version's model in eval mode (no gradients), built by its family from its config
    (`registry`: a Workspace's family registry, or the Workspace)."""
    from engine.analysis.classification import model_with_weights
    from engine.datasets import DatasetError

    version = read_version(directory)
    families = getattr(registry, "registry", registry)
    try:
        family = families.family(version.family)
    except Exception as exc:
        raise RegistryError(
            f"{version.name} v{version.version}: family {version.family!r} is not available "
            f"here ({exc}); predict with --backend onnx"
        ) from None
    domain = dict(version.config.get("domain", {}))
    state = load_state(directory, version)
    try:
        model = model_with_weights(family, domain, state, f"{version.name} v{version.version}")
    except DatasetError as exc:
        raise RegistryError(
            f"{version.name} v{version.version}: its family sizes the model from dataset "
            f"{version.dataset!r}, which this home cannot read ({exc}); predict with "
            "--backend onnx"
        ) from None
    return model, version
