"""Opening the blogart SQLite file: one connect helper, one clock for the rows, one error type.

Each call is one short transaction on its own connection; a corrupt, locked, read-only or newer database
is the user's to fix, so every SQLite error becomes one DatabaseError line naming the file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blogart.errors import BlogartError

BUSY_TIMEOUT_S = 30  # batch workers share the file: wait for another's write rather than fail


class DatabaseError(BlogartError):
    """The blogart database cannot be opened or used: not a database, locked, read-only, from a newer blogart."""


def now() -> str:
    """The time every stored row is stamped with: ISO 8601, UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@contextmanager
def session(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection in autocommit mode (transactions are the caller's); SQLite errors become DatabaseError."""
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DatabaseError(f"blogart database {path}: {exc}") from None


@contextmanager
def connect(path: Path, *, immediate: bool = False) -> Iterator[sqlite3.Connection]:
    """One transaction on the blogart database: committed when the block ends, rolled back if it raises.

    `immediate` takes the write lock at the start, for a read that decides a write (claiming a job): two
    processes then never both act on what they read."""
    with session(path) as conn:
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield conn
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
