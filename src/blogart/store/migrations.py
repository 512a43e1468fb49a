"""Every table in the blogart file, made by numbered, named migrations applied in order on open.

The names applied are recorded in `_migrations` (name, applied_at). Opening a file applies the ones it
lacks, all in one transaction under the write lock, so two processes opening a new file at once never
both apply them, and a failed migration leaves the file as it was. A file that records a migration this
blogart does not know was made by a newer one: it is refused rather than guessed at.

A migration is never edited once shipped; a change to a table is a new migration at the end. The first
ones use IF NOT EXISTS because files made before migrations were recorded already hold their tables.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from blogart.store.database import DatabaseError, connect, now, session

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@migration
def m001_llm_calls(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    model TEXT NOT NULL,
    kind TEXT NOT NULL,
    cache_key TEXT,
    request TEXT NOT NULL,
    response TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    duration_s REAL,
    cached INTEGER NOT NULL DEFAULT 0,
    error TEXT
)"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS llm_calls_time ON llm_calls(time)")


@migration
def m002_llm_cache(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created TEXT NOT NULL
)"""
    )


@migration
def m003_stage_cache(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS stage_cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created TEXT NOT NULL
)"""
    )


@migration
def m004_phrase_vectors(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS phrase_vectors (
    model TEXT NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model, text)
) WITHOUT ROWID"""
    )


@migration
def m005_batch_jobs(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE TABLE IF NOT EXISTS batch_jobs (
    post TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    owner_pid INTEGER,
    queued_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    seconds REAL,
    cover TEXT,
    score REAL,
    cost_usd REAL
)"""
    )
    conn.execute("CREATE INDEX IF NOT EXISTS batch_jobs_state ON batch_jobs(state)")


@migration
def m006_batch_jobs_owner_started_and_run_id(conn: sqlite3.Connection) -> None:
    """The owner's start time (a reused process id is not the owner) and the batch run that claimed it."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(batch_jobs)")}
    for name in ("owner_started", "run_id"):
        if name not in have:
            conn.execute(f"ALTER TABLE batch_jobs ADD COLUMN {name} TEXT")


def _applied(conn: sqlite3.Connection, path: Path) -> set[str]:
    """The migrations recorded in the file; DatabaseError if it records one this blogart lacks."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_migrations'").fetchone() is None:
        return set()
    names = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    if unknown := sorted(names - {fn.__name__ for fn in MIGRATIONS}):
        raise DatabaseError(
            f"blogart database {path} was made by a newer blogart (it records migration {unknown[0]});"
            " upgrade blogart, or set store.path to another file"
        )
    return names


def migrate(path: Path) -> list[str]:
    """Apply the migrations the file at `path` lacks, in order; returns the names applied now."""
    with session(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")  # outside a transaction: SQLite refuses it inside one
        if len(_applied(conn, path)) == len(MIGRATIONS):
            return []  # up to date: no write lock taken, so workers opening the file do not queue
    with connect(path, immediate=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        applied = _applied(conn, path)  # again, under the lock: another process may have just applied them
        pending = [fn for fn in MIGRATIONS if fn.__name__ not in applied]
        for fn in pending:
            fn(conn)
            conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (fn.__name__, now()))
    return [fn.__name__ for fn in pending]


def open_database(path: str | Path) -> Path:
    """Make the file (and its folder) if needed and bring its tables up to date; returns the path."""
    path = Path(path).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"cannot open the blogart database {path}: {exc.strerror or exc}") from None
    migrate(path)
    return path


class Table:
    """The base of each table's reader and writer: making one opens the file and brings it up to date."""

    immediate = False  # every transaction takes the write lock at its start

    def __init__(self, path: str | Path) -> None:
        self.path = open_database(path)

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path, immediate=self.immediate)
