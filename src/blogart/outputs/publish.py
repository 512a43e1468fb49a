"""The publish step: the chosen cover upscaled, its crops, the gallery page, and the manifest's account of them.

Pure parts (`render_images`) take and return images and bytes; `write_outputs` puts them in a run folder
(the staging folder during `generate`, a restaged copy during `pick`). The post's own file is edited by
`frontmatter` after the run folder is published.

A rerun whose inputs did not change (same cover bytes, sizes, upscaler, crop scorer) copies the previous
run's files instead of computing them again, so the published files only change when their inputs do.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart.atomic import atomic_write_bytes
from blogart.outputs.crops import WindowScorer, choose_window, crop_to
from blogart.outputs.gallery import GALLERY_NAME, Numbered, render_gallery
from blogart.outputs.upscale import Swin2SR, upscale
from blogart.values import CardOptions, CropSize, CropWindow, ImagePrompt, KeyTopics, PublishOptions, to_dict

if TYPE_CHECKING:
    from blogart.outputs.card import CardText

COVER_NAME = "cover.png"


@dataclass(frozen=True)
class Crop:
    size: CropSize
    window: CropWindow
    png: bytes

    @property
    def file_name(self) -> str:
        return f"{self.size.name}.png"


@dataclass(frozen=True)
class CardImage:
    """A title card: card.png at the og size, card-<name>.png at the other sizes asked for."""

    size: CropSize
    file_name: str
    png: bytes


@dataclass(frozen=True)
class PublishedImages:
    cover_png: bytes
    crops: tuple[Crop, ...]
    cards: tuple[CardImage, ...] = ()
    card_digest: str | None = None  # the cards' inputs hash
    card_text: dict[str, Any] | None = None  # what the cards say, as the manifest records it

    @property
    def card_png(self) -> bytes | None:
        """card.png, the social image when cards are on."""
        return self.cards[0].png if self.cards else None


def png_bytes(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_images(
    source_png: bytes, options: PublishOptions, scorer: WindowScorer | None = None, swin2sr: Swin2SR | None = None
) -> PublishedImages:
    """The cover upscaled to `options.upscale_size`, then each size cut from the window that keeps the subject."""
    from PIL import Image

    with Image.open(io.BytesIO(source_png)) as opened:
        source = opened.convert("RGB")
    big = upscale(source, options.upscale_size, options.upscaler, swin2sr)
    crops = []
    for size in options.sizes:
        window = choose_window(big, size, scorer)
        crops.append(Crop(size, window, png_bytes(crop_to(big, window, size))))
    return PublishedImages(png_bytes(big), tuple(crops))


def inputs_hash(source_png: bytes, options: PublishOptions, scorer_id: str) -> str:
    """What the published images depend on; equal hashes mean equal files."""
    parts = {
        "cover": hashlib.sha256(source_png).hexdigest(),
        "sizes": [to_dict(s) for s in options.sizes],
        "upscaler": options.upscaler,
        "upscale_size": options.upscale_size,
        "scorer": scorer_id,
        "version": 2,  # bump when the cropping or upscaling changes what it makes of the same inputs
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def previous_images(folder: Path, digest: str) -> PublishedImages | None:
    """The images a published run folder already holds for the same inputs, if it does."""
    try:
        publish = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("publish") or {}
        if publish.get("inputs_hash") != digest:
            return None
        crops = tuple(
            Crop(
                CropSize(name, row["width"], row["height"]),
                CropWindow(*row["window"], score=row["window_score"], method=row["method"]),
                (folder / Path(row["path"]).name).read_bytes(),
            )
            for name, row in publish["crops"].items()
        )
        return PublishedImages((folder / COVER_NAME).read_bytes(), crops)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def card_sizes(options: PublishOptions, card: CardOptions) -> list[CropSize]:
    """card.png's size (the `og` size, else 1200x630), then the other sizes the card options name."""
    from blogart.errors import UsageError
    from blogart.outputs.card import OG_SIZE

    by_name = {size.name: size for size in options.sizes}
    sizes = [by_name.get("og", OG_SIZE)]
    for name in card.sizes:
        if name not in by_name:
            raise UsageError(
                f"[publish] card_sizes names {name!r}, which is not in [publish] sizes ({', '.join(by_name)})"
            )
        if name != "og":
            sizes.append(by_name[name])
    return sizes


