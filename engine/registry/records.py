"""The model registry's records and where they live: published model versions as folders.

A model is a name; each publish of a completed variant adds its next version (v1, v2, ...):

    <home>/models/<name>/model.json              ModelRecord: aliases and notes of the model
    <home>/models/<name>/v<N>/version.json       ModelVersion (written last: a version exists
                                                 once this file does)
    <home>/models/<name>/v<N>/weights.safetensors  the model's weights (no pickle)
    <home>/models/<name>/v<N>/preprocessing.json   what raw inputs go through (engine.inference)

The folders are the source of truth; the `models` tables of trainwright.db are an index built
from them (and rebuilt when lost). Importing this module does not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.errors import TrainwrightError
from engine.names import safe_component

MODELS_DIR = "models"
MODEL_FILE = "model.json"
VERSION_FILE = "version.json"
WEIGHTS_FILE = "weights.safetensors"
PREPROCESSING_FILE = "preprocessing.json"
VERSION_DIR = re.compile(r"v([1-9][0-9]*)")  # v1, v2, ...: the folder of a version
# A deleted version's folder stays, empty but for this file: its number is never given again
# (`iris:2` in a script or a model card never comes to mean other weights).
DELETED_MARKER = "DELETED"
MAX_CLAIM_TRIES = 1000
ALIAS_RULE = "letters, digits, '_', '.' and '-', not starting with a digit or 'v<digits>'"
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")


class RegistryError(TrainwrightError):
    """A registry request that cannot be carried out (unknown model or version, a name or
    alias taken or invalid, a variant that is not completed); the message says which."""


class Lineage(BaseModel):
    """Where a version's weights come from besides its own training."""

    model_config = ConfigDict(extra="ignore")

    teacher: str | None = None  # the teacher variant of a distilled student
    init_from: str | None = None  # the variant whose weights the run started from
    init_from_weights_sha256: str | None = None


class ModelVersion(BaseModel):
    """One published version: enough to use, compare and trace it without its variant."""

    model_config = ConfigDict(extra="ignore")

    name: str
    version: int
    created_at: str  # UTC, ISO 8601
    variant: str
    family: str
    checkpoint: str  # "best" or "final": which of the variant's weights were published
    epoch: int | None = None  # the epoch of those weights
    config: dict[str, Any]  # the variant's config.json
    task_type: str | None = None  # "classification", "regression" or None (e.g. modulo)
    class_names: list[str] | None = None
    metrics: dict[str, float] = Field(default_factory=dict)  # test metrics of those weights
    dataset: str | None = None  # the dataset id
    data_sha256: str | None = None  # the content hash of the user's data (None: built-in)
    weights_sha256: str  # engine.hashing.weights_sha256 of the state dict
    # The library that trained the weights: "tensorflow" weights were Keras weights, converted
    # into the family's torch model when published (engine.backends.keras_weights), and
    # trained_weights_sha256 is their hash as the variant records it (None: trained as torch).
    trained_with: str = "torch"
    trained_weights_sha256: str | None = None
    file_sha256: str  # sha256 of weights.safetensors as stored
    parameters: int
    size_bytes: int  # weights.safetensors
    # sha256 of the model.onnx kept in the version's folder (an imported bundle's), checked
    # before onnxruntime loads it; None: no model.onnx kept (or imported before it was kept).
    onnx_sha256: str | None = None
    inference_ms_per_1000: float | None = None  # measured at publish, one thread
    lineage: Lineage = Field(default_factory=Lineage)
    notes: str = ""
    engine_version: str


class ModelRecord(BaseModel):
    """What belongs to a model rather than to one version."""

    model_config = ConfigDict(extra="ignore")

    name: str
    aliases: dict[str, int] = Field(default_factory=dict)  # alias -> version
    notes: str = ""


def models_root(home: Path | str) -> Path:
    return Path(home) / MODELS_DIR


