"""Export a published model version for use outside Trainwright.

Formats:
    onnx          one self-contained .onnx file (dynamic batch), checked with onnxruntime
                  against the torch model before it is kept
    safetensors   the weights, with the version's config, preprocessing and identity as
                  safetensors metadata (str -> str JSON)
    torch-export  a torch.export program (.pt2), dynamic batch, for torch.export.load
    bundle        a ZIP that another home imports (engine.registry.bundle): model.onnx, the
                  version's files as stored, a MODEL_CARD.md and a MANIFEST.json of hashes

Every file is written atomically (a reader sees no half-written export), and an existing
output is refused unless `force`: an export never overwrites by surprise.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.atomic import atomic_write_bytes
from engine.registry.loading import load_model, load_state, read_preprocessing
from engine.registry.records import (
    PREPROCESSING_FILE,
    VERSION_FILE,
    WEIGHTS_FILE,
    ModelVersion,
    RegistryError,
    read_version,
    resolve_version_dir,
)

if TYPE_CHECKING:
    import torch
    from torch import nn

FORMATS = ("onnx", "safetensors", "torch-export", "bundle")
ONNX_TOLERANCE = 1e-4  # max abs difference allowed between onnxruntime and torch outputs
EXAMPLE_COUNT = 64  # test examples the exports are traced and checked on
FALLBACK_BATCH = 8  # rows of the made-up batch when the dataset is not readable here
INPUT_NAME = "input"
OUTPUT_NAME = "output"

# The entries of a bundle, in the order they are written.
ONNX_ENTRY = "model.onnx"
MODEL_CARD_ENTRY = "MODEL_CARD.md"
MANIFEST_ENTRY = "MANIFEST.json"
BUNDLE_FORMAT = "trainwright-model-bundle"
BUNDLE_FORMAT_VERSION = 1
BUNDLE_ENTRIES = (
    ONNX_ENTRY,
    WEIGHTS_FILE,
    PREPROCESSING_FILE,
    VERSION_FILE,
    MODEL_CARD_ENTRY,
    MANIFEST_ENTRY,
)
METADATA_KEYS = ("trainwright.config", "trainwright.preprocessing", "trainwright.version")


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and what it is; `max_abs_diff` is the ONNX check's (onnx and
    bundle), None for the formats that hold the torch weights themselves."""

    path: Path
    format: str
    size_bytes: int
    name: str
    version: int
    max_abs_diff: float | None = None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return data


def export_version(
    workspace: Any, ref: str, fmt: str, out: Path | str, *, force: bool = False
) -> ExportResult:
    """Export the version `ref` (NAME[:VERSION|ALIAS]) of this home's registry as `fmt` to
    `out`; RegistryError for an unknown format, model or version, an existing `out` without
    `force`, or an ONNX export that does not reproduce the torch outputs."""
    if fmt not in FORMATS:
        raise RegistryError(f"unknown export format {fmt!r} (formats: {', '.join(FORMATS)})")
    out = Path(out).expanduser()
    if out.exists() and not force:
        raise RegistryError(f"{out} already exists (use --force to replace it)")
    if out.is_dir():
        raise RegistryError(f"{out} is a folder; give a file path")
    directory = resolve_version_dir(workspace.home, ref)
    difference: float | None = None
    if fmt == "safetensors":  # the verified weights alone: no model to build
        version = read_version(directory)
        data = safetensors_bytes(directory, version)
    else:
        model, version = load_model(workspace, directory)
        preprocessing = read_preprocessing(directory)
        if fmt == "bundle":
            _check_bundleable(version, preprocessing)
        example = example_inputs(workspace, version, preprocessing)
        if fmt == "onnx":
            data, difference = onnx_bytes(model, example)
        elif fmt == "torch-export":
            data = torch_export_bytes(model, example)
        else:
            data, difference = bundle_bytes(directory, version, model, example)
    atomic_write_bytes(out, data)
    return ExportResult(out, fmt, len(data), version.name, version.version, difference)


def _check_bundleable(version: ModelVersion, preprocessing: Any) -> None:
    """A bundle is for predicting elsewhere: refuse one whose inputs cannot be prepared there
    (a family that records no preprocessing) rather than write a bundle no home imports."""
    from engine.inference.inputs import InputError, check_preprocessing

    try:
        check_preprocessing(preprocessing)
    except InputError as exc:
        raise RegistryError(f"{version.name} v{version.version} cannot be bundled: {exc}") from None


