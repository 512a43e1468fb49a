"""What each network takes: image sizes, caption and alt-text limits, and how a caption is cut to fit.

Limits as the networks document them: Instagram captions 2,200 characters, LinkedIn posts 3,000,
X posts 280 weighted characters (most non-Latin characters and emoji count two, any link 23) and
image descriptions 420 characters. Instagram and LinkedIn alt text is free text here (no cut).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from blogart.errors import UsageError


@dataclass(frozen=True)
class Size:
    name: str  # "square", "portrait", "landscape"
    width: int
    height: int


@dataclass(frozen=True)
class Platform:
    name: str
    sizes: tuple[Size, ...]
    caption_limit: int
    alt_limit: int | None  # None: no documented limit
    weighted: bool = False  # X counts characters with weights (see x_length)

    def caption_length(self, text: str) -> int:
        return x_length(text) if self.weighted else len(text)


PLATFORMS: dict[str, Platform] = {
    "instagram": Platform("instagram", (Size("square", 1080, 1080), Size("portrait", 1080, 1350)), 2200, None),
    "linkedin": Platform("linkedin", (Size("landscape", 1200, 627),), 3000, None),
    "x": Platform("x", (Size("landscape", 1600, 900),), 280, 420, weighted=True),
}
ALL = "all"
MAX_CAROUSEL = 10  # Instagram's and LinkedIn's most images per post (X shows four)


def choose_platforms(asked: Sequence[str]) -> tuple[Platform, ...]:
    """Names (or "all") to presets, in the table's order; an unknown name is a UsageError."""
    names = [a.strip().lower() for a in asked if a.strip()]
    if not names or ALL in names:
        return tuple(PLATFORMS.values())
    unknown = [n for n in names if n not in PLATFORMS]
    if unknown:
        raise UsageError(f"unknown platform {unknown[0]!r}; use {', '.join(PLATFORMS)} or all")
    return tuple(p for n, p in PLATFORMS.items() if n in names)


_URL = re.compile(r"https?://\S+", re.IGNORECASE)
# twitter-text v3: these code points weigh 1, all others 2.
_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
X_URL_LENGTH = 23


def x_length(text: str) -> int:
    """A post's length as X counts it (close to twitter-text v3; an emoji sequence counts per code point)."""
    length = 0
    for i, part in enumerate(_URL.split(text)):
        length += sum(1 if any(lo <= ord(c) <= hi for lo, hi in _LIGHT) else 2 for c in part)
        if i:
            length += X_URL_LENGTH
    return length


def shorten(text: str, limit: int, length: Callable[[str], int] = len) -> tuple[str, bool]:
    """`text` cut at a word boundary with "…" so that length(result) <= limit; (text, was it cut)."""
    if length(text) <= limit:
        return text, False
    words = text.split(" ")
    while words and length(" ".join(words).rstrip(" ,.;:!?-") + "…") > limit:
        words.pop()
    if not words:  # one giant word: cut characters instead
        cut = text
        while cut and length(cut + "…") > limit:
            cut = cut[:-1]
        return cut + "…", True
    return " ".join(words).rstrip(" ,.;:!?-") + "…", True


def caption_for(platform: Platform, text: str) -> tuple[str, bool]:
    """The post's original text as this platform's caption, shortened to its limit when needed."""
    return shorten(text.strip(), platform.caption_limit, platform.caption_length)


def alt_for(platform: Platform, alt: str) -> str:
    return alt if platform.alt_limit is None else shorten(alt, platform.alt_limit)[0]
