"""The concept vocabulary: emoji that blog posts need, named for captions.

Names come from the `emoji` package (its English name, aliases as keywords) and `unicodedata`;
the category comes from where the emoji sits in Unicode, whose blocks group like things together
(food, animals, transport, office objects). `concepts.toml` renames the ones that read badly,
adds keywords, and drops what a cover has no use for. Only emoji the font draws as one glyph are
kept, so a Debian font that predates an emoji never yields a blank or split render.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from pathlib import Path

from blogart.prompts.icons import Concept

HERE = Path(__file__).parent
OVERRIDES = HERE / "concepts.toml"
DESCRIPTIONS = HERE / "descriptions.toml"  # what each emoji shows, by caption name: what topics match on
DEFAULT_FONT = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
FONT_SIZE = 109  # Noto Color Emoji is a bitmap font with this one strike

# (first, last code point, category) of the single-character emoji worth drawing; the rest are
# faces, hands, flags, arrows and buttons that say nothing about a post's subject.
RANGES: list[tuple[int, int, str]] = [
    (0x231A, 0x231B, "objects"),  # watch, hourglass
    (0x2328, 0x2328, "tech"),  # keyboard
    (0x23F0, 0x23F3, "objects"),  # alarm clock, stopwatch, timer
    (0x2600, 0x2604, "nature"),  # sun, cloud, umbrella, snowman, comet
    (0x260E, 0x260E, "tech"),
    (0x2615, 0x2615, "food"),
    (0x2618, 0x2618, "nature"),
    (0x2622, 0x2623, "symbols"),
    (0x267B, 0x267B, "symbols"),
    (0x2692, 0x2697, "tools"),
    (0x2699, 0x269B, "tools"),
    (0x26A0, 0x26A1, "symbols"),
    (0x26BD, 0x26BE, "activities"),
    (0x26C4, 0x26C8, "nature"),
    (0x26CF, 0x26D1, "tools"),
    (0x26D3, 0x26D3, "tools"),
    (0x26EA, 0x26EA, "places"),
    (0x26F0, 0x26F3, "places"),
    (0x26F4, 0x26F5, "vehicles"),
    (0x26F7, 0x26FA, "activities"),
    (0x26FD, 0x26FD, "vehicles"),
    (0x2702, 0x2702, "tools"),
    (0x2708, 0x2708, "vehicles"),
    (0x2709, 0x2709, "objects"),
    (0x270F, 0x270F, "tools"),
    (0x2712, 0x2712, "tools"),
    (0x2744, 0x2744, "nature"),
    (0x2764, 0x2764, "symbols"),
    (0x2B50, 0x2B50, "symbols"),
    (0x1F300, 0x1F32C, "nature"),
    (0x1F32D, 0x1F32F, "food"),
    (0x1F330, 0x1F344, "nature"),
    (0x1F345, 0x1F37F, "food"),
    (0x1F380, 0x1F39F, "objects"),
    (0x1F3A0, 0x1F3D3, "activities"),
    (0x1F3D4, 0x1F3F0, "places"),
    (0x1F3F5, 0x1F3FA, "objects"),
    (0x1F400, 0x1F43F, "nature"),
    (0x1F451, 0x1F462, "objects"),
    (0x1F46E, 0x1F46E, "people at work"),
    (0x1F477, 0x1F477, "people at work"),
    (0x1F482, 0x1F482, "people at work"),
    (0x1F484, 0x1F484, "objects"),
    (0x1F489, 0x1F48E, "objects"),
    (0x1F4A1, 0x1F4A1, "symbols"),
    (0x1F4A3, 0x1F4A3, "objects"),
    (0x1F4A5, 0x1F4A7, "symbols"),
    (0x1F4AC, 0x1F4AD, "symbols"),
    (0x1F4B0, 0x1F4BA, "objects"),
    (0x1F4BB, 0x1F4BF, "tech"),
    (0x1F4C0, 0x1F4DF, "objects"),
    (0x1F4E0, 0x1F4E2, "tech"),
    (0x1F4E3, 0x1F4EF, "objects"),
    (0x1F4F0, 0x1F4FF, "tech"),
    (0x1F50B, 0x1F50C, "tech"),
    (0x1F50D, 0x1F514, "objects"),
    (0x1F516, 0x1F517, "objects"),
    (0x1F525, 0x1F525, "symbols"),
    (0x1F526, 0x1F52E, "tools"),
    (0x1F56F, 0x1F570, "objects"),
    (0x1F573, 0x1F573, "places"),
    (0x1F575, 0x1F575, "people at work"),
    (0x1F577, 0x1F578, "nature"),
    (0x1F579, 0x1F579, "tech"),
    (0x1F587, 0x1F58D, "objects"),
    (0x1F5A5, 0x1F5B2, "tech"),
    (0x1F5BC, 0x1F5BC, "objects"),
    (0x1F5C2, 0x1F5C4, "objects"),
    (0x1F5D1, 0x1F5DE, "objects"),
    (0x1F5E1, 0x1F5E1, "tools"),
    (0x1F5F3, 0x1F5F3, "objects"),
    (0x1F5FA, 0x1F5FF, "places"),
    (0x1F680, 0x1F6A5, "vehicles"),
    (0x1F6A6, 0x1F6A7, "symbols"),
    (0x1F6A8, 0x1F6A8, "vehicles"),
    (0x1F6AA, 0x1F6AA, "objects"),
    (0x1F6BF, 0x1F6C1, "objects"),
    (0x1F6CB, 0x1F6D2, "objects"),
    (0x1F6D5, 0x1F6DC, "places"),
    (0x1F6E0, 0x1F6E0, "tools"),
    (0x1F6E1, 0x1F6E2, "objects"),
    (0x1F6E3, 0x1F6E4, "places"),
    (0x1F6E5, 0x1F6FC, "vehicles"),
    (0x1F916, 0x1F916, "tech"),  # robot
    (0x1F91D, 0x1F91D, "symbols"),  # handshake
    (0x1F93F, 0x1F93F, "activities"),
    (0x1F942, 0x1F944, "food"),
    (0x1F945, 0x1F94F, "activities"),
    (0x1F950, 0x1F96F, "food"),
    (0x1F97B, 0x1F97F, "objects"),
    (0x1F980, 0x1F9AE, "nature"),
    (0x1F9BA, 0x1F9BA, "objects"),
    (0x1F9C0, 0x1F9CB, "food"),
    (0x1F9E0, 0x1F9E0, "objects"),
    (0x1F9E3, 0x1F9E6, "objects"),
    (0x1F9E9, 0x1F9E9, "activities"),
    (0x1F9EA, 0x1F9F2, "tools"),
    (0x1F9F3, 0x1F9FF, "objects"),
    (0x1FA70, 0x1FA7C, "objects"),
    (0x1FA80, 0x1FA8F, "activities"),
    (0x1FA90, 0x1FA9C, "tools"),
    (0x1FA9D, 0x1FAAF, "objects"),
    (0x1FAB0, 0x1FABF, "nature"),
    (0x1FAC0, 0x1FAC2, "objects"),
    (0x1FAD0, 0x1FADF, "food"),
]

PERSON = "\U0001f9d1"  # gender-neutral person; person + ZWJ + tool is an occupation ("technologist")
ZWJ = "\u200d"


def category_of(char: str) -> str | None:
    point = ord(char)
    for first, last, category in RANGES:
        if first <= point <= last:
            return category
    return None


def emoji_name(code: str) -> str:
    """ "balance scale" from the emoji package's ":balance_scale:", else from unicodedata."""
    import emoji

    data = emoji.EMOJI_DATA.get(code) or emoji.EMOJI_DATA.get(code.replace("\ufe0f", ""), {})
    name = data.get("en", "").strip(":")
    if not name:
        name = unicodedata.name(code.replace("\ufe0f", "")[0], "").lower()
    return re.sub(r"[_\s]+", " ", name).replace("\u2019", "'").strip().lower()


