"""Publishing a completed variant as the next version of a registry model.

A version is written into the folder it claims (`v<N+1>`, created with exist_ok=False so two
publishes at once never take the same number), but built and checked first in a draft folder
inside it: the weights (safetensors, no pickle), the preprocessing and a draft version.json,
from which the model is loaded exactly as a user of the registry loads it and timed. Only then
are the files moved into the version folder, version.json last: until that file exists the
folder is not a version, and a publish that fails removes the folder it claimed.

Importing this module does not import torch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine._version import __version__
from engine.atomic import atomic_write_json, sha256_file
from engine.errors import CheckpointError, TrainwrightError
from engine.metadata import CheckpointEntry, VariantMetadata, now
from engine.registry.records import (
    PREPROCESSING_FILE,
    VERSION_FILE,
    WEIGHTS_FILE,
    Lineage,
    ModelVersion,
    RegistryError,
    check_alias,
    claim_version_folder,
    model_dir,
)
from engine.variants import Variant

if TYPE_CHECKING:
    import torch

    from engine.backends.variant_weights import VerifiedWeights
    from engine.workspace import Workspace

CHECKPOINT_CHOICES = ("best", "final")
DRAFT_DIR = "~draft"  # inside a claimed version folder; '~' never appears in a model name
TIMED_EXAMPLES = 1000
TIMED_RUNS = 3
TIMED_CHUNK = 250  # examples per forward pass while timing: bounds the memory of big inputs
METRIC_PREFIX = "test_"


def publish(
    workspace: Workspace,
    variant_name: str,
    name: str,
    *,
    notes: str = "",
    alias: str | None = None,
    checkpoint: str = "best",
) -> ModelVersion:
    """Publish the completed variant `variant_name` as the next version of model `name`.

    `checkpoint` "best" takes the variant's best checkpoint when it has one (its last weights
    otherwise); "final" its last weights. `alias`, if given, points at the new version once
    it is published. RegistryError (nothing written) for a bad name or alias, a variant that
    is unknown or not completed, or weights that cannot be read."""
    from engine.registry.store import RegistryStore

    home = Path(workspace.home)
    folder = model_dir(home, name)  # checks the name before anything is touched
    if alias is not None:
        check_alias(alias)
    if checkpoint not in CHECKPOINT_CHOICES:
        raise RegistryError(
            f"checkpoint {checkpoint!r} is not one of {', '.join(CHECKPOINT_CHOICES)}"
        )
    variant, meta = _completed_variant(workspace, variant_name)
    source = _source(variant, meta, checkpoint)
    weights = _verified_weights(workspace, variant, source.entry)
    fields = {**_version_fields(workspace, variant, meta, source, weights), "notes": notes}
    version = _write_version(workspace, folder, name, fields, weights.state)
    try:
        store = RegistryStore(home)  # the index takes the new version in
    except RegistryError:
        store = None  # the folders are the truth; the index catches up when it opens again
    if alias is not None:
        try:
            if store is None:
                store = RegistryStore(home)
            store.set_alias(name, alias, version.version)
        except RegistryError as exc:  # the version stands: say so rather than "failed"
            raise RegistryError(
                f"published {name} v{version.version}, but its alias {alias!r} was not set: "
                f"{exc} (set it with `trainwright models alias {name} {alias} "
                f"{version.version}`)"
            ) from None
    return version


class _Source:
    """Which of the variant's checkpoints is published, as what, and the test metrics of it."""

    def __init__(self, entry: CheckpointEntry, kind: str, metrics: dict[str, float]) -> None:
        self.entry, self.kind, self.metrics = entry, kind, metrics


def _completed_variant(workspace: Workspace, variant_name: str) -> tuple[Variant, VariantMetadata]:
    """The variant and its metadata; RegistryError unless it exists and its run completed (a
    live run reads as "training", whatever its metadata says)."""
    try:
        variant = workspace.variant(variant_name)
        status = workspace.summary(variant.name, variant.family).status
    except TrainwrightError as exc:
        raise RegistryError(f"cannot publish {variant_name!r}: {exc}") from None
    if status != "completed":
        raise RegistryError(
            f"cannot publish {variant_name}: its status is {status!r}; only a completed "
            "variant can be published"
        )
    return variant, VariantMetadata.load(variant.metadata_path)


