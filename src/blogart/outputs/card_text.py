"""Setting a card's text: fonts per grapheme cluster, right-to-left runs in visual order, lines that fit.

Text is cut into grapheme clusters (`regex` \\X), each drawn by the first face of the chain that has all its
characters (`fonts.FontChain`). Runs of one face and one direction are shaped by Pillow's RAQM layout
(HarfBuzz + FriBiDi), so Arabic joins, Devanagari conjuncts form and a right-to-left run reads right to left;
the order of the runs on a line follows the Unicode bidirectional algorithm (UAX #9: paragraph level from the
first strong letter, numbers and neutrals resolved from their neighbours, runs reversed by level). Lines break
where UAX #14 allows (`uniseg`: between words, and between CJK characters), the size shrinks until the title
fits, and past the smallest size the last line ends in an ellipsis. Colour emoji come from a bitmap font drawn
at its one size and scaled.
"""

from __future__ import annotations

import functools
import math
import unicodedata
from dataclasses import dataclass
from typing import Any

import regex

from blogart.outputs.fonts import FontChain, FontFile, bitmap_size, fontconfig_face

ELLIPSIS = "\u2026"
MAX_CLUSTERS = 400  # a title past this is cut before setting: no card holds more, and fitting is quadratic


@dataclass(frozen=True)
class Run:
    """Clusters of one face and one direction, in logical order; `x` is its left edge on the line."""

    text: str
    face: FontFile
    rtl: bool
    x: float
    width: float


@dataclass(frozen=True)
class Line:
    text: str  # logical order
    runs: tuple[Run, ...]  # visual order, left to right
    width: float


@dataclass(frozen=True)
class Block:
    """A text set at one size: its lines, and clusters no installed face has (drawn as the primary's boxes)."""

    size: int
    lines: tuple[Line, ...]
    rtl: bool  # the paragraph's direction
    missing: tuple[str, ...]
    ellipsized: bool


@functools.cache
def pil_font(face: FontFile, size: int) -> Any:
    from PIL import ImageFont

    return ImageFont.truetype(str(face.path), size, index=face.index, layout_engine=ImageFont.Layout.RAQM)


def clusters(text: str) -> list[str]:
    return regex.findall(r"\X", text)


def _kind(cluster: str) -> str:
    """L, R, N (a number), ES, CS, ET (separators and terminators of numbers) or O (neutral), from the
    cluster's base character's bidi class."""
    bidi = unicodedata.bidirectional(cluster[0])
    if bidi == "L":
        return "L"
    if bidi in ("R", "AL"):
        return "R"
    if bidi in ("EN", "AN"):
        return "N"
    if bidi in ("ES", "CS", "ET"):
        return bidi
    return "O"


def _numbers(kinds: list[str]) -> list[str]:
    """UAX #9 W4-W6: a separator between two digits and a terminator next to digits join the number
    (2026-12-07, 3.5, 20%); any other separator or terminator is neutral."""
    out = list(kinds)
    for i in range(1, len(out) - 1):
        if out[i] in ("ES", "CS") and out[i - 1] == "N" and out[i + 1] == "N":
            out[i] = "N"
    for i, kind in enumerate(out):
        if kind != "ET":
            continue
        j = i
        while j < len(out) and out[j] == "ET":
            j += 1
        if (i > 0 and out[i - 1] == "N") or (j < len(out) and out[j] == "N"):
            out[i:j] = ["N"] * (j - i)
    return [k if k in ("L", "R", "N") else "O" for k in out]


def paragraph_rtl(text: str) -> bool:
    """UAX #9 P2-P3: the first strong letter decides."""
    for char in text:
        bidi = unicodedata.bidirectional(char)
        if bidi == "L":
            return False
        if bidi in ("R", "AL"):
            return True
    return False


