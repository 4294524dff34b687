"""metadata.json: a variant's status, timings, metrics, versions and checkpoint list."""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from engine._version import __version__
from engine.atomic import atomic_write_json

VariantStatus = Literal["created", "training", "completed", "failed", "cancelled"]


class CheckpointEntry(BaseModel):
    """One checkpoint file. `sha256` is the file's own hash; `weights_sha256` that of its model's
    tensors; a full checkpoint also has `state_sha256` (model, optimizer, RNG and config, see
    engine.training.checkpoints.state_sha256) and the chronicle it covers: its first
    `chronicle_bytes` bytes, `chronicle_lines` lines hashing to `chronicle_sha256`. Entries
    written before those existed have None (`trainwright verify` then skips those checks)."""

    file: str
    kind: Literal["weights", "full"]
    epoch: int
    step: int
    sha256: str
    weights_sha256: str | None = None
    state_sha256: str | None = None
    chronicle_bytes: int | None = None
    chronicle_lines: int | None = None
    chronicle_sha256: str | None = None


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
    extra: dict[str, Any] = {}

    def save(self, path: Path) -> None:
        self.updated_at = now()
        atomic_write_json(path, self.model_dump(mode="json"))

    @classmethod
    def load(cls, path: Path) -> VariantMetadata:
        return cls.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))


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
