"""HTML from the wild: real-world-style pages (news, Medium, WordPress themes, docs, Substack, Ghost, Blogger,
DEV) read by load_document; the article found, its title and headings kept, the page furniture left out.
The same pages and scores as benchmarks/html_extract.py."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from blogart.pipeline.chunking import chunk_document
from blogart.pipeline.document import load_document
from blogart.pipeline.html_walk import parse_html_bs4

PAGES = Path(__file__).parent / "data" / "html_wild"
NAMES = sorted(p.stem for p in PAGES.glob("*.html"))


def _expected(name: str) -> dict:
    return json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))


def _f1(got: str, expected: str) -> float:
    a, b = (Counter(re.findall(r"\w+", t.casefold())) for t in (got, expected))
    common = sum((a & b).values())
    return 2 * common / (sum(a.values()) + sum(b.values()))


def _leaks(text: str, expected: dict) -> list[str]:
    return [snippet for snippet in expected["boilerplate"] if snippet.casefold() in text.casefold()]


def test_the_set_is_a_dozen_pages_with_furniture_to_leave_out():
    assert len(NAMES) >= 12
    for name in NAMES:
        expected = _expected(name)
        assert expected["title"] and expected["headings"] and len(expected["boilerplate"]) >= 4, name


@pytest.mark.parametrize("name", NAMES)
def test_the_article_is_found(name):
    expected = _expected(name)
    doc = load_document(str(PAGES / f"{name}.html"))
    assert doc.title == expected["title"]
    assert _f1(doc.text, expected["text"]) >= 0.95, doc.text
    # Headings stay headings, in order, so the chunker can split at them (a subtitle may come first).
    found = iter(dict.fromkeys(h for s in doc.sections for h in s.heading_path))
    assert all(heading in found for heading in expected["headings"]), [s.heading_path for s in doc.sections]
    assert len(_leaks(doc.text, expected)) <= 1, _leaks(doc.text, expected)


def test_furniture_leaks_less_than_with_the_hand_written_walk():
    """The reason the walk was replaced (docs/dependencies.md): measured on the same pages."""
    ours = theirs = 0
    for name in NAMES:
        expected = _expected(name)
        ours += len(_leaks(load_document(str(PAGES / f"{name}.html")).text, expected))
        _, _, sections = parse_html_bs4((PAGES / f"{name}.html").read_text(encoding="utf-8"))
        theirs += len(_leaks("\n".join(s.text for s in sections), expected))
    assert ours <= 1 < theirs


def test_chunks_follow_the_headings_of_a_wild_page():
    doc = load_document(str(PAGES / "wp-astra-espresso.html"))
    chunks = chunk_document(doc, max_tokens=60, overlap_tokens=0)
    assert {c.heading_path for c in chunks} >= {(h,) for h in _expected("wp-astra-espresso")["headings"]}
    assert all("Recent Posts" not in c.text and "Share this" not in c.text for c in chunks)


def test_a_small_page_is_read_by_the_walk_without_its_menu(tmp_path):
    page = "<html><body><nav>Menu</nav><main><h2>Wading</h2><p>Herons stand still in the shallows.</p></main></body>"
    (tmp_path / "small.html").write_text(page, encoding="utf-8")
    doc = load_document(str(tmp_path / "small.html"))  # trafilatura would dump "Menu" with the text
    assert [(s.heading_path, s.text) for s in doc.sections] == [(("Wading",), "Herons stand still in the shallows.")]


def test_sphinx_permalink_marks_are_not_part_of_headings():
    doc = load_document(str(PAGES / "docs-sphinx-retry.html"))
    assert "¶" not in doc.text and "Which errors are retried" in doc.headings
