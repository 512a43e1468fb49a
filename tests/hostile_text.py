"""Social-post text as a hostile user writes it: Hebrew and Arabic (right to left), zero-width and bidi
controls, combining marks, emoji sequences (ZWJ, skin tones, flags), hashtags, mentions, links, slang."""

from __future__ import annotations

import random

PIECES = (
    "שלום", "עולם", "לחם", "מחמצת", "בוקר", "טוב", "مرحبا", "خبز", "sourdough", "starter", "crumb",
    "\u200b", "\u200c", "\u200d", "\u200f", "\u200e", "\ufeff", "\u202e", "\u2066",
    "e\u0301", "a\u0308\u0323", "ש\u05b0\u05bc", "🍞", "👩🏽\u200d🍳", "🇮🇱", "❤️", "👍🏿",
    "#לחם", "#SourdoughLife", "#bakingfromscratch", "@baker", "https://example.com/x?y=1",
    "sooooo", "!!!", "tbh", "idk", ".", ",", "\n",
)  # fmt: skip


def hostile_text(size: int, seed: int = 0, lines: bool = True) -> str:
    """About `size` bytes of UTF-8 of the pieces above, space-, zero-width- or un-separated."""
    rnd = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        piece = rnd.choice(PIECES)
        if piece == "\n" and not lines:
            continue
        out += [piece, rnd.choice((" ", " ", " ", "", "\u200b"))]
        total += len(piece.encode()) + 1
    return "".join(out)
