"""trainwright.db's schema and its forward migrations, applied when a store opens.

The version is SQLite's `user_version`. Each migration is a list of statements run in one
transaction with the version bump, so a store is at one version or the next, never between.
A store written by a newer Trainwright (a higher version) is not guessed at: `migrate`
raises NewerSchema, and the store is moved aside and rebuilt from the directories.
"""

from __future__ import annotations

import sqlite3

MIGRATIONS: list[list[str]] = [
    # 1: jobs and their log records.
    [
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            position REAL NOT NULL DEFAULT 0,
            paused INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            started_at TEXT,
            finished_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            variant TEXT,
            family TEXT,
            sweep_id TEXT,
            error TEXT,
            pid INTEGER,
            pid_started REAL,
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            cpu_time_s REAL,
            peak_rss_bytes INTEGER,
            peak_gpu_bytes INTEGER,
            retry_of INTEGER REFERENCES jobs(id) ON DELETE SET NULL
        )
        """,
        "CREATE INDEX jobs_by_status ON jobs (status, position)",
        """
        CREATE TABLE logs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
            time TEXT NOT NULL,
            level TEXT NOT NULL,
            message TEXT NOT NULL
        )
        """,
        "CREATE INDEX logs_by_job ON logs (job_id, id)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class NewerSchema(Exception):
    """The store was written by a newer Trainwright: its schema is unknown here."""

    def __init__(self, found: int) -> None:
        super().__init__(f"schema {found} is newer than this Trainwright reads ({SCHEMA_VERSION})")
        self.found = found


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the store up to SCHEMA_VERSION (autocommit connection); the version it was at.

    Each step re-reads the version inside its write transaction, so two processes opening
    the same old store at once apply every migration exactly once."""
    found = version(conn)
    if found > SCHEMA_VERSION:
        raise NewerSchema(found)
    for target in range(found + 1, SCHEMA_VERSION + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = version(conn)
            if current > SCHEMA_VERSION:
                raise NewerSchema(current)
            if current < target:
                for statement in MIGRATIONS[target - 1]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {target}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    return found