def aliases(code: str) -> tuple[str, ...]:
    import emoji

    data = emoji.EMOJI_DATA.get(code, {})
    words = [re.sub(r"[_\s]+", " ", a.strip(":")).lower() for a in data.get("alias", [])]
    uname = unicodedata.name(code.replace("\ufe0f", "")[0], "").lower() if len(code.replace("\ufe0f", "")) == 1 else ""
    return tuple(dict.fromkeys(w for w in [*words, uname] if w))


def candidates() -> list[tuple[str, str]]:
    """(emoji, category) of fully qualified emoji in the drawn ranges, plus the neutral occupations."""
    import emoji

    qualified = emoji.STATUS["fully_qualified"]
    found: list[tuple[str, str]] = []
    for code, data in emoji.EMOJI_DATA.items():
        if data["status"] != qualified:
            continue
        base = code.replace("\ufe0f", "")
        if len(base) == 1:
            category = category_of(base)
            if category:
                found.append((code, category))
        elif base.startswith(PERSON + ZWJ) and len(base) == 3 and category_of(base[2]) is not None:
            found.append((code, "people at work"))
    return sorted(found, key=lambda item: [ord(c) for c in item[0]])


def drawable(font, code: str) -> bool:
    """One glyph with ink: the font knows the emoji (a missing one is blank or several glyphs)."""
    from PIL import Image, ImageDraw

    if font.getlength(code) > 1.5 * FONT_SIZE:
        return False
    image = Image.new("RGBA", (2 * FONT_SIZE, int(1.4 * FONT_SIZE)))
    ImageDraw.Draw(image).text((0, 0), code, font=font, embedded_color=True)
    return image.getbbox() is not None


