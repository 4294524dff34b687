"""Predictions from a published model version on new data (`trainwright predict`).

A `Predictor` holds one version's model behind a backend: "torch" (the family's architecture
holding the version's verified weights, engine.registry.loading) or "onnx" (the version's
model.onnx, or an export of the torch model made once when the predictor is built, run by
onnxruntime in one session). Inputs go through the version's recorded preprocessing
(engine.inference.inputs), so a CSV or image gives exactly the tensors training built; the
model runs in chunks so a large file never needs one huge forward pass.

Importing this module does not import torch, safetensors or onnxruntime.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.registry.records import ModelVersion, RegistryError, read_version, resolve_version_dir

if TYPE_CHECKING:
    import torch
    from torch import nn

BACKENDS = ("torch", "onnx")
ONNX_FILE = "model.onnx"  # an ONNX export kept in a version's folder (optional)
# Examples per forward pass: bounds the memory a large input needs; 256 rather than 1,024
# because torch runs a CNN slower per image in passes of 1,000 than of 1 on this CPU (bench
# B7 prints both).
CHUNK = 256

# A backend: the model's input tensor -> its outputs (float, on the CPU).
Runner = Callable[["torch.Tensor"], "torch.Tensor"]


@dataclass(frozen=True)
class Prediction:
    """One example's prediction: `identifier` is the CSV's 1-based data row (blank lines not
    counted, as in error messages) or the image's file name; `probabilities` (class name ->
    softmax probability) only for a classifier."""

    identifier: int | str
    prediction: Any
    probabilities: dict[str, float] | None = None


@dataclass(frozen=True)
class PredictionResult:
    """Every example's prediction, in input order, and what made them."""

    model: str
    version: int
    backend: str
    identifier_name: str  # "row" (a CSV) or "file" (images): what `identifier` is
    class_names: list[str] | None  # a classifier's classes (the probability columns)
    items: list[Prediction] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready object per example: {row|file, prediction[, probabilities]}."""
        out = []
        for item in self.items:
            record: dict[str, Any] = {
                self.identifier_name: item.identifier,
                "prediction": item.prediction,
            }
            if item.probabilities is not None:
                record["probabilities"] = dict(item.probabilities)
            out.append(record)
        return out

    def table(self) -> tuple[list[str], list[list[Any]]]:
        """A flat table: header [row|file, prediction, p_<class>...] and one row per example."""
        classes = self.class_names if self._has_probabilities() else []
        header = [self.identifier_name, "prediction", *(f"p_{name}" for name in classes)]
        rows = [
            [
                item.identifier,
                item.prediction,
                *((item.probabilities or {})[name] for name in classes),
            ]
            for item in self.items
        ]
        return header, rows

    def csv_text(self) -> str:
        """The flat table as CSV text (what `trainwright predict` and the app save)."""
        header, rows = self.table()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue()

    def _has_probabilities(self) -> bool:
        return bool(self.class_names) and any(i.probabilities is not None for i in self.items)


class Predictor:
    """One published version, ready to predict: its version record, its preprocessing and a
    backend that runs its model."""

    def __init__(
        self,
        directory: Path,
        version: ModelVersion,
        preprocessing: dict[str, Any],
        runner: Runner,
        backend: str,
    ) -> None:
        self.directory = Path(directory)
        self.version = version
        self.preprocessing = preprocessing
        self.backend = backend
        self._runner = runner

    @classmethod
    def open(cls, families: Any, directory: Path, backend: str = "torch") -> Predictor:
        """The predictor of the version in `directory` (`families`: a Workspace or its family
        registry, needed to rebuild the torch model)."""
        from engine.registry.loading import read_preprocessing

        check_backend(backend)
        directory = Path(directory)
        version = read_version(directory)
        try:
            preprocessing = read_preprocessing(directory)
        except (OSError, ValueError) as exc:
            raise RegistryError(
                f"{version.name} v{version.version}: its preprocessing.json cannot be read ({exc})"
            ) from None
        if backend == "onnx":
            runner = _onnx_runner(families, directory, preprocessing)
        else:
            runner = _torch_runner(_torch_model(families, directory))
        return cls(directory, version, preprocessing, runner, backend)

    def outputs(self, x: torch.Tensor) -> torch.Tensor:
        """The model's raw outputs for an input tensor, computed CHUNK examples at a time."""
        import torch

        from engine.inference.inputs import InputError

        if len(x) == 0:
            raise InputError("the input has no examples to predict (no data rows)")
        with torch.inference_mode():
            parts = [self._runner(x[start : start + CHUNK]) for start in range(0, len(x), CHUNK)]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def predict(self, path_or_paths: str | Path | Sequence[str | Path]) -> PredictionResult:
        """Predictions for a CSV file, an image file, a folder of images or a list of images;
        InputError (naming file, row and column) for inputs the model cannot take."""
        from engine.inference.inputs import (
            IMAGE_KINDS,
            check_preprocessing,
            image_paths,
            inputs_for,
            predictions,
        )

        check_preprocessing(self.preprocessing)  # a clear refusal for a record without one
        is_images = self.preprocessing.get("kind") in IMAGE_KINDS
        source: Any = image_paths(path_or_paths) if is_images else path_or_paths
        x = inputs_for(self.preprocessing, source)
        found = predictions(self.preprocessing, self.outputs(x))
        identifiers: list[int | str] = (
            [Path(p).name for p in source] if is_images else list(range(1, len(found) + 1))
        )
        items = [
            Prediction(identifier, p["prediction"], p.get("probabilities"))
            for identifier, p in zip(identifiers, found, strict=True)
        ]
        return PredictionResult(
            model=self.version.name,
            version=self.version.version,
            backend=self.backend,
            identifier_name="file" if is_images else "row",
            class_names=self._class_names(found),
            items=items,
        )

    def _class_names(self, found: list[dict[str, Any]]) -> list[str] | None:
        if not found or "probabilities" not in found[0]:
            return None
        return list(found[0]["probabilities"])


