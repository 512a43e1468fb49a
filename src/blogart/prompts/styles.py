"""Style presets: the words that set an image's look, and the negative words that go with it.

The presets ship in data/styles.toml; a user file with the same layout adds presets or overrides
single fields of shipped ones (a user `[photo] suffix = "..."` keeps the shipped description).
"""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from blogart.errors import UsageError
from blogart.readers import SETTINGS_FILE_BYTES, read_user_text
from blogart.text import collapse_whitespace
from blogart.values import StylePreset

_FIELDS = {"description", "suffix", "negative"}


def style_name(name: str) -> str:
    """Canonical preset name: "Pencil sketch" and "pencil_sketch" both mean "pencil-sketch"."""
    return "-".join(name.strip().lower().replace("_", " ").split())


def load_styles(extra_file: str | Path | None = None) -> dict[str, StylePreset]:
    """Shipped presets, extended or overridden by `extra_file` (a TOML file) when given."""
    styles = dict(_shipped())
    if extra_file:
        path = Path(extra_file).expanduser()
        styles = _merge(styles, _read(path), str(path))
    return styles


def get_style(name: str, styles: dict[str, StylePreset] | None = None) -> StylePreset:
    """The preset called `name`, or a UsageError listing the ones that exist."""
    styles = load_styles() if styles is None else styles
    preset = styles.get(style_name(name))
    if preset is None:
        raise UsageError(f"unknown style {name!r}; choose one of: {', '.join(sorted(styles))}")
    return preset


@functools.cache
def _shipped() -> dict[str, StylePreset]:
    text = resources.files("blogart.prompts").joinpath("data", "styles.toml").read_text(encoding="utf-8")
    return _merge({}, tomllib.loads(text), "the shipped styles.toml")


def _read(path: Path) -> dict[str, Any]:
    text = read_user_text(path, what="styles file", max_bytes=SETTINGS_FILE_BYTES)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"styles file {path} is not valid TOML: {exc}") from None


def _merge(base: dict[str, StylePreset], data: dict[str, Any], source: str) -> dict[str, StylePreset]:
    common = _words(data.get("common_negative", []), f"{source}: common_negative")
    out = dict(base)
    for raw_name, table in data.items():
        if raw_name == "common_negative":
            continue
        if not isinstance(table, dict):
            raise UsageError(f"{source}: [{raw_name}] must be a table with description, suffix and negative")
        unknown = set(table) - _FIELDS
        if unknown:
            raise UsageError(f"{source}: [{raw_name}] has unknown keys: {', '.join(sorted(unknown))}")
        name = style_name(raw_name)
        old = out.get(name)
        suffix = table.get("suffix", old.suffix if old else None)
        if not isinstance(suffix, str) or not suffix.strip():
            raise UsageError(f"{source}: [{raw_name}] needs a non-empty suffix")
        description = table.get("description", old.description if old else "")
        if not isinstance(description, str):
            raise UsageError(f"{source}: [{raw_name}] description must be a string")
        own = _words(table["negative"], f"{source}: [{raw_name}] negative") if "negative" in table else None
        # A file's common_negative joins every preset the file names; `negative` replaces the old list.
        kept = own if own is not None else (old.negative if old else ())
        negative = tuple(dict.fromkeys(common + kept))
        out[name] = StylePreset(name, description.strip(), collapse_whitespace(suffix), negative)
    return out


def _words(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where} must be a list of strings")
    return tuple(dict.fromkeys(collapse_whitespace(v) for v in value if v.strip()))
