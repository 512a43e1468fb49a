"""Fonts for title cards: found through fontconfig or named by path, and a fallback chain per character.

No font is downloaded: families are looked up among the installed ones (one `fc-list` call; the Debian packages
fonts-noto-core, fonts-noto-cjk and fonts-noto-color-emoji give every script the cards are tested in), and a
user's TTF/OTF/TTC/variable font is read from its path. Coverage is each font's cmap (fontTools), so every
grapheme cluster is drawn by the first font in the chain that has all of its characters (then by any installed
font fontconfig's `fc-match` finds for it), and a character no font has is known before drawing instead of
coming out as a box unnoticed.
"""

from __future__ import annotations

import functools
import shutil
import struct
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blogart.errors import UsageError

FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")

# Tried in this order after the title's own font; CJK last: its cmap is the largest to read (~0.2 s).
FALLBACK_FAMILIES = (
    "Noto Sans",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Devanagari",
    "Noto Sans Bengali",
    "Noto Sans Thai",
    "Noto Sans Armenian",
    "Noto Sans Georgian",
    "Noto Sans Symbols",
    "Noto Sans Symbols2",
    "Noto Sans Math",
)
EMOJI_FAMILY = "Noto Color Emoji"
CJK_FAMILIES = {"ja": "Noto Sans CJK JP", "ko": "Noto Sans CJK KR", "zh": "Noto Sans CJK SC"}

# Characters a font need not have for a cluster to count as covered: joiners and variation selectors.
_IGNORABLE = frozenset([0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, *range(0xFE00, 0xFE10)])

FC_TIMEOUT = 10


@dataclass(frozen=True)
class FontFile:
    """One face: a file and its index in a collection (TTC)."""

    path: Path
    index: int = 0

    @property
    def name(self) -> str:
        return f"{self.path.name}#{self.index}" if self.index else self.path.name


def _fontconfig(*args: str) -> str:
    """What a fontconfig tool prints; "" where fontconfig is missing or fails (cards then use named files only)."""
    if shutil.which(args[0]) is None:
        return ""
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=FC_TIMEOUT, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def _fc_match(pattern: str) -> tuple[str, FontFile] | None:
    """(family, face) fontconfig picks for `pattern`, or None without fontconfig."""
    out = _fontconfig("fc-match", "-f", "%{family}\t%{file}\t%{index}", pattern)
    parts = out.split("\t")
    if len(parts) != 3 or not parts[1]:
        return None
    return parts[0], FontFile(Path(parts[1]), int(parts[2] or 0))


@functools.cache
def installed() -> dict[str, tuple[tuple[int, FontFile], ...]]:
    """Every installed face by family name (casefolded), with its weight: one `fc-list` call per process."""
    out = _fontconfig("fc-list", "-f", "%{family}\t%{weight}\t%{slant}\t%{file}\t%{index}\n")
    faces: dict[str, list[tuple[int, FontFile]]] = {}
    for row in out.splitlines():
        parts = row.split("\t")
        if len(parts) != 5 or not parts[3] or parts[2] not in ("", "0"):  # upright faces only
            continue
        try:
            weight = int(float(parts[1].split()[0].strip("[]") or 80))
            face = FontFile(Path(parts[3]), int(parts[4] or 0))
        except ValueError:
            continue
        for family in parts[0].split(","):
            faces.setdefault(family.strip().casefold(), []).append((weight, face))
    return {
        family: tuple(sorted(set(found), key=lambda f: (f[0], str(f[1].path), f[1].index)))
        for family, found in faces.items()
    }


@functools.cache
def find_family(family: str, bold: bool = False) -> FontFile | None:
    """The installed upright face of `family` nearest to bold (fontconfig weight 200) or regular (80)."""
    found = installed().get(family.strip().casefold())
    if not found:
        return None
    wanted = 200 if bold else 80
    return min(found, key=lambda f: (abs(f[0] - wanted), str(f[1].path), f[1].index))[1]


