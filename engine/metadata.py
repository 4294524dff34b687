"""metadata.json: a variant's status, timings, metrics, versions and checkpoint list.

`VariantMetadata.load` never raises anything but MetadataError (a ValueError and a
TrainwrightError: one line naming the file) for a missing, undecodable or ill-typed file;
a variant whose run was killed between writing config.json and metadata.json (nothing trained)
reads as "created", from its config.json.
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from engine._version import __version__
from engine.atomic import atomic_write_json
from engine.errors import VariantError
from engine.variants import CHECKPOINTS_DIR, CHRONICLE_FILE, CONFIG_FILE

if TYPE_CHECKING:
    from engine.variants import RunConfig


class MetadataError(VariantError, ValueError):
    """metadata.json (or config.json) is missing, unreadable or of the wrong shape."""


class ConfigEdited(VariantError):
    """config.json's contents no longer hash to the config_hash stored in it."""


# "timed_out": stopped by its `timeout` with a resumable checkpoint, like "cancelled" by a Stop.
VariantStatus = Literal["created", "training", "completed", "failed", "cancelled", "timed_out"]


class CheckpointEntry(BaseModel):
    """One checkpoint file. `sha256` is the file's own hash; `weights_sha256` that of its model's
    tensors; a full checkpoint also has `state_sha256` (model, optimizer, RNG and config, see
    engine.training.checkpoints.state_sha256) and the chronicle it covers: its first
    `chronicle_bytes` bytes, `chronicle_lines` lines hashing to `chronicle_sha256`. Entries
    written before those existed have None (`trainwright verify` then skips those checks).

    Kind "best" is `checkpoints/best.pt`: the weights of the best evaluation so far (see
    `VariantMetadata.best`), laid out like a weights checkpoint; its epoch and step are that
    evaluation's. `confusion` (rows: true class, columns: predicted) is the test split's
    confusion matrix at that epoch, on weights and best entries of evaluated epochs of families
    that report one (family.json `analyses` lists "confusion_matrix")."""

    file: str
    kind: Literal["weights", "full", "best"]
    epoch: int
    step: int
    sha256: str
    weights_sha256: str | None = None
    state_sha256: str | None = None
    chronicle_bytes: int | None = None
    chronicle_lines: int | None = None
    chronicle_sha256: str | None = None
    confusion: list[list[int]] | None = None


class ClassificationReport(BaseModel):
    """The latest evaluation's confusion matrix (rows: true class, columns: predicted) and
    each class's accuracy on the test split (None for a class without test examples)."""

    epoch: int
    step: int
    confusion: list[list[int]]
    per_class_accuracy: list[float | None]


class BestRecord(BaseModel):
    """The best evaluation of the run (`keep_best`): the highest `metric` ("test_accuracy", or
    "test_r2" for regression; a tie goes to the lower test loss), whose weights are in `file`
    (checkpoints/best.pt, also listed in `checkpoints` as kind "best")."""

    metric: str
    value: float
    test_loss: float | None = None
    epoch: int
    step: int
    file: str
    weights_sha256: str


class Attempt(BaseModel):
    """One attempt of a run (see the trainer's retries): the first, and one more for each
    retry after a non-finite or diverged loss. `lr` is its peak learning rate, the config's
    `lr` times `lr_scale` (retry_lr_factor once per retry before it); it started from the end of
    epoch `from_epoch` (step `from_step`; 0: from scratch). `error`, `epoch` and `step` say
    why and where it failed; all None for the attempt running now or the one that succeeded."""

    attempt: int
    lr: float
    lr_scale: float = 1.0
    error: str | None = None
    epoch: int | None = None
    step: int | None = None
    from_epoch: int = 0
    from_step: int = 0


