"""Informal post text -> plain sentences an image model and the topic extractor can read.

Image models trained on captions stumble on hashtags, @mentions, links, emoji and slang, so before
topics are extracted:

- links and @mentions are dropped (they name no picture);
- hashtags become words: CamelCase splits where the case changes (#SourdoughLife -> sourdough life),
  one-case tags by word frequencies (`wordsegment`: #bakingfromscratch -> baking from scratch);
- emoji become their English names (🍞 -> bread), skin tones dropped, a repeated emoji named once;
- letters stretched for emphasis are cut to two (sooooo -> soo), runs of !!! or ?!? to one mark;
- abbreviations and slang are expanded from data/slang.toml plus the user's own file (same shape);
- a line break ends a sentence;
- zero-width spaces separate words, bidi controls (RLM, overrides, isolates) are dropped.

Every change is recorded in the result, so the manifest can show what was read and why.
"""

from __future__ import annotations

import bisect
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path

from blogart.errors import UsageError
from blogart.readers import SETTINGS_FILE_BYTES, read_user_text


@dataclass(frozen=True)
class Normalised:
    original: str
    text: str  # what the topic extractor reads
    hashtags: tuple[tuple[str, str], ...] = ()  # (#Tag, "its words")
    mentions: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    emoji: tuple[tuple[str, str], ...] = ()  # (emoji, name)
    expanded: tuple[tuple[str, str], ...] = ()  # (abbreviation as written, expansion)


_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)
# Not after a word character, so e-mail addresses are not read as mentions.
_MENTION = re.compile(r"(?<![\w@])@\w+")
_HASHTAG = re.compile(r"(?<![\w&#])#(\w+)")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STRETCHED = re.compile(r"([a-zA-Z])\1{2,}")
_MARKS = re.compile(r"([!?])[!?]+")
# What may follow a hashtag that ends a line's list of tags: spaces, more tags, symbols and emoji; one
# token at a time (a tag whole), so the line's last "other" token marks where that list can start.
_TAIL_TOKEN = re.compile(r"(?P<tag>#\w+|\s|[^\w\s.,;:!?])|(?P<other>.)", re.DOTALL)
# Invisible characters that split or reorder what is shown, not what is said: a zero-width space (and
# its kin) separates words, bidi marks and overrides go. ZWJ and ZWNJ stay: scripts spell with them.
_ZERO_WIDTH_SPACE = re.compile("[\u200b\u2060\ufeff]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SKIN_TONE = re.compile(r"_(?:light|medium-light|medium|medium-dark|dark)_skin_tone")


# -- slang table ---------------------------------------------------------------------------------------


def load_slang(extra_file: str | Path | None = None) -> dict[str, str]:
    """The bundled table, then the user's file over it; keys lower-case."""
    table = _bundled_slang()
    if extra_file:
        table = {**table, **_read_slang(Path(extra_file))}
    return table


@cache
def _bundled_slang() -> dict[str, str]:
    text = (files("blogart.social") / "data" / "slang.toml").read_text(encoding="utf-8")
    return _slang_from(tomllib.loads(text), "the bundled slang table")


def _read_slang(path: Path) -> dict[str, str]:
    text = read_user_text(path, what="slang file", max_bytes=SETTINGS_FILE_BYTES)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"slang file {path} is not valid TOML: {exc}") from None
    return _slang_from(data, f"slang file {path}")


def _slang_from(data: dict, where: str) -> dict[str, str]:
    table = data.get("expand")
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise UsageError(f'{where} needs an [expand] table of "abbreviation" = "meaning" strings')
    return {key.strip().lower(): value.strip() for key, value in table.items() if key.strip()}