def _source(variant: Variant, meta: VariantMetadata, asked: str) -> _Source:
    """The best checkpoint (when asked and there is one) or the final weights."""
    best = [c for c in meta.checkpoints if c.kind == "best"]
    if asked == "best" and best and meta.best is not None:
        entry = best[-1]
        metrics = _test_metrics(meta.final_metrics) if _final_epoch(meta) == entry.epoch else {}
        metrics[meta.best.metric] = float(meta.best.value)
        if meta.best.test_loss is not None:
            metrics["test_loss"] = float(meta.best.test_loss)
        return _Source(entry, "best", _finite(metrics))
    final = [
        c
        for c in meta.checkpoints
        if c.kind in ("weights", "full") and c.epoch == meta.epochs_completed
    ]
    if not final:
        raise RegistryError(
            f"cannot publish {variant.name}: it has no weights checkpoint of its final epoch "
            f"({meta.epochs_completed})"
        )
    entry = max(final, key=lambda c: (c.step, c.kind == "weights"))
    return _Source(entry, "final", _finite(_test_metrics(meta.final_metrics)))


def _final_epoch(meta: VariantMetadata) -> int | None:
    epoch = meta.final_metrics.get("epoch")
    return int(epoch) if isinstance(epoch, int | float) else None


def _test_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The test metrics (test_loss, test_accuracy, test_r2, ...) among a run's final ones."""
    return {
        key: float(value)
        for key, value in metrics.items()
        if key.startswith(METRIC_PREFIX) and isinstance(value, int | float)
    }


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    """JSON cannot hold NaN or infinity portably: such a metric is left out."""
    return {key: value for key, value in metrics.items() if math.isfinite(value)}


def _verified_weights(
    workspace: Workspace, variant: Variant, entry: CheckpointEntry
) -> VerifiedWeights:
    """The checkpoint's weights, verified against metadata.json (a tensorflow variant's
    converted into its family's torch model: the version holds torch weights either way), as
    contiguous CPU tensors that share no memory (what safetensors stores)."""
    from engine.backends.variant_weights import (
        VerifiedWeights,
        load_verified_weights,
        variant_template,
    )

    family = workspace.registry.family(variant.family)
    try:
        loaded = load_verified_weights(
            variant.checkpoints_dir / entry.file,
            sha256=entry.sha256,
            weights_sha256=entry.weights_sha256,
            template=variant_template(variant, family),
        )
    except CheckpointError as exc:
        raise RegistryError(f"cannot publish {variant.name}: {exc}") from None
    state = {
        key: tensor.detach().to("cpu").contiguous().clone() for key, tensor in loaded.state.items()
    }
    return VerifiedWeights(state, loaded.weights_sha256, loaded.backend)


def _version_fields(
    workspace: Workspace,
    variant: Variant,
    meta: VariantMetadata,
    source: _Source,
    weights: VerifiedWeights,
) -> dict[str, Any]:
    """Everything version.json records but the name, number, files, notes and timing."""
    from engine.families.param_count import meta_model
    from engine.hashing import weights_sha256

    family = workspace.registry.family(variant.family)
    config = variant.config
    domain = dict(config.domain)
    preprocessing = meta.preprocessing
    if preprocessing is None:  # a variant trained before preprocessing was recorded
        training = config.training
        preprocessing = family.preprocessing(domain, training.training_fraction, training.data_seed)
    model = meta_model(family, domain)
    return {
        "variant": variant.name,
        "family": variant.family,
        "checkpoint": source.kind,
        "epoch": source.entry.epoch,
        "config": json.loads(variant.config_path.read_text(encoding="utf-8")),
        "task_type": _task_type(family, domain, preprocessing),
        "class_names": meta.class_names or family.class_names(domain),
        "metrics": source.metrics,
        "dataset": config.data.id if config.data is not None else domain.get("dataset"),
        "data_sha256": config.data.sha256 if config.data is not None else None,
        "weights_sha256": weights_sha256(weights.state),
        **_trained_with(weights),
        "parameters": sum(p.numel() for p in model.parameters()),
        "lineage": _lineage(variant, meta),
        "preprocessing": preprocessing,
    }


def _trained_with(weights: VerifiedWeights) -> dict[str, Any]:
    """Which library trained the weights; for a tensorflow variant also the hash of its Keras
    weights, which its metadata records and the converted torch weights' hash is not."""
    if weights.backend == "torch":
        return {"trained_with": "torch"}
    return {"trained_with": weights.backend, "trained_weights_sha256": weights.weights_sha256}