class VariantMetadata(BaseModel):
    model_config = ConfigDict(extra="allow")

    family: str
    variant: str
    config_hash: str
    status: VariantStatus = "created"
    created_at: str
    started_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None
    epochs_completed: int = 0
    total_epochs: int = 0
    steps: int = 0
    elapsed_s: float = 0.0
    final_metrics: dict[str, Any] = {}
    warnings: list[str] = []
    error_message: str | None = None
    weights_sha256: str | None = None
    versions: dict[str, str] = {}
    platform: dict[str, Any] = {}
    checkpoints: list[CheckpointEntry] = []
    # Every attempt of the run, the last the one running now or the one that ended it (so a
    # completed run's last attempt is the one that succeeded); empty before 0.2.0's retries.
    attempts: list[Attempt] = []
    effective_lr: float | None = None  # the last attempt's peak lr (None before retries existed)
    # What the data is (0.3.0): each class index's name (family.class_names) and what raw
    # inputs go through before the model (family.preprocessing), written at the start of a run.
    class_names: list[str] | None = None
    preprocessing: dict[str, Any] | None = None
    classification: ClassificationReport | None = None  # the latest evaluation's
    best: BestRecord | None = None  # with `keep_best`, once an evaluation happened
    # Why a completed run ended where it did when something else than its epoch count ended it
    # ("target test_accuracy ≥ 0.95 reached at epoch 12 (0.9611)"); None otherwise.
    stop_reason: str | None = None
    extra: dict[str, Any] = {}

    def save(self, path: Path) -> None:
        self.updated_at = now()
        atomic_write_json(path, self.model_dump(mode="json"))

    @classmethod
    def load(cls, path: Path) -> VariantMetadata:
        """The metadata in `path`; MetadataError (one line) if it cannot be read as such.

        A missing file beside a config.json whose run never trained a step (no chronicle
        line, no checkpoint: it was killed before metadata.json was written) reads as a
        "created" variant of that config."""
        path = Path(path)
        try:
            data = json.loads(path.read_bytes().decode("utf-8"))
        except FileNotFoundError:
            created = _created_from_config(path.parent)
            if created is None:
                raise MetadataError(f"{path.name} is missing") from None
            return created
        except (OSError, ValueError, RecursionError) as exc:
            raise MetadataError(f"{path.name} is unreadable: {_short(exc)}") from None
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise MetadataError(f"{path.name} is unreadable: {validation_summary(exc)}") from None


def validation_summary(exc: ValidationError) -> str:
    """A pydantic error in one line: the first problem, where it is, and how many more."""
    errors = exc.errors()
    if not errors:
        return "invalid"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or "the top level"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _created_from_config(directory: Path) -> VariantMetadata | None:
    """The metadata of a variant that was created but never trained (its run was killed before
    metadata.json was written), from its config.json; None if it trained anything or its
    config.json cannot tell."""
    config = directory / CONFIG_FILE
    chronicle = directory / CHRONICLE_FILE
    checkpoints = directory / CHECKPOINTS_DIR
    try:
        if chronicle.exists() and chronicle.stat().st_size:
            return None
        if checkpoints.is_dir() and any(
            p.name.startswith(("weights_", "state_")) for p in checkpoints.iterdir()
        ):
            return None
        data = json.loads(config.read_bytes().decode("utf-8"))
        created = datetime.fromtimestamp(config.stat().st_mtime, UTC)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    training = data.get("training")
    epochs = training.get("epochs", 0) if isinstance(training, dict) else 0
    try:
        return VariantMetadata(
            family=data.get("family"),
            variant=data.get("variant"),
            config_hash=data.get("config_hash"),
            created_at=created.isoformat(timespec="seconds"),
            total_epochs=epochs,
        )
    except ValidationError:
        return None


def check_config_hash(config: RunConfig, path: Path) -> None:
    """ConfigEdited (one line, naming `path`) if `config`, read from config.json at `path`, was
    edited by hand: its contents no longer hash to the config_hash stored with them. A config
    stored without a hash (older files) is not checked."""
    if config.config_hash and config.with_hash().config_hash != config.config_hash:
        raise ConfigEdited(
            f"{Path(path).name} was edited: its config_hash does not match its contents "
            f"({path}); put back what was changed, or train a new variant"
        )


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def environment(threads: int, device: str) -> tuple[dict[str, str], dict[str, Any]]:
    """Versions and platform facts that bit-identical replay depends on."""
    import numpy
    import torch

    versions = {
        "engine": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
    }
    facts = {
        "system": platform.system(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch_threads": threads,
        "device": device,
    }
    return versions, facts
