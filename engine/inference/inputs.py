"""Raw inputs -> the model's input tensor, exactly as training built it; outputs -> predictions.

Every function reads a variant's recorded `preprocessing` (metadata.json, written by the
family at the start of a run) and nothing else of the run, so a variant is usable on new data
without its dataset: a table's CSV is read with the training reader's rules, text columns are
one-hot encoded with the saved categories and features standardised with the saved mean and
std (the same float64 math); images are decoded with the library's decoder and normalised with
the saved statistics. Every refusal is an `InputError` naming the file, the 1-based data row
(blank lines are skipped and not counted, as in training) and the column, and the rule.

The kinds: "table" and "image_flat" (the mlp family), "image" (image_classifier), "modulo"
(modulo_addition). The CSV reader and its rules are engine.datasets.tabular's private
`_read_file`, `_decode` and `_read_rows`: the same functions training reads a table with.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from engine.datasets import DatasetError
from engine.datasets.images import DEFAULT_FIT, IMAGE_SUFFIXES, MAX_DECODE_SIZE, decode_image
from engine.datasets.split import Standardizer, TargetScale
from engine.errors import TrainwrightError
from engine.inference import IMAGE_KINDS

Preprocessing = dict[str, Any]
PathOrPaths = str | Path | Sequence[str | Path]
_INTEGER = re.compile(r"[+-]?[0-9]+")  # int() would also take "1_0" and " 1"


class InputError(TrainwrightError, ValueError):
    """New inputs a model cannot take; the message names the file, row and column (or the
    image file) and the rule, to be shown to a user as is."""


# ---- tables ----------------------------------------------------------------------------------


def table_inputs(preprocessing: Preprocessing, path: str | Path) -> torch.Tensor:
    """float32 [n, features]: a CSV's rows encoded and standardised as the training rows were.

    Columns are matched by name, in any order; other columns (the target among them) are
    ignored. Numbers parse as in training; a text column's value must be a saved category."""
    source, cells = _read_columns(path, preprocessing["columns"])
    categories: dict[str, list[str]] = preprocessing.get("categories") or {}
    blocks = [
        _one_hot(cells[name], categories[name], name, source)
        if name in categories
        else _numbers(cells[name], name, source)
        for name in preprocessing["columns"]
    ]
    x = torch.cat(blocks, dim=1)
    expected = len(preprocessing["mean"])
    if x.shape[1] != expected:  # a hand-edited record: say so rather than mis-scale
        raise InputError(f"{source}: encodes to {x.shape[1]} features; the model takes {expected}")
    return _standardised(preprocessing, x)


def modulo_inputs(preprocessing: Preprocessing, path: str | Path) -> torch.Tensor:
    """int64 [n, 3]: each row's residues a and b as the tokens [a, b, =] (= is `prime`)."""
    prime = int(preprocessing["prime"])
    source, cells = _read_columns(path, preprocessing["columns"])
    a, b = (_residues(cells[name], name, source, prime) for name in preprocessing["columns"])
    return torch.stack([a, b, torch.full_like(a, prime)], dim=1)


def _read_columns(path: str | Path, needed: list[str]) -> tuple[str, dict[str, list[str]]]:
    """The file's name (for messages) and the cells of each needed column, read with the
    training reader's rules; InputError for an unreadable file or a missing column."""
    from engine.datasets import tabular

    p = Path(path).expanduser()
    try:
        header, rows = tabular._read_rows(tabular._decode(tabular._read_file(p), p), p.name)
    except DatasetError as exc:
        raise InputError(str(exc)) from None
    for name in needed:
        if name not in header:
            raise InputError(f"{p.name}: no column '{name}' (the model needs: {', '.join(needed)})")
    where = {name: header.index(name) for name in needed}
    return p.name, {name: [row[j] for row in rows] for name, j in where.items()}


def _numbers(cells: list[str], column: str, source: str) -> torch.Tensor:
    """float32 [n, 1]: float64 parsed then rounded to float32, as training's reader does."""
    values = []
    for row, cell in enumerate(cells, start=1):
        where = f"{source}: row {row}, column '{column}'"
        if not cell:
            raise InputError(f"{where}: missing value")
        try:
            value = float(cell)
        except ValueError:
            raise InputError(f"{where}: '{cell}' is not a number") from None
        if not math.isfinite(value):
            raise InputError(f"{where}: '{cell}' is not a finite number")
        values.append(value)
    return torch.tensor(values, dtype=torch.float64).float().unsqueeze(1)


def _one_hot(cells: list[str], categories: list[str], column: str, source: str) -> torch.Tensor:
    """float32 [n, len(categories)]: each value's saved category as a one-hot row."""
    index = {category: k for k, category in enumerate(categories)}
    codes = []
    for row, cell in enumerate(cells, start=1):
        where = f"{source}: row {row}, column '{column}'"
        if not cell:
            raise InputError(f"{where}: missing value")
        if cell not in index:
            raise InputError(
                f"{where}: '{cell}' is not a category the model knows "
                f"(known: {', '.join(categories)})"
            )
        codes.append(index[cell])
    codes_t = torch.tensor(codes, dtype=torch.int64)
    return torch.nn.functional.one_hot(codes_t, len(categories)).float()


