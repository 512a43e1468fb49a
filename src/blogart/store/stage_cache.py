"""The pipeline's stage cache: a stage's result kept by the hash of its inputs (`stage_cache`)."""

from __future__ import annotations

import json
from typing import Any

from blogart.store.database import canonical_json, now
from blogart.store.migrations import Table


class StageCache(Table):
    """The `stage_cache` table."""

    def stage_get(self, key: str) -> Any | None:
        with self._connect() as conn:
            row = conn.execute("SELECT value FROM stage_cache WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def stage_put(self, key: str, value: Any) -> None:
        with self._connect() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO stage_cache (key, value, created) VALUES (?,?,?)",
                (key, canonical_json(value), now()),
            )
