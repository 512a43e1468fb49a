"""Property tests over what reads outside input: the social normaliser and caption shortener, the slug
maker, the document reader and the settings parser. Each example has a deadline, so a super-linear path
shows up as a failure, not as a slow suite; counts stay modest to fit CI's budget."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest
import regex
import tomlkit
from hostile_text import PIECES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blogart.config import Settings, load_settings
from blogart.errors import InputError, UsageError
from blogart.outputs.files import MAX_SLUG, folder_for, slug_for, slugify
from blogart.pipeline.document import load_document
from blogart.social.normalise import normalise
from blogart.social.platforms import ELLIPSIS, grapheme_ends, shorten, x_length
from blogart.values import Document, Section

# PROPERTY_SCALE=10 for a deeper search by hand; CI runs the modest default.
SCALE = int(os.environ.get("PROPERTY_SCALE", "1"))
FAST = settings(max_examples=60 * SCALE, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=30 * SCALE, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Hostile pieces and any character (lone surrogates included: a str can hold them when decoded with
# surrogateescape); joined with spaces, or not.
any_char = st.characters(codec=None)
social_text = st.lists(
    st.one_of(st.sampled_from(PIECES), st.text(any_char, max_size=6), st.just(" ")), max_size=60
).map("".join)
clean_text = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6), st.just(" ")), max_size=60).map("".join)


@pytest.fixture(scope="module", autouse=True)
def _loaded(tmp_path_factory):
    """Word counts, emoji tables and parsers loaded before the first timed example."""
    normalise("#bakingfromscratch 🍞 tbh")
    slugify("Привет")
    folder = tmp_path_factory.mktemp("warm")
    for name, body in (("a.md", "---\nx: 1\n---\n# T\n\ntext"), ("a.html", "<p>text</p>"), ("a.txt", "text")):
        (folder / name).write_text(body)
        load_document(str(folder / name))


def _no_lone_surrogates(text: str) -> bool:
    return not re.search("[\ud800-\udfff]", text)


# -- the social normaliser -----------------------------------------------------------------------------


# Words, tags, emoji and marks of a post, each set apart by a space, a line break or an invisible separator.
post_text = st.lists(
    st.tuples(st.sampled_from(PIECES), st.sampled_from([" ", "\n", "\u200b", " \u200f", "\ufeff "])), max_size=40
).map(lambda pairs: "".join(piece + gap for piece, gap in pairs))


@FAST
@given(clean_text)
def test_normalised_text_is_one_line_without_invisible_controls(text):
    once = normalise(text)
    assert "\n" not in once.text and _no_lone_surrogates(once.text)
    assert not re.search("[\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]", once.text)


@FAST
@given(post_text)
def test_normalising_a_normalised_post_changes_nothing(text):
    once = normalise(text).text
    assert normalise(once).text == once


@FAST
@given(social_text)
def test_the_normaliser_takes_any_string(text):
    assert isinstance(normalise(text).text, str)


# -- the caption shortener ----------------------------------------------------------------------------


@FAST
@given(clean_text, st.integers(0, 300), st.sampled_from([len, x_length]))
def test_a_shortened_caption_fits_keeps_whole_clusters_and_is_stable(text, limit, length):
    caption, cut = shorten(text, limit, length)
    assert length(caption) <= limit or not cut and caption == text
    assert _no_lone_surrogates(caption)
    if cut and caption:
        kept = caption.removesuffix(ELLIPSIS)
        assert text.startswith(kept)
        # Cut where a grapheme cluster ends, so no emoji sequence or accented letter is split.
        assert len(kept) == 0 or len(kept) in grapheme_ends(text)
        assert regex.findall(r"\X", kept) == regex.findall(r"\X", text[: len(kept)])
    assert shorten(caption, limit, length) == (caption, False) or length(caption) > limit
    assert cut == (length(text) > limit)


# -- the slug maker ------------------------------------------------------------------------------------

SAFE_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


@FAST
@given(st.text(any_char, max_size=200))
def test_slugs_are_short_safe_file_names_and_stable(text):
    slug = slugify(text)
    assert slug == "" or SAFE_SLUG.match(slug)
    assert len(slug) <= MAX_SLUG and ".." not in slug and "/" not in slug
    assert slugify(slug) == slug


@FAST
@given(
    st.one_of(st.none(), st.text(any_char, max_size=40), st.integers(), st.lists(st.integers(), max_size=2)),
    st.text(any_char, max_size=40),
    st.text(any_char, max_size=40),
)
def test_a_post_always_gets_a_folder_of_its_own_inside_the_output_folder(front_slug, title, source):
    document = Document(source, "markdown", title, {"slug": front_slug}, (Section((), "x"),), "x", "ab12" * 16)
    name = slug_for(document)
    assert SAFE_SLUG.match(name) and len(name) <= MAX_SLUG + len("post-")
    assert slug_for(document) == name
    with tempfile.TemporaryDirectory() as base:
        folder = folder_for(Path(base), document)
        assert folder.parent == Path(base) and folder.name == name


# -- the document reader -------------------------------------------------------------------------------

post_bytes = st.one_of(
    st.binary(max_size=600),
    clean_text.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.tuples(st.text(max_size=80), clean_text).map(lambda p: f"---\n{p[0]}\n---\n{p[1]}".encode()),
    st.tuples(st.text(max_size=80), clean_text).map(lambda p: f"+++\n{p[0]}\n+++\n# T\n{p[1]}".encode()),
    clean_text.map(lambda t: f"<html><head><title>{t}</title></head><body><p>{t}</p></body></html>".encode()),
)


@SLOW
@given(post_bytes, st.sampled_from([".md", ".html", ".txt", ".markdown", ""]))
def test_any_bytes_are_a_document_or_one_input_error(tmp_path, raw, suffix):
    path = tmp_path / f"post{suffix}"
    path.write_bytes(raw)
    try:
        document = load_document(str(path), max_bytes=4096)
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert document.text.strip() and document.title
    assert isinstance(document.front_matter, dict)


# -- the settings parser -------------------------------------------------------------------------------

SECTIONS = {name: sorted(field.annotation.model_fields) for name, field in Settings.model_fields.items()}
toml_value = st.recursive(
    st.one_of(
        st.booleans(),
        st.integers(-(2**63), 2**63 - 1),
        st.floats(),
        st.text(max_size=20),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)
config = st.dictionaries(
    st.sampled_from(sorted(SECTIONS)).flatmap(
        lambda section: st.tuples(st.just(section), st.sampled_from([*SECTIONS[section], "bogus"]))
    ),
    toml_value,
    max_size=4,
).map(lambda pairs: _nest(pairs))


def _nest(pairs: dict[tuple[str, str], object]) -> dict[str, dict[str, object]]:
    tables: dict[str, dict[str, object]] = {}
    for (section, key), value in pairs.items():
        tables.setdefault(section, {})[key] = value
    return tables


def _one_line_usage_error(call) -> Settings | None:
    try:
        return call()
    except UsageError as exc:
        assert str(exc) and "\n" not in str(exc).strip(), str(exc)
        return None


@SLOW
@given(config)
def test_any_config_of_the_right_shape_is_settings_or_one_usage_error(tmp_path, tables):
    path = tmp_path / "blogart.toml"
    path.write_text(tomlkit.dumps(tables), encoding="utf-8")
    _one_line_usage_error(lambda: load_settings(path))


@SLOW
@given(st.binary(max_size=300))
def test_any_config_bytes_are_settings_or_one_usage_error(tmp_path, raw):
    path = tmp_path / "blogart.toml"
    path.write_bytes(raw)
    _one_line_usage_error(lambda: load_settings(path))


@SLOW
@given(
    st.sampled_from(sorted(SECTIONS)).flatmap(lambda s: st.tuples(st.just(s), st.sampled_from(SECTIONS[s]))),
    st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=30),
)
def test_any_environment_value_is_settings_or_one_usage_error(key, value):
    name = f"BLOGART_{key[0].upper()}__{key[1].upper()}"
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        _one_line_usage_error(load_settings)
    finally:
        if old is None:
            del os.environ[name]
        else:
            os.environ[name] = old


@pytest.mark.parametrize("text", ["", " ", "…", "a" * 500, "e\u0301" * 300, "👩🏽\u200d🍳 " * 100])
def test_shortening_edge_cases(text):
    for limit in (0, 1, 2, 3, 280):
        caption, _ = shorten(text, limit, x_length)
        assert x_length(caption) <= limit or caption == text and x_length(text) <= limit


# -- sentences -----------------------------------------------------------------------------------------


def _split_sentences_reference(text: str) -> list[str]:
    """The rule of text.split_sentences written the plain (quadratic) way: the words before each end, again."""
    from blogart.text import _ABBREVIATIONS, _SENTENCE_END

    sentences: list[str] = []
    for line in text.split("\n"):
        start = 0
        for match in _SENTENCE_END.finditer(line):
            before = line[start : match.start()].split()
            word = before[-1].lower().strip("\"'([“‘") if before else ""
            if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
                continue
            sentences.append(line[start : match.start() + len(match.group(0).rstrip())].strip())
            start = match.end()
        sentences.append(line[start:].strip())
    return [s for s in sentences if s]


SENTENCE_PARTS = ["A", "b", "Dr", "e.g", ".", "!", "?", "…", " ", "  ", "\n", "“", ")", "1"]


@FAST
@given(st.lists(st.sampled_from(SENTENCE_PARTS)).map("".join))
def test_sentences_split_as_the_rule_says(text):
    from blogart.text import split_sentences

    assert split_sentences(text) == _split_sentences_reference(text)


@pytest.mark.timeout(60)
def test_a_run_of_initials_is_split_in_linear_time():
    import time

    from blogart.text import split_sentences

    clock = time.perf_counter()
    initials = "J. " * 70_000
    assert split_sentences(initials + "Tolkien wrote. It ended.") == [initials + "Tolkien wrote.", "It ended."]
    assert time.perf_counter() - clock < 5  # was minutes: the words before each full stop were split again
