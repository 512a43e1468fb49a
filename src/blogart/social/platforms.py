"""What each network takes: image sizes, caption and alt-text limits, and how a caption is cut to fit.

Limits as the networks document them: Instagram captions 2,200 characters, LinkedIn posts 3,000,
X posts 280 weighted characters (most non-Latin characters and emoji count two, any link 23) and
image descriptions 420 characters. Instagram and LinkedIn alt text is free text here (no cut).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import regex

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
# twitter-text v3: the code points 0-4351, 8192-8205, 8208-8223 and 8242-8247 weigh 1, all others 2.
_HEAVY = re.compile(r"[^\u0000-\u10ff\u2000-\u200d\u2010-\u201f\u2032-\u2037]")
X_URL_LENGTH = 23
ELLIPSIS = "…"
_TRAILING = frozenset(" ,.;:!?-")  # left off before the ellipsis
# A user-perceived character (extended grapheme cluster): a cut between two would split an emoji
# sequence or strip a letter of its accents. The standard library's `re` has no \X.
_GRAPHEME = regex.compile(r"\X", regex.DOTALL)


def x_length(text: str) -> int:
    """A post's length as X counts it (close to twitter-text v3; an emoji sequence counts per code point)."""
    length = 0
    for i, part in enumerate(_URL.split(text)):
        length += len(part) + len(_HEAVY.findall(part))
        if i:
            length += X_URL_LENGTH
    return length


def grapheme_ends(text: str) -> list[int]:
    """The offsets in `text` where a grapheme cluster ends, ascending (the last is len(text))."""
    return [match.end() for match in _GRAPHEME.finditer(text)]


def shorten(text: str, limit: int, length: Callable[[str], int] = len) -> tuple[str, bool]:
    """`text` cut at a word boundary with "…" so that length(result) <= limit; (text, was it cut).

    Cuts fall between grapheme clusters only. One giant word is cut between clusters instead; a limit
    that not even "…" fits gives "". Linear-logarithmic in the text: the longest prefix that fits is
    found by bisection (`length` of a prefix grows with the prefix, as len and x_length do).
    """
    if length(text) <= limit:
        return text, False
    ends = grapheme_ends(text)
    starts = [0, *ends[:-1]]  # cluster i spans starts[i]:ends[i]

    def cut_at(cluster: int) -> str:
        """The first `cluster` clusters, trailing punctuation clusters left off, and the ellipsis."""
        while cluster and text[starts[cluster - 1] : ends[cluster - 1]] in _TRAILING:
            cluster -= 1
        return text[: starts[cluster]] + ELLIPSIS if cluster < len(starts) else text + ELLIPSIS

    # Word cuts: before each cluster that is a lone space; else between any two clusters.
    spaces = [i for i in range(1, len(starts)) if text[starts[i] : ends[i]] == " "]
    for cuts in (spaces, range(len(starts))):
        best = _last_fitting(cuts, lambda i: length(cut_at(i)) <= limit)
        if best is not None and (cuts is spaces or best > 0):
            return cut_at(best), True
    return ("", True) if length(ELLIPSIS) > limit else (ELLIPSIS, True)


def _last_fitting(cuts: Sequence[int], fits: Callable[[int], bool]) -> int | None:
    """The last of `cuts` that fits, by bisection (fitting is monotone: a longer prefix never fits better)."""
    lo, hi = 0, len(cuts)  # cuts[:lo] fit, cuts[hi:] do not
    while lo < hi:
        mid = (lo + hi) // 2
        if fits(cuts[mid]):
            lo = mid + 1
        else:
            hi = mid
    return cuts[lo - 1] if lo else None


def caption_for(platform: Platform, text: str) -> tuple[str, bool]:
    """The post's original text as this platform's caption, shortened to its limit when needed."""
    return shorten(text.strip(), platform.caption_limit, platform.caption_length)


def alt_for(platform: Platform, alt: str) -> str:
    return alt if platform.alt_limit is None else shorten(alt, platform.alt_limit)[0]
