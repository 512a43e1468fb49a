"""The prompt library: prompts that worked, used as few-shot examples by the LLM prompt writer.

Shipped examples live in data/library/*.toml; a user folder of *.toml files in the same layout
(`[[examples]]` tables with topics, summary, style, prompt) adds to them.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from blogart.errors import UsageError
from blogart.prompts.styles import style_name
from blogart.readers import SETTINGS_FILE_BYTES, read_user_text
from blogart.text import collapse_whitespace

_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class PromptExample:
    topics: list[str]
    summary: str
    style: str
    prompt: str
    source: str = ""  # file it came from, for `--json` and error messages


def load_examples(extra_dir: str | Path | None = None) -> list[PromptExample]:
    """Shipped examples, then those in `extra_dir`/*.toml (files in name order)."""
    shipped = resources.files("blogart.prompts").joinpath("data", "library")
    examples: list[PromptExample] = []
    for item in sorted(shipped.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".toml"):
            examples += _parse(item.read_text(encoding="utf-8"), f"library/{item.name}")
    if extra_dir:
        folder = Path(extra_dir).expanduser()
        if not folder.is_dir():
            raise UsageError(f"prompt library folder not found: {folder}")
        for path in sorted(folder.glob("*.toml")):
            text = read_user_text(path, what="prompt library file", max_bytes=SETTINGS_FILE_BYTES)
            examples += _parse(text, str(path))
    return examples


def select_examples(
    examples: Sequence[PromptExample], topics: Sequence[str], style: str, k: int = 3
) -> list[PromptExample]:
    """The k examples closest to a post: shared topic words first, same style as a tie-break.

    Plain word overlap keeps this free of model loads; the LLM only needs a few relevant shots.
    """
    wanted = {w for t in topics for w in _WORD.findall(t.lower())}
    style = style_name(style)

    def rank(item: tuple[int, PromptExample]) -> tuple[int, bool, int]:
        index, example = item
        words = {w for t in example.topics for w in _WORD.findall(t.lower())}
        return (-len(wanted & words), example.style != style, index)

    return [e for _, e in sorted(enumerate(examples), key=rank)[:k]]


def _parse(text: str, source: str) -> list[PromptExample]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"prompt library file {source} is not valid TOML: {exc}") from None
    tables = data.get("examples", [])
    if not isinstance(tables, list):
        raise UsageError(f"prompt library file {source}: use [[examples]] tables")
    return [_example(table, source, i) for i, table in enumerate(tables, 1)]


def _example(table: Any, source: str, number: int) -> PromptExample:
    where = f"prompt library file {source}, example {number}"
    if not isinstance(table, dict):
        raise UsageError(f"{where}: not a table")
    topics = table.get("topics")
    if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t.strip() for t in topics):
        raise UsageError(f"{where}: topics must be a non-empty list of strings")
    fields = {}
    for key in ("summary", "style", "prompt"):
        value = table.get(key, "" if key == "summary" else None)
        if not isinstance(value, str) or (key != "summary" and not value.strip()):
            raise UsageError(f"{where}: {key} must be a non-empty string")
        fields[key] = collapse_whitespace(value)
    return PromptExample(
        [collapse_whitespace(t) for t in topics],
        fields["summary"],
        style_name(fields["style"]),
        fields["prompt"],
        source,
    )
