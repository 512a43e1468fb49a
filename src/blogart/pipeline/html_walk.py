"""An HTML page's post by walking its elements (BeautifulSoup): the reader for small pages, where
trafilatura finds too little article text (see `html_article`). Also the page's own metadata."""

from __future__ import annotations

import re
import warnings
from typing import Any

from blogart.pipeline.sections import SectionBuilder
from blogart.text import collapse_whitespace
from blogart.values import Section

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


def make_soup(text: str) -> Any:
    from bs4 import BeautifulSoup, Comment, Declaration, Doctype, ProcessingInstruction, XMLParsedAsHTMLWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)  # XHTML posts are read as HTML on purpose
        soup = BeautifulSoup(text, "html.parser")
    # Comments, <!DOCTYPE> and <?xml ...?> are strings to bs4 but never text of the post.
    markup = (Comment, Declaration, Doctype, ProcessingInstruction)
    for node in soup.find_all(string=lambda s: isinstance(s, markup)):
        node.extract()
    return soup


def parse_html_bs4(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    """The hand-written walk: the biggest <article> (else <main>, else the wordiest container), furniture dropped."""
    soup = make_soup(text)
    front_matter = html_meta(soup)
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
    builder = SectionBuilder(title)
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


def html_meta(soup: Any) -> dict[str, Any]:
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
