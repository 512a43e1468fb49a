"""An HTML page's article: trafilatura finds it, the element walk (`html_walk`) reads small pages."""

from __future__ import annotations

import re
from typing import Any

from blogart.pipeline.html_walk import html_meta, make_soup, parse_html_bs4
from blogart.pipeline.sections import SectionBuilder
from blogart.text import collapse_whitespace
from blogart.values import Section

# Below this much article text trafilatura falls back to a dump of the whole page (menus included);
# the hand-written walk reads such small pages better. The same figure as trafilatura's own minimum.
MIN_EXTRACTED_CHARS = 250


def parse_html(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    """trafilatura finds the article; the BeautifulSoup walk reads the small pages it has too little text in.

    Measured on tests/data/html_wild (benchmarks/html_extract.py): see docs/dependencies.md.
    """
    title, front_matter, sections = parse_html_trafilatura(text)
    if sum(len(s.text) for s in sections) >= MIN_EXTRACTED_CHARS:
        return title, front_matter, sections
    return parse_html_bs4(text)


def parse_html_trafilatura(text: str) -> tuple[str, dict[str, Any], list[Section]]:
    """The article as trafilatura's main-content extractor finds it, headings kept for the chunker."""
    import trafilatura
    from lxml import etree

    soup = make_soup(text)
    front_matter = html_meta(soup)
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
    builder = SectionBuilder(title)
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


def fragment_text(fragment: str) -> str:
    if fragment.lstrip().startswith("<!--"):
        return ""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(fragment, "html.parser")
    for tag in soup.find_all(["script", "style"]):
        tag.decompose()
    return collapse_whitespace(soup.get_text(" "))