def font_file(spec: str, *, bold: bool = False, where: str = "font") -> FontFile:
    """A font named by path (`path.ttc#1` picks a face of a collection) or by an installed family name.

    One-line UsageError when the file is missing or not a font, or the family is not installed.
    """
    text, _, number = spec.partition("#")
    if text.lower().endswith(FONT_SUFFIXES) or "/" in text:
        path = Path(text).expanduser()
        if not path.is_file():
            raise UsageError(f"{where}: font file not found: {path}")
        if not number.isdigit() and number:
            raise UsageError(f"{where}: {spec!r}: the face number after # must be a whole number")
        face = FontFile(path, int(number or 0))
        check_font(face, where)
        return face
    face = find_family(spec, bold)
    if face is None:
        raise UsageError(f"{where}: font family {spec!r} is not installed (fc-list : family lists the installed ones)")
    return face


def check_font(face: FontFile, where: str = "font") -> None:
    """The file opens as a font with a character map; a one-line UsageError otherwise."""
    try:
        cmap(face)
    except UsageError:
        raise
    except Exception as exc:  # noqa: BLE001 - fontTools raises many types for a file that is not a font
        raise UsageError(
            f"{where}: {face.path} is not a font blogart can read ({' '.join(str(exc).split())})"
        ) from None


@functools.cache
def cmap(face: FontFile) -> frozenset[int]:
    """The code points `face` has a glyph for (not .notdef)."""
    from fontTools.ttLib import TTFont, TTLibError

    try:
        with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
            codes = _format12(font)
            if codes is None:
                best = font.getBestCmap() or {}
                codes = frozenset(code for code, glyph in best.items() if glyph != ".notdef")
    except (OSError, TTLibError, AssertionError, KeyError, ValueError, IndexError, struct.error) as exc:
        raise UsageError(f"font: {face.path} is not a font blogart can read ({' '.join(str(exc).split())})") from None
    if not codes:
        raise UsageError(f"font: {face.path} has no Unicode character map")
    return codes


def _format12(font: Any) -> frozenset[int] | None:
    """The code points of a Windows full-Unicode (3, 10) format-12 subtable, read from its groups directly:
    fontTools builds a dict entry per character, a quarter of a second for a CJK font."""
    data = font.reader["cmap"]
    (count,) = struct.unpack_from(">H", data, 2)
    for i in range(count):
        platform, encoding, offset = struct.unpack_from(">HHI", data, 4 + 8 * i)
        if (platform, encoding) != (3, 10) or struct.unpack_from(">H", data, offset)[0] != 12:
            continue
        (groups,) = struct.unpack_from(">I", data, offset + 12)
        table = np.frombuffer(data, ">u4", count=3 * groups, offset=offset + 16).reshape(groups, 3).astype(np.int64)
        codes: set[int] = set()
        for start, end, glyph in table.tolist():
            first = start + 1 if glyph == 0 else start  # glyph 0 is .notdef
            codes.update(range(first, end + 1))
        return frozenset(codes)
    return None


@functools.cache
def bitmap_size(face: FontFile) -> int | None:
    """The pixel size of a bitmap-only colour font (CBDT/sbix, Noto Color Emoji: 109), None for outline fonts."""
    from fontTools.ttLib import TTFont

    with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
        if "CBLC" in font:
            return int(font["CBLC"].strikes[0].bitmapSizeTable.ppemY)
        if "sbix" in font and "glyf" not in font and "CFF " not in font:
            return int(max(font["sbix"].strikes))
    return None


def covers(face: FontFile, cluster: str) -> bool:
    codes = cmap(face)
    return all(ord(c) in codes or ord(c) in _IGNORABLE for c in cluster)


def cjk_language(text: str) -> str:
    """Which CJK face suits `text`: Japanese with kana, Korean with hangul, else Chinese (Simplified)."""
    for char in text:
        code = ord(char)
        if 0x3040 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF:
            return "ja"
        if 0xAC00 <= code <= 0xD7AF or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
            return "ko"
    return "zh"


# The family to try first for a character, by the first word of its Unicode name.
_SCRIPT_FAMILIES = {
    "ARABIC": "Noto Sans Arabic",
    "HEBREW": "Noto Sans Hebrew",
    "DEVANAGARI": "Noto Sans Devanagari",
    "BENGALI": "Noto Sans Bengali",
    "THAI": "Noto Sans Thai",
    "ARMENIAN": "Noto Sans Armenian",
    "GEORGIAN": "Noto Sans Georgian",
}
_CJK_WORDS = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "IDEOGRAPHIC", "FULLWIDTH", "HALFWIDTH", "BOPOMOFO")