def levels(units: list[str], rtl: bool) -> list[int]:
    """Embedding levels of clusters (UAX #9 W, N and I rules for one paragraph without explicit embeddings)."""
    kinds = _numbers([_kind(u) for u in units])
    base = 1 if rtl else 0
    strong: list[str] = []
    last = "R" if rtl else "L"
    for kind in kinds:  # W7: a number after L (or at the start of an LTR paragraph) is L
        if kind in ("L", "R"):
            last = kind
        strong.append("L" if kind == "N" and last == "L" else kind)
    resolved = list(strong)
    for i, kind in enumerate(strong):  # N1-N2: neutrals between like directions take it; numbers count as R
        if kind != "O":
            continue
        before = next((strong[j] for j in range(i - 1, -1, -1) if strong[j] != "O"), "R" if rtl else "L")
        after = next((strong[j] for j in range(i + 1, len(strong)) if strong[j] != "O"), "R" if rtl else "L")
        before, after = ("R" if before == "N" else before), ("R" if after == "N" else after)
        resolved[i] = before if before == after else ("R" if rtl else "L")
    out = []
    for kind in resolved:  # I1-I2
        if base == 0:
            out.append({"L": 0, "R": 1, "N": 2}[kind])
        else:
            out.append({"L": 2, "R": 1, "N": 2}[kind])
    for i in range(len(units) - 1, -1, -1):  # L1: trailing spaces go to the paragraph level
        if units[i].isspace():
            out[i] = base
        else:
            break
    return out


class Typesetter:
    """Measures and lays out text in one font chain at one size."""

    def __init__(self, chain: FontChain, size: int) -> None:
        self.chain = chain
        self.size = size

    def faces(self, units: list[str]) -> tuple[list[FontFile], list[str]]:
        """The face of each cluster, and the clusters no face has (those get the primary face)."""
        faces: list[FontFile] = []
        missing: list[str] = []
        previous: FontFile | None = None
        for unit in units:
            face = self.chain.choose(unit, previous)
            if face is None:
                face = _any_face(unit[0])
            if face is None:
                missing.append(unit)
                face = self.chain.primary
            faces.append(face)
            previous = face
        return faces, missing

    def run_width(self, text: str, face: FontFile, rtl: bool) -> float:
        return _run_width(text, face, rtl, self.size)

    def line(self, text: str, rtl: bool) -> tuple[Line, list[str]]:
        """`text` as one line: runs of one face and level, ordered left to right (UAX #9 L2)."""
        units = clusters(text)
        if not units:
            return Line(text, (), 0.0), []
        faces, missing = self.faces(units)
        lv = levels(units, rtl)
        groups: list[tuple[str, FontFile, int]] = []
        for unit, face, level in zip(units, faces, lv, strict=True):
            if groups and groups[-1][1] == face and groups[-1][2] == level:
                groups[-1] = (groups[-1][0] + unit, face, level)
            else:
                groups.append((unit, face, level))
        order = list(range(len(groups)))
        top = max(g[2] for g in groups)
        lowest_odd = min((g[2] for g in groups if g[2] % 2), default=top + 1)
        for level in range(top, lowest_odd - 1, -1):
            i = 0
            while i < len(order):
                if groups[order[i]][2] >= level:
                    j = i
                    while j < len(order) and groups[order[j]][2] >= level:
                        j += 1
                    order[i:j] = reversed(order[i:j])
                    i = j
                else:
                    i += 1
        runs = []
        x = 0.0
        for index in order:
            run_text, face, level = groups[index]
            width = self.run_width(run_text, face, level % 2 == 1)
            runs.append(Run(run_text, face, level % 2 == 1, x, width))
            x += width
        return Line(text, tuple(runs), x), missing

    def width(self, text: str, rtl: bool) -> float:
        return self.line(text, rtl)[0].width


@functools.lru_cache(maxsize=1024)
def _any_face(char: str) -> FontFile | None:
    return fontconfig_face(char)


@functools.lru_cache(maxsize=4096)
def _run_width(text: str, face: FontFile, rtl: bool, size: int) -> float:
    strike = bitmap_size(face)
    if strike is not None:
        return pil_font(face, strike).getlength(text) * size / strike
    return pil_font(face, size).getlength(text, direction="rtl" if rtl else "ltr")


@functools.lru_cache(maxsize=256)
def _break_units(text: str) -> tuple[str, ...]:
    from uniseg.linebreak import line_break_units

    return tuple(line_break_units(text))