def with_cards(
    images: PublishedImages, options: PublishOptions, text: CardText, folder: Path | None = None
) -> PublishedImages:
    """`images` with their title cards: the published folder's own when their inputs are unchanged, else drawn."""
    from PIL import Image

    from blogart.outputs.card import card_hash, card_name, render_card
    from blogart.outputs.card_template import load_template

    card = options.card
    if card is None:
        return images
    template = load_template(card.template or None)
    sizes = card_sizes(options, card)
    digest = card_hash(hashlib.sha256(images.cover_png).hexdigest(), text, template, card.theme, sizes)
    recorded: dict[str, Any] = {"title": text.title, "site": text.site, "date": text.date, "tags": list(text.tags)}
    previous = previous_cards(folder, digest) if folder is not None else None
    if previous is not None:
        cards, recorded["missing"] = previous
    else:
        windows = {(c.size.width, c.size.height): c.window for c in images.crops}
        with Image.open(io.BytesIO(images.cover_png)) as opened:
            big = opened.convert("RGB")
        drawn = []
        missing: list[str] = []
        for i, size in enumerate(sizes):
            window = windows.get((size.width, size.height))
            rendered = render_card(big, text, template, theme=card.theme, size=size, window=window)
            drawn.append(CardImage(size, card_name(size, og=i == 0), png_bytes(rendered.image)))
            missing += [*rendered.title.missing, *(rendered.meta.missing if rendered.meta else ())]
        cards = tuple(drawn)
        recorded["missing"] = list(dict.fromkeys(missing))  # characters no installed font has: drawn as boxes
    return replace(images, cards=cards, card_digest=digest, card_text=recorded)


def previous_cards(folder: Path, digest: str) -> tuple[tuple[CardImage, ...], list[str]] | None:
    """The cards a published run folder already holds for the same inputs, if it does, and the characters
    they lack."""
    try:
        publish = json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("publish") or {}
        card = publish.get("card") or {}
        if card.get("inputs_hash") != digest:
            return None
        cards = tuple(
            CardImage(
                CropSize(row["size"], row["width"], row["height"]),
                Path(row["path"]).name,
                (folder / Path(row["path"]).name).read_bytes(),
            )
            for row in card["files"]
        )
        missing = card["text"].get("missing", [])
        return (cards, [str(m) for m in missing]) if cards else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_cards(
    folder: Path, final_folder: Path, images: PublishedImages | None, options: PublishOptions, written: list[str]
) -> dict[str, Any] | None:
    """The title cards into `folder` (their names added to `written`); the manifest's `publish.card`."""
    if images is None or not images.cards:
        return None
    for card in images.cards:
        atomic_write_bytes(folder / card.file_name, card.png)
        written.append(card.file_name)
    return {
        "path": str(final_folder / images.cards[0].file_name),
        "files": [
            {
                "size": c.size.name,
                "width": c.size.width,
                "height": c.size.height,
                "path": str(final_folder / c.file_name),
            }
            for c in images.cards
        ],
        "theme": options.card.theme if options.card else None,
        "template": (options.card.template or None) if options.card else None,
        "text": images.card_text,
        "inputs_hash": images.card_digest,
    }


def write_outputs(
    folder: Path,
    final_folder: Path,
    *,
    images: PublishedImages | None,
    chosen: Numbered | None,
    items: list[Numbered],
    title: str,
    generator: str,
    prompt: ImagePrompt,
    key_topics: KeyTopics,
    alt: str,
    alt_source: str,
    options: PublishOptions,
    digest: str | None,
) -> tuple[list[str], dict[str, Any]]:
    """Write cover, crops and gallery into `folder`; returns (file names written, the manifest's `publish`).

    Paths in the manifest name `final_folder`, where the files will be once the folder is published.
    """
    written = []
    crops: dict[str, Any] = {}
    if images is not None and chosen is not None:
        atomic_write_bytes(folder / COVER_NAME, images.cover_png)
        written.append(COVER_NAME)
        for crop in images.crops:
            atomic_write_bytes(folder / crop.file_name, crop.png)
            written.append(crop.file_name)
            crops[crop.size.name] = {
                "path": str(final_folder / crop.file_name),
                "width": crop.size.width,
                "height": crop.size.height,
                "window": [crop.window.left, crop.window.top, crop.window.width, crop.window.height],
                "window_score": crop.window.score,
                "method": crop.window.method,
            }
    card_section = _write_cards(folder, final_folder, images, options, written) if chosen is not None else None
    gallery = render_gallery(
        title=title,
        folder_name=final_folder.name,
        run_folder=final_folder,
        generator=generator,
        prompt=prompt,
        key_topics=key_topics,
        items=items,
        cover=chosen.candidate.path.name if chosen and images else None,
        crops={name: (Path(row["path"]).name, row["width"], row["height"]) for name, row in crops.items()},
        alt=alt,
        cards=[(c.file_name, c.size.width, c.size.height) for c in images.cards] if images and chosen else [],
    )
    atomic_write_bytes(folder / GALLERY_NAME, gallery.encode("utf-8"))
    written.append(GALLERY_NAME)
    section = {
        "cover": str(final_folder / COVER_NAME) if images and chosen else None,
        "source": str(final_folder / chosen.candidate.path.name) if chosen else None,
        "number": chosen.number if chosen else None,
        "upscaler": options.upscaler,
        "upscale_size": options.upscale_size,
        "alt_text": alt,
        "alt_source": alt_source,
        "crops": crops,
        "gallery": str(final_folder / GALLERY_NAME),
        "inputs_hash": digest,
        "front_matter": None,
    }
    if card_section is not None:
        section["card"] = card_section
    return written, section