@dataclass(frozen=True)
class FontChain:
    """The faces a text is drawn with, in order of preference, looked up only when a character needs them;
    the emoji face draws emoji clusters first."""

    faces: tuple[FontFile, ...]  # the template's own
    families: tuple[str, ...]  # installed families after them
    cjk: str  # the CJK family that suits the text
    bold: bool = True

    def _family(self, family: str) -> FontFile | None:
        return find_family(family, self.bold) or find_family(family, False)

    def _candidates(self, cluster: str):
        yield from self.faces
        word = unicodedata.name(cluster[0], "").split(" ", 1)[0]
        first = self.cjk if word in _CJK_WORDS else _SCRIPT_FAMILIES.get(word)
        for family in (first, *self.families, self.cjk) if first else (*self.families, self.cjk):
            face = self._family(family) if family else None
            if face is not None:
                yield face

    @property
    def primary(self) -> FontFile:
        return self.faces[0]

    @property
    def emoji(self) -> FontFile | None:
        return find_family(EMOJI_FAMILY)

    def choose(self, cluster: str, previous: FontFile | None = None) -> FontFile | None:
        """The face for a grapheme cluster, None when no face in the chain has all its characters.

        Spaces, digits and punctuation stay in the previous cluster's face when it has them, so an Arabic
        phrase is shaped as one run, spaces and digits included.
        """
        if is_emoji(cluster) and (emoji := self.emoji) is not None and covers(emoji, cluster):
            return emoji
        if previous is not None and previous != self.emoji and _neutral(cluster) and covers(previous, cluster):
            return previous
        for face in self._candidates(cluster):
            if covers(face, cluster):
                return face
        return None


def _neutral(cluster: str) -> bool:
    return not any(unicodedata.category(c)[0] in "LM" for c in cluster)


def is_emoji(cluster: str) -> bool:
    """A cluster shown as an emoji: an emoji sequence, or a pictograph whose default is emoji presentation."""
    import emoji

    if "\ufe0e" in cluster:  # text presentation asked for
        return False
    if "\ufe0f" in cluster or "\u200d" in cluster or any(0x1F3FB <= ord(c) <= 0x1F3FF for c in cluster):
        return emoji.is_emoji(cluster.replace("\ufe0f", "")) or emoji.is_emoji(cluster)
    return emoji.is_emoji(cluster) and (len(cluster) > 1 or ord(cluster) >= 0x1F000 or ord(cluster) in _EMOJI_BMP)


# Pictographs below U+1F000 whose default presentation is emoji (Unicode's Emoji_Presentation property).
_EMOJI_BMP = frozenset(
    [0x231A, 0x231B, 0x23E9, 0x23EA, 0x23EB, 0x23EC, 0x23F0, 0x23F3, 0x25FD, 0x25FE, 0x2614, 0x2615]
    + [*range(0x2648, 0x2654), 0x267F, 0x2693, 0x26A1, 0x26AA, 0x26AB, 0x26BD, 0x26BE, 0x26C4, 0x26C5, 0x26CE]
    + [0x26D4, 0x26EA, 0x26F2, 0x26F3, 0x26F5, 0x26FA, 0x26FD, 0x2705, 0x270A, 0x270B, 0x2728, 0x274C, 0x274E]
    + [0x2753, 0x2754, 0x2755, 0x2757, 0x2795, 0x2796, 0x2797, 0x27B0, 0x27BF, 0x2B1B, 0x2B1C, 0x2B50, 0x2B55]
)


def chain_for(text: str, primary: FontFile, *, bold: bool = True) -> FontChain:
    """`primary`, then the installed Noto families, with the CJK face that suits `text`."""
    return FontChain((primary,), FALLBACK_FAMILIES, CJK_FAMILIES[cjk_language(text)], bold)


def fontconfig_face(char: str, bold: bool = True) -> FontFile | None:
    """Any installed face that has `char` (fontconfig's charset match), for what the chain lacks."""
    found = _fc_match(f"sans-serif:charset={ord(char):x}:weight={'bold' if bold else 'regular'}")
    if found is None:
        return None
    face = found[1]
    try:
        return face if covers(face, char) else None
    except UsageError:
        return None
