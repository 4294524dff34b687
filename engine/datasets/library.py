"""The dataset library: the user's datasets imported into `<home>/datasets/<id>/`.

An import copies the data (so the source may move or change afterwards), checks all of it and
records what it found in `manifest.json`. It is built in `<root>/.importing-<uuid>/` and
renamed to `<root>/<id>` in one step when everything passed: a refused, failed or cancelled
import leaves nothing. A stale temp folder of an import whose process died is removed the
next time the library is listed. Deleting renames the folder away first, so a dataset is
either all there or gone.

Ids are a slug of the name (`[a-z0-9_]`, at most 40 characters), never a built-in id and never
starting with "csv"; `_2`, `_3` on a collision. Renaming changes the name only, never the id
(variants refer to datasets by id).

Torch-free to import and to list; a CSV import imports the tabular parser (torch).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import threading
import time
import unicodedata
import uuid
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.atomic import atomic_write_json, sha256_file
from engine.datasets.archive import extract_zip, is_hidden
from engine.datasets.content_memo import remembered_hash, tree_signature
from engine.datasets.images import (
    IMAGE_SUFFIXES,
    image_files,
    image_tree_sha256,
    scan_image_tree,
    sorted_entries,
)
from engine.datasets.manifest import (
    DATA_CSV,
    IMAGES_DIR,
    IMPORTING_PREFIX,
    PID_FILE,
    TRASH_PREFIX,
    ClassCount,
    ImportCancelled,
    ImportProgress,
    Manifest,
    SkippedFile,
    check_cancel,
    manifest_path,
    read_manifest,
)
from engine.datasets.types import DatasetError, DatasetImportError

DATASETS_DIR = "datasets"
MAX_ID_CHARS = 40
MAX_NAME_CHARS = 100
RESERVED_IDS = frozenset({"digits", "shapes"})  # built-ins, reserved even before they ship
STALE_IMPORT_SECONDS = 60.0  # a temp folder younger than this is never removed
COPY_CHUNK_BYTES = 1024**2
_UNPACKED = "unpacked"  # inside the temp folder: where a ZIP is extracted

Progress = Callable[[ImportProgress], None]

# Temp folders of imports running in this process (their pid file names this process too).
_ACTIVE: set[Path] = set()
_ACTIVE_LOCK = threading.Lock()


class DatasetLibrary:
    """The datasets imported into one data home."""

    def __init__(self, home: Path | str) -> None:
        self.home = Path(home)
        self.root = self.home / DATASETS_DIR

    # ---- reading -----------------------------------------------------------------------------

    def manifests(self) -> list[Manifest]:
        """Every dataset of the library sorted by name; one that cannot be used is listed with
        status "error" and the reason (never raises for a broken folder). Removes debris of
        dead imports and cut-short deletions first."""
        if not self.root.is_dir():
            return []
        self._remove_debris()
        found = []
        try:
            entries = sorted(self.root.iterdir())
        except OSError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not (entry.is_dir() or entry.is_symlink()):
                continue
            found.append(self._read(entry))
        return sorted(found, key=lambda m: (m.name.casefold(), m.id))

    def get(self, dataset_id: str) -> Manifest:
        """The manifest of one dataset (status "error" with the reason if it cannot be used);
        DatasetError if the library has no such dataset."""
        return self._read(self.dir(dataset_id))

    def dir(self, dataset_id: str) -> Path:
        """The folder of a dataset of the library; DatasetError if there is none."""
        directory = self.root / _checked_id(dataset_id)
        if not directory.is_dir() or directory.is_symlink():
            raise DatasetError(
                f"no dataset '{dataset_id}' in the library; import it first "
                f"(the library is {self.root})"
            )
        return directory

    def data_path(self, dataset_id: str) -> Path:
        """Where a ready dataset's data is: `data.csv` (tabular) or the `images` folder of
        class folders (images). DatasetError if it is missing or cannot be used."""
        manifest = self.get(dataset_id)
        if manifest.status != "ready":
            raise DatasetError(f"dataset '{dataset_id}' cannot be used: {manifest.error}")
        return self.dir(dataset_id) / (DATA_CSV if manifest.kind == "tabular" else IMAGES_DIR)

    def content_sha256(self, dataset_id: str) -> str:
        """The content hash of the dataset's files now (to detect a copy changed since its
        import): of data.csv's bytes, or over the sorted "relpath\\tsha256" lines of its
        images. DatasetError if its data is gone."""
        directory = self.dir(dataset_id)
        csv_path, images = directory / DATA_CSV, directory / IMAGES_DIR
        try:
            if csv_path.is_file():
                return remembered_hash([csv_path], lambda: sha256_file(csv_path))
            if images.is_dir():

                def tree_hash() -> str:
                    relpaths = sorted(p for paths in image_files(images).values() for p in paths)
                    return image_tree_sha256(images, relpaths)

                return remembered_hash(tree_signature(images), tree_hash)
        except OSError as exc:
            raise DatasetError(
                f"dataset '{dataset_id}': its data cannot be read ({exc.strerror or exc})"
            ) from None
        raise DatasetError(f"dataset '{dataset_id}': its data is gone from {directory}")

    def variants_using(self, dataset_id: str) -> list[str]:
        """Names of the variants (under <home>/variants/<family>/<name>) whose config.json
        trains on `dataset_id`; unreadable configs are passed over."""
        from engine.variants import CONFIG_FILE

        names = []
        for config in sorted(self.home.glob(f"variants/*/*/{CONFIG_FILE}")):
            try:
                data = json.loads(config.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            domain = data.get("domain") if isinstance(data, dict) else None
            if isinstance(domain, dict) and domain.get("dataset") == dataset_id:
                names.append(config.parent.name)
        return sorted(names)

    def _read(self, directory: Path) -> Manifest:
        dataset_id = directory.name
        kind = "images" if (directory / IMAGES_DIR).is_dir() else "tabular"
        if directory.is_symlink():
            return Manifest.broken(dataset_id, "is a link, not a dataset folder", kind)
        try:
            manifest = read_manifest(directory)
        except ValueError as exc:
            return Manifest.broken(dataset_id, str(exc), kind)
        if manifest.status != "ready":
            return manifest
        data = DATA_CSV if manifest.kind == "tabular" else IMAGES_DIR
        present = (directory / data).is_file() or (directory / data).is_dir()
        if not present:
            return manifest.model_copy(
                update={"status": "error", "error": f"its data ({data}) is gone"}
            )
        return manifest

    # ---- changing ----------------------------------------------------------------------------

    def rename(self, dataset_id: str, name: str) -> Manifest:
        """Give a dataset a new name; its id (and every variant that uses it) stays."""
        name = clean_name(name)
        directory = self.dir(dataset_id)
        try:
            manifest = read_manifest(directory)
        except ValueError as exc:
            raise DatasetError(f"dataset '{dataset_id}' cannot be renamed: {exc}") from None
        renamed = manifest.model_copy(update={"name": name})
        atomic_write_json(manifest_path(directory), renamed.model_dump(mode="json"))
        return self.get(dataset_id)

    def delete(self, dataset_id: str) -> None:
        """Remove a dataset: renamed out of the library in one step, then removed."""
        directory = self.dir(dataset_id)
        trash = self.root / f"{TRASH_PREFIX}{dataset_id}-{uuid.uuid4().hex[:8]}"
        try:
            os.replace(directory, trash)
        except OSError as exc:
            raise DatasetError(
                f"dataset '{dataset_id}' cannot be deleted: {exc.strerror or exc}"
            ) from None
        shutil.rmtree(trash, ignore_errors=True)

    def import_path(
        self,
        source: Path | str,
        name: str | None = None,
        *,
        strict_images: bool = False,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> Manifest:
        """Import a CSV file, a folder of class folders of images, or a ZIP of either (with or
        without one top folder) into the library; its manifest.

        `name` defaults to the file or folder name. `strict_images` refuses the import at the
        first unreadable image instead of leaving it out. `progress` is called per file;
        `cancel` is checked per file (ImportCancelled). Every refusal is a
        DatasetImportError naming the file or entry and the rule; nothing is left behind.
        """
        src = Path(source).expanduser().absolute()
        label = src.name or str(src)
        kind = _source_kind(src, label)
        display_name = clean_name(name if name is not None else _default_name(src))
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetImportError(
                f"{label}: the library folder {self.root} cannot be created ({exc.strerror or exc})"
            ) from None
        self._remove_debris()
        staging = self.root / f"{IMPORTING_PREFIX}{uuid.uuid4().hex}"
        with _ACTIVE_LOCK:
            _ACTIVE.add(staging)
        try:
            staging.mkdir()
            (staging / PID_FILE).write_text(f"{os.getpid()}\n", encoding="ascii")
            builder = {"csv": _import_csv, "folder": _import_folder, "zip": _import_zip}[kind]
            fields = builder(src, staging, label, strict_images, progress, cancel)
            check_cancel(cancel)
            return self._publish(staging, display_name, src, fields)
        except BaseException as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if isinstance(exc, OSError):
                raise DatasetImportError(
                    f"{label}: import failed ({exc.strerror or exc}); nothing was imported"
                ) from None
            raise
        finally:
            with _ACTIVE_LOCK:
                _ACTIVE.discard(staging)

    def _publish(
        self, staging: Path, display_name: str, src: Path, fields: dict[str, Any]
    ) -> Manifest:
        """Write the manifest and rename the temp folder to the dataset's id, taking the next
        free id if another import took this one meanwhile."""
        (staging / PID_FILE).unlink(missing_ok=True)
        imported_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        taken: set[str] = set()
        for _ in range(100):
            dataset_id = self._free_id(display_name, taken)
            manifest = Manifest(
                id=dataset_id,
                name=display_name,
                source=str(src),
                imported_at=imported_at,
                status="ready",
                **fields,
            )
            atomic_write_json(manifest_path(staging), manifest.model_dump(mode="json"))
            target = self.root / dataset_id
            if target.exists() or target.is_symlink():
                taken.add(dataset_id)
                continue
            try:
                os.rename(staging, target)
            except OSError:
                if not target.exists():
                    raise
                taken.add(dataset_id)
                continue
            return manifest
        raise DatasetImportError(f"{display_name}: no free dataset id; nothing was imported")

    def _free_id(self, name: str, taken: set[str]) -> str:
        base = slug(name)
        reserved = builtin_ids() | taken
        for n in range(1, 10_000):
            suffix = "" if n == 1 else f"_{n}"
            candidate = base[: MAX_ID_CHARS - len(suffix)].rstrip("_") + suffix
            if candidate in reserved:
                continue
            path = self.root / candidate
            if not (path.exists() or path.is_symlink()):
                return candidate
        raise DatasetImportError(f"{name}: no free dataset id; nothing was imported")

    def _remove_debris(self) -> None:
        """Remove temp folders of imports whose process is gone (older than a minute) and
        what cut-short deletions left."""
        try:
            entries = list(self.root.iterdir())
        except OSError:
            return
        for entry in entries:
            trash = entry.name.startswith(TRASH_PREFIX)
            if trash or (entry.name.startswith(IMPORTING_PREFIX) and _is_stale_import(entry)):
                shutil.rmtree(entry, ignore_errors=True)


# ---- names and ids ---------------------------------------------------------------------------


def clean_name(name: object) -> str:
    """A dataset's display name: text with no control characters, spaces trimmed, 1 to 100
    characters. DatasetError otherwise."""
    if not isinstance(name, str):
        raise DatasetError("a dataset name must be text")
    cleaned = " ".join(name.split())
    if not cleaned:
        raise DatasetError("a dataset name is empty; give it at least one letter or digit")
    if any(unicodedata.category(c) == "Cc" for c in cleaned):
        raise DatasetError(f"dataset name {cleaned!r} has control characters")
    if len(cleaned) > MAX_NAME_CHARS:
        raise DatasetError(
            f"dataset name has {len(cleaned)} characters; at most {MAX_NAME_CHARS} are allowed"
        )
    return cleaned


def slug(name: str) -> str:
    """The id form of a name: ASCII letters and digits lower-cased, every other run of
    characters one '_', at most 40 characters; "dataset" if nothing is left; never starting
    with "csv" (that is the prefix of `csv:PATH` ids)."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", "_", ascii_text.lower()).strip("_")
    if not text:
        text = "dataset"
    if text.startswith("csv"):
        text = f"data_{text}"
    return text[:MAX_ID_CHARS].rstrip("_")


