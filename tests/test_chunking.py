"""chunk_document: budgets, overlap, heading paths, merging, determinism."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from blogart.errors import UsageError
from blogart.pipeline.chunking import chunk_document
from blogart.pipeline.document import load_document
from blogart.text import count_tokens, encoding, split_sentences
from blogart.values import Document, Section

POSTS = Path(__file__).parent / "data" / "posts"
# fmt: off
WORDS = [
    "river", "stone", "lantern", "orchard", "copper", "meadow", "falcon", "harbor", "violet", "cedar",
    "quartz", "ember", "glacier", "thistle", "canyon", "marble", "willow", "saffron", "beacon", "tundra",
    "juniper", "cobalt", "prairie", "lichen", "basalt", "heron",
]
# fmt: on


def make_doc(sections: list[tuple[tuple[str, ...], str]], title: str = "Generated post") -> Document:
    secs = tuple(Section(path, text) for path, text in sections)
    return Document("gen.md", "markdown", title, {}, secs, "\n\n".join(s.text for s in secs), "0" * 64)


def sentence(rng: random.Random, serial: int, low: int = 4, high: int = 30) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(low, high))]
    return f"Sentence {serial} says {' '.join(words)}."


def long_post(seed: int = 7) -> Document:
    """Sections of every size: tiny, several paragraphs, one giant paragraph, a 1500-word sentence, a huge word."""
    rng = random.Random(seed)
    serial = iter(range(1_000_000))

    def paragraph(n: int) -> str:
        return " ".join(sentence(rng, next(serial)) for _ in range(n))

    sections = [
        ((), "\n\n".join(paragraph(rng.randint(1, 5)) for _ in range(3))),
        (("Alpha",), "\n\n".join(paragraph(rng.randint(2, 8)) for _ in range(6))),
        (("Alpha", "Tiny one"), paragraph(1)),
        (("Alpha", "Tiny two"), paragraph(1)),
        (("Beta",), paragraph(60)),  # one paragraph far over most budgets
        (("Beta", "Run-on"), "It goes " + " ".join(rng.choice(WORDS) for _ in range(1500)) + "."),
        (("Gamma",), "A hash " + hashlib.sha256(b"x").hexdigest() * 40 + " ends here."),
        (("Delta",), "Line one of a table | 1\nLine two of a table | 2\n\n" + paragraph(4)),
    ]
    return make_doc(sections)


def shared_sentence_prefix(previous: str, following: str) -> str:
    """The longest start of `following`, cut after a sentence, that `previous` ends with."""
    best = ""
    for end in range(len(following)):
        if following[end] in ".\n" and previous.endswith(following[: end + 1]):
            best = following[: end + 1]
    return best


# --- budgets and coverage ----------------------------------------------------------------------


@pytest.mark.parametrize("max_tokens", [8, 16, 33, 64, 100, 256, 512, 2000])
def test_budget_respected_and_nothing_lost(max_tokens):
    doc = long_post()
    all_sentences = [s for section in doc.sections for p in section.text.split("\n\n") for s in split_sentences(p)]
    for overlap in sorted({0, max_tokens // 8, max_tokens // 2, max_tokens - 1}):
        chunks = chunk_document(doc, max_tokens=max_tokens, overlap_tokens=overlap)
        assert [c.index for c in chunks] == list(range(len(chunks)))
        for chunk in chunks:
            assert chunk.text and chunk.text == chunk.text.strip()
            assert chunk.tokens == count_tokens(chunk.text)
            assert chunk.tokens <= max_tokens, (max_tokens, overlap, chunk.heading_path)
            assert chunk.outline == doc.outline
        joined = "\n".join(c.text for c in chunks)
        for text in all_sentences:
            if count_tokens(text) <= max_tokens:
                assert text in joined  # every sentence that fits a chunk is kept whole somewhere
        # The run-on sentence and the giant word are cut, not dropped.
        words = " ".join(c.text for c in chunks if c.heading_path == ("Beta", "Run-on")).split()
        assert len(words) >= 1501


def test_run_on_sentence_with_odd_spacing_gives_no_blank_or_padded_chunks():
    # Sections built by hand (not by load_document) may keep double spaces and tabs.
    text = "  ".join(["river stone lantern"] * 30) + "\tcopper  meadow" + "  " * 20 + "end"
    for max_tokens in (8, 9, 16):
        chunks = chunk_document(make_doc([(("A",), text)]), max_tokens=max_tokens, overlap_tokens=0)
        assert all(c.text and c.text == c.text.strip() and c.tokens <= max_tokens for c in chunks)
        assert " ".join(" ".join(c.text for c in chunks).split()) == " ".join(text.split())


def test_sample_posts_respect_budgets():
    for path in sorted(POSTS.iterdir()):
        doc = load_document(str(path))
        for max_tokens in (32, 128, 512):
            chunks = chunk_document(doc, max_tokens=max_tokens, overlap_tokens=max_tokens // 8)
            assert chunks and all(c.tokens <= max_tokens for c in chunks), path.name
            valid_paths = {s.heading_path for s in doc.sections} | {
                s.heading_path[:n] for s in doc.sections for n in range(len(s.heading_path))
            }
            assert {c.heading_path for c in chunks} <= valid_paths


# --- overlap -----------------------------------------------------------------------------------


def test_overlap_present_bounded_and_within_a_section():
    doc = long_post()
    # Sentences here are at most ~45 tokens, so a 50-token overlap always holds at least one.
    chunks = chunk_document(doc, max_tokens=150, overlap_tokens=50)
    pairs = list(zip(chunks, chunks[1:], strict=False))
    same = [
        (a, b) for a, b in pairs if a.heading_path == b.heading_path and a.heading_path in [(), ("Alpha",), ("Beta",)]
    ]
    assert len(same) >= 10
    for previous, following in same:
        shared = shared_sentence_prefix(previous.text, following.text)
        assert shared, "no overlap between chunks of one section"
        assert count_tokens(shared) <= 50
        assert shared != previous.text  # never the whole previous chunk
    for previous, following in pairs:
        if previous.heading_path != following.heading_path:
            assert not shared_sentence_prefix(previous.text, following.text)


def test_no_overlap_when_zero():
    chunks = chunk_document(long_post(), max_tokens=120, overlap_tokens=0)
    for previous, following in zip(chunks, chunks[1:], strict=False):
        assert not shared_sentence_prefix(previous.text, following.text)
    # Without overlap, the chunks of a section are exactly its text, split.
    alpha = long_post().sections[1].text
    pieces = [c.text for c in chunks if c.heading_path == ("Alpha",)]
    assert "".join(pieces).replace("\n", "").replace(" ", "") == alpha.replace("\n", "").replace(" ", "")


def test_prefers_paragraph_boundaries():
    rng = random.Random(3)
    paragraphs = [" ".join(sentence(rng, i * 10 + j, 6, 8) for j in range(3)) for i in range(8)]
    doc = make_doc([(("Only",), "\n\n".join(paragraphs))])
    budget = max(count_tokens(p) for p in paragraphs) * 2 + 4
    for chunk in chunk_document(doc, max_tokens=budget, overlap_tokens=0):
        assert all(part in paragraphs for part in chunk.text.split("\n\n"))


# --- heading paths and merging -----------------------------------------------------------------


def test_heading_paths_follow_sections():
    doc = load_document(str(POSTS / "sourdough.md"))
    chunks = chunk_document(doc, max_tokens=64, overlap_tokens=8)
    by_path = {s.heading_path: s.text for s in doc.sections}
    for chunk in chunks:
        assert chunk.heading_path in by_path  # a small budget never merges sections
        body = " ".join(by_path[chunk.heading_path].split())
        assert " ".join(chunk.text.split()) in body
    assert [c.heading_path for c in chunks if "float test" in c.text.lower()][0][-1] == "The float test"
    order = list(dict.fromkeys(c.heading_path for c in chunks))
    assert order == [s.heading_path for s in doc.sections]


def test_tiny_siblings_merge_under_their_parent():
    big = " ".join(f"Fact {i} about bridges and rivers." for i in range(60))
    doc = make_doc(
        [
            (("A",), big),
            (("A", "x"), "Short text x."),
            (("A", "y"), "Short text y."),
            (("B",), "Short text b."),
            (("B", "z", "deep"), "Short deep text."),
        ]
    )
    chunks = chunk_document(doc, max_tokens=200, overlap_tokens=20)
    paths = [c.heading_path for c in chunks]
    assert paths[-3:] == [("A",), ("B",), ("B", "z", "deep")]
    assert chunks[-3].text == "x\n\nShort text x.\n\ny\n\nShort text y."  # headings kept in the merged text
    assert chunks[-2].text == "Short text b."  # ("B", "z", "deep") is not a direct child: no merge
    assert all(c.heading_path == ("A",) for c in chunks[:-3])
    # Nothing merges when merging is switched off.
    assert len(chunk_document(doc, max_tokens=200, overlap_tokens=20, merge_below=0)) == len(chunks) + 1


def test_tiny_post_is_one_chunk():
    source = Path("tiny.md")
    source.write_text("# Moon jelly\n\nJellyfish drift.\n\n## Food\n\nThey eat plankton.\n\n## Life\n\nShort lives.\n")
    doc = load_document(str(source))
    chunks = chunk_document(doc)
    assert len(chunks) == 1
    (chunk,) = chunks
    assert chunk.heading_path == ()
    assert chunk.text == "Jellyfish drift.\n\nFood\n\nThey eat plankton.\n\nLife\n\nShort lives."
    assert chunk.outline == "Moon jelly\n- Food\n- Life"
    single = make_doc([(("One",), "Just one sentence.")])
    assert [(c.heading_path, c.text) for c in chunk_document(single)] == [(("One",), "Just one sentence.")]
    assert chunk_document(make_doc([])) == []


def test_deterministic():
    doc = long_post()
    first = chunk_document(doc, max_tokens=77, overlap_tokens=20)
    encoding.cache_clear()
    assert chunk_document(long_post(), max_tokens=77, overlap_tokens=20) == first


@pytest.mark.parametrize(("max_tokens", "overlap"), [(0, 0), (7, 0), (64, 64), (64, -1)])
def test_bad_parameters(max_tokens, overlap):
    with pytest.raises(UsageError):
        chunk_document(long_post(), max_tokens=max_tokens, overlap_tokens=overlap)