def _task_type(family: Any, domain: dict[str, Any], preprocessing: Any) -> str | None:
    if isinstance(preprocessing, dict) and isinstance(preprocessing.get("task_type"), str):
        return preprocessing["task_type"]
    try:
        return family.task_type(domain)
    except Exception:  # a family that cannot tell without its data: not recorded
        return None


def _lineage(variant: Variant, meta: VariantMetadata) -> Lineage:
    """The teacher of a distilled student and the variant a transfer run started from, as its
    metadata records them (its config where the metadata has no record)."""
    teacher = meta.extra.get("teacher")
    teacher_name = teacher.get("variant") if isinstance(teacher, dict) else None
    teacher_name = teacher_name or variant.config.strategy_params.get("teacher") or None
    init = meta.extra.get("init_from")
    init_name = init.get("variant") if isinstance(init, dict) else None
    init_hash = init.get("weights_sha256") if isinstance(init, dict) else None
    init_name = init_name or getattr(variant.config.training, "init_from", "") or None
    return Lineage(teacher=teacher_name, init_from=init_name, init_from_weights_sha256=init_hash)


# ---- writing ---------------------------------------------------------------------------------
def _write_version(
    workspace: Workspace,
    folder: Path,
    name: str,
    fields: dict[str, Any],
    state: dict[str, torch.Tensor],
) -> ModelVersion:
    """Claim the next version folder and fill it (see the module docstring); on any failure
    the claimed folder is removed."""
    number, directory = claim_version_folder(folder)
    try:
        draft = directory / DRAFT_DIR
        draft.mkdir()
        version = _write_draft(draft, name, number, fields, state)
        version.inference_ms_per_1000 = _time_inference(workspace, draft, fields)
        atomic_write_json(draft / VERSION_FILE, version.model_dump(mode="json"))
        for filename in (WEIGHTS_FILE, PREPROCESSING_FILE, VERSION_FILE):  # version.json last
            os.replace(draft / filename, directory / filename)
        draft.rmdir()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):  # a model folder this publish made, left empty
            folder.rmdir()
        raise
    return version


def _write_draft(
    draft: Path, name: str, number: int, fields: dict[str, Any], state: dict[str, torch.Tensor]
) -> ModelVersion:
    """The weights, preprocessing and version record of the new version, in `draft`."""
    from safetensors.torch import save_file

    weights = draft / WEIGHTS_FILE
    save_file(state, str(weights))
    atomic_write_json(draft / PREPROCESSING_FILE, fields["preprocessing"])
    record = {key: value for key, value in fields.items() if key != "preprocessing"}
    version = ModelVersion(
        name=name,
        version=number,
        created_at=now(),
        file_sha256=sha256_file(weights),
        size_bytes=weights.stat().st_size,
        engine_version=__version__,
        **record,
    )
    atomic_write_json(draft / VERSION_FILE, version.model_dump(mode="json"))
    return version


def _time_inference(workspace: Workspace, directory: Path, fields: dict[str, Any]) -> float:
    """Milliseconds per 1,000 test examples through the model loaded from `directory` as the
    registry loads it, on one thread (the number of threads is put back after), best of 3."""
    import torch

    from engine.registry.loading import load_model

    model, _ = load_model(workspace, directory)
    inputs = _timing_inputs(workspace, fields)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = math.inf
        with torch.inference_mode():
            for _ in range(TIMED_RUNS):
                started = time.perf_counter()
                for start in range(0, len(inputs), TIMED_CHUNK):
                    model(inputs[start : start + TIMED_CHUNK])
                best = min(best, time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)
    return best * 1000.0 * TIMED_EXAMPLES / len(inputs)


def _timing_inputs(workspace: Workspace, fields: dict[str, Any]) -> torch.Tensor:
    """The test split's inputs, repeated or cut to 1,000 examples (the training split's when
    the test split is empty)."""
    import torch

    family = workspace.registry.family(fields["family"])
    config = fields["config"]
    training = config.get("training", {})
    train_x, _, test_x, _ = family.generate_training_dataset(
        dict(config.get("domain", {})),
        training.get("training_fraction", 0.8),
        training.get("data_seed", 0),
    )
    x = test_x if len(test_x) else train_x
    if not len(x):
        raise RegistryError(f"variant {fields['variant']} has no examples to time its model on")
    repeats = -(-TIMED_EXAMPLES // len(x))
    return torch.cat([x] * repeats)[:TIMED_EXAMPLES]
