"""The bundled icon model's language: its concept vocabulary and the one caption grammar.

The recipe under `recipes/icons/` renders emoji compositions and captions them with `caption()`; the
prompt writer for the bundled model writes its prompts with the same function, so the model is only
ever asked for sentences shaped like the ones it was trained on:

    a robot on a blue background
    a robot and a balance scale on a blue to purple gradient
    a robot, a document and a balance scale on a white background, left to right
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from blogart.atomic import atomic_write_json
from blogart.errors import InputError

MAX_CONCEPTS = 4  # emoji in one composition; more do not fit legibly in 128 px

# Named background colours; renders jitter each channel a little so the names cover a range.
COLOURS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (25, 25, 25),
    "grey": (128, 128, 128),
    "red": (215, 45, 45),
    "orange": (240, 140, 30),
    "yellow": (245, 215, 60),
    "green": (60, 170, 75),
    "teal": (30, 150, 150),
    "blue": (45, 95, 210),
    "navy": (25, 35, 95),
    "purple": (130, 60, 180),
    "pink": (240, 130, 180),
    "brown": (125, 80, 45),
    "beige": (225, 205, 165),
}

LAYOUTS = ("row", "scatter")  # row: side by side in caption order; scatter: in the corners


@dataclass(frozen=True)
class Concept:
    """One thing the bundled model can draw: an emoji, its caption name and words that mean it."""

    name: str  # as it appears in captions: "balance scale"
    emoji: str  # the character sequence rendered from the emoji font
    category: str = ""  # "objects", "tech", ... (for balance in the recipe and for reports)
    keywords: tuple[str, ...] = field(default=())  # other words for it, used to match key topics
    # What the emoji shows and what a post would use it for, in a sentence: what key topics are matched on.
    description: str = ""


@dataclass(frozen=True)
class Background:
    colour: str  # a key of COLOURS
    to: str | None = None  # a second colour: a gradient from `colour` to `to`

    def words(self) -> str:
        if self.to is None:
            return f"{article(self.colour)} {self.colour} background"
        return f"{article(self.colour)} {self.colour} to {self.to} gradient"


def article(name: str) -> str:
    return "an" if name[:1].lower() in "aeiou" else "a"


def caption(concepts: Sequence[Concept], background: Background, layout: str = "scatter") -> str:
    """The training caption of a composition; concepts in left-to-right order for a row."""
    if not 1 <= len(concepts) <= MAX_CONCEPTS:
        raise ValueError(f"a composition holds 1 to {MAX_CONCEPTS} concepts, not {len(concepts)}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    things = [f"{article(c.name)} {c.name}" for c in concepts]
    listed = things[0] if len(things) == 1 else f"{', '.join(things[:-1])} and {things[-1]}"
    text = f"{listed} on {background.words()}"
    if layout == "row" and len(concepts) > 1:
        text += ", left to right"
    return text


def save_concepts(concepts: Sequence[Concept], path: Path) -> None:
    rows = [
        {"name": c.name, "emoji": c.emoji, "category": c.category, "keywords": list(c.keywords)}
        | ({"description": c.description} if c.description else {})
        for c in concepts
    ]
    atomic_write_json(path, {"concepts": rows})


def load_concepts(path: Path) -> list[Concept]:
    """The vocabulary file a bundled model ships (`concepts.json`)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))["concepts"]
        return [
            Concept(
                name=row["name"],
                emoji=row["emoji"],
                category=row.get("category", ""),
                keywords=tuple(row.get("keywords", ())),
                description=str(row.get("description", "")),
            )
            for row in rows
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a concepts file ({exc})") from exc
