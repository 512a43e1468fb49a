"""The hash that says whether a post changed in a way that changes its cover.

`generate` with `--front-matter` writes the cover's keys into the post, so the post's bytes change the
moment blogart edits it; a hash of the bytes would make `ci --since REF` draw the same post again on the
next run. This hash covers what the drawing is made from (title, body sections, the rest of the front
matter, `blogart:` control included) and leaves out the top-level keys that name a cover, whoever wrote them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from blogart.config import Settings
from blogart.values import FRONT_MATTER_PRESETS, Document

# The keys selection reads as "this post names a cover" (blogart.batch.select) and the presets' keys.
COVER_KEYS = ("cover", "image", "images", "heroImage", "hero_image", "featured_image")
VERSION = 1  # bump when what the hash covers changes


def cover_keys(settings: Settings) -> frozenset[str]:
    """Front-matter key paths that name a cover: COVER_KEYS and the top-level key of every built-in preset's
    image and alt (a whole `cover:` block, whose `relative` blogart writes too), and the configured custom
    keys exactly (`params.cover` leaves the rest of `params` counted)."""
    from blogart.errors import UsageError
    from blogart.outputs.frontmatter import key_paths

    p = settings.publish
    keys = set(COVER_KEYS)
    for preset in FRONT_MATTER_PRESETS:
        try:
            paths = key_paths(preset, p.astro_alt_key, (p.custom_image_key, p.custom_alt_key))
        except UsageError:  # "custom" without its keys configured: nothing of it to leave out
            continue
        exact = preset == "custom"
        keys.update(path if exact else path.split(".", 1)[0] for path in (paths.image, paths.alt) if path)
    return frozenset(keys)


def _without(data: dict[str, Any], path: str) -> dict[str, Any]:
    """`data` less the dotted key `path` (a mapping left empty by that goes too: blogart made it)."""
    head, _, rest = path.partition(".")
    if head not in data:
        return data
    if not rest:
        return {k: v for k, v in data.items() if k != head}
    inner = data[head]
    if not isinstance(inner, dict):
        return data
    inner = _without(inner, rest)
    return {k: v for k, v in data.items() if k != head} if not inner else {**data, head: inner}


def post_hash(document: Document, settings: Settings) -> str:
    """sha256 of the post as the drawing sees it, less the front-matter keys that name a cover."""
    front_matter = dict(document.front_matter)
    for path in sorted(cover_keys(settings)):
        front_matter = _without(front_matter, path)
    parts = {
        "version": VERSION,
        "format": document.format,
        "title": document.title,
        "front_matter": front_matter,
        "sections": [[list(s.heading_path), s.text] for s in document.sections],
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
