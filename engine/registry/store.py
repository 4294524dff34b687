"""The registry's index and its changes: aliases, notes, renames and deletions.

The folders under `<home>/models` are the source of truth (engine.registry.records). The
index lives in trainwright.db, the jobs' SQLite file, in tables of its own (the jobs' tables
and schema version are never touched): one row per version and one per model, each with the
stamp (modification time and size) of the JSON file it was read from. Opening a store, and
every listing, compares those stamps with the folders (a stat per file) and re-reads what
differs, so the index is rebuilt when its tables or the file are gone, and follows what
another process published, renamed or deleted.

Every write to a folder is atomic (engine.atomic) and made under a lock file beside the
models (`~registry.lock`), so two processes changing one model's aliases never lose one.
Names and aliases are checked before anything is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from engine.atomic import atomic_write_json
from engine.metadata import now
from engine.registry.records import (
    DELETED_MARKER,
    MODEL_FILE,
    VERSION_FILE,
    ModelRecord,
    ModelVersion,
    RegistryError,
    check_alias,
    check_model_name,
    model_dir,
    models_root,
    parse_ref,
    read_model_record,
    read_version,
    resolve_version_dir,
    version_numbers,
)

try:
    import fcntl
except ImportError:  # Windows: writes are not serialised between processes there
    fcntl = None  # type: ignore[assignment]

BUSY_TIMEOUT_S = 10.0
LOCK_FILE = "~registry.lock"  # '~' never appears in a model name
ASIDE_PREFIX = "~deleting-"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS model_versions (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        stamp TEXT NOT NULL,
        record TEXT NOT NULL,
        PRIMARY KEY (name, version)
    )""",
    """CREATE TABLE IF NOT EXISTS model_records (
        name TEXT PRIMARY KEY,
        stamp TEXT NOT NULL,
        record TEXT NOT NULL
    )""",
)


class ModelSummary(BaseModel):
    """One model as `trainwright models` lists it: its latest version's facts."""

    name: str
    versions: int
    latest: int
    aliases: dict[str, int] = Field(default_factory=dict)
    notes: str = ""
    family: str
    metrics: dict[str, float] = Field(default_factory=dict)
    size_bytes: int
    inference_ms_per_1000: float | None = None
    created_at: str