@cache
def _slang_pattern(keys: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so "w/o" wins over "w/"; whole words only ("u" never matches inside "up").
    alternatives = "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True))
    return re.compile(rf"(?<![\w/'])({alternatives})(?![\w/'])", re.IGNORECASE)


# -- the rules -----------------------------------------------------------------------------------------


# Splitting a one-case tag by word frequencies costs ~10 ms a tag: a post is read in bounded time
# however many tags it has. Longer tags, and distinct tags past the budget, are kept as one word.
SEGMENT_MAX_LETTERS = 40
SEGMENT_MAX_TAGS = 64


def hashtag_words(tag: str, segment: bool = True) -> str:
    """#SourdoughLife -> "sourdough life"; #bakingfromscratch -> "baking from scratch" (with `segment`)."""
    parts = _CAMEL.findall(tag)
    if segment and needs_segmenting(tag, parts):
        parts = _segmented(tag)
    return " ".join(p.lower() for p in parts) or tag.lower()


def needs_segmenting(tag: str, parts: list[str] | None = None) -> bool:
    parts = _CAMEL.findall(tag) if parts is None else parts
    return len(parts) <= 1 and tag.isalpha() and 5 < len(tag) <= SEGMENT_MAX_LETTERS


@lru_cache(maxsize=1024)
def _segmented(tag: str) -> list[str]:
    from wordsegment import load, segment

    _load_once(load)
    return segment(tag)


_loaded: list[bool] = []


def _load_once(load) -> None:
    if not _loaded:  # wordsegment reads its word counts (~0.5 s) on the first one-case tag only
        load()
        _loaded.append(True)


def emoji_name(chars: str) -> str:
    import emoji

    data = emoji.EMOJI_DATA.get(chars)
    name = data["en"] if data else emoji.demojize(chars)
    return _SKIN_TONE.sub("", name).strip(":").replace("_", " ").lower()


def normalise(text: str, slang: Mapping[str, str] | None = None) -> Normalised:
    """The post's text with the rules of this module applied; `slang` defaults to the bundled table."""
    import emoji

    slang = load_slang() if slang is None else slang
    out = _BIDI.sub("", _ZERO_WIDTH_SPACE.sub(" ", text))
    urls = tuple(_URL.findall(out))
    out = _URL.sub(" ", out)
    mentions = tuple(_MENTION.findall(out))
    out = _MENTION.sub(" ", out)

    hashtags: list[tuple[str, str]] = []
    tails = _tag_tails(out)

    segmented: set[str] = set()

    def tag(match: re.Match[str]) -> str:
        name = match.group(1)
        if needs_segmenting(name) and len(segmented) < SEGMENT_MAX_TAGS:
            segmented.add(name)
        words = hashtag_words(name, segment=name in segmented)
        hashtags.append((match.group(0), words))
        # A tag inside a sentence is a word of it; tags trailing a line are a list of their own.
        line = bisect.bisect_right(tails, (match.end(), math.inf)) - 1
        return f", {words}," if match.end() >= tails[line][1] else words

    out = _HASHTAG.sub(tag, out)

    names: list[tuple[str, str]] = []

    def name(chars: str, _data: dict) -> str:
        named = emoji_name(chars)
        names.append((chars, named))
        return f", {named}, "

    out = emoji.replace_emoji(out, replace=name)
    out = _STRETCHED.sub(r"\1\1", out)
    out = _MARKS.sub(r"\1", out)

    expanded: list[tuple[str, str]] = []
    if slang:

        def expand(match: re.Match[str]) -> str:
            meaning = slang[match.group(1).lower()]
            expanded.append((match.group(1), meaning))
            return meaning

        out = _slang_pattern(tuple(slang)).sub(expand, out)

    return Normalised(
        original=text,
        text=_sentences(out),
        hashtags=tuple(hashtags),
        mentions=mentions,
        urls=urls,
        emoji=tuple(names),
        expanded=tuple(expanded),
    )


def _tag_tails(text: str) -> list[tuple[int, int]]:
    """Per line, (where it starts, where its tail of only tags, spaces and symbols starts), in one pass.

    A hashtag ending at or after its line's tail start is followed by nothing but more of the same."""
    tails = []
    start = 0
    for line in text.split("\n"):
        tail = start
        for match in _TAIL_TOKEN.finditer(line):
            if match.lastgroup == "other":
                tail = start + match.end()
        tails.append((start, tail))
        start += len(line) + 1
    return tails


def _sentences(text: str) -> str:
    """One sentence per non-empty line, a repeated word said once ("fire, fire, fire" -> "fire")."""
    lines = []
    for line in text.splitlines():
        # Punctuation that lost its word (a dropped link before "!") sticks to nothing.
        line = _MARKS.sub(r"\1", re.sub(r"\s+([.,!?;:])", r"\1", " ".join(line.split())))
        line = re.sub(r"[,\s]*,[,\s]*", ", ", line)
        line = re.sub(r",\s*([.!?;:])", r"\1", line)
        line = re.sub(r"([.!?;:]),", r"\1", line)
        words = line.split()
        # Not across a sentence end: the lines are joined below, and normalising again must change nothing.
        kept = [w for i, w in enumerate(words) if i == 0 or not _repeats(words[i - 1], w)]
        line = " ".join(kept).lstrip(" ,.;:!?-").rstrip(" ,;:-")  # a sentence starts with a word
        if not line:
            continue
        if line[-1] not in ".!?":
            line += "."
        lines.append(line)
    return " ".join(lines)


def _repeats(previous: str, word: str) -> bool:
    return previous[-1] not in ".!?" and word.strip(",").lower() == previous.strip(",").lower()
