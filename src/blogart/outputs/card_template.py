"""A title card's template: positions, sizes, colours and fonts, read from a small TOML file and checked there.

The default is `templates/card.toml`; a user's file replaces any part of it (tables are merged key by key).
Every problem is one line naming the file and the key: a bad colour, a box off the card, a font that is not
installed or not a font, a text colour that cannot reach WCAG contrast 4.5 even on a solid panel.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from blogart.errors import UsageError
from blogart.outputs.fonts import FontFile, font_file

MIN_CONTRAST = 4.5  # WCAG 2 AA for normal text
THEMES = ("dark", "light")

_HEX = re.compile(r"#([0-9a-fA-F]{6})([0-9a-fA-F]{2})?")
Rgba = tuple[int, int, int, int]


def parse_colour(text: str) -> Rgba:
    match = _HEX.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a colour; write #rrggbb or #rrggbbaa")
    rgb, alpha = match.group(1), match.group(2) or "ff"
    return int(rgb[0:2], 16), int(rgb[2:4], 16), int(rgb[4:6], 16), int(alpha, 16)


def _colour(text: str) -> str:
    parse_colour(text)
    return text


Colour = Annotated[str, AfterValidator(_colour)]


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG relative luminance of an sRGB colour (0-255 channels)."""
    channels = [c / 255 for c in rgb]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """WCAG contrast ratio, 1 to 21."""
    la, lb = luminance(a), luminance(b)
    return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PanelSpec(_Strict):
    style: Literal["panel", "scrim"] = "panel"
    box: tuple[float, float, float, float] = (0.05, 0.47, 0.90, 0.47)
    padding: int = Field(34, ge=0, le=400)
    radius: int = Field(20, ge=0, le=400)
    fit: bool = True  # shrink the box to the text, keeping its bottom edge

    @field_validator("box")
    @classmethod
    def _on_card(cls, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        left, top, width, height = box
        if min(box) < 0 or width <= 0 or height <= 0 or left + width > 1.0001 or top + height > 1.0001:
            raise ValueError("[left, top, width, height] must be fractions of the card that stay inside it")
        return box


class TextSpec(_Strict):
    font: str = "Noto Sans"
    bold: bool = True
    size: int = Field(66, ge=6, le=400)
    min_size: int = Field(34, ge=6, le=400)
    max_lines: int = Field(3, ge=1, le=12)
    line_height: float = Field(1.22, ge=0.8, le=3.0)
    align: Literal["start", "center"] = "start"

    @model_validator(mode="after")
    def _sizes(self) -> TextSpec:
        if self.min_size > self.size:
            raise ValueError(f"min_size {self.min_size} is above size {self.size}")
        return self


class MetaSpec(_Strict):
    font: str = "Noto Sans"
    bold: bool = False
    size: int = Field(26, ge=6, le=200)
    separator: str = Field("  ·  ", max_length=20)


class ThemeSpec(_Strict):
    text: Colour
    meta: Colour
    panel: Colour


class TemplateSpec(_Strict):
    panel: PanelSpec = PanelSpec()
    title: TextSpec = TextSpec()
    meta: MetaSpec = MetaSpec()
    theme: dict[Literal["dark", "light"], ThemeSpec]


@dataclass(frozen=True)
class Theme:
    text: Rgba
    meta: Rgba
    panel: Rgba


@dataclass(frozen=True)
class CardTemplate:
    """A checked template with its fonts found: what `card.render_card` draws with."""

    panel: PanelSpec
    title: TextSpec
    meta: MetaSpec
    themes: dict[str, Theme]
    title_face: FontFile
    meta_face: FontFile
    source: str  # the file it came from, for messages and the inputs' hash


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def default_text() -> str:
    return resources.files("blogart.outputs").joinpath("templates/card.toml").read_text("utf-8")


def load_template(path: str | Path | None = None) -> CardTemplate:
    """The default template, with the user's file (if any) laid over it; one-line UsageError when it is wrong."""
    data = tomllib.loads(default_text())
    where = "the default card template"
    if path:
        where = f"card template {path}"
        try:
            text = Path(path).expanduser().read_bytes().decode("utf-8")
            data = _merge(data, tomllib.loads(text))
        except FileNotFoundError:
            raise UsageError(f"{where}: file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"{where}: cannot read it ({' '.join(str(exc).split())})") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"{where}: not valid TOML ({exc})") from None
    try:
        spec = TemplateSpec.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise UsageError(f"{where}: {key}: {message}") from None
    themes = {}
    for name in THEMES:
        if name not in spec.theme:
            raise UsageError(f"{where}: theme.{name} is missing")
        t = spec.theme[name]
        theme = Theme(parse_colour(t.text), parse_colour(t.meta), parse_colour(t.panel))
        for key, colour in (("text", theme.text), ("meta", theme.meta)):
            ratio = contrast(colour[:3], theme.panel[:3])
            if ratio < MIN_CONTRAST:
                raise UsageError(
                    f"{where}: theme.{name}.{key} {getattr(t, key)} on panel {t.panel[:7]} has contrast "
                    f"{ratio:.2f}, below {MIN_CONTRAST}: the text would not be legible"
                )
        themes[name] = theme
    title_face = font_file(spec.title.font, bold=spec.title.bold, where=f"{where}: title.font")
    meta_face = font_file(spec.meta.font, bold=spec.meta.bold, where=f"{where}: meta.font")
    return CardTemplate(spec.panel, spec.title, spec.meta, themes, title_face, meta_face, str(path or ""))
