"""Read a post (Markdown, HTML, plain text, or an http(s) URL) into a `Document`.

Parsers (markdown-it-py, beautifulsoup4, PyYAML, httpx) are imported inside the functions that use
them so that importing this module costs nothing at CLI start-up. HTML is read by `html_article`,
front matter by `front_matter_read`, plain text and the sections every format ends in by `sections`.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from blogart.errors import InputError
from blogart.pipeline.front_matter_read import split_front_matter
from blogart.pipeline.html_article import fragment_text, parse_html
from blogart.pipeline.sections import SectionBuilder, parse_text, plain_text
from blogart.readers import Wording, decode_user_text, read_user_bytes
from blogart.text import collapse_whitespace, one_line
from blogart.values import Document, Section

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}


def load_document(source: str, *, max_bytes: int = 2_000_000, timeout: float = 15.0) -> Document:
    """Read a post from a file path or an http(s) URL.

    Raises InputError with a one-line message for anything the user can fix: a missing file, a
    directory, an empty or binary file, a file over `max_bytes`, broken front matter, an
    unreachable URL or one that serves something other than HTML, Markdown or plain text.
    """
    if re.match(r"(?i)https?://", source):
        raw, fmt = _fetch(source, max_bytes=max_bytes, timeout=timeout)
        name = Path(unquote(urlsplit(source).path)).stem or urlsplit(source).hostname or source
    else:
        raw = _read_file(source, max_bytes=max_bytes)
        path = Path(source)
        fmt = _format_for(path.suffix.lower(), raw)
        name = path.stem
    text = _decode(source, raw)
    if not text.strip():
        raise InputError(f"{source}: the post is empty")
    if fmt == "markdown":
        title, front_matter, sections = _parse_markdown(source, text)
    elif fmt == "html":
        title, front_matter, sections = parse_html(text)
    else:
        title, front_matter, sections = parse_text(text)
    if not sections:
        raise InputError(f"{source}: the post has no body text")
    return Document(
        source=source,
        format=fmt,
        title=title or _title_from_name(name),
        front_matter=front_matter,
        sections=tuple(sections),
        text=plain_text(sections),
        content_hash=hashlib.sha256(raw).hexdigest(),
    )


# --- reading bytes -----------------------------------------------------------------------------


# A post's errors lead with the path, as the front-matter and URL errors below do.
_POST_WORDING = Wording(
    missing="{path}: no such file",
    folder="{path}: is a directory, not a post",
    unreadable="{path}: cannot read ({reason})",
    too_big="{path}: {size} is over the {limit} limit for a post",
    too_long="{path}: the input is over the {limit} limit for a post",
    binary="{path}: not a text file (binary data)",
    not_utf8="{path}: not UTF-8 text (byte 0x{byte:02x} at offset {offset}); save it as UTF-8",
)


def _read_file(source: str, *, max_bytes: int) -> bytes:
    return read_user_bytes(source, what="post", max_bytes=max_bytes, wording=_POST_WORDING)


def _fetch(url: str, *, max_bytes: int, timeout: float) -> tuple[bytes, str]:
    import httpx

    deadline = time.monotonic() + timeout
    headers = {"User-Agent": "blogart", "Accept": "text/html, text/markdown, text/plain;q=0.9"}
    try:
        with (
            httpx.Client(timeout=timeout, follow_redirects=True, headers=headers) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code >= 400:
                raise InputError(f"{url}: the server answered HTTP {response.status_code}")
            content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
            fmt = _format_for_content_type(url, content_type)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise InputError(f"{url}: {_mb(int(declared))} is over the {_mb(max_bytes)} limit for a post")
            body = bytearray()
            for piece in response.iter_bytes():
                body += piece
                # Streamed so a server that lies about (or omits) its length cannot fill memory.
                if len(body) > max_bytes:
                    raise InputError(f"{url}: the page is over the {_mb(max_bytes)} limit for a post")
                if time.monotonic() > deadline:
                    raise InputError(f"{url}: timed out after {timeout:g}s")
    except httpx.TimeoutException as exc:
        raise InputError(f"{url}: timed out after {timeout:g}s") from exc
    except httpx.InvalidURL as exc:
        raise InputError(f"{url}: not a valid URL ({one_line(exc)})") from exc
    except httpx.HTTPError as exc:
        raise InputError(f"{url}: cannot reach the server ({one_line(exc)})") from exc
    if fmt == "sniff":
        fmt = _format_for(Path(urlsplit(url).path).suffix.lower(), bytes(body))
    return bytes(body), fmt


def _format_for_content_type(url: str, content_type: str) -> str:
    if content_type in ("text/html", "application/xhtml+xml"):
        return "html"
    if content_type in ("text/markdown", "text/x-markdown"):
        return "markdown"
    if content_type == "text/plain":
        # Raw Markdown files are usually served as text/plain.
        suffix = Path(urlsplit(url).path).suffix.lower()
        return "markdown" if suffix in MARKDOWN_SUFFIXES else "text"
    if not content_type:
        return "sniff"
    raise InputError(f"{url}: serves {content_type}, not HTML, Markdown or plain text")


def _format_for(suffix: str, raw: bytes) -> str:
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix == ".txt":
        return "text"
    head = raw[:4096].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        return "html"
    if head.startswith((b"---", b"+++")) or re.search(rb"(?m)^#{1,6} \S", raw[:65536]):
        return "markdown"
    return "text"


def _decode(source: str, raw: bytes) -> str:
    text = decode_user_text(raw, what="post", name=source, wording=_POST_WORDING)
    return text.replace("\r\n", "\n").replace("\r", "\n")


# --- Markdown ----------------------------------------------------------------------------------


def _parse_markdown(source: str, text: str) -> tuple[str, dict[str, Any], list[Section]]:
    from markdown_it import MarkdownIt

    front_matter, body = split_front_matter(source, text)
    fm_title = front_matter.get("title")
    title = collapse_whitespace(str(fm_title)) if isinstance(fm_title, (str, int, float)) else ""
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(body)
    builder = SectionBuilder(title)
    row: list[str] = []  # cells of the table row being read
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.type == "heading_open":
            builder.heading(int(token.tag[1]), _inline_text(tokens[i + 1]))
            i += 3
            continue
        if token.type == "inline":
            if _inside_table(tokens, i):
                row.append(_inline_text(token))
            else:
                builder.paragraph(_inline_text(token))
        elif token.type == "tr_close":
            builder.paragraph(" | ".join(cell for cell in row if cell))
            row = []
        elif token.type == "html_block":
            builder.paragraph(fragment_text(token.content))
        # fence / code_block are left out on purpose: code is not prose and would drown the topics.
        i += 1
    return builder.title, front_matter, builder.sections()


def _inside_table(tokens: list[Any], index: int) -> bool:
    previous = tokens[index - 1].type if index else ""
    return previous in ("th_open", "td_open")


def _inline_text(token: Any) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type == "image":
            parts.append(child.content)  # the alt text
        elif child.type in ("softbreak", "hardbreak") or child.content.lower().startswith("<br"):
            parts.append(" ")
    return collapse_whitespace("".join(parts))


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _title_from_name(name: str) -> str:
    words = re.sub(r"[-_]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else ""