def builtin_ids() -> frozenset[str]:
    """Ids a library dataset may never take: the built-in datasets' and the reserved ones."""
    from engine.datasets.registry import list_datasets

    ids = {info.id for info in list_datasets() if info.source in ("synthetic", "bundled")}
    return frozenset(ids | RESERVED_IDS)


def _checked_id(dataset_id: object) -> str:
    if (
        not isinstance(dataset_id, str)
        or not dataset_id
        or dataset_id.startswith(".")
        or any(c in dataset_id for c in "/\\\x00:")
        or len(dataset_id) > 255
    ):
        raise DatasetError(f"{dataset_id!r} is not a dataset id of the library")
    return dataset_id


def _default_name(src: Path) -> str:
    return src.stem if src.is_file() else src.name


# ---- stale imports ---------------------------------------------------------------------------


def _is_stale_import(directory: Path) -> bool:
    """A temp folder older than a minute whose importing process is gone (or, for this
    process, that no running import owns)."""
    try:
        age = time.time() - directory.stat().st_mtime
    except OSError:
        return False
    if age < STALE_IMPORT_SECONDS:
        return False
    try:
        pid = int((directory / PID_FILE).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return True
    if pid == os.getpid():
        with _ACTIVE_LOCK:
            return directory not in _ACTIVE
    return not _pid_alive(pid)


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.pid_exists(pid)
    except (OSError, ValueError):
        return True  # unsure: keep the folder


# ---- the import of each kind of source -------------------------------------------------------


def _source_kind(src: Path, label: str) -> str:
    try:
        mode = src.stat().st_mode
    except FileNotFoundError:
        raise DatasetImportError(f"{src}: not found; nothing was imported") from None
    except (OSError, ValueError) as exc:
        raise DatasetImportError(f"{src}: cannot be read ({exc})") from None
    if stat.S_ISDIR(mode):
        return "folder"
    if not stat.S_ISREG(mode):
        raise DatasetImportError(f"{label}: not a regular file; give a CSV file, a ZIP or a folder")
    suffix = src.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".zip" or zipfile.is_zipfile(src):
        return "zip"
    raise DatasetImportError(
        f"{label}: not a CSV file (.csv), a ZIP archive (.zip) or a folder of class folders "
        "of images"
    )


def _import_csv(
    src: Path,
    staging: Path,
    label: str,
    strict_images: bool,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    check_cancel(cancel)
    _copy_file(src, staging / DATA_CSV, cancel)
    if progress is not None:
        progress(ImportProgress("copying", 1, 1, src.name))
    return _table_fields(staging / DATA_CSV, label, progress, cancel)


def _table_fields(
    data_csv: Path, label: str, progress: Progress | None, cancel: threading.Event | None
) -> dict[str, Any]:
    """Check the copied table with the training parser; the manifest fields it gives."""
    from engine.datasets.columns import infer_columns
    from engine.datasets.tabular import parse_csv_text

    check_cancel(cancel)
    data = data_csv.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetImportError(
            f"{label}: not a UTF-8 text file (byte {exc.start}); save it as UTF-8 CSV"
        ) from None
    try:
        loaded = parse_csv_text(text, source=label)
        columns, rows = infer_columns(text, label)
    except DatasetImportError:
        raise
    except DatasetError as exc:
        raise DatasetImportError(str(exc)) from None
    if progress is not None:
        progress(ImportProgress("checking table", 1, 1, label))
    return {
        "kind": "tabular",
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "rows": rows,
        "columns": columns,
        "target": columns[-1].name,
        "task_type": loaded.task_type,
    }


def _import_folder(
    src: Path,
    staging: Path,
    label: str,
    strict_images: bool,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    root, top = _content_root(src)
    return _image_fields(
        root, staging, f"{label}/{top}", top, [], strict_images, progress, cancel, move=False
    )


def _import_zip(
    src: Path,
    staging: Path,
    label: str,
    strict_images: bool,
    progress: Progress | None,
    cancel: threading.Event | None,
) -> dict[str, Any]:
    unpacked = staging / _UNPACKED
    extracted = extract_zip(src, unpacked, progress=progress, cancel=cancel)
    skipped = list(extracted.skipped)
    root, top = _content_root(unpacked)
    files = [f for f in extracted.files if f.startswith(top)]
    csvs = [f for f in files if Path(f).suffix.lower() == ".csv"]
    has_images = any(Path(f).suffix.lower() in IMAGE_SUFFIXES for f in files)
    if not has_images and len(csvs) == 1:
        skipped += [(f, "not the dataset's CSV file") for f in files if f != csvs[0]]
        os.replace(unpacked / csvs[0], staging / DATA_CSV)
        shutil.rmtree(unpacked)
        fields = _table_fields(staging / DATA_CSV, f"{label}: {csvs[0]}", progress, cancel)
        fields["skipped"] = [SkippedFile(path=p, reason=r) for p, r in sorted(skipped)]
        return fields
    if not has_images and len(csvs) > 1:
        raise DatasetImportError(
            f"{label}: holds {len(csvs)} CSV files and no images; a ZIP may hold one CSV file, "
            "or class folders of images"
        )
    fields = _image_fields(
        root, staging, f"{label}: {top}", top, skipped, strict_images, progress, cancel, move=True
    )
    shutil.rmtree(unpacked)
    return fields


def _content_root(base: Path) -> tuple[Path, str]:
    """The folder holding the class folders, and its path relative to `base` ("" or
    "top/"): one top folder (the only entry of `base`, itself holding folders) is looked
    through, as a ZIP of a folder has it."""
    try:
        entries = [e for e in base.iterdir() if is_hidden((e.name,)) is None]
    except OSError:
        return base, ""
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        inner = entries[0]
        try:
            has_folders = any(
                e.is_dir() and not e.is_symlink() and is_hidden((e.name,)) is None
                for e in inner.iterdir()
            )
        except OSError:
            has_folders = False
        if has_folders:
            return inner, f"{inner.name}/"
    return base, ""


def _image_fields(
    root: Path,
    staging: Path,
    shown_as: str,
    prefix: str,
    skipped: list[tuple[str, str]],
    strict: bool,
    progress: Progress | None,
    cancel: threading.Event | None,
    *,
    move: bool,
) -> dict[str, Any]:
    """Put the candidate images of `root` into `<staging>/images` (copied from a folder,
    moved from an extracted ZIP), check them with Pillow, drop the unreadable ones and hash
    the rest; the manifest fields. Skipped paths are `prefix` + their path under `root`."""
    images = staging / IMAGES_DIR
    images.mkdir()
    entries = sorted_entries(root)
    listed: set[str] = set()
    for done, (parts, path, relpath, reason) in enumerate(entries, start=1):
        check_cancel(cancel)
        if reason is not None:
            if relpath not in listed:
                listed.add(relpath)
                skipped.append((prefix + relpath, reason))
            continue
        target = images.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if move:
            os.replace(path, target)
        else:
            _copy_file(path, target, cancel)
        if progress is not None:
            progress(ImportProgress("copying", done, len(entries), relpath))
    scan = scan_image_tree(
        images, strict=strict, progress=progress, cancel=cancel, shown_as=shown_as
    )
    for relpath, reason in scan.skipped:
        images.joinpath(*relpath.rstrip("/").split("/")).unlink(missing_ok=True)
        skipped.append((prefix + relpath, reason))
    files = scan.files
    sha = image_tree_sha256(images, files, progress=progress, cancel=cancel)
    size = sum(images.joinpath(*f.split("/")).stat().st_size for f in files)
    return {
        "kind": "images",
        "sha256": sha,
        "size_bytes": size,
        "classes": [ClassCount(name=n, count=len(p)) for n, p in scan.classes.items()],
        "image_sizes": scan.sizes,
        "formats": scan.formats,
        "channels": scan.channels,
        "skipped": [SkippedFile(path=p, reason=r) for p, r in sorted(skipped)],
    }


def _copy_file(src: Path, target: Path, cancel: threading.Event | None) -> None:
    """Copy a regular file without following a link put in its place since it was listed;
    `cancel` is checked per MiB."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(src, flags)
    except OSError as exc:
        raise DatasetImportError(f"{src}: cannot be read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise DatasetImportError(f"{src}: not a regular file; refused")
        with open(target, "xb") as out:
            while block := handle.read(COPY_CHUNK_BYTES):
                check_cancel(cancel)
                out.write(block)


__all__ = [
    "DatasetLibrary",
    "ImportCancelled",
    "ImportProgress",
    "builtin_ids",
    "clean_name",
    "slug",
]
