"""Title cards: the cover art cropped to the card, with the post's title (and site, date, tags) set on it.

The picture fills the card through the crop logic (`crops.choose_window`: the window that keeps the subject).
The text sits in the template's box, on a panel or over a scrim whose opacity is raised until every pixel
under the text has WCAG contrast >= 4.5 with the text colour (the template is refused when even an opaque
panel would not reach it). Text setting is `card_text`'s; fonts are `fonts`'; the template `card_template`'s.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from blogart.outputs.card_template import MIN_CONTRAST, CardTemplate, Theme
from blogart.outputs.card_text import Block, draw_line, fit
from blogart.outputs.fonts import chain_for
from blogart.values import CropSize, CropWindow

CARD_NAME = "card.png"
BASE_HEIGHT = 630  # template sizes are pixels on a 1200x630 card
ALPHA_STEP = 0.05
OG_SIZE = CropSize("og", 1200, 630)  # card.png


@dataclass(frozen=True)
class CardText:
    """What a card says: the title, and the optional line under it."""

    title: str
    site: str = ""
    date: str = ""
    tags: tuple[str, ...] = ()

    def meta(self, separator: str) -> str:
        parts = [self.site.strip(), self.date.strip(), " ".join(f"#{t.strip()}" for t in self.tags if t.strip())]
        return separator.join(p for p in parts if p)


@dataclass(frozen=True)
class RenderedCard:
    image: Any  # PIL RGB, the card
    backdrop: Any  # PIL RGB, the picture with its panel: what lies under the text
    ink: Any  # PIL L, where text was drawn (its alpha)
    title: Block
    meta: Block | None
    text_box: tuple[int, int, int, int]  # left, top, right, bottom: where the text may go
    panel_alpha: float  # the panel's opacity after the contrast check, 0-1
    contrast: float  # the lowest contrast of a text colour against a pixel under that text


def card_name(size: CropSize, og: bool) -> str:
    return CARD_NAME if og else f"card-{size.name}.png"


def _scaled(value: float, scale: float) -> int:
    return max(1, round(value * scale))


def _panel_layer(
    size: tuple[int, int], template: CardTemplate, box: tuple[int, int, int, int], theme: Theme, alpha: float
):
    """The panel (or scrim) as an RGBA layer at opacity `alpha`."""
    from PIL import Image, ImageDraw

    width, height = size
    r, g, b, _ = theme.panel
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    if template.panel.style == "panel":
        radius = _scaled(template.panel.radius, height / BASE_HEIGHT)
        ImageDraw.Draw(layer).rounded_rectangle(box, radius=radius, fill=(r, g, b, round(255 * alpha)))
        return layer
    # Scrim: a gradient that reaches its full opacity at the box's top edge and keeps it down to the card's
    # bottom, so the text (inside the box) lies on the scrim's full opacity.
    ramp = max(1, (box[3] - box[1]) // 2)
    rows = np.clip((np.arange(height) - (box[1] - ramp)) / ramp, 0.0, 1.0) * alpha * 255
    alpha_column = np.repeat(rows[:, None], width, axis=1).astype(np.uint8)
    rgb = np.empty((height, width, 4), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2], rgb[..., 3] = r, g, b, alpha_column
    return Image.fromarray(rgb, "RGBA")


def _lowest_contrast(backdrop: np.ndarray, ink: np.ndarray, colour: tuple[int, int, int], halo: int) -> float:
    """The lowest WCAG contrast between `colour` and a backdrop pixel under the ink or within `halo` of it."""
    from PIL import Image, ImageFilter

    ys, xs = np.nonzero(ink)
    if not len(ys):
        return 21.0
    top, bottom = max(0, ys.min() - halo), min(ink.shape[0], ys.max() + halo + 1)
    left, right = max(0, xs.min() - halo), min(ink.shape[1], xs.max() + halo + 1)
    near = Image.fromarray(ink[top:bottom, left:right].astype(np.uint8) * 255, "L")
    near_mask = np.asarray(near.filter(ImageFilter.MaxFilter(2 * halo + 1))) > 0
    pixels = backdrop[top:bottom, left:right][near_mask] / 255.0
    lum = _linear(pixels) @ _WEIGHTS
    text = float(_linear(np.asarray(colour, np.float64) / 255.0) @ _WEIGHTS)
    ratios = (np.maximum(lum, text) + 0.05) / (np.minimum(lum, text) + 0.05)
    return float(ratios.min())


_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])


def _linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


@dataclass(frozen=True)
class _Layout:
    """Where things go on one card: the panel's box, the text's box inside it, and the text set to fit."""

    box: tuple[int, int, int, int]
    inner: tuple[int, int, int, int]
    title: Block
    meta: Block | None
    meta_height: float
    scale: float


def _layout(text: CardText, template: CardTemplate, size: CropSize) -> _Layout:
    """The text set in the template's box at `size`: the line under the title takes one line at its size,
    the title the rest; with `panel.fit` the box then shrinks to the text, keeping its bottom edge."""
    scale = size.height / BASE_HEIGHT
    if size.width / size.height < 1200 / BASE_HEIGHT:
        scale = min(scale, size.width / 1200)  # a narrower card keeps the wide card's proportions
    left, top, width, height = template.panel.box
    box = (
        round(left * size.width),
        round(top * size.height),
        round((left + width) * size.width),
        round((top + height) * size.height),
    )
    pad = _scaled(template.panel.padding, scale)
    inner = (box[0] + pad, box[1] + pad, box[2] - pad, box[3] - pad)
    inner_width, inner_height = inner[2] - inner[0], inner[3] - inner[1]
    meta_text = text.meta(template.meta.separator)
    meta_block, meta_height = None, 0.0
    if meta_text:
        meta_size = _scaled(template.meta.size, scale)
        chain = chain_for(meta_text, template.meta_face, bold=template.meta.bold)
        meta_block = fit(
            chain, meta_text, inner_width, meta_size * 1.5, size=meta_size, min_size=meta_size, max_lines=1, pitch=1.3
        )
        meta_height = meta_size * 1.7
    t = template.title
    title_block = fit(
        chain_for(text.title, template.title_face, bold=t.bold),
        text.title,
        inner_width,
        max(1.0, inner_height - meta_height),
        size=_scaled(t.size, scale),
        min_size=min(_scaled(t.min_size, scale), _scaled(t.size, scale)),
        max_lines=t.max_lines,
        pitch=t.line_height,
    )
    if template.panel.fit:
        title_height = title_block.size * t.line_height * len(title_block.lines)
        top = max(box[1], box[3] - 2 * pad - round(title_height + meta_height))
        box, inner = (box[0], top, box[2], box[3]), (inner[0], top + pad, inner[2], inner[3])
    return _Layout(box, inner, title_block, meta_block, meta_height, scale)


def _text_layers(
    layout: _Layout, template: CardTemplate, colours: Theme, size: tuple[int, int]
) -> list[tuple[Any, tuple[int, int, int, int]]]:
    """(RGBA layer, colour) for the title and for the line under it, each drawn on its own layer."""
    from PIL import Image

    t, inner, block = template.title, layout.inner, layout.title
    pitch = block.size * t.line_height
    free = inner[3] - inner[1] - layout.meta_height - pitch * len(block.lines)
    title_top = inner[1] + max(0.0, free / 2)
    title_layer = Image.new("RGBA", size, (0, 0, 0, 0))
    for i, line in enumerate(block.lines):
        baseline = title_top + i * pitch + (pitch - block.size) / 2 + block.size * 0.86
        x = _x(line.width, inner, t.align, block.rtl)
        draw_line(title_layer, line, x, baseline, block.size, colours.text)
    layers = [(title_layer, colours.text)]
    meta = layout.meta
    if meta is not None and meta.lines:
        meta_layer = Image.new("RGBA", size, (0, 0, 0, 0))
        line = meta.lines[0]
        x = _x(line.width, inner, t.align, meta.rtl)
        draw_line(meta_layer, line, x, inner[3] - meta.size * 0.35, meta.size, colours.meta)
        layers.append((meta_layer, colours.meta))
    return layers


def render_card(
    picture: Any,
    text: CardText,
    template: CardTemplate,
    *,
    theme: str = "dark",
    size: CropSize = OG_SIZE,
    window: CropWindow | None = None,
) -> RenderedCard:
    """The card for `picture` (PIL) at `size`; `window`: the part of the picture to use (default: the crop
    logic's choice by saliency)."""
    from PIL import Image

    from blogart.outputs.crops import choose_window, crop_to

    colours = template.themes[theme]
    picture = picture.convert("RGB")
    background = crop_to(picture, window or choose_window(picture, size), size).convert("RGBA")
    layout = _layout(text, template, size)
    layers = _text_layers(layout, template, colours, background.size)

    # Raise the panel's opacity until the text reads against everything under and right around it.
    halo = max(1, round(2 * layout.scale))
    masks = [(np.asarray(layer.getchannel("A")) > 0, colour) for layer, colour in layers]
    alpha = colours.panel[3] / 255
    while True:
        panel = _panel_layer(background.size, template, layout.box, colours, alpha)
        backdrop = Image.alpha_composite(background, panel)
        rgb = backdrop.convert("RGB")
        pixels = np.asarray(rgb, np.float64)
        lowest = min(_lowest_contrast(pixels, mask, colour[:3], halo) for mask, colour in masks)
        if lowest >= MIN_CONTRAST or alpha >= 1.0:
            break
        alpha = min(1.0, alpha + ALPHA_STEP)
    card, ink = backdrop, Image.new("RGBA", background.size, (0, 0, 0, 0))
    for layer, _ in layers:
        card = Image.alpha_composite(card, layer)
        ink = Image.alpha_composite(ink, layer)
    return RenderedCard(
        card.convert("RGB"), rgb, ink.getchannel("A"), layout.title, layout.meta, layout.box, alpha, lowest
    )


def _x(width: float, inner: tuple[int, int, int, int], align: str, rtl: bool) -> float:
    if align == "center":
        return inner[0] + (inner[2] - inner[0] - width) / 2
    return inner[2] - width if rtl else inner[0]


def card_hash(cover_sha256: str, text: CardText, template: CardTemplate, theme: str, sizes: list[CropSize]) -> str:
    """What a card depends on: equal hashes mean equal card files."""
    from pathlib import Path

    def digest(path: Path) -> str:
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return ""

    parts = {
        "cover": cover_sha256,
        "text": [text.title, text.site, text.date, list(text.tags)],
        "template": digest(Path(template.source)) if template.source else "default",
        "fonts": [template.title_face.name, template.meta_face.name],
        "theme": theme,
        "sizes": [[s.name, s.width, s.height] for s in sizes],
        "version": 1,  # bump when the drawing changes what it makes of the same inputs
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
