"""A Markdown post's front matter read: YAML between `---` or TOML between `+++`, as JSON-ready data."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from blogart.errors import InputError
from blogart.text import one_line

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)^\1[ \t]*$\n?", re.DOTALL | re.MULTILINE)


def split_front_matter(source: str, text: str) -> tuple[dict[str, Any], str]:
    first_line = text.split("\n", 1)[0].rstrip()
    if first_line not in ("---", "+++"):
        return {}, text
    match = _FRONT_MATTER.match(text)
    if not match:
        raise InputError(f"{source}: broken front matter: the '{first_line}' on line 1 is never closed")
    fence, block = match.group(1), match.group(2)
    if fence == "---":
        data = _load_yaml(source, block)
    else:
        import tomllib

        try:
            data = tomllib.loads(block)
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{source}: broken TOML front matter: {_toml_message(exc, block)}") from exc
    return _json_ready(data), text[match.end() :]


def _load_yaml(source: str, block: str) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or one_line(exc)
        # +2: marks are 0-based and the block starts after the opening '---'.
        where = f" at line {mark.line + 2}" if mark is not None else ""
        raise InputError(f"{source}: broken YAML front matter{where}: {problem}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(f"{source}: broken YAML front matter: expected key: value pairs, got a {type(data).__name__}")
    return data


def _toml_message(exc: Exception, block: str) -> str:
    # tomllib counts lines from the start of the block; the file has the opening '+++' before it.
    message = one_line(exc)
    found = re.search(r"\(at line (\d+), column (\d+)\)", message)
    if found:
        message = message.replace(found.group(0), f"(at line {int(found.group(1)) + 1}, column {found.group(2)})")
    elif "(at end of document)" in message:
        message = message.replace("(at end of document)", f"(at the closing '+++', line {block.count(chr(10)) + 2})")
    return message


def _json_ready(value: Any) -> Any:
    """Front matter goes into manifests as JSON: dates become ISO strings."""
    if isinstance(value, dict):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return value
