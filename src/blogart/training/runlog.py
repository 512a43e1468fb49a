"""The JSONL log both trainers keep in their output folder: one JSON object per line, appended as it
comes, and cut back to a checkpoint before a resumed run writes again (so its lines match an
uninterrupted run's)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blogart.atomic import atomic_write_bytes

LOG_FILE = "log.jsonl"


class RunLog:
    def __init__(self, path: Path):
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")

    def read(self) -> list[dict[str, Any]]:
        """Every whole record (a line torn by a kill is left out)."""
        if not self.path.is_file():
            return []
        records = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def keep(self, wanted: Callable[[dict[str, Any]], bool]) -> None:
        """Rewrite the log atomically with only the records `wanted` accepts (and no torn line)."""
        if not self.path.is_file():
            return
        lines = [json.dumps(r) + "\n" for r in self.read() if wanted(r)]
        atomic_write_bytes(self.path, "".join(lines).encode())

    def trim_after(self, key: str, value: int) -> None:
        """Drop what a killed run logged after the checkpoint at `key` == `value` (it is computed again)."""
        self.keep(lambda r: isinstance(r.get(key, 0), int) and r.get(key, 0) <= value)