# ---- example inputs ----------------------------------------------------------------------


def example_inputs(workspace: Any, version: ModelVersion, preprocessing: dict[str, Any]) -> Any:
    """The inputs the exports are traced and checked on: the first test examples of the
    version's own split (realistic values, so the ONNX check means something), or, when the
    dataset cannot be read in this home, a seeded batch of the recorded input shape."""
    real = _test_split_inputs(workspace, version)
    if real is not None and len(real) >= 2:  # a batch of 1 would fix the batch dimension
        return real[:EXAMPLE_COUNT]
    return shaped_batch(preprocessing)


def _test_split_inputs(workspace: Any, version: ModelVersion) -> torch.Tensor | None:
    from engine.datasets import DatasetError

    config = version.config
    training = config.get("training", {})
    try:
        family = getattr(workspace, "registry", workspace).family(version.family)
        split = family.generate_training_dataset(
            dict(config.get("domain", {})),
            float(training["training_fraction"]),
            int(training["data_seed"]),
        )
    except (DatasetError, OSError, KeyError, TypeError, ValueError):
        return None
    return split[2]


def shaped_batch(preprocessing: dict[str, Any], rows: int = FALLBACK_BATCH) -> torch.Tensor:
    """A seeded batch shaped as the preprocessing record says the model's input is: table and
    image_flat [n, features] float32, image [n, c, s, s] float32, modulo int64 [n, 3]."""
    import torch

    generator = torch.Generator().manual_seed(0)
    kind = preprocessing.get("kind")
    if kind == "modulo":
        prime = int(preprocessing["prime"])
        pairs = torch.randint(0, prime, (rows, 2), generator=generator)
        return torch.cat([pairs, torch.full((rows, 1), prime)], dim=1).to(torch.int64)
    if kind == "image":
        channels, size = int(preprocessing["channels"]), int(preprocessing["image_size"])
        return torch.randn((rows, channels, size, size), generator=generator)
    if kind in ("table", "image_flat"):
        return torch.randn((rows, len(preprocessing["mean"])), generator=generator)
    raise RegistryError(
        f"cannot make an example input for preprocessing kind {kind!r}, and the version's "
        "dataset is not readable here"
    )


# ---- formats -----------------------------------------------------------------------------


def exported_program(model: nn.Module, example: torch.Tensor) -> Any:
    """The model as a torch.export program whose batch dimension is dynamic. Non-strict
    tracing first; strict (dynamo) tracing when that pins the batch (code such as
    `len(tokens)` reads a traced size as a plain int there, and the export would only take
    batches of the example's size)."""
    import torch

    shapes = ({0: torch.export.Dim("batch")},)
    failure: Exception | None = None
    for strict in (False, True):
        try:
            return torch.export.export(model, (example,), dynamic_shapes=shapes, strict=strict)
        except Exception as exc:  # torch.export raises several unrelated error types
            failure = exc
    raise RegistryError(f"the model could not be exported with a dynamic batch: {failure}")


