"""Title cards in the commands: what a card says, the options a `pick` keeps, and which image the front
matter names (the card, when it is the social image). Drawing is `outputs.card`'s.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart.config import Settings
from blogart.values import CardOptions, Document, PublishOptions

if TYPE_CHECKING:
    from blogart.outputs.card import CardText
    from blogart.outputs.manifest_read import Manifest
    from blogart.outputs.publish import PublishedImages


def card_is_social_image(options: PublishOptions) -> bool:
    """Whether the front matter names the card rather than the art: every preset but papermod, whose
    cover.image is the page's picture too, unless [publish] card_cover asks for the card there as well."""
    return options.card is not None and (options.front_matter != "papermod" or options.card.cover)


def social_image(images: PublishedImages, options: PublishOptions, section: dict[str, Any]) -> bytes:
    """The image the front matter names: the card when it is the social image (the manifest's card section
    says which), else the cover."""
    social = card_is_social_image(options) and images.card_png is not None
    if "card" in section:
        section["card"]["social_image"] = social
    return images.card_png if social and images.card_png is not None else images.cover_png


def placed_png(folder: Path, section: dict[str, Any] | None) -> bytes:
    """The image the front matter names, from a published run folder: the card when it is the social image."""
    card = (section or {}).get("card") or {}
    name = Path(card["path"]).name if card.get("social_image") else "cover.png"
    return (folder / name).read_bytes()


def card_text(document: Document, options: PublishOptions) -> CardText:
    """What the card says: the title, the configured site name, the front matter's date and first tags."""
    from blogart.outputs.card import CardText

    card = options.card
    front = document.front_matter if isinstance(document.front_matter, dict) else {}
    date = ""
    if card is not None and card.date and front.get("date") not in (None, ""):
        value = front["date"]
        date = value.date().isoformat() if hasattr(value, "date") and callable(value.date) else str(value)[:10]
    tags: tuple[str, ...] = ()
    raw = front.get("tags")
    if card is not None and card.tags and raw:
        listed = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        tags = tuple(str(t)[:40] for t in listed if isinstance(t, (str, int, float)))[: card.tags]
    return CardText(document.title or Path(document.source).stem, card.site if card else "", date, tags)


def recorded_card(data: dict[str, Any]) -> dict[str, Any]:
    """The manifest's `publish.card`, when it is a mapping (a hand-edited manifest may hold anything)."""
    publish = data.get("publish")
    card = publish.get("card") if isinstance(publish, dict) else None
    return card if isinstance(card, dict) else {}


def card_like(recorded: dict[str, Any], settings: Settings) -> CardOptions:
    """The configured card options with the theme and template the run's card was drawn with."""
    from blogart.pipeline.plan import card_options

    options = card_options(settings)
    theme = recorded.get("theme")
    template = recorded.get("template")
    return replace(
        options,
        theme=theme if theme in ("dark", "light") else options.theme,
        template=template if isinstance(template, str) else options.template,
    )


def pick_card_text(
    document: Document | None, options: PublishOptions, recorded: dict[str, Any], manifest: Manifest
) -> CardText:
    """What the card says: from the post when it is at hand, else what the run's card said, else the title."""
    from blogart.outputs.card import CardText

    if document is not None:
        return card_text(document, options)
    text = recorded.get("text") if isinstance(recorded.get("text"), dict) else {}
    title = text.get("title") if isinstance(text.get("title"), str) else manifest.text.title
    tags = text.get("tags") if isinstance(text.get("tags"), list) else []

    def plain(key: str) -> str:
        return text[key][:200] if isinstance(text.get(key), str) else ""

    return CardText(title[:500], plain("site"), plain("date"), tuple(str(t)[:40] for t in tags[:10]))
