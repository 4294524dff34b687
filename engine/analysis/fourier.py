"""Fourier analysis of a modular-addition model's embedding (Nanda et al. 2023).

The basis over the p inputs is the constant vector / √p, then for k = 1 … (p−1)/2 the
normalised cos(2πkx/p) and sin(2πkx/p); rows are ordered [const, cos 1, sin 1, cos 2, …].
"""

from __future__ import annotations

from typing import Any

import numpy as np

KEY_FRACTION = 0.25


def _check_p(p: int) -> None:
    if p < 3 or p % 2 == 0:
        raise ValueError(f"the Fourier basis here needs an odd p >= 3, got {p}")


def fourier_basis(p: int) -> np.ndarray:
    """The orthonormal Fourier basis over p inputs: a [p, p] float64 array, one vector a row."""
    _check_p(p)
    x = np.arange(p, dtype=np.float64)
    rows = [np.full(p, 1.0)]
    for k in range(1, (p - 1) // 2 + 1):
        rows.append(np.cos(2 * np.pi * k * x / p))
        rows.append(np.sin(2 * np.pi * k * x / p))
    basis = np.stack(rows)
    return basis / np.linalg.norm(basis, axis=1, keepdims=True)


def fourier_basis_names(p: int) -> list[str]:
    """Labels of the basis rows: "const", "cos 1", "sin 1", … "sin (p−1)/2"."""
    _check_p(p)
    names = ["const"]
    for k in range(1, (p - 1) // 2 + 1):
        names += [f"cos {k}", f"sin {k}"]
    return names


def _as_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor
        array = array.detach().to("cpu").double().numpy()
    return np.asarray(array, dtype=np.float64)


def embedding_fourier_norms(W_E: Any, p: int) -> np.ndarray:
    """Norm over d_model of each Fourier component of the embedding: a [p] array.

    `W_E` is [p + 1, d_model] (the last row, the `=` token, is dropped) or [p, d_model].
    """
    embedding = _as_numpy(W_E)
    if embedding.ndim != 2 or embedding.shape[0] not in (p, p + 1):
        raise ValueError(f"W_E must be [p or p+1, d_model] for p={p}, got {embedding.shape}")
    components = fourier_basis(p) @ embedding[:p]  # [p, d_model]
    return np.linalg.norm(components, axis=1)


def frequency_norms(component_norms: Any) -> np.ndarray:
    """Per-frequency norm sqrt(cos_k² + sin_k²) for k = 1 … (p−1)/2 from the [p] component norms.

    Index i of the result is frequency k = i + 1.
    """
    norms = _as_numpy(component_norms)
    _check_p(len(norms))
    return np.sqrt(norms[1::2] ** 2 + norms[2::2] ** 2)


def key_frequencies(freq_norms: Any, fraction: float = KEY_FRACTION) -> list[int]:
    """The frequencies k (1-based) whose norm exceeds `fraction` of the largest, ascending."""
    norms = _as_numpy(freq_norms)
    if norms.size == 0 or not np.isfinite(norms).any():
        return []
    threshold = fraction * np.nanmax(norms)
    return [int(i) + 1 for i in np.flatnonzero(norms > threshold)]


def embedding_frequency_norms(W_E: Any, p: int) -> np.ndarray:
    """Shortcut: per-frequency norms (k = 1 … (p−1)/2) of an embedding matrix."""
    return frequency_norms(embedding_fourier_norms(W_E, p))