def onnx_bytes(model: nn.Module, example: torch.Tensor) -> tuple[bytes, float]:
    """The model as one ONNX file (dynamic batch, input "input", output "output") and the max
    abs difference between onnxruntime's and torch's outputs on `example` and on a smaller
    batch; RegistryError when that difference is above ONNX_TOLERANCE (the export would
    compute something else) or a batch of another size is refused."""
    import torch

    program = exported_program(model, example)
    with tempfile.TemporaryDirectory(prefix="trainwright-onnx-") as folder, _quiet_exporter():
        path = Path(folder) / ONNX_ENTRY
        try:
            torch.onnx.export(
                program,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                external_data=False,
                dynamo=True,
                verbose=False,
            )
        except Exception as exc:  # the exporter's errors have no common base class
            raise RegistryError(f"the model could not be exported to ONNX: {exc}") from None
        data = path.read_bytes()
    difference = onnx_max_abs_diff(data, model, [example, example[: max(len(example) // 2, 1)]])
    if not difference <= ONNX_TOLERANCE:  # NaN fails too
        raise RegistryError(
            f"the ONNX export differs from the torch model by {difference:.3g} (more than "
            f"{ONNX_TOLERANCE}); nothing was written"
        )
    return data, difference


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The ONNX exporter's progress lines, log lines and warnings (optional operator sets it
    skips, deprecated internals) mean nothing to a user exporting a model: keep them off the
    terminal (a failure still raises)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        # Its progress lines go to stdout, where `predict` may be writing a CSV or JSON.
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def onnx_max_abs_diff(data: bytes, model: nn.Module, batches: list[torch.Tensor]) -> float:
    """Max abs difference between onnxruntime (CPU) running `data` and torch, over `batches`;
    RegistryError when onnxruntime refuses one (a batch size the export pinned)."""
    import numpy as np
    import onnxruntime
    import torch

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    worst = 0.0
    for batch in batches:
        try:
            theirs = session.run(None, {input_name: batch.numpy()})[0]
        except Exception as exc:  # onnxruntime's errors are not importable types
            raise RegistryError(
                f"the ONNX export does not run on a batch of {len(batch)}: {exc}"
            ) from None
        with torch.inference_mode():
            ours = model(batch).detach().cpu().numpy()
        if theirs.shape != ours.shape:
            raise RegistryError(
                f"the ONNX export gives outputs of shape {theirs.shape}, the model {ours.shape}"
            )
        difference = np.abs(theirs.astype(np.float64) - ours.astype(np.float64))
        worst = max(worst, float(np.max(difference, initial=0.0)))
    return worst


def safetensors_bytes(directory: Path, version: ModelVersion) -> bytes:
    """The version's verified weights as safetensors, with its config, preprocessing and
    identity as JSON strings under METADATA_KEYS (safetensors metadata is str -> str)."""
    from safetensors.torch import save

    state = load_state(directory, version)
    identity = version.model_dump(mode="json", exclude={"config"})
    metadata = {
        "trainwright.config": json.dumps(version.config, sort_keys=True),
        "trainwright.preprocessing": json.dumps(read_preprocessing(directory), sort_keys=True),
        "trainwright.version": json.dumps(identity, sort_keys=True),
    }
    return save({k: v.contiguous() for k, v in state.items()}, metadata=metadata)


def torch_export_bytes(model: nn.Module, example: torch.Tensor) -> bytes:
    """The model as a torch.export program with a dynamic batch (.pt2 bytes)."""
    import torch

    buffer = io.BytesIO()
    torch.export.save(exported_program(model, example), buffer)
    return buffer.getvalue()


def bundle_bytes(
    directory: Path, version: ModelVersion, model: nn.Module, example: torch.Tensor
) -> tuple[bytes, float]:
    """The bundle ZIP (see the module docstring) and its ONNX check's difference. The
    version's files go in byte for byte, so their recorded hashes still hold after import."""
    onnx_data, difference = onnx_bytes(model, example)
    entries = {
        ONNX_ENTRY: onnx_data,
        WEIGHTS_FILE: (directory / WEIGHTS_FILE).read_bytes(),
        PREPROCESSING_FILE: (directory / PREPROCESSING_FILE).read_bytes(),
        VERSION_FILE: (directory / VERSION_FILE).read_bytes(),
    }
    preprocessing = json.loads(entries[PREPROCESSING_FILE])
    card = model_card(version, preprocessing, len(onnx_data), difference)
    entries[MODEL_CARD_ENTRY] = card.encode("utf-8")
    entries[MANIFEST_ENTRY] = manifest_bytes(entries)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in BUNDLE_ENTRIES:
            archive.writestr(name, entries[name])
    return buffer.getvalue(), difference


def manifest_bytes(entries: dict[str, bytes]) -> bytes:
    """MANIFEST.json: the sha256 and size of every other entry, checked on import."""
    import hashlib

    listed = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
        for name, data in sorted(entries.items())
        if name != MANIFEST_ENTRY
    }
    manifest = {
        "format": BUNDLE_FORMAT,
        "format_version": BUNDLE_FORMAT_VERSION,
        "entries": listed,
    }
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")


# ---- the model card ----------------------------------------------------------------------


def model_card(
    version: ModelVersion, preprocessing: dict[str, Any], onnx_size: int, difference: float
) -> str:
    """MODEL_CARD.md: what a reader of the bundle needs to trust and use the model."""
    sections = [
        f"# {version.name} v{version.version}\n",
        _overview(version, preprocessing),
        _configuration(version),
        _data(version),
        _metrics(version),
        _lineage(version),
        _integrity(version, onnx_size, difference),
        _usage(version, preprocessing),
    ]
    return "\n".join(sections)


def _table(rows: list[tuple[str, Any]]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| {key} | {_cell(value)} |" for key, value in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text.replace("|", "\\|").replace("\n", " ")


def _overview(version: ModelVersion, preprocessing: dict[str, Any]) -> str:
    rows: list[tuple[str, Any]] = [
        ("Model", version.name),
        ("Version", version.version),
        ("Task", version.task_type or "other"),
        ("Family", version.family),
        ("Published", version.created_at),
        (
            "From variant",
            f"{version.variant} ({version.checkpoint} weights, epoch {version.epoch})",
        ),
        ("Input kind", preprocessing.get("kind", "unknown")),
        ("Engine version", version.engine_version),
    ]
    if version.class_names:
        rows.append(("Classes", ", ".join(version.class_names)))
    notes = f"\n{version.notes}\n" if version.notes else ""
    return "## Overview\n\n" + _table(rows) + notes


def _configuration(version: ModelVersion) -> str:
    domain = version.config.get("domain", {})
    training = version.config.get("training", {})
    keys = ("epochs", "batch_size", "lr", "optimizer", "weight_decay", "scheduler", "data_seed")
    rows = [(f"domain.{k}", v) for k, v in sorted(domain.items())]
    rows += [(f"training.{k}", training[k]) for k in keys if k in training]
    strategy = version.config.get("strategy")
    if strategy and strategy != "native":
        rows.append(("strategy", strategy))
    return "## Configuration\n\n" + _table(rows)


def _data(version: ModelVersion) -> str:
    rows = [
        ("Dataset", version.dataset or "unknown"),
        ("Data sha256", version.data_sha256 or "built-in (versioned with the app)"),
    ]
    return "## Data\n\n" + _table(rows)


def _metrics(version: ModelVersion) -> str:
    if not version.metrics:
        return "## Metrics\n\nNone recorded.\n"
    rows = [(name, f"{value:.6g}") for name, value in sorted(version.metrics.items())]
    return "## Metrics (test split)\n\n" + _table(rows)


def _lineage(version: ModelVersion) -> str:
    lineage = version.lineage
    rows = [
        ("Teacher (distillation)", lineage.teacher or "none"),
        ("Initialised from", lineage.init_from or "none"),
    ]
    if lineage.init_from_weights_sha256:
        rows.append(("Initial weights sha256", lineage.init_from_weights_sha256))
    return "## Lineage\n\n" + _table(rows)


def _integrity(version: ModelVersion, onnx_size: int, difference: float) -> str:
    from engine.units import format_bytes

    speed = version.inference_ms_per_1000
    rows = [
        ("Parameters", f"{version.parameters:,}"),
        ("Weights size", f"{format_bytes(version.size_bytes)} ({version.size_bytes} bytes)"),
        ("ONNX size", f"{format_bytes(onnx_size)} ({onnx_size} bytes)"),
        ("Inference speed", f"{speed:.3g} ms per 1,000 examples (one thread)" if speed else "—"),
        ("weights_sha256", version.weights_sha256),
        ("weights.safetensors sha256", version.file_sha256),
        ("ONNX vs torch max abs difference", f"{difference:.3g}"),
    ]
    note = "\nEvery entry's sha256 and size are listed in MANIFEST.json.\n"
    return "## Size, speed and hashes\n\n" + _table(rows) + note


def _usage(version: ModelVersion, preprocessing: dict[str, Any]) -> str:
    kind = preprocessing.get("kind")
    given = "a folder of images (or image files)" if kind in ("image", "image_flat") else "a CSV"
    return (
        "## How to predict\n\n"
        "With Trainwright (the import prints the name and version it was given there):\n\n"
        "```\n"
        "trainwright models import this-bundle.zip\n"
        f"trainwright predict {version.name} INPUT      # INPUT: {given}\n"
        "```\n\n"
        "With onnxruntime alone: prepare inputs as preprocessing.json describes "
        f'(kind "{kind}"), then\n\n'
        "```python\n"
        "import onnxruntime\n"
        'session = onnxruntime.InferenceSession("model.onnx", '
        'providers=["CPUExecutionProvider"])\n'
        f'outputs = session.run(None, {{"{INPUT_NAME}": x}})[0]  # x: a batch, any size\n'
        "```\n"
    )
