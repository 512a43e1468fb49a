"""The LLM call log and response cache: every call a run made (`blogart logs`), and answers kept by request."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from blogart.redact import redact_text
from blogart.store.database import canonical_json, now
from blogart.store.migrations import Table


def cache_key(model: str, request: Any) -> str:
    """sha256 of the model and the canonical request: the same question to the same model hits the cache."""
    return hashlib.sha256((model + "\n" + canonical_json(request)).encode()).hexdigest()


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


class LLMLog(Table):
    """The `llm_calls` and `llm_cache` tables."""

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
                    now(),
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
                (key, model, canonical_json(response), now()),
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