class RegistryStore:
    """The published models of the data home `home` (see the module docstring)."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        from engine.jobs.store import DB_FILE

        self.home = Path(home)
        self.root = models_root(self.home)
        self.path = self.home / DB_FILE
        self.warnings: list[str] = []  # version.json files that could not be read
        # Whether opening had to re-read folders into the index (a new or lost index, or
        # folders changed since it was last read).
        self.rebuilt = self._sync()

    # ---- reading -----------------------------------------------------------------------------
    def models(self) -> list[ModelSummary]:
        """Every model with at least one version, by name."""
        self._sync()
        with self._connect() as conn:
            records = {
                row[0]: ModelRecord.model_validate_json(row[1])
                for row in conn.execute("SELECT name, record FROM model_records")
            }
            rows = conn.execute(
                "SELECT name, COUNT(*), MAX(version) FROM model_versions GROUP BY name ORDER BY name"
            ).fetchall()
            summaries = []
            for name, count, latest in rows:
                text = conn.execute(
                    "SELECT record FROM model_versions WHERE name = ? AND version = ?",
                    (name, latest),
                ).fetchone()[0]
                summaries.append(
                    _summary(ModelVersion.model_validate_json(text), count, records.get(name))
                )
        return summaries

    def versions(self, name: str) -> list[ModelVersion]:
        """The versions of model `name`, oldest first; RegistryError if it has none."""
        check_model_name(name)
        self._sync()
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT record FROM model_versions WHERE name = ? ORDER BY version", (name,)
            ).fetchall()
        if not rows:
            raise RegistryError(f"no model named {name!r} (see `trainwright models`)")
        return [ModelVersion.model_validate_json(row[0]) for row in rows]

    def record(self, name: str) -> ModelRecord:
        """The aliases and notes of model `name` (read from its folder)."""
        directory = self._existing_model(name)
        return read_model_record(directory).model_copy(update={"name": name})

    def get(self, ref: str) -> tuple[ModelVersion, Path]:
        """The version `NAME[:VERSION|ALIAS]` names (none: the latest) and its folder."""
        directory = resolve_version_dir(self.home, ref)
        return _read_version(directory), directory

    # ---- changes -----------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point `alias` at `version` of model `name` (moving it if it pointed elsewhere)."""
        check_model_name(name)
        check_alias(alias)
        with self._locked():
            directory = self._existing_model(name)
            number = _version_number(version)
            if number not in version_numbers(directory):
                raise RegistryError(f"model {name!r} has no version {version!r}")
            record = read_model_record(directory)
            record.aliases[alias] = number
            _write_record(directory, record, name)
        self._sync()

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove `alias` from model `name`; RegistryError if it has no such alias."""
        check_model_name(name)
        check_alias(alias)
        with self._locked():
            directory = self._existing_model(name)
            record = read_model_record(directory)
            if alias not in record.aliases:
                known = ", ".join(sorted(record.aliases)) or "none"
                raise RegistryError(f"model {name!r} has no alias {alias!r} (aliases: {known})")
            del record.aliases[alias]
            _write_record(directory, record, name)
        self._sync()

    def set_notes(self, name: str, notes: str, version: int | str | None = None) -> None:
        """The notes of model `name` (model.json), or of one of its versions (version.json,
        rewritten atomically) when `version` (a number, vN or an alias) is given."""
        check_model_name(name)
        with self._locked():
            if version is None:
                directory = self._existing_model(name)
                record = read_model_record(directory)
                record.notes = notes
                _write_record(directory, record, name)
            else:
                directory = resolve_version_dir(self.home, f"{name}:{version}")
                updated = _read_version(directory).model_copy(update={"notes": notes})
                atomic_write_json(directory / VERSION_FILE, updated.model_dump(mode="json"))
        self._sync()

    def rename(self, old: str, new: str) -> None:
        """Rename model `old` to `new` (its folder, and the name its records carry); refused
        when `new` is taken."""
        check_model_name(old)
        check_model_name(new)
        with self._locked():
            source = self._existing_model(old)
            target = model_dir(self.home, new)
            if target.exists() or os.path.lexists(target):
                raise RegistryError(
                    f"cannot rename {old!r} to {new!r}: a model named {new!r} exists"
                )
            os.rename(source, target)
            for number in version_numbers(target):
                directory = target / f"v{number}"
                version = _read_version(directory).model_copy(update={"name": new})
                atomic_write_json(directory / VERSION_FILE, version.model_dump(mode="json"))
            _write_record(target, read_model_record(target), new)
        self._sync()

    def delete(self, ref: str) -> list[int]:
        """Delete `NAME:VERSION` (one version, its aliases dropped) or `NAME` (the model and
        all its versions); the versions deleted. A model left without versions is removed.
        Each folder is first moved aside, so no half-deleted version is ever read."""
        name, asked = parse_ref(ref)
        with self._locked():
            directory = self._existing_model(name)
            if asked is None:
                deleted = version_numbers(directory)
                _remove(directory, self.root)
            else:
                version_folder = resolve_version_dir(self.home, ref)
                number = int(version_folder.name[1:])
                _remove(version_folder, directory)
                version_folder.mkdir()  # the number stays taken (records.DELETED_MARKER)
                (version_folder / DELETED_MARKER).write_text(f"deleted {now()}\n", "utf-8")
                deleted = [number]
                self._after_version_deleted(directory, name, number)
        self._sync()
        return deleted

    def _after_version_deleted(self, directory: Path, name: str, number: int) -> None:
        if not version_numbers(directory):
            _remove(directory, self.root)
            return
        record = read_model_record(directory)
        kept = {alias: v for alias, v in record.aliases.items() if v != number}
        if kept != record.aliases:
            _write_record(directory, record.model_copy(update={"aliases": kept}), name)

    def _existing_model(self, name: str) -> Path:
        directory = model_dir(self.home, name)
        if not version_numbers(directory):
            raise RegistryError(f"no model named {name!r} (see `trainwright models`)")
        return directory

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise changes to the folders between processes (no-op without fcntl)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / LOCK_FILE, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    # ---- the index ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A short-lived connection to trainwright.db with the registry's tables in it."""
        self.home.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal" or not _has_tables(conn):
                with _opening_lock(self.home):  # switching to WAL takes no busy timeout
                    conn.execute("PRAGMA journal_mode = WAL")
                    for statement in SCHEMA:
                        conn.execute(statement)
            yield conn
        except sqlite3.Error as exc:
            raise self._unusable(exc) from None
        finally:
            conn.close()

    def _unusable(self, exc: sqlite3.Error) -> RegistryError:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return RegistryError(
            f"the registry's index in {self.path} cannot be used ({reason}); `trainwright "
            "jobs` moves a damaged file aside, and the index is then rebuilt from the folders"
        )

    def _sync(self) -> bool:
        """Bring the index in line with the folders; whether anything had to be re-read."""
        versions, models = _folder_stamps(self.root)
        with self._connect() as conn:
            if _indexed(conn) == (versions, models):
                return False
            conn.execute("BEGIN IMMEDIATE")
            try:  # read again under the write lock: another process may have synced first
                indexed_versions, indexed_models = _indexed(conn)
                self._update_versions(conn, indexed_versions, versions)
                _update_models(conn, self.root, indexed_models, models)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return True

    def _update_versions(
        self,
        conn: sqlite3.Connection,
        indexed: dict[tuple[str, int], str],
        found: dict[tuple[str, int], str],
    ) -> None:
        for key, stamp in indexed.items():
            if found.get(key) != stamp:
                conn.execute("DELETE FROM model_versions WHERE name = ? AND version = ?", key)
        for (name, number), stamp in found.items():
            if indexed.get((name, number)) == stamp:
                continue
            directory = self.root / name / f"v{number}"
            try:
                version = _read_version(directory)
            except (OSError, ValueError) as exc:
                self.warnings.append(f"{directory / VERSION_FILE} is unreadable: {exc}")
                continue
            conn.execute(
                "INSERT OR REPLACE INTO model_versions (name, version, stamp, record) "
                "VALUES (?, ?, ?, ?)",
                (name, number, stamp, version.model_dump_json()),
            )