def _residues(cells: list[str], column: str, source: str, prime: int) -> torch.Tensor:
    """int64 [n]: whole numbers from 0 to prime - 1."""
    values = []
    for row, cell in enumerate(cells, start=1):
        where = f"{source}: row {row}, column '{column}'"
        if not _INTEGER.fullmatch(cell):
            shown = f"'{cell}' is not a whole number" if cell else "missing value"
            raise InputError(f"{where}: {shown}")
        value = int(cell)
        if not 0 <= value < prime:
            raise InputError(f"{where}: {value} is not in 0..{prime - 1} (residues mod {prime})")
        values.append(value)
    return torch.tensor(values, dtype=torch.int64)


def _standardised(preprocessing: Preprocessing, x: torch.Tensor) -> torch.Tensor:
    """x scaled with the saved float32 mean and std by `Standardizer.transform` itself."""
    scaler = Standardizer(
        mean=torch.tensor(preprocessing["mean"], dtype=torch.float32),
        std=torch.tensor(preprocessing["std"], dtype=torch.float32),
    )
    return scaler.transform(x)


# ---- images ----------------------------------------------------------------------------------


def image_paths(path_or_paths: PathOrPaths) -> list[Path]:
    """The image files given: a list as is, one file, or a folder's images (not its
    sub-folders or hidden files) sorted by name; InputError for a folder without images."""
    if isinstance(path_or_paths, str | Path):
        p = Path(path_or_paths).expanduser()
        if not p.is_dir():
            return [p]
        found = sorted((f for f in p.iterdir() if _is_image_file(f)), key=lambda f: f.name)
        if not found:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise InputError(f"{p}: the folder has no image files ({suffixes})")
        return found
    return [Path(p).expanduser() for p in path_or_paths]


def _is_image_file(path: Path) -> bool:
    return (
        not path.name.startswith(".") and path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
    )


def image_inputs(preprocessing: Preprocessing, paths: Sequence[str | Path]) -> torch.Tensor:
    """float32: images decoded by the library's decoder at the trained size and channels,
    normalised as in training ("image": [n, c, s, s]; "image_flat": [n, c * s * s])."""
    size, channels = int(preprocessing["image_size"]), int(preprocessing["channels"])
    fit = preprocessing.get("fit", DEFAULT_FIT)
    if not paths:
        raise InputError("no image files were given")
    x = torch.empty((len(paths), channels, size, size), dtype=torch.uint8)
    for k, path in enumerate(paths):
        try:
            x[k] = decode_image(Path(path), size, channels, fit)
        except DatasetError as exc:
            raise InputError(str(exc)) from None
    if preprocessing["kind"] == "image_flat":
        flat = x.reshape(len(paths), channels * size * size).to(torch.float32) / 255.0
        return _standardised(preprocessing, flat)
    return _normalised(preprocessing, x)


def _normalised(preprocessing: Preprocessing, x: torch.Tensor) -> torch.Tensor:
    """uint8 images -> (x / 255 - mean) / std per channel, in the operations (and order) of
    image_classifier's `PreparedImages.normalise`."""
    c = x.shape[1]
    mean = torch.tensor(preprocessing["mean"], dtype=torch.float32).view(1, c, 1, 1)
    std = torch.tensor(preprocessing["std"], dtype=torch.float32).view(1, c, 1, 1)
    return x.to(torch.float32).div_(255.0).sub_(mean).div_(std)


# ---- any kind --------------------------------------------------------------------------------

TABLE_KINDS = {"table": table_inputs, "modulo": modulo_inputs}


def inputs_for(preprocessing: Preprocessing | None, path_or_paths: PathOrPaths) -> torch.Tensor:
    """The model's input for a CSV (kinds table, modulo) or image files or a folder of
    images (kinds image, image_flat)."""
    preprocessing, kind = _checked(preprocessing)
    if kind in IMAGE_KINDS:
        return image_inputs(preprocessing, image_paths(path_or_paths))
    if not isinstance(path_or_paths, str | Path):
        if len(path_or_paths) != 1:
            raise InputError(f"this model reads one CSV file, not {len(path_or_paths)} files")
        path_or_paths = path_or_paths[0]
    return TABLE_KINDS[kind](preprocessing, path_or_paths)


def _checked(preprocessing: Preprocessing | None) -> tuple[Preprocessing, str]:
    """The record and its kind, or an InputError saying why new inputs cannot be prepared."""
    check_preprocessing(preprocessing)
    assert preprocessing is not None
    return preprocessing, str(preprocessing["kind"])


MAX_PRIME = 100_000  # far above any modulus a one-layer transformer is trained on here


