"""Variants: one trained (or to-be-trained) model, its resolved config and its directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.hashing import config_hash
from engine.training.config import TrainingConfig

# The files of a variant directory. These names are spelled here and nowhere else: every other
# module asks a `Variant` (or these helpers) for its paths.
CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
CHRONICLE_FILE = "chronicle.jsonl"
CHECKPOINTS_DIR = "checkpoints"
LOCK_FILE = ".lock"


class DataRecord(BaseModel):
    """The data a variant was trained on: a dataset id and the SHA-256 of its content.

    Recorded for the user's data (imported datasets, csv:PATH), whose content can change under
    the same id; built-in data is versioned with the app, so its variants record none (and
    keep the names and hashes they always had)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    sha256: str

    def short(self) -> str:
        return self.sha256[:12] + "…"


class RunConfig(BaseModel):
    """The fully resolved config of a variant, as stored in config.json."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
    variant: str
    domain: dict[str, Any]
    training: TrainingConfig
    strategy: str = "native"
    strategy_params: dict[str, Any] = {}
    data: DataRecord | None = None  # the user's data it was trained on (see DataRecord)
    config_hash: str = ""

    def identity(self) -> dict[str, Any]:
        """What the run computes: the config hash covers exactly this (the data record only
        when there is one, so configs without one keep their hash)."""
        identity: dict[str, Any] = {
            "family": self.family,
            "domain": self.domain,
            "training": self.training.identity(),
            "strategy": self.strategy,
            "strategy_params": self.strategy_params,
        }
        if self.data is not None:
            identity["data"] = self.data.model_dump()
        return identity

    def with_hash(self) -> RunConfig:
        return self.model_copy(update={"config_hash": config_hash(self.identity())})


class _InDirectory:
    """A file of a variant's directory as a read-only attribute (`variant.config_path`)."""

    def __init__(self, filename: str) -> None:
        self.filename = filename

    def __get__(self, variant: Variant | None, owner: type | None = None) -> Any:
        return self if variant is None else variant.dir / self.filename


@dataclass(frozen=True)
class Variant:
    home: Path
    config: RunConfig

    @property
    def name(self) -> str:
        return self.config.variant

    @property
    def family(self) -> str:
        return self.config.family

    @property
    def dir(self) -> Path:
        return variant_dir(self.home, self.family, self.name)

    config_path = _InDirectory(CONFIG_FILE)
    metadata_path = _InDirectory(METADATA_FILE)
    chronicle_path = _InDirectory(CHRONICLE_FILE)
    checkpoints_dir = _InDirectory(CHECKPOINTS_DIR)
    lock_path = _InDirectory(LOCK_FILE)

    def exists(self) -> bool:
        return self.config_path.exists()

    def at_home(self, home: Path) -> Variant:
        """The same config stored under another home (replay trains into a temp dir)."""
        return Variant(home=Path(home), config=self.config)

    @classmethod
    def load(cls, directory: Path) -> Variant:
        data = json.loads(config_path(directory).read_text(encoding="utf-8"))
        config = RunConfig.model_validate(data)
        home = Path(directory).parent.parent.parent
        return cls(home=home, config=config)


def variant_dir(home: Path, family: str, name: str) -> Path:
    return Path(home) / "variants" / family / name


def config_path(directory: Path) -> Path:
    """config.json of the variant stored in `directory`."""
    return Path(directory) / CONFIG_FILE


def metadata_path(directory: Path) -> Path:
    """metadata.json of the variant stored in `directory`."""
    return Path(directory) / METADATA_FILE


def chronicle_path(directory: Path) -> Path:
    """chronicle.jsonl of the variant stored in `directory`."""
    return Path(directory) / CHRONICLE_FILE


def checkpoints_dir(directory: Path) -> Path:
    """The checkpoints folder of the variant stored in `directory`."""
    return Path(directory) / CHECKPOINTS_DIR


def lock_path(directory: Path) -> Path:
    """The lock file a live run of the variant in `directory` holds."""
    return Path(directory) / LOCK_FILE
