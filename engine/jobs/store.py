"""trainwright.db: the jobs of a data home, queued and past, and their log records.

One embedded SQLite file (stdlib sqlite3) that the window and the CLI share: WAL (readers
never wait for a writer), a 10 s busy timeout, and every write a short `BEGIN IMMEDIATE`
transaction, so two processes on one home see each other's jobs and never corrupt it. One
connection per store, guarded by a lock: a run's watcher thread and the GUI thread may use
the same store.

The variant and sweep directories stay the source of truth. A store that is missing is
created and filled from them (said in `store.notes`: a home from before jobs is routine);
one that is damaged (not a database, failing its integrity check) or written by a newer
Trainwright is moved aside (`trainwright.db.corrupt-<UTC>`) and rebuilt from them, with a
one-line warning in `store.warnings`. Opening never blocks on what is in the file;
StoreUnavailable says when it cannot be opened at all.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.jobs import processes, rebuild
from engine.jobs.errors import JobError, StoreUnavailable
from engine.jobs.records import ACTIVE, FINISHED, STATUSES, Job, JobRequest, LogRecord, now
from engine.jobs.retry import retry_request
from engine.jobs.schema import NewerSchema, migrate
from engine.sweeps.store import lock_path as sweep_lock_path
from engine.training.lock import is_locked
from engine.variants import lock_path as variant_lock_path
from engine.variants import variant_dir

try:
    import fcntl
except ImportError:  # Windows: opening is not serialised between processes there
    fcntl = None  # type: ignore[assignment]

DB_FILE = "trainwright.db"
OPEN_LOCK_FILE = ".trainwright.db.lock"  # held while a process opens (and maybe repairs) it
BUSY_TIMEOUT_S = 10.0
# Below this much free space, a run started now is not recorded: its history (the store,
# its WAL and shared-memory files) must never take the last bytes the run itself needs.
MIN_FREE_BYTES = 8 * 1024 * 1024
MAX_MESSAGE_CHARS = 8000  # a log record longer than this is cut (a huge traceback)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Columns `update`/`finish` may set; the others change only through their own methods.
UPDATABLE = frozenset(
    {
        "attempts", "variant", "family", "sweep_id", "error", "cpu_time_s",
        "peak_rss_bytes", "peak_gpu_bytes",
    }
)  # fmt: skip


class _Damaged(Exception):
    """What is wrong with a store file that cannot be used as it is (one line)."""


class JobStore:
    """The job history and queue of the data home `home` (see the module docstring)."""

    def __init__(self, home: str | os.PathLike[str]) -> None:
        self.home = Path(home)
        self.path = self.home / DB_FILE
        # What opening it had to do: `warnings` when something was wrong with the file (moved
        # aside and rebuilt), `notes` when it was only missing (a home from before jobs).
        self.warnings: list[str] = []
        self.notes: list[str] = []
        self._lock = threading.RLock()
        self._conn = self._open()
        try:
            self.mark_interrupted()
        except BaseException:
            self._conn.close()
            raise

    # ---- opening -----------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        try:
            with _open_lock(self.home):
                return self._open_locked()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"could not open {self.path}: {_reason(exc)}") from None
        except OSError as exc:
            raise StoreUnavailable(f"could not open {self.path}: {exc.strerror or exc}") from None

    def _open_locked(self) -> sqlite3.Connection:
        existed = self.path.exists()
        conn = None
        try:
            conn = self._connect()
            _check(conn)
            created = migrate(conn) == 0
        except (sqlite3.DatabaseError, _Damaged, NewerSchema) as exc:
            if conn is not None:
                conn.close()
            damage = _damage(exc)
            if damage is None or not existed:
                raise
            aside = self._move_aside()
            conn = self._connect()
            migrate(conn)
            reason = f"{DB_FILE} was damaged ({damage}); moved to {aside.name} and"
            self.rebuild(reason, conn=conn)
            return conn
        if created:
            reason = f"{DB_FILE} was missing;" if not existed else f"{DB_FILE} was empty;"
            self.rebuild(reason, conn=conn, only_if_found=True, note=True)
        return conn

    def _connect(self) -> sqlite3.Connection:
        self.home.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # With WAL, NORMAL keeps the file whole through any crash; only a power cut may
            # lose the last commits (log lines), and commits need no fsync each.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return conn

    def _move_aside(self) -> Path:
        """Rename the damaged file (and its WAL, which belongs to it) out of the way."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{DB_FILE}.corrupt-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{DB_FILE}.corrupt-{stamp}-{n}")
        os.replace(self.path, aside)
        wal = self.path.with_name(DB_FILE + "-wal")
        if wal.exists():
            os.replace(wal, aside.with_name(aside.name + "-wal"))
        self.path.with_name(DB_FILE + "-shm").unlink(missing_ok=True)
        return aside

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> JobStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- transactions ------------------------------------------------------------------------
    @contextlib.contextmanager
    def _write(self, conn: sqlite3.Connection | None = None) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken at once (BEGIN IMMEDIATE): no deferred upgrade
        from reader to writer, which is what fails between processes in WAL mode."""
        with self._lock:
            conn = conn or self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _rows(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    # ---- jobs --------------------------------------------------------------------------------
    def submit(
        self,
        request: JobRequest,
        *,
        queued: bool = True,
        paused: bool = False,
        retry_of: int | None = None,
    ) -> Job:
        """Add a job: queued at the end of the queue, or (`queued=False`) running at once in
        this process (a run the CLI or the window starts now)."""
        pid, started = processes.this_process() if not queued else (None, None)
        with self._write() as conn:
            position = 0.0
            if queued:
                row = conn.execute(
                    "SELECT COALESCE(MAX(position), 0) FROM jobs WHERE status = 'queued'"
                ).fetchone()
                position = float(row[0]) + 1.0
            stamp = now()
            cursor = conn.execute(
                """INSERT INTO jobs (kind, request, status, position, paused, created_at,
                   started_at, variant, family, sweep_id, pid, pid_started, retry_of)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                (
                    request.kind,
                    rebuild.request_json(request),
                    "queued" if queued else "running",
                    position,
                    int(paused and queued),
                    stamp,
                    None if queued else stamp,
                    request.variant,
                    request.family,
                    request.sweep_id,
                    pid,
                    started,
                    retry_of,
                ),
            )
            job_id = int(cursor.lastrowid or 0)
        return self.get(job_id)

    def get(self, job_id: int) -> Job:
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        if not rows:
            raise JobError(f"no job {job_id} (see `trainwright jobs`)")
        return _job(rows[0])

    def list(
        self, status: str | Iterable[str] | None = None, limit: int | None = None
    ) -> list[Job]:
        """Jobs, newest first; only those with one of `status` when given."""
        sql, params = "SELECT * FROM jobs", []
        if status is not None:
            wanted = [status] if isinstance(status, str) else sorted(status)
            unknown = [s for s in wanted if s not in STATUSES]
            if unknown:
                raise JobError(f"unknown job status {unknown[0]!r}; one of {', '.join(STATUSES)}")
            sql += f" WHERE status IN ({', '.join('?' * len(wanted))})"
            params += wanted
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [_job(row) for row in self._rows(sql, params)]

    def queue(self) -> list[Job]:
        """Queued jobs in the order they will run (paused ones keep their place)."""
        rows = self._rows("SELECT * FROM jobs WHERE status = 'queued' ORDER BY position, id")
        return [_job(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """How many jobs have each status (every status named, 0 when none)."""
        rows = self._rows("SELECT status, COUNT(*) FROM jobs GROUP BY status")
        return {status: 0 for status in STATUSES} | {row[0]: int(row[1]) for row in rows}

    def move(self, job_id: int, before_id: int | None) -> Job:
        """Put queued job `job_id` just before queued job `before_id` (None: at the end)."""
        with self._write() as conn:
            self._queued(conn, job_id, "moved")
            order = [
                int(r[0])
                for r in conn.execute(
                    "SELECT id FROM jobs WHERE status = 'queued' AND id != ? ORDER BY position, id",
                    (job_id,),
                )
            ]
            if before_id is None:
                order.append(job_id)
            else:
                if before_id not in order:
                    self._queued(conn, before_id, "a place in the queue")
                order.insert(order.index(before_id), job_id)
            conn.executemany(
                "UPDATE jobs SET position = ? WHERE id = ?",
                [(float(i + 1), jid) for i, jid in enumerate(order)],
            )
        return self.get(job_id)

    def remove(self, job_id: int) -> None:
        """Delete a queued job (and its log); JobError for any other."""
        with self._write() as conn:
            self._queued(conn, job_id, "removed")
            conn.execute("DELETE FROM jobs WHERE id = ?", (job_id,))

    def set_paused(self, job_id: int, paused: bool) -> Job:
        """A paused queued job keeps its place but is skipped by `claim_next`."""
        with self._write() as conn:
            self._queued(conn, job_id, "paused" if paused else "unpaused")
            conn.execute("UPDATE jobs SET paused = ? WHERE id = ?", (int(paused), job_id))
        return self.get(job_id)

    def _queued(self, conn: sqlite3.Connection, job_id: int, what: str) -> None:
        row = conn.execute("SELECT status FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobError(f"no job {job_id} (see `trainwright jobs`)")
        if row[0] != "queued":
            raise JobError(f"job {job_id} is {row[0]}; only a queued job can be {what}")

    def claim_next(self) -> Job | None:
        """The first unpaused queued job, now running in this process; None when there is
        none. Atomic: two processes claiming at once never get the same job."""
        pid, started = processes.this_process()
        with self._write() as conn:
            row = conn.execute(
                "SELECT id FROM jobs WHERE status = 'queued' AND paused = 0 "
                "ORDER BY position, id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            conn.execute(
                "UPDATE jobs SET status = 'running', started_at = ?, pid = ?, pid_started = ?, "
                "cancel_requested = 0 WHERE id = ?",
                (now(), pid, started, row[0]),
            )
        return self.get(int(row[0]))

    def start(self, job_id: int) -> Job:
        """Mark a queued job running in this process (a no-op for one already running here)."""
        pid, started = processes.this_process()
        with self._write() as conn:
            row = conn.execute("SELECT status, pid FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise JobError(f"no job {job_id} (see `trainwright jobs`)")
            if row["status"] == "running" and row["pid"] == pid:
                pass
            elif row["status"] == "running":
                raise JobError(f"job {job_id} is already running (process {row['pid']})")
            elif row["status"] == "queued":
                conn.execute(
                    "UPDATE jobs SET status = 'running', started_at = ?, pid = ?, "
                    "pid_started = ? WHERE id = ?",
                    (now(), pid, started, job_id),
                )
            else:
                raise JobError(
                    f"job {job_id} is {row['status']}; retry it (`trainwright jobs retry "
                    f"{job_id}`) to run it again"
                )
        return self.get(job_id)

    def update(self, job_id: int, **fields: Any) -> Job:
        """Set some of a job's facts (variant, family, sweep_id, error, attempts, resources)."""
        self._set(job_id, fields)
        return self.get(job_id)

    def finish(self, job_id: int, status: str, error: str | None = None, **fields: Any) -> Job:
        """End a job with a final status (and its error, variant, resources…)."""
        if status not in FINISHED:
            raise JobError(f"{status!r} is not a final job status; one of {sorted(FINISHED)}")
        self._set(job_id, {**fields, "error": error}, status=status, finished_at=now())
        return self.get(job_id)

    def _set(self, job_id: int, fields: dict[str, Any], **columns: Any) -> None:
        unknown = sorted(set(fields) - UPDATABLE)
        if unknown:
            raise TypeError(f"job fields that cannot be set: {', '.join(unknown)}")
        values = {**fields, **columns}
        if not values:
            return
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self._write() as conn:
            cursor = conn.execute(
                f"UPDATE jobs SET {assignments} WHERE id = ?", (*values.values(), job_id)
            )
            if cursor.rowcount == 0:
                raise JobError(f"no job {job_id} (see `trainwright jobs`)")

    def request_cancel(self, job_id: int) -> Job:
        """Cancel a job: a queued one at once (cancelled); a running one is asked to stop
        (`cancel_requested`), and its process stops it at the next step, resumable. A
        finished job is left as it is. The job as it stands after."""
        with self._write() as conn:
            conn.execute(
                "UPDATE jobs SET status = 'cancelled', finished_at = ? "
                "WHERE id = ? AND status = 'queued'",
                (now(), job_id),
            )
            conn.execute(
                "UPDATE jobs SET cancel_requested = 1 WHERE id = ? AND status = 'running'",
                (job_id,),
            )
        return self.get(job_id)

    def cancel_requested(self, job_id: int) -> bool:
        rows = self._rows("SELECT cancel_requested FROM jobs WHERE id = ?", (job_id,))
        return bool(rows and rows[0][0])

    def retry(self, job_id: int) -> Job:
        """A new queued job running `job_id`'s request again: for a run whose variant exists,
        a resume from its checkpoint (interrupted, cancelled, timed out) or a fresh start
        over it (completed, failed). See engine.jobs.retry."""
        job = self.get(job_id)
        return self.submit(retry_request(self.home, job), retry_of=job.id)

    # ---- log records -------------------------------------------------------------------------
    def log(self, job_id: int, level: str, message: str) -> None:
        self.log_many(job_id, [(now(), level, message)])

    def log_many(self, job_id: int, records: Iterable[tuple[str, str, str]]) -> None:
        """Append (time, level, message) records in one transaction."""
        rows = [(job_id, t, _level(level), _clip(message)) for t, level, message in records]
        if not rows:
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO logs (job_id, time, level, message) VALUES (?, ?, ?, ?)", rows
            )

    def logs(self, job_id: int, after_id: int = 0, limit: int | None = None) -> list[LogRecord]:
        """A job's records after record `after_id`, oldest first: pass the last id seen to
        follow a live run."""
        sql = "SELECT * FROM logs WHERE job_id = ? AND id > ? ORDER BY id"
        params: list[Any] = [job_id, after_id]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [LogRecord(**dict(row)) for row in self._rows(sql, params)]

    def last_logs(self, job_id: int, count: int) -> list[LogRecord]:
        """A job's last `count` records, oldest first."""
        rows = self._rows(
            "SELECT * FROM logs WHERE job_id = ? ORDER BY id DESC LIMIT ?", (job_id, count)
        )
        return [LogRecord(**dict(row)) for row in reversed(rows)]

    # ---- processes that died -----------------------------------------------------------------
    def mark_interrupted(self) -> list[Job]:
        """Running jobs whose process is gone (its pid is dead, or now another process's)
        become interrupted; a job rebuilt without a pid is alive while its variant's or
        sweep's lock is held. The jobs marked."""
        running = self._rows("SELECT * FROM jobs WHERE status = 'running'")
        dead = [row for row in running if not self._alive(row)]
        if not dead:
            return []
        stamp = now()
        marked = []
        with self._write() as conn:
            for row in dead:
                note = (
                    f"its process (pid {row['pid']}) ended before it finished"
                    if row["pid"] is not None
                    else "no process is running it"
                )
                cursor = conn.execute(
                    "UPDATE jobs SET status = 'interrupted', finished_at = ?, error = ? "
                    "WHERE id = ? AND status = 'running' AND pid IS ? AND pid_started IS ?",
                    (stamp, note, row["id"], row["pid"], row["pid_started"]),
                )
                if cursor.rowcount:
                    conn.execute(
                        "INSERT INTO logs (job_id, time, level, message) VALUES (?, ?, ?, ?)",
                        (row["id"], stamp, "WARNING", f"interrupted: {note}"),
                    )
                    marked.append(int(row["id"]))
        return [self.get(job_id) for job_id in marked]

    def _alive(self, row: sqlite3.Row) -> bool:
        if row["pid"] is not None:
            return processes.is_running(int(row["pid"]), row["pid_started"])
        if row["sweep_id"]:
            return is_locked(sweep_lock_path(self.home, row["sweep_id"]))
        if row["variant"] and row["family"]:
            return is_locked(
                variant_lock_path(variant_dir(self.home, row["family"], row["variant"]))
            )
        return False

    # ---- rebuilding from the directories -----------------------------------------------------
    def rebuild(
        self,
        reason: str,
        *,
        conn: sqlite3.Connection | None = None,
        only_if_found: bool = False,
        note: bool = False,
    ) -> str | None:
        """Replace the finished history with one job per variant and per sweep as their
        directories tell (queued and running jobs stay); the warning, also added to
        `warnings` (to `notes` with `note`): "<reason> rebuilt from 12 variants and 2 sweeps"
        (a reason ends in ";" or "and"). With `only_if_found` and nothing found, nothing is
        said."""
        found = rebuild.from_directories(self.home)
        if only_if_found and not found.rows:
            return None
        with self._write(conn) as c:
            active = {
                (r["variant"], r["sweep_id"])
                for r in c.execute(
                    f"SELECT variant, sweep_id FROM jobs WHERE status IN "
                    f"({', '.join('?' * len(ACTIVE))})",
                    sorted(ACTIVE),
                )
            }
            c.execute(
                f"DELETE FROM jobs WHERE status NOT IN ({', '.join('?' * len(ACTIVE))})",
                sorted(ACTIVE),
            )
            for row in found.rows:
                if (row.get("variant"), row.get("sweep_id")) in active:
                    continue
                values = {**row, "request": rebuild.request_json(row["request"])}
                names = ", ".join(values)
                c.execute(
                    f"INSERT INTO jobs ({names}) VALUES ({', '.join('?' * len(values))})",
                    tuple(values.values()),
                )
        warning = f"{reason} rebuilt from {found.summary()}"
        (self.notes if note else self.warnings).append(warning)
        return warning


def room_for_history(home: str | os.PathLike[str]) -> str | None:
    """Why a run started now in `home` should not be recorded (its disk is nearly full),
    or None. A home that cannot be measured is left to the store to try."""
    try:
        free = shutil.disk_usage(home).free
    except OSError:
        return None
    if free >= MIN_FREE_BYTES:
        return None
    return (
        f"only {free // 1024} KB free on the disk of {home}; the job history is not written "
        f"below {MIN_FREE_BYTES // (1024 * 1024)} MB, to leave it to the run"
    )


def _check(conn: sqlite3.Connection) -> None:
    """_Damaged unless SQLite's quick integrity check passes (a torn or overwritten page)."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    if [tuple(r) for r in rows] != [("ok",)]:
        raise _Damaged(f"integrity check: {' '.join(str(rows[0][0]).split())[:120]}")


def _damage(exc: BaseException) -> str | None:
    """Why the file itself is unusable (one line), or None when the problem is elsewhere
    (permissions, a full disk, a lock held too long): then nothing is moved aside."""
    if isinstance(exc, _Damaged | NewerSchema):
        return str(exc)
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return str(exc)
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return text
    return None


def _reason(exc: sqlite3.Error) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _job(row: sqlite3.Row) -> Job:
    data = dict(row)
    data.pop("pid_started", None)
    data["request"] = JobRequest.model_validate(json.loads(data["request"]))
    data["paused"] = bool(data["paused"])
    data["cancel_requested"] = bool(data["cancel_requested"])
    return Job(**data)


def _level(level: str) -> str:
    level = str(level).upper()
    if level == "CRITICAL":
        return "ERROR"
    return level if level in LEVELS else "INFO"


def _clip(message: str) -> str:
    message = str(message)
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 1] + "…"


@contextlib.contextmanager
def _open_lock(home: Path) -> Iterator[None]:
    """Serialise opening (check, migrate, repair) between processes: two that find the same
    damaged file must not both move it aside."""
    if fcntl is None:
        yield
        return
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / OPEN_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