def check_preprocessing(preprocessing: Any) -> None:
    """InputError unless `preprocessing` is a record new inputs can go through: the fields its
    kind needs, of the right types and sizes, agreeing with each other. A model's record comes
    from a file (a bundle from another machine among them): nothing is allocated or indexed
    from it before this says it is sound."""
    if not preprocessing:
        raise InputError(
            "this model records no preprocessing (its family does not describe its inputs, "
            "or it was trained before they were recorded); train it again to use it on new data"
        )
    if not isinstance(preprocessing, dict):
        raise InputError("preprocessing: not a JSON object")
    kind = preprocessing.get("kind")
    if kind not in (*TABLE_KINDS, *IMAGE_KINDS):
        known = ", ".join((*TABLE_KINDS, *IMAGE_KINDS))
        raise InputError(f"unknown preprocessing kind {kind!r}; known: {known}")
    record = _Record(preprocessing)
    if kind == "modulo":
        record.integer("prime", 2, MAX_PRIME)
        record.names("columns", exactly=2)
        return
    if kind == "table":
        columns = record.names("columns")
        categories = record.field("categories", dict)
        for column, values in categories.items():
            if column not in columns:
                raise InputError(f"preprocessing: categories: {column!r} is not a column")
            record.names(f"categories.{column}", values)
        features = len(columns) - len(categories) + sum(len(v) for v in categories.values())
        record.scaling(features)
        task = preprocessing.get("task_type")
        if task == "regression":
            record.number("target_mean")
            if not record.number("target_std") > 0:
                raise InputError("preprocessing: target_std: must be above 0")
        elif task == "classification":
            record.names("class_names", minimum=2)
        else:
            raise InputError(
                f"preprocessing: task_type: {task!r} is not classification or regression"
            )
        return
    size = record.integer("image_size", 1, MAX_DECODE_SIZE)
    channels = record.integer("channels", 1, 3)
    if channels == 2:
        raise InputError("preprocessing: channels: 1 (grayscale) or 3 (RGB)")
    record.scaling(channels if kind == "image" else channels * size * size)
    record.names("class_names", minimum=2)


class _Record:
    """Field checks of one preprocessing record, each failure an InputError naming the field."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def field(self, name: str, kind: type) -> Any:
        value = self.data.get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InputError(f"preprocessing: {name}: missing or not a {kind.__name__}")
        return value

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.field(name, int)
        if not low <= value <= high:
            raise InputError(f"preprocessing: {name}: {value} is not in {low}..{high}")
        return value

    def number(self, name: str) -> float:
        value = self.data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"preprocessing: {name}: missing or not a number")
        if not math.isfinite(value):
            raise InputError(f"preprocessing: {name}: not a finite number")
        return float(value)

    def names(
        self, name: str, values: Any = None, *, exactly: int | None = None, minimum: int = 1
    ) -> list[str]:
        values = self.data.get(name) if values is None else values
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(f"preprocessing: {name}: missing or not a list of names")
        if (exactly is not None and len(values) != exactly) or len(values) < minimum:
            wanted = exactly if exactly is not None else f"at least {minimum}"
            raise InputError(f"preprocessing: {name}: {len(values)} names, {wanted} needed")
        return values

    def scaling(self, features: int) -> None:
        """mean and std: `features` finite numbers each, std above 0."""
        for name in ("mean", "std"):
            values = self.data.get(name)
            if not isinstance(values, list) or len(values) != features:
                shown = len(values) if isinstance(values, list) else "no list"
                raise InputError(
                    f"preprocessing: {name}: {shown} values, the inputs have {features}"
                )
            if not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                for v in values
            ):
                raise InputError(f"preprocessing: {name}: every value must be a finite number")
        if any(v <= 0 for v in self.data["std"]):
            raise InputError("preprocessing: std: every value must be above 0")


# ---- outputs ---------------------------------------------------------------------------------


def predictions(preprocessing: Preprocessing, outputs: torch.Tensor) -> list[dict[str, Any]]:
    """One dict per example: {"prediction": ...} and, for a classifier with class names,
    "probabilities" {class name: softmax probability}. A regression prediction is in the
    target's units (target_mean + target_std * output); a modulo prediction is the residue."""
    preprocessing, kind = _checked(preprocessing)
    outputs = outputs.detach().cpu()
    if kind == "modulo":
        return [{"prediction": int(k)} for k in outputs.reshape(len(outputs), -1).argmax(1)]
    if kind == "table" and preprocessing["task_type"] == "regression":
        scale = TargetScale(
            mean=float(preprocessing["target_mean"]), std=float(preprocessing["target_std"])
        )
        values = scale.inverse(outputs.reshape(-1))
        return [{"prediction": float(v)} for v in values.tolist()]
    return _classified(preprocessing["class_names"], outputs)


def _classified(class_names: list[str], outputs: torch.Tensor) -> list[dict[str, Any]]:
    """The argmax class (as the accuracy metric counts it) and every class's probability."""
    if outputs.ndim != 2 or outputs.shape[1] != len(class_names):
        raise InputError(
            f"outputs of shape {tuple(outputs.shape)} do not match the model's "
            f"{len(class_names)} classes"
        )
    chosen = outputs.argmax(dim=1).tolist()
    probabilities = outputs.double().softmax(dim=1).tolist()
    return [
        {
            "prediction": class_names[k],
            "probabilities": dict(zip(class_names, row, strict=True)),
        }
        for k, row in zip(chosen, probabilities, strict=True)
    ]