def load_font(path: str | Path | None = None):
    import os

    from PIL import ImageFont

    from blogart.errors import InputError

    path = Path(path or os.environ.get("BLOGART_EMOJI_FONT") or DEFAULT_FONT)
    try:
        return ImageFont.truetype(str(path), FONT_SIZE)
    except OSError as exc:
        raise InputError(
            f"cannot load the emoji font {path} ({exc}); install fonts-noto-color-emoji or pass --font"
        ) from exc


def read_overrides(path: Path = OVERRIDES) -> dict:
    with path.open("rb") as handle:
        return tomllib.load(handle)


def read_descriptions(path: Path = DESCRIPTIONS) -> dict[str, str]:
    with path.open("rb") as handle:
        return dict(tomllib.load(handle).get("descriptions", {}))


def build_catalogue(font, overrides: dict | None = None, descriptions: dict[str, str] | None = None) -> list[Concept]:
    """Every drawable candidate, renamed and re-filed by the overrides; names are unique."""
    overrides = read_overrides() if overrides is None else overrides
    descriptions = read_descriptions() if descriptions is None else descriptions
    dropped = set(overrides.get("drop", {}).get("names", []))
    renamed: dict[str, dict] = overrides.get("concept", {})
    concepts: list[Concept] = []
    seen: set[str] = set()
    for code, category in candidates():
        original = emoji_name(code)
        if original in dropped or not drawable(font, code):
            continue
        change = renamed.get(original, {})
        name = change.get("name", original)
        if name in seen:
            continue
        seen.add(name)
        keywords = tuple(dict.fromkeys(k for k in [*change.get("keywords", []), original, *aliases(code)] if k != name))
        concepts.append(
            Concept(
                name=name,
                emoji=code,
                category=change.get("category", category),
                keywords=keywords,
                description=descriptions.get(name, ""),
            )
        )
    return concepts


def choose(concepts: list[Concept], count: int | None, overrides: dict | None = None) -> list[Concept]:
    """`count` concepts: the hand-described ones first (blog subjects), then categories in turn.

    Taking categories in turn keeps a small vocabulary from being all animals and food, which the
    emoji set has most of; the order is the catalogue's, so the choice is the same on every machine.
    """
    if count is None or count >= len(concepts):
        return list(concepts)
    overrides = read_overrides() if overrides is None else overrides
    described = set(overrides.get("concept", {}))
    first = [c for c in concepts if c.name in described or any(k in described for k in c.keywords)]
    queues: dict[str, list[Concept]] = {}
    for concept in concepts:
        if concept not in first:
            queues.setdefault(concept.category, []).append(concept)
    chosen = first[:count]
    while len(chosen) < count and any(queues.values()):
        for queue in queues.values():
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return chosen