def _has_tables(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
        "('model_versions', 'model_records')"
    ).fetchone()[0]
    return found == len(SCHEMA)


@contextlib.contextmanager
def _opening_lock(home: Path) -> Iterator[None]:
    """The lock the job store holds while it opens trainwright.db (engine.jobs.store): a
    process creating the file, switching it to WAL or adding tables does so alone."""
    from engine.jobs.store import OPEN_LOCK_FILE

    if fcntl is None:
        yield
        return
    with open(home / OPEN_LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _indexed(
    conn: sqlite3.Connection,
) -> tuple[dict[tuple[str, int], str], dict[str, str]]:
    """The stamps the index holds, shaped like `_folder_stamps`."""
    versions = {
        (row[0], row[1]): row[2]
        for row in conn.execute("SELECT name, version, stamp FROM model_versions")
    }
    return versions, dict(conn.execute("SELECT name, stamp FROM model_records").fetchall())


def _update_models(
    conn: sqlite3.Connection, root: Path, indexed: dict[str, str], found: dict[str, str]
) -> None:
    for name, stamp in indexed.items():
        if found.get(name) != stamp:
            conn.execute("DELETE FROM model_records WHERE name = ?", (name,))
    for name, stamp in found.items():
        if indexed.get(name) == stamp:
            continue
        try:
            record = read_model_record(root / name).model_copy(update={"name": name})
        except (OSError, ValueError):
            record = ModelRecord(name=name)
        conn.execute(
            "INSERT OR REPLACE INTO model_records (name, stamp, record) VALUES (?, ?, ?)",
            (name, stamp, record.model_dump_json()),
        )


def _folder_stamps(root: Path) -> tuple[dict[tuple[str, int], str], dict[str, str]]:
    """{(name, version): stamp of its version.json} and {name: stamp of its model.json} for
    every model folder with at least one version (a stamp: mtime in ns and size)."""
    versions: dict[tuple[str, int], str] = {}
    models: dict[str, str] = {}
    if not root.is_dir():
        return versions, models
    for directory in root.iterdir():
        try:
            check_model_name(directory.name)
        except RegistryError:
            continue  # the lock file, a folder being deleted
        numbers = version_numbers(directory)
        if not numbers:
            continue
        models[directory.name] = _stamp(directory / MODEL_FILE)
        for number in numbers:
            versions[(directory.name, number)] = _stamp(directory / f"v{number}" / VERSION_FILE)
    return versions, models


def _stamp(path: Path) -> str:
    try:
        info = path.stat()
    except OSError:
        return ""
    return f"{info.st_mtime_ns}:{info.st_size}"


def _read_version(directory: Path) -> ModelVersion:
    """version.json, carrying the name of the folder it is in (the folder is the truth)."""
    version = read_version(directory)
    return version.model_copy(update={"name": directory.parent.name})


def _write_record(directory: Path, record: ModelRecord, name: str) -> None:
    data = record.model_copy(update={"name": name}).model_dump(mode="json")
    atomic_write_json(directory / MODEL_FILE, data)


def _version_number(version: int | str) -> int:
    text = str(version)
    digits = text[1:] if text[:1] in ("v", "V") else text
    if not digits.isdigit() or int(digits) < 1:
        raise RegistryError(f"{version!r} is not a version number (1, 2, ... or v1, v2, ...)")
    return int(digits)


def _remove(directory: Path, parent: Path) -> None:
    """Move `directory` aside (a name no reader looks at) inside `parent`, then delete it."""
    aside = Path(tempfile.mkdtemp(prefix=f"{ASIDE_PREFIX}{directory.name}-", dir=parent))
    target = aside / directory.name
    os.rename(directory, target)
    shutil.rmtree(aside, ignore_errors=True)


def _summary(latest: ModelVersion, count: int, record: ModelRecord | None) -> ModelSummary:
    record = record or ModelRecord(name=latest.name)
    return ModelSummary(
        name=latest.name,
        versions=count,
        latest=latest.version,
        aliases=record.aliases,
        notes=record.notes,
        family=latest.family,
        metrics=latest.metrics,
        size_bytes=latest.size_bytes,
        inference_ms_per_1000=latest.inference_ms_per_1000,
        created_at=latest.created_at,
    )