def load_predictor(workspace: Any, ref: str, backend: str = "torch") -> Predictor:
    """The predictor of `NAME[:VERSION|ALIAS]` (none: the latest version) in the workspace's
    home; RegistryError for an unknown model, version or alias, or backend."""
    check_backend(backend)
    return Predictor.open(workspace, resolve_version_dir(workspace.home, ref), backend)


def check_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise RegistryError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    return backend


# ---- backends --------------------------------------------------------------------------------


def _torch_model(families: Any, directory: Path) -> nn.Module:
    from engine.registry.loading import load_model

    model, _version = load_model(families, directory)
    return model


def _torch_runner(model: nn.Module) -> Runner:
    def run(x: torch.Tensor) -> torch.Tensor:
        return model(x)

    return run


def _onnx_runner(families: Any, directory: Path, preprocessing: dict[str, Any]) -> Runner:
    """An onnxruntime session over the version's model.onnx, or over an export of its torch
    model when the folder has none; the session lives as long as the runner."""
    import onnxruntime  # noqa: F401 - missing: refused before an export is made, not after

    kept = directory / ONNX_FILE
    if kept.is_file():
        model_bytes = kept.read_bytes()
        _check_kept_onnx(read_version(directory), model_bytes)
    else:  # exported and checked against torch as `models export --format onnx` does
        from engine.registry.export import example_inputs, onnx_bytes

        model = _torch_model(families, directory)
        example = example_inputs(families, read_version(directory), preprocessing)
        model_bytes, _difference = onnx_bytes(model, example)
    return session_runner(model_bytes)


def _check_kept_onnx(version: ModelVersion, model_bytes: bytes) -> None:
    """RegistryError unless a kept model.onnx hashes to the sha256 its version.json records
    (checked at import against the weights; a file changed since is not run). A version
    imported before the hash was recorded has none to check."""
    import hashlib

    recorded = version.onnx_sha256
    if recorded is not None and hashlib.sha256(model_bytes).hexdigest() != recorded:
        raise RegistryError(
            f"{version.name} v{version.version}: {ONNX_FILE} does not match its recorded "
            "sha256 (changed or damaged); it is not run"
        )


def session_runner(model_bytes: bytes) -> Runner:
    """An ONNX Runtime session over `model_bytes` (session_options), as a runner; the session
    lives as long as the runner."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        model_bytes, sess_options=session_options(), providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        import torch

        (outputs, *_rest) = session.run(None, {input_name: x.cpu().numpy()})
        return torch.from_numpy(outputs)

    return run


def session_options() -> Any:
    """ONNX Runtime on as many threads as torch uses here (the engine's setting: one per
    core by default, 1 in the benches and at publish), without spinning between calls (a
    spinning pool keeps the cores busy after a prediction, e.g. under the desktop app)."""
    import onnxruntime
    import torch

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


__all__ = [
    "BACKENDS",
    "CHUNK",
    "Prediction",
    "PredictionResult",
    "Predictor",
    "check_backend",
    "load_predictor",
]
