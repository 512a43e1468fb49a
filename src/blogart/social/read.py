"""A social post from a text file, a Markdown file, a JSON export or stdin, as one SocialPost.

JSON exports look like `{"text": "...", "platforms": ["instagram", "x"]}` (platforms optional; a
`title` is kept when present). Markdown is rendered and its plain text kept (links keep their words).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from blogart.errors import InputError
from blogart.readers import Wording, decode_user_text, read_user_bytes, read_user_stream

STDIN = "-"
_OVER = "{path} is over {max_bytes} bytes; a social post is a few hundred"
_WORDING = Wording(too_big=_OVER, too_long=_OVER)


@dataclass(frozen=True)
class SocialPost:
    source: str  # the path as given, or "-" for stdin
    format: str  # "text" | "markdown" | "json"
    text: str  # the post as its author wrote it (Markdown rendered to plain text)
    platforms: tuple[str, ...] = ()  # asked for by a JSON export; empty: the command line decides
    title: str = ""
    content_hash: str = ""  # sha256 of the raw bytes


def read_post(source: str, max_bytes: int = 2_000_000, stdin: BinaryIO | None = None) -> SocialPost:
    """Read POST; every problem with it is one InputError."""
    where = "stdin" if source == STDIN else source
    if source == STDIN:
        raw = read_user_stream(
            stdin or sys.stdin.buffer, what="post on", name=where, max_bytes=max_bytes, wording=_WORDING
        )
        name = ""
    else:
        raw = read_user_bytes(source, what="post", max_bytes=max_bytes, wording=_WORDING)
        name = Path(source).name.lower()
    text = decode_user_text(raw, what="post on" if source == STDIN else "post", name=where, wording=_WORDING)

    digest = hashlib.sha256(raw).hexdigest()
    stripped = text.lstrip()
    if name.endswith(".json") or (source == STDIN and stripped.startswith("{")):
        post = _from_json(text, where)
    elif name.endswith((".md", ".markdown")):
        post = SocialPost(source, "markdown", markdown_text(text))
    else:
        post = SocialPost(source, "text", text.strip())
    if not post.text.strip():
        raise InputError(f"{where} has no text")
    return SocialPost(source, post.format, post.text, post.platforms, post.title, digest)


def _from_json(text: str, where: str) -> SocialPost:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("text"), str):
        raise InputError(f'{where}: a JSON export needs a "text" string, e.g. {{"text": "...", "platforms": ["x"]}}')
    platforms = data.get("platforms", [])
    if not isinstance(platforms, list) or not all(isinstance(p, str) for p in platforms):
        raise InputError(f'{where}: "platforms" must be a list of names, e.g. ["instagram", "linkedin"]')
    title = data.get("title") if isinstance(data.get("title"), str) else ""
    return SocialPost("", "json", data["text"].strip(), tuple(p.lower() for p in platforms), title)


def markdown_text(text: str) -> str:
    """Markdown's plain text, one block per line (front matter dropped)."""
    from bs4 import BeautifulSoup
    from markdown_it import MarkdownIt

    if text.startswith("---\n"):
        end = text.find("\n---", 4)
        text = text[end + 4 :] if end != -1 else text
    html = MarkdownIt("commonmark").render(text)
    soup = BeautifulSoup(html, "html.parser")
    # Innermost blocks only: a loose list item holds its own paragraph.
    tags = ["p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre"]
    blocks = [b.get_text(" ", strip=True) for b in soup.find_all(tags) if not b.find(tags)]
    return "\n".join(b for b in blocks if b)