def check_model_name(name: object) -> str:
    """`name` if it can name a model (a variant-like name: one folder), else RegistryError."""
    return safe_component(name, "model name", error=RegistryError, variant=True)


def check_alias(alias: object) -> str:
    """`alias` if it can name a version (never mistaken for a version number), else
    RegistryError."""
    if not isinstance(alias, str) or not _ALIAS.fullmatch(alias) or VERSION_DIR.fullmatch(alias):
        raise RegistryError(f"{alias!r} is not a valid alias ({ALIAS_RULE})")
    return alias


def model_dir(home: Path | str, name: str) -> Path:
    return models_root(home) / check_model_name(name)


def version_dir(home: Path | str, name: str, version: int) -> Path:
    return model_dir(home, name) / f"v{int(version)}"


def parse_ref(ref: str) -> tuple[str, str | None]:
    """`NAME[:VERSION]` -> (name, "3" | "v3" | an alias | None for the latest); the name is
    checked, the version part is resolved against the registry by its store."""
    name, _, version = ref.partition(":")
    return check_model_name(name), (version or None)


def resolve_version_dir(home: Path | str, ref: str) -> Path:
    """The folder of `NAME[:VERSION]` (VERSION: 3, v3 or an alias; none: the latest version),
    read from the folders themselves; RegistryError naming what is missing."""
    name, asked = parse_ref(ref)
    directory = models_root(home) / name
    versions = version_numbers(directory)
    if not versions:
        raise RegistryError(f"no model named {name!r} (see `trainwright models`)")
    if asked is None:
        return directory / f"v{versions[-1]}"
    number = _version_number(directory, name, asked)
    if number not in versions:
        shown = ", ".join(f"v{v}" for v in versions)
        raise RegistryError(f"model {name!r} has no version {asked!r} (it has {shown})")
    return directory / f"v{number}"


def version_numbers(directory: Path) -> list[int]:
    """The published versions under a model's folder, ascending (a folder without its
    version.json is a publish that did not finish: not a version)."""
    if not directory.is_dir():
        return []
    found = []
    for child in directory.iterdir():
        match = VERSION_DIR.fullmatch(child.name)
        if match and (child / VERSION_FILE).is_file():
            found.append(int(match.group(1)))
    return sorted(found)


def read_model_record(directory: Path) -> ModelRecord:
    """The model.json of a model's folder (a default record when it has none)."""
    path = directory / MODEL_FILE
    if not path.is_file():
        return ModelRecord(name=directory.name)
    return ModelRecord.model_validate_json(path.read_text(encoding="utf-8"))


def read_version(directory: Path) -> ModelVersion:
    """The version.json of a version's folder."""
    return ModelVersion.model_validate_json((directory / VERSION_FILE).read_text("utf-8"))


def _version_number(directory: Path, name: str, asked: str) -> int:
    digits = asked[1:] if asked[:1] in ("v", "V") else asked
    if digits.isdigit():
        return int(digits)
    aliases = read_model_record(directory).aliases
    if asked not in aliases:
        known = ", ".join(sorted(aliases)) or "none"
        raise RegistryError(f"model {name!r} has no alias {asked!r} (aliases: {known})")
    return aliases[asked]


def claim_version_folder(model_folder: Path) -> tuple[int, Path]:
    """(N, the new folder vN): the number after every v<N> folder of the model (finished,
    unfinished or deleted), the folder created here and nowhere else: a publish or import
    running at the same time that took N first makes this one try N+1."""
    model_folder.mkdir(parents=True, exist_ok=True)
    taken = [
        int(match.group(1))
        for child in model_folder.iterdir()
        if (match := VERSION_DIR.fullmatch(child.name))
    ]
    number = max(taken, default=0) + 1
    for candidate in range(number, number + MAX_CLAIM_TRIES):
        folder = model_folder / f"v{candidate}"
        try:
            folder.mkdir(exist_ok=False)
        except FileExistsError:
            continue
        return candidate, folder
    raise RegistryError(f"could not find a free version number for model {model_folder.name!r}")
