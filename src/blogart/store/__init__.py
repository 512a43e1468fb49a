"""The SQLite file: one database, its tables made by named migrations.

One file (default `<user dir>/blogart.db`), WAL so a CLI run and `blogart logs` (or a pool of batch workers)
can share it. `database` connects and stamps rows with the time, `migrations` makes and upgrades the
tables, and one module per table reads and writes it: the LLM call log and response cache
(`llm_log`), the pipeline's stage cache (`stage_cache`), phrase vectors (`phrase_vectors`); the batch job
table's rows are `blogart.batch.jobs`'s, on the same connection rules.
"""

from __future__ import annotations

from pathlib import Path

from blogart.store.database import DatabaseError, canonical_json, connect, now
from blogart.store.llm_log import CallRecord, LLMLog, cache_key
from blogart.store.migrations import MIGRATIONS, open_database
from blogart.store.stage_cache import StageCache

__all__ = [
    "MIGRATIONS",
    "CallRecord",
    "DatabaseError",
    "Store",
    "cache_key",
    "canonical_json",
    "connect",
    "now",
    "open_database",
]


class Store(LLMLog, StageCache):
    """Every LLM call, the LLM response cache and the stage cache; each method is one short transaction on
    its own connection, so a Store is safe to share between threads and processes."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from blogart.config import get_settings

            path = get_settings().store.resolved()
        super().__init__(path)
