"""A tensorflow variant's Keras weights converted into its family's torch model.

The tensorflow backend trains the family's torch architecture rebuilt as Keras layers, each
named after the torch module it mirrors (keras_layout.py). So what comes after training —
publishing (and with it predict, ONNX and safetensors export), the checkpoint analyses,
init_from, a distillation teacher — takes a tensorflow variant's weights through this
conversion into the torch model's state dict and then runs as it does for a torch variant.

A checkpoint is verified before it is converted: the file against its sidecar
(keras_files.load_arrays), then the Keras arrays' weights hash against the one metadata.json
records (the run hashes its Keras variables by path, engine.hashing.weights_sha256), so what
is converted is what was trained; the conversion itself refuses anything it cannot place.

Imports neither keras nor tensorflow (numpy and torch only, torch when a function runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.backends.keras_files import load_arrays, model_arrays
from engine.backends.keras_layout import keras_names, torch_axes, variable_names, weighted_modules
from engine.errors import CheckpointError
from engine.hashing import weights_sha256 as digest_of
from engine.training.checkpoints import check_weights_hash

if TYPE_CHECKING:
    import torch
    from torch import nn

# A buffer torch keeps and Keras has no variable for: BatchNorm's step counter, which only
# matters at momentum None (a cumulative average); the families use momentum 0.1.
UNMIRRORED_BUFFERS = ("num_batches_tracked",)


def torch_state(template: nn.Module, arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """The full state dict of `template` (every key of its state_dict, in its order and with
    its dtypes) from Keras weights by variable path. The template's tensors are only read
    for their names, shapes and dtypes (a model on the meta device does). CheckpointError
    naming both sides for a missing variable or a shape that does not fit, and naming the
    variables the model has no place for."""
    expected = template.state_dict()
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    names = keras_names(template)
    for path, module in weighted_modules(template):
        for name, variable in variable_names(module).items():
            key = f"{path}.{name}" if path else name
            if key not in expected:  # a convolution without bias, a norm without affine
                continue
            keras_path = f"{names[path]}/{variable}"
            axes = torch_axes(module, name)
            state[key] = _tensor(arrays, keras_path, key, expected[key], axes)
            used.add(keras_path)
    for key, tensor in expected.items():
        if key not in state:
            state[key] = _unmirrored(key, tensor)
    extra = sorted(set(arrays) - used)
    if extra:
        raise CheckpointError(
            f"the Keras weights hold variables {type(template).__name__} has no place for: "
            + ", ".join(extra)
        )
    return {key: state[key] for key in expected}


def _tensor(
    arrays: dict[str, np.ndarray],
    keras_path: str,
    key: str,
    expected: torch.Tensor,
    axes: tuple[int, ...] | None,
) -> torch.Tensor:
    """The torch tensor `key` from the Keras variable `keras_path`, laid out by `axes`."""
    import torch

    wanted = tuple(expected.shape)
    keras_shape = wanted if axes is None else tuple(wanted[axes.index(i)] for i in range(len(axes)))
    array = arrays.get(keras_path)
    if array is None:
        raise CheckpointError(
            f"the Keras weights have no variable {keras_path} (torch {key}, shape {list(wanted)})"
        )
    if tuple(array.shape) != keras_shape:
        raise CheckpointError(
            f"Keras variable {keras_path} has shape {tuple(array.shape)}; torch {key} "
            f"{list(wanted)} needs {keras_shape}"
        )
    laid_out = array if axes is None else array.transpose(axes)
    return torch.from_numpy(np.ascontiguousarray(laid_out)).to(expected.dtype)


def _unmirrored(key: str, tensor: torch.Tensor) -> torch.Tensor:
    """A torch buffer without a Keras counterpart, at its initial value; CheckpointError for
    anything else the Keras side does not hold (a module keras_layout does not know)."""
    import torch

    if key.rsplit(".", 1)[-1] in UNMIRRORED_BUFFERS:
        return torch.zeros(tuple(tensor.shape), dtype=tensor.dtype)
    raise CheckpointError(
        f"torch {key} has no Keras counterpart (keras_layout maps Linear, Conv2d and BatchNorm)"
    )


def keras_tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Keras weights as tensors by variable path: what the run hashed (engine.hashing)."""
    import torch

    return {path: torch.from_numpy(array) for path, array in arrays.items()}


def load_keras_weights(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The model weights (by Keras variable path) and the meta of a weights, best or full
    file whose SHA-256 matches its sidecar; CheckpointError naming the file otherwise."""
    arrays, meta = load_arrays(path)
    return model_arrays(path, arrays), meta


def load_converted(
    path: Path, weights_sha256: str | None, template: nn.Module
) -> tuple[dict[str, torch.Tensor], str]:
    """The torch state of one tensorflow checkpoint and the Keras weights' hash, verified:
    the sidecar first, then that hash against `weights_sha256` (metadata.json's record for
    the checkpoint, or its final weights'; None: not recorded, not compared), then converted
    into `template` (the family's model, `family.create_model(domain)`, meta device or not)."""
    arrays, _meta = load_keras_weights(path)
    digest = digest_of(keras_tensors(arrays))
    check_weights_hash(path, digest, weights_sha256)
    try:
        return torch_state(template, arrays), digest
    except CheckpointError as exc:
        raise CheckpointError(f"checkpoint {path.name}: {exc}") from None


__all__ = [
    "keras_tensors",
    "load_converted",
    "load_keras_weights",
    "torch_state",
]
