"""Read a post (Markdown, HTML, plain text, or an http(s) URL) into a `Document`.

Parsers (markdown-it-py, beautifulsoup4, PyYAML, httpx) are imported inside the functions that use
them so that importing this module costs nothing at CLI start-up.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from blogart.errors import InputError
from blogart.readers import Wording, decode_user_text, read_user_bytes
from blogart.text import collapse_whitespace, one_line
from blogart.values import Document, Section

MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}

# HTML elements whose text is never part of the post itself.
_HTML_DROP = {
    "head",  # reached only when no body is found: its <title> is not body text
    "script",
    "style",
    "noscript",
    "template",
    "svg",
    "canvas",
    "iframe",
    "object",
    "embed",
    "form",
    "button",
    "input",
    "select",
    "textarea",
    "nav",
    "header",
    "footer",
    "aside",
    "dialog",
    "menu",
}
# Block elements: their text becomes its own paragraph.
_HTML_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "main",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "blockquote",
    "figure",
    "figcaption",
    "table",
    "thead",
    "tbody",
    "tr",
    "details",
    "summary",
    "address",
    "hr",
}
# class/id words that mark page furniture even when it is not in a <nav>/<aside>.
_BOILERPLATE_WORDS = {
    "comments",
    "comment",
    "share",
    "sharing",
    "social",
    "related",
    "newsletter",
    "subscribe",
    "breadcrumb",
    "breadcrumbs",
    "cookie",
    "cookies",
    "sidebar",
    "advert",
    "ads",
    "promo",
    "skip",
}


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
        title, front_matter, sections = _parse_html(text)
    else:
        title, front_matter, sections = _parse_text(text)
    if not sections:
        raise InputError(f"{source}: the post has no body text")
    return Document(
        source=source,
        format=fmt,
        title=title or _title_from_name(name),
        front_matter=front_matter,
        sections=tuple(sections),
        text=_plain_text(sections),
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

_FRONT_MATTER = re.compile(r"\A(---|\+\+\+)[ \t]*\n(.*?)^\1[ \t]*$\n?", re.DOTALL | re.MULTILINE)


def _split_front_matter(source: str, text: str) -> tuple[dict[str, Any], str]:
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


def _parse_markdown(source: str, text: str) -> tuple[str, dict[str, Any], list[Section]]:
    from markdown_it import MarkdownIt

    front_matter, body = _split_front_matter(source, text)
    fm_title = front_matter.get("title")
    title = collapse_whitespace(str(fm_title)) if isinstance(fm_title, (str, int, float)) else ""
    tokens = MarkdownIt("commonmark").enable(["table", "strikethrough"]).parse(body)
    builder = _SectionBuilder(title)
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
            builder.paragraph(_html_fragment_text(token.content))
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


def _html_fragment_text(fragment: str) -> str:
    if fragment.lstrip().startswith("<!--"):
        return ""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    for tag in soup.find_all(["script", "style"]):
        tag.decompose()
    return collapse_whitespace(soup.get_text(" "))


# --- HTML --------------------------------------------------------------------------------------


# Below this much article text trafilatura falls back to a dump of the whole page (menus included);
# the hand-written walk reads such small pages better. The same figure as trafilatura's own minimum.
MIN_EXTRACTED_CHARS = 250


def _parse_html(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    """trafilatura finds the article; the BeautifulSoup walk reads the small pages it has too little text in.

    Measured on tests/data/html_wild (benchmarks/html_extract.py): see docs/dependencies.md.
    """
    title, front_matter, sections = _parse_html_trafilatura(text)
    if sum(len(s.text) for s in sections) >= MIN_EXTRACTED_CHARS:
        return title, front_matter, sections
    return _parse_html_bs4(text)


def _soup(text: str) -> Any:
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # XHTML posts are read as HTML on purpose
        soup = BeautifulSoup(text, "html.parser")
    # Comments, <!DOCTYPE> and <?xml ...?> are strings to bs4 but never text of the post.
    markup = (Comment, Declaration, Doctype, ProcessingInstruction)
    for node in soup.find_all(string=lambda s: isinstance(s, markup)):
        node.extract()
    return soup


def _parse_html_trafilatura(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    """The article as trafilatura's main-content extractor finds it, headings kept for the chunker."""
    import trafilatura
    from lxml import etree

    soup = _soup(text)
    front_matter = _html_meta(soup)
    # trafilatura drops figure captions; they say what the post's pictures show, so they are kept as text.
    page = re.sub(r"(?i)<(/?)figcaption\b", r"<\1p", text)
    xml = trafilatura.extract(
        page, output_format="xml", include_comments=False, include_tables=True, include_images=True, with_metadata=True
    )
    if not xml:
        return "", front_matter, []
    root = etree.fromstring(xml.encode("utf-8"))
    h1 = soup.find("h1")
    # og:title is the post's own title; trafilatura's title already drops a " | Site name" suffix.
    title = front_matter.get("title") or collapse_whitespace(root.get("title") or "")
    title = title or (collapse_whitespace(h1.get_text(" ")) if h1 is not None else "")
    builder = _SectionBuilder(title)
    main = root.find("main")
    for element in main.iter() if main is not None else ():
        tag = element.tag
        if tag == "head":
            level = int((element.get("rend") or "h2").lstrip("h") or 2)
            builder.heading(min(max(level, 1), 6), _xml_text(element))
        elif tag in ("p", "item", "quote") and not _inside(element, ("item", "quote", "cell", "head")):
            builder.paragraph(_xml_text(element))
        elif tag == "graphic":
            builder.paragraph(collapse_whitespace(element.get("alt") or ""))  # alt text: what the picture shows
        elif tag == "row":
            builder.paragraph(" | ".join(t for cell in element.iterfind("cell") if (t := _xml_text(cell))))
        # <code> blocks are left out on purpose, as for Markdown: code is not prose.
    return builder.title, front_matter, builder.sections()


