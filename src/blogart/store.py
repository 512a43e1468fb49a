"""The SQLite file: every LLM call, the LLM response cache, and the pipeline's stage cache.

One file (default `<user dir>/blogart.db`), WAL so a CLI run and `blogart logs` (or a pool of batch
workers) can share it; each method is one short transaction on its own connection, so a Store is safe
to share between threads and processes.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from blogart.errors import BlogartError
from blogart.redact import redact_text

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_calls (
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
);
CREATE INDEX IF NOT EXISTS llm_calls_time ON llm_calls(time);
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stage_cache (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created TEXT NOT NULL
);
"""


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def cache_key(model: str, request: Any) -> str:
    """sha256 of the model and the canonical request: the same question to the same model hits the cache."""
    return hashlib.sha256((model + "\n" + canonical_json(request)).encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class CallRecord:
    id: int
    time: str  # ISO 8601, UTC
    model: str
    kind: str  # "chat.completions" | "images.generations" | ...
    request: Any
    response: Any
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None  # None: no price known for the model
    duration_s: float | None
    cached: bool
    error: str | None

    def summary(self) -> dict[str, Any]:
        """The row without request/response bodies, for `blogart logs`."""
        return {
            "id": self.id,
            "time": self.time,
            "model": self.model,
            "kind": self.kind,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "duration_s": self.duration_s,
            "cached": self.cached,
            "error": self.error,
        }


@contextmanager
def connect(path: Path) -> Iterator[sqlite3.Connection]:
    """One short transaction on the blogart database (shared by every table kept in it).

    The connection as a context manager commits or rolls back; closing is ours to do. A corrupt, locked or
    read-only database is the user's to fix: one line naming the file, not a traceback."""
    try:
        conn = sqlite3.connect(path, timeout=30)
        try:
            with conn:
                yield conn
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise BlogartError(f"blogart database {path}: {exc}") from None


class Store:
    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from blogart.config import get_settings

            path = get_settings().store.resolved()
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(SCHEMA)
        except OSError as exc:
            raise BlogartError(f"cannot open the blogart database {self.path}: {exc}") from None

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return connect(self.path)

    def log_call(
        self,
        *,
        model: str,
        kind: str,
        request: Any,
        response: Any = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost_usd: float | None = None,
        duration_s: float | None = None,
        cached: bool = False,
        error: str | None = None,
        cache_key: str | None = None,
    ) -> int:
        """Record one call (also failed attempts, with `error`, and cache hits, with `cached`)."""
        response_json = None if response is None else canonical_json(response)
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO llm_calls (time, model, kind, cache_key, request, response, prompt_tokens,"
                " completion_tokens, cost_usd, duration_s, cached, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    _now(),
                    model,
                    kind,
                    cache_key,
                    canonical_json(request),
                    response_json,
                    prompt_tokens,
                    completion_tokens,
                    cost_usd,
                    duration_s,
                    int(cached),
                    redact_text(error),  # a server may echo the key back in its error message
                ),
            )
            return int(cursor.lastrowid or 0)

    def cached_response(self, key: str) -> Any | None:
        with self._connect() as conn:
            row = conn.execute("SELECT response FROM llm_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_cached(self, key: str, model: str, response: Any) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO llm_cache (key, model, response, created) VALUES (?,?,?,?)",
                (key, model, canonical_json(response), _now()),
            )

    def recent_calls(self, limit: int = 20) -> list[CallRecord]:
        """Newest first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT id, time, model, kind, request, response, prompt_tokens, completion_tokens, cost_usd,"
                " duration_s, cached, error FROM llm_calls ORDER BY id DESC LIMIT ?",
                (max(0, int(limit)),),
            ).fetchall()
        return [
            CallRecord(
                id=row[0],
                time=row[1],
                model=row[2],
                kind=row[3],
                request=json.loads(row[4]),
                response=None if row[5] is None else json.loads(row[5]),
                prompt_tokens=row[6],
                completion_tokens=row[7],
                cost_usd=row[8],
                duration_s=row[9],
                cached=bool(row[10]),
                error=row[11],
            )
            for row in rows
        ]

    def stage_get(self, key: str) -> Any | None:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM stage_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def stage_put(self, key: str, value: Any) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO stage_cache (key, value, created) VALUES (?,?,?)",
                (key, canonical_json(value), _now()),
            )