def wrap(setter: Typesetter, text: str, width: float, rtl: bool) -> list[str]:
    """Lines (logical order) no wider than `width`, broken where UAX #14 allows; a unit wider than a whole
    line is broken between grapheme clusters."""
    lines: list[str] = []
    current = ""
    for unit in _break_units(text):
        candidate = current + unit
        if setter.width(candidate.rstrip(), rtl) <= width:
            current = candidate
            continue
        if current:
            lines.append(current.rstrip())
            current = ""
        if setter.width(unit.rstrip(), rtl) <= width:
            current = unit
            continue
        for cluster in clusters(unit):  # one word wider than the line
            if current and setter.width((current + cluster).rstrip(), rtl) > width:
                lines.append(current.rstrip())
                current = ""
            current += cluster
    if current.strip():
        lines.append(current.rstrip())
    return lines


def ellipsize(setter: Typesetter, text: str, width: float, rtl: bool) -> str:
    """`text` cut between clusters so that it and an ellipsis fit in `width`."""
    units = clusters(text.rstrip())
    while units:
        candidate = "".join(units).rstrip() + ELLIPSIS
        if setter.width(candidate, rtl) <= width:
            return candidate
        units.pop()
    return ELLIPSIS


def fit(
    chain: FontChain, text: str, width: float, height: float, *, size: int, min_size: int, max_lines: int, pitch: float
) -> Block:
    """The largest size from `size` down to `min_size` at which `text` fits in `max_lines` lines of the box;
    at `min_size`, the lines that fit and an ellipsis."""
    text = " ".join(text.split())
    if len(text) > MAX_CLUSTERS:
        text = "".join(clusters(text)[:MAX_CLUSTERS])
    rtl = paragraph_rtl(text)
    step = max(1, round(size / 32))
    sizes = list(range(size, min_size, -step)) + [min_size]
    for current in sizes:
        setter = Typesetter(chain, current)
        room = max(1, min(max_lines, math.floor(height / (current * pitch) + 1e-9)))
        lines = wrap(setter, text, width, rtl)
        if len(lines) <= room:
            return _block(setter, lines, rtl, False)
    setter = Typesetter(chain, min_size)
    room = max(1, min(max_lines, math.floor(height / (min_size * pitch) + 1e-9)))
    lines = wrap(setter, text, width, rtl)
    kept = lines[: room - 1]
    rest = " ".join(lines[room - 1 :])
    kept.append(ellipsize(setter, rest, width, rtl))
    return _block(setter, kept, rtl, True)


def _block(setter: Typesetter, lines: list[str], rtl: bool, ellipsized: bool) -> Block:
    laid = []
    missing: list[str] = []
    for text in lines:
        line, lacking = setter.line(text, rtl)
        laid.append(line)
        missing.extend(lacking)
    return Block(setter.size, tuple(laid), rtl, tuple(dict.fromkeys(missing)), ellipsized)


def draw_line(layer: Any, line: Line, x: float, baseline: float, size: int, fill: tuple[int, int, int, int]) -> None:
    """Draw `line` with its left edge at `x` and its baseline at `baseline` onto an RGBA `layer`."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(layer)
    for run in line.runs:
        strike = bitmap_size(run.face)
        if strike is None:
            font = pil_font(run.face, size)
            draw.text(
                (x + run.x, baseline),
                run.text,
                font=font,
                fill=fill,
                anchor="ls",
                direction="rtl" if run.rtl else "ltr",
            )
            continue
        # A bitmap colour font has one size: draw at it, then scale to the line's size.
        font = pil_font(run.face, strike)
        ascent, descent = font.getmetrics()
        width = math.ceil(font.getlength(run.text)) + 2
        big = Image.new("RGBA", (width, ascent + descent), (0, 0, 0, 0))
        ImageDraw.Draw(big).text((0, ascent), run.text, font=font, embedded_color=True, anchor="ls")
        scale = size / strike
        small = big.resize((max(1, round(width * scale)), max(1, round((ascent + descent) * scale))), Image.LANCZOS)
        top = round(baseline - ascent * scale)
        layer.alpha_composite(small, (round(x + run.x), max(0, top)))
