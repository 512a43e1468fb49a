"""Informal post text -> plain sentences an image model and the topic extractor can read.

Image models trained on captions stumble on hashtags, @mentions, links, emoji and slang, so before
topics are extracted:

- links and @mentions are dropped (they name no picture);
- hashtags become words: CamelCase splits where the case changes (#SourdoughLife -> sourdough life),
  one-case tags by word frequencies (`wordsegment`: #bakingfromscratch -> baking from scratch);
- emoji become their English names (🍞 -> bread), skin tones dropped, a repeated emoji named once;
- letters stretched for emphasis are cut to two (sooooo -> soo), runs of !!! or ?!? to one mark;
- abbreviations and slang are expanded from data/slang.toml plus the user's own file (same shape);
- a line break ends a sentence.

Every change is recorded in the result, so the manifest can show what was read and why.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path

from blogart.errors import UsageError


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
_ONLY_TAGS = re.compile(r"(?:\s|#\w+|[^\w\s.,;:!?])*")
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
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"slang file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read slang file {path}: {exc}") from None
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


def hashtag_words(tag: str) -> str:
    """#SourdoughLife -> "sourdough life"; #bakingfromscratch -> "baking from scratch"."""
    parts = _CAMEL.findall(tag)
    if len(parts) <= 1 and tag.isalpha() and len(tag) > 5:
        from wordsegment import load, segment

        _load_once(load)
        parts = segment(tag)
    return " ".join(p.lower() for p in parts) or tag.lower()


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
    urls = tuple(_URL.findall(text))
    out = _URL.sub(" ", text)
    mentions = tuple(_MENTION.findall(out))
    out = _MENTION.sub(" ", out)

    hashtags: list[tuple[str, str]] = []

    def tag(match: re.Match[str]) -> str:
        words = hashtag_words(match.group(1))
        hashtags.append((match.group(0), words))
        # A tag inside a sentence is a word of it; tags trailing a line are a list of their own.
        rest = match.string[match.end() :].split("\n", 1)[0]
        return f", {words}," if _ONLY_TAGS.fullmatch(rest) else words

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


def _sentences(text: str) -> str:
    """One sentence per non-empty line, a repeated word said once ("fire, fire, fire" -> "fire")."""
    lines = []
    for line in text.splitlines():
        # Punctuation that lost its word (a dropped link before "!") sticks to nothing.
        line = re.sub(r"\s+([.,!?;:])", r"\1", " ".join(line.split()))
        line = re.sub(r"[,\s]*,[,\s]*", ", ", line)
        line = re.sub(r",\s*([.!?;:])", r"\1", line)
        line = re.sub(r"([.!?;:]),", r"\1", line)
        words = line.split()
        kept = [w for i, w in enumerate(words) if i == 0 or w.strip(",").lower() != words[i - 1].strip(",").lower()]
        line = " ".join(kept).strip(" ,;:-")
        if not line:
            continue
        if line[-1] not in ".!?":
            line += "."
        lines.append(line)
    return " ".join(lines)
