"""Canonical hashes: of configs (canonical JSON) and of weights (tensors in name order)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def config_hash(obj: Any) -> str:
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()


def weights_sha256(state_dict: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over every tensor's name, dtype, shape and bytes, in sorted name order."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def tree_sha256(tree: Any) -> str:
    """SHA-256 of a nested structure of mappings, sequences, tensors and plain values.

    Canonical: mapping keys in sorted order, every value under its path; a tensor by its path,
    dtype, shape and bytes (as in `weights_sha256`), anything else by its canonical JSON. Equal
    trees hash equal however they were built, saved or loaded.
    """
    digest = hashlib.sha256()
    _update_tree(digest, "", tree)
    return digest.hexdigest()


def _update_tree(digest: Any, path: str, value: Any) -> None:
    import torch

    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu").contiguous()
        digest.update(f"{path}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, Mapping):
        digest.update(f"{path}{{{len(value)}|".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, k)):
            _update_tree(digest, f"{path}/{key!r}", value[key])
    elif isinstance(value, list | tuple) and any(
        isinstance(item, torch.Tensor | Mapping | list | tuple) for item in value
    ):
        digest.update(f"{path}[{len(value)}|".encode())
        for index, item in enumerate(value):
            _update_tree(digest, f"{path}/{index}", item)
    else:  # a plain value, or a list of plain values (Python's RNG state: 625 ints)
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
        digest.update(f"{path}={text}|".encode())
