"""Where a post's cover is copied for its site, and the path or URL its front matter names.

The file name carries the first 8 hex digits of the cover's SHA-256, so a new cover gets a new URL and
social networks' caches never serve the old picture under it. docs/publishing.md has the table and sources.

    Hugo page bundle     cover-<hash>.png beside index.md        cover-<hash>.png (a page resource)
    Hugo plain post      <staticDir>/covers/<slug>-<hash>.png    covers/<slug>-<hash>.png (no leading slash:
                                                                 Hugo keeps a subpath of baseURL then)
    Jekyll               assets/covers/<slug>-<hash>.png         /assets/covers/<slug>-<hash>.png
    Astro                public/covers/<slug>-<hash>.png         /covers/<slug>-<hash>.png, or with an `image()`
                                                                 schema src/assets/covers/... relative to the post
    Docusaurus           static/img/covers/<slug>-<hash>.png     /img/covers/<slug>-<hash>.png
    Eleventy             beside the post                          its path from the site root
    [publish] static_dir <static_dir>/<slug>-<hash>.png          <static_url>/<slug>-<hash>.png (any site but a
                                                                 Hugo page bundle, whose cover is its resource)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from blogart.errors import UsageError
from blogart.outputs.site import Site, find_site

BUNDLE_NAMES = ("index", "_index")
COVERS = "covers"


@dataclass(frozen=True)
class Placement:
    file: Path  # where the cover is copied
    value: str  # what the front matter names
    how: str  # "hugo page bundle", "hugo static", "jekyll assets", ..., "publish.static_dir"
    bundle: bool = False  # a Hugo page resource: the value is relative to the page


def is_bundle(post: Path) -> bool:
    return post.stem in BUNDLE_NAMES


def short_hash(cover_png: bytes | None) -> str:
    return hashlib.sha256(cover_png).hexdigest()[:8] if cover_png is not None else ""


def no_site_message(post: Path) -> str:
    return (
        f"--front-matter: {post} is in no Hugo, Jekyll, Astro, Docusaurus or Eleventy site, so blogart cannot tell "
        "where the site serves its cover; set [publish] static_dir and static_url"
    )


def place(
    post: Path,
    slug: str,
    cover_png: bytes | None,
    *,
    static_dir: str = "",
    static_url: str = "",
    site: Site | None = None,
) -> Placement:
    """Where `post`'s cover goes. `cover_png` None: a name without the hash (a check before the cover exists).

    Raises UsageError when the post is in no site this knows and no [publish] static_dir is set.
    """
    digest = short_hash(cover_png)
    name = f"{slug}-{digest}.png" if digest else f"{slug}.png"
    site = site if site is not None else find_site(post)
    if site is not None and site.kind == "hugo" and is_bundle(post):
        bundled = f"cover-{digest}.png" if digest else "cover.png"
        return Placement(post.parent / bundled, bundled, "hugo page bundle", bundle=True)
    if static_dir:
        url = static_url.rstrip("/") + f"/{name}"
        return Placement(Path(static_dir) / name, url, "publish.static_dir")
    if site is None:
        raise UsageError(no_site_message(post))
    if site.kind == "hugo":
        return Placement(site.static_dir / COVERS / name, f"{COVERS}/{name}", "hugo static")
    if site.kind == "jekyll":
        return Placement(site.root / "assets" / COVERS / name, f"/assets/{COVERS}/{name}", "jekyll assets")
    if site.kind == "astro":
        if site.image_schema:
            file = site.root / "src" / "assets" / COVERS / name
            relative = Path(os.path.relpath(file, Path(os.path.abspath(post)).parent)).as_posix()
            return Placement(file, relative if relative.startswith(".") else f"./{relative}", "astro image()")
        return Placement(site.static_dir / COVERS / name, f"/{COVERS}/{name}", "astro public")
    if site.kind == "docusaurus":
        return Placement(site.static_dir / "img" / COVERS / name, f"/img/{COVERS}/{name}", "docusaurus static")
    # Eleventy: no fixed static folder (passthrough copy is configured per site); beside the post, named by
    # its path from the input folder (the site root by default).
    file = Path(os.path.abspath(post)).parent / name
    return Placement(file, "/" + file.relative_to(site.root).as_posix(), "eleventy beside the post")
