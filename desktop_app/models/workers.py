"""The Models tab's background work, each a kit Task: listing the registry, publishing a
variant, exporting and importing a version, changing aliases, notes and names, and
predicting on files the user dropped.

Every task reads or writes the registry's folders and its SQLite index (which may wait on
another process's lock), builds models or runs ONNX Runtime: none of it runs on the GUI
thread. Results are plain values (`VersionRow`s, engine records, `Tried` with QImages, which
may be made on any thread); the tab and its dialogs turn them into widgets.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from desktop_app.kit.tasks import Task
from desktop_app.models.version_model import VersionRow

THUMB_SIZE = 72  # pixels: the Try it pane's thumbnails
NO_ONNX = (
    "ONNX is not part of this install (the packaged app leaves it out, about 120 MB); "
    "`pip install trainwright` has it"
)


def onnx_missing(*modules: str) -> str | None:
    """Why ONNX work cannot be done here (NO_ONNX), or None when `modules` can be imported;
    looked up without importing them."""
    from importlib.util import find_spec

    return None if all(find_spec(m) is not None for m in modules) else NO_ONNX


@dataclass(frozen=True)
class RegistryListing:
    """Every published version, and the index's warnings (version files it could not read)."""

    rows: list[VersionRow]
    warnings: list[str] = field(default_factory=list)


def registry_rows(home: Path) -> RegistryListing:
    """The versions of every model in `home`'s registry (opening it syncs the index with the
    folders, so versions published by the CLI meanwhile are listed)."""
    from engine.inference import IMAGE_KINDS
    from engine.registry.records import version_dir
    from engine.registry.store import RegistryStore

    store = RegistryStore(home)
    rows: list[VersionRow] = []
    for summary in store.models():
        record = store.record(summary.name)
        for version in store.versions(summary.name):
            directory = version_dir(home, version.name, version.version)
            kind = input_kind(directory)
            rows.append(
                VersionRow.from_version(
                    version,
                    record.aliases,
                    latest=version.version == summary.latest,
                    model_notes=record.notes,
                    input_kind=kind,
                    takes_images=kind in IMAGE_KINDS,
                )
            )
    return RegistryListing(rows, list(store.warnings))


def input_kind(directory: Path) -> str | None:
    """What the version's preprocessing takes ("table", "image", "image_flat", "modulo"),
    None when its record cannot be read (predicting then says why)."""
    from engine.registry.loading import read_preprocessing

    try:
        kind = read_preprocessing(directory).get("kind")
    except (OSError, ValueError, AttributeError):
        return None
    return kind if isinstance(kind, str) else None


class ListTask(Task):
    """Lists the registry of `home`: a RegistryListing."""

    kind = "list"

    def __init__(self, request_id: int, home: Path) -> None:
        super().__init__(request_id)
        self.home = Path(home)

    def compute(self) -> RegistryListing:
        return registry_rows(self.home)


class PublishTask(Task):
    """Publishes a completed variant as the next version of a model: the engine's
    ModelVersion (publishing verifies the weights and times inference, a few seconds)."""

    kind = "publish"

    def __init__(
        self,
        request_id: int,
        workspace: Any,
        variant: str,
        name: str,
        *,
        notes: str = "",
        alias: str | None = None,
        checkpoint: str = "best",
    ) -> None:
        super().__init__(request_id, variant)
        self.workspace = workspace
        self.variant, self.name = variant, name
        self.notes, self.alias, self.checkpoint = notes, alias, checkpoint

    def compute(self) -> Any:
        from engine.registry.publish import publish

        return publish(
            self.workspace,
            self.variant,
            self.name,
            notes=self.notes,
            alias=self.alias,
            checkpoint=self.checkpoint,
        )


class ExportTask(Task):
    """Exports one version (NAME:VERSION) in a format to a file: the engine's ExportResult
    (an ONNX export is checked against torch on the model's test inputs first)."""

    kind = "export"

    def __init__(
        self, request_id: int, workspace: Any, ref: str, fmt: str, out: Path, force: bool
    ) -> None:
        super().__init__(request_id, ref)
        self.workspace = workspace
        self.ref, self.fmt, self.out, self.force = ref, fmt, Path(out), force

    def compute(self) -> Any:
        from engine.registry.export import export_version

        return export_version(self.workspace, self.ref, self.fmt, self.out, force=self.force)