def _xml_text(element: Any) -> str:
    parts = [element.text or ""]
    for child in element:
        if child.tag != "code" or child.get("rend") == "inline" or element.tag == "p":
            parts.append(_xml_text(child) if child.tag != "lb" else " ")
        parts.append(child.tail or "")
    return collapse_whitespace("".join(parts))


def _inside(element: Any, tags: tuple[str, ...]) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent.tag in tags:
            return True
        parent = parent.getparent()
    return False


def _parse_html_bs4(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    """The hand-written walk: the biggest <article> (else <main>, else the wordiest container), furniture dropped."""
    soup = _soup(text)
    front_matter = _html_meta(soup)
    container = _main_container(soup)
    h1 = container.find("h1") if container is not None else None
    h1_text = collapse_whitespace(h1.get_text(" ")) if h1 is not None else ""
    # og:title is the post's own title; <title> usually carries a " | Site name" suffix.
    title = front_matter.get("title") or h1_text or collapse_whitespace(soup.title.get_text(" ") if soup.title else "")
    if container is None:
        return title, front_matter, []
    for tag in container.find_all(True):
        if tag.decomposed:
            continue
        if tag.name in _HTML_DROP or _is_boilerplate(tag):
            tag.decompose()
    builder = _SectionBuilder(title)
    buffer: list[str] = []

    def flush() -> None:
        builder.paragraph(collapse_whitespace("".join(buffer)).rstrip(" |"))  # rstrip: the last table cell's separator
        buffer.clear()

    def walk(node: Any) -> None:
        for child in node.children:
            name = getattr(child, "name", None)
            if name is None:
                buffer.append(str(child))
            elif name in ("h1", "h2", "h3", "h4", "h5", "h6"):
                flush()
                builder.heading(int(name[1]), collapse_whitespace(child.get_text(" ")))
            elif name == "pre":
                flush()  # code is kept out of the prose, as for Markdown
            elif name == "img":
                buffer.append(f" {child.get('alt', '')} ")
            elif name == "br":
                buffer.append(" ")
            elif name in ("td", "th"):
                walk(child)
                buffer.append(" | ")
            elif name in _HTML_BLOCKS:
                flush()
                walk(child)
                flush()
            else:
                walk(child)

    walk(container)
    flush()
    return builder.title, front_matter, builder.sections()


def _html_meta(soup: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}

    def content(*keys: str) -> str:
        for key in keys:
            tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
            if tag is not None and tag.get("content"):
                return collapse_whitespace(tag["content"])
        return ""

    if title := content("og:title", "twitter:title"):
        meta["title"] = title
    if description := content("description", "og:description"):
        meta["description"] = description
    if image := content("og:image", "twitter:image"):
        meta["image"] = image
    tags = [
        collapse_whitespace(t["content"])
        for t in soup.find_all("meta", attrs={"property": "article:tag"})
        if t.get("content")
    ]
    if not tags and (keywords := content("keywords")):
        tags = [k.strip() for k in keywords.split(",") if k.strip()]
    if tags:
        meta["tags"] = tags
    return meta


def _main_container(soup: Any) -> Any:
    articles = soup.find_all("article")
    if articles:
        return max(articles, key=lambda a: len(a.get_text(" ", strip=True)))
    for found in (soup.find("main"), soup.find(attrs={"role": "main"})):
        if found is not None:
            return found
    # The biggest text container: the element whose own paragraphs hold the most text.
    best, best_size = None, 0
    for tag in soup.find_all(["div", "section", "td", "body"]):
        size = sum(len(p.get_text(" ", strip=True)) for p in tag.find_all("p", recursive=False))
        if size > best_size:
            best, best_size = tag, size
    return best if best is not None else (soup.body or soup)


def _is_boilerplate(tag: Any) -> bool:
    if tag.attrs is None:
        return False
    if tag.has_attr("hidden") or tag.get("aria-hidden") == "true":
        return True
    if tag.get("role") in ("navigation", "banner", "contentinfo", "complementary", "search"):
        return True
    words: list[str] = []
    for value in [*(tag.get("class") or []), tag.get("id") or ""]:
        words.extend(re.split(r"[-_\s]+", str(value).lower()))
    return any(word in _BOILERPLATE_WORDS for word in words)


# --- plain text --------------------------------------------------------------------------------


def _parse_text(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    paragraphs = [collapse_whitespace(p) for p in re.split(r"\n[ \t]*\n", text.strip())]
    paragraphs = [p for p in paragraphs if p]
    title = ""
    if paragraphs and _looks_like_heading(paragraphs[0]) and len(paragraphs) > 1:
        title = paragraphs.pop(0)
    builder = _SectionBuilder(title)
    for index, paragraph in enumerate(paragraphs):
        # A short line standing alone, followed by more text, is a heading in a plain-text post.
        if index + 1 < len(paragraphs) and _looks_like_heading(paragraph):
            builder.heading(2, paragraph)
        else:
            builder.paragraph(paragraph)
    return builder.title, {}, builder.sections()


def _looks_like_heading(paragraph: str) -> bool:
    return (
        len(paragraph) <= 80
        and len(paragraph.split()) <= 10
        and paragraph[:1].isupper()
        and paragraph[-1] not in ".!?:;,\"')"
        and not re.match(r"[-*•]\s", paragraph)
    )


# --- shared ------------------------------------------------------------------------------------


class _SectionBuilder:
    """Collects paragraphs under the current heading path.

    The leading H1 is the post's title when there is no other title (front matter, og:title);
    an H1 that repeats the title is dropped; any other H1 is a top-level heading.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._stack: list[tuple[int, str]] = []
        self._paragraphs: list[str] = []
        self._done: list[Section] = []
        self._seen_text = False

    def heading(self, level: int, text: str) -> None:
        text = text.rstrip("¶ ")  # the permalink mark Sphinx and MkDocs put after every heading
        if not text:
            return
        if level == 1 and not self._stack and not self._seen_text:
            if not self.title:
                self.title = text
                return
            if _same(text, self.title):
                return
        self._close()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, text))

    def paragraph(self, text: str) -> None:
        if text:
            self._paragraphs.append(text)
            self._seen_text = True

    def _close(self) -> None:
        if self._paragraphs:
            path = tuple(heading for _, heading in self._stack)
            self._done.append(Section(heading_path=path, text="\n\n".join(self._paragraphs)))
        self._paragraphs = []

    def sections(self) -> list[Section]:
        self._close()
        return list(self._done)


def _plain_text(sections: list[Section]) -> str:
    parts: list[str] = []
    shown: tuple[str, ...] = ()
    for section in sections:
        path = section.heading_path
        # Print each heading once, where it starts.
        common = 0
        while common < min(len(path), len(shown)) and path[common] == shown[common]:
            common += 1
        parts.extend(path[common:])
        parts.append(section.text)
        shown = path
    return "\n\n".join(parts)


def _same(a: str, b: str) -> bool:
    return re.sub(r"\W+", "", a).casefold() == re.sub(r"\W+", "", b).casefold()


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def _title_from_name(name: str) -> str:
    words = re.sub(r"[-_]+", " ", name).strip()
    return words[:1].upper() + words[1:] if words else ""
