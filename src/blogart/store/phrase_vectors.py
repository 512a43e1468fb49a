"""Phrase vectors kept across runs (`phrase_vectors`).

Keyed by the embedding model and the exact text, so a backfill over a blog embeds each phrase once,
however many posts use it. Vectors are stored as raw float32 bytes: a cached vector is the very one
the model gave, so a rerun ranks exactly as the first run did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from blogart.store.migrations import Table

_LOOKUP_BATCH = 500  # texts per SELECT, under SQLite's bound-parameter limit


class PhraseVectorCache(Table):
    def get(self, model: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached vectors among `texts` (texts not cached are absent)."""
        unique = list(dict.fromkeys(texts))
        found: dict[str, np.ndarray] = {}
        with self._connect() as conn:
            for start in range(0, len(unique), _LOOKUP_BATCH):
                part = unique[start : start + _LOOKUP_BATCH]
                marks = ",".join("?" * len(part))
                query = f"SELECT text, vector FROM phrase_vectors WHERE model = ? AND text IN ({marks})"
                rows = conn.execute(query, (model, *part)).fetchall()
                found.update((text, np.frombuffer(blob, dtype=np.float32).copy()) for text, blob in rows)
        return found

    def put(self, model: str, vectors: Mapping[str, np.ndarray]) -> None:
        rows = [(model, text, np.asarray(v, dtype=np.float32).tobytes()) for text, v in vectors.items()]
        with self._connect() as conn:
            conn.executemany("INSERT OR IGNORE INTO phrase_vectors (model, text, vector) VALUES (?,?,?)", rows)

    def count(self, model: str | None = None) -> int:
        with self._connect() as conn:
            if model is None:
                return int(conn.execute("SELECT COUNT(*) FROM phrase_vectors").fetchone()[0])
            return int(conn.execute("SELECT COUNT(*) FROM phrase_vectors WHERE model = ?", (model,)).fetchone()[0])