@dataclass(frozen=True)
class Imported:
    """A bundle added to the registry: its new version, and what could not be checked."""

    version: Any  # engine ModelVersion
    notes: list[str]


class ImportTask(Task):
    """Imports a bundle ZIP as the next version of its model: Imported (nothing is written
    when the bundle is refused)."""

    kind = "import"

    def __init__(self, request_id: int, workspace: Any, source: Path) -> None:
        super().__init__(request_id, str(source))
        self.workspace = workspace
        self.source = Path(source)

    def compute(self) -> Imported:
        from engine.registry.bundle import import_bundle

        notes: list[str] = []
        version = import_bundle(self.workspace, self.source, notes=notes)
        return Imported(version, notes)


class ChangeTask(Task):
    """One change to the registry (an alias, notes, a rename, a deletion): `change(store)`
    runs against a RegistryStore of `home`; the result is `done_text`, what the tab says."""

    kind = "change"

    def __init__(
        self, request_id: int, home: Path, change: Callable[[Any], Any], done_text: str
    ) -> None:
        super().__init__(request_id)
        self.home = Path(home)
        self.change = change
        self.done_text = done_text

    def compute(self) -> str:
        from engine.registry.store import RegistryStore

        self.change(RegistryStore(self.home))
        return self.done_text


# ---- Try it ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Tried:
    """A version's predictions on the dropped files (engine PredictionResult) and, for an
    image model, each image as a small uint8 [c, h, w] array, in the predictions' order
    (the pane makes the pixmaps: only the GUI thread may)."""

    result: Any
    sources: list[str]
    images: list[Any] = field(default_factory=list)  # numpy uint8 arrays


class PredictTask(Task):
    """Predicts with version `ref` on one CSV file, or image files and folders of images:
    Tried. The predictor (its model or ONNX Runtime session) is kept by the pane between
    runs, through `cache` (ref, backend) -> Predictor, filled here on the task's thread."""

    kind = "predict"

    def __init__(
        self,
        request_id: int,
        workspace: Any,
        ref: str,
        backend: str,
        sources: Sequence[str],
        cache: dict[tuple[str, str], Any],
    ) -> None:
        super().__init__(request_id, ref)
        self.workspace = workspace
        self.ref, self.backend = ref, backend
        self.sources = [str(s) for s in sources]
        self.cache = cache

    def compute(self) -> Tried:
        from engine.inference.inputs import IMAGE_KINDS, InputError, image_paths
        from engine.inference.predictor import load_predictor

        key = (self.ref, self.backend)
        predictor = self.cache.get(key)
        if predictor is None:
            predictor = load_predictor(self.workspace, self.ref, self.backend)
            self.cache[key] = predictor
        if not self.sources:
            raise InputError("nothing to predict on: give a file or a folder")
        if predictor.preprocessing.get("kind") in IMAGE_KINDS:
            paths = [path for source in self.sources for path in image_paths(source)]
            result = predictor.predict(paths)
            return Tried(result, self.sources, [small_image(p) for p in paths])
        if len(self.sources) != 1 or Path(self.sources[0]).is_dir():
            raise InputError(
                f"{predictor.version.name} predicts on rows of one CSV file at a time; "
                f"give one file ({len(self.sources)} given)"
            )
        return Tried(predictor.predict(self.sources[0]), self.sources)


def small_image(path: Path, size: int = THUMB_SIZE) -> Any:
    """The image at `path` as uint8 [c, h, w], shrunk to fit `size` (kept as is if smaller:
    the thumbnail enlarges it with sharp pixels); 1 or 3 channels."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        image.seek(0)
        converted = image.convert("L" if image.mode in ("1", "L", "I", "I;16", "F") else "RGB")
        converted.thumbnail((size, size))
        array = np.asarray(converted, dtype=np.uint8)
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
