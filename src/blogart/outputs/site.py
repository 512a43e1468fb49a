"""Which static site a post belongs to: walk up from the post's folder to the generator's config file.

Markers, checked folder by folder from the post upwards (the nearest folder holding one wins):
    hugo        hugo.toml|yaml|yml|json, config/_default/, or config.toml|yaml|yml|json with Hugo's keys
    jekyll      _config.yml|yaml
    astro       astro.config.*
    docusaurus  docusaurus.config.*
    eleventy    eleventy.config.*, .eleventy.js
The walk stops at a repository root (a folder holding `.git`), so a stray config in the home folder is
never taken for the post's site.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

SiteKind = Literal["hugo", "jekyll", "astro", "docusaurus", "eleventy"]

_HUGO_FILES = ("hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json")
_CONFIG_FILES = ("config.toml", "config.yaml", "config.yml", "config.json")
# Keys only Hugo's site config uses (compared lowercased: Hugo's keys are case-insensitive).
_HUGO_KEYS = frozenset(
    {
        "baseurl",
        "contentdir",
        "languagecode",
        "defaultcontentlanguage",
        "staticdir",
        "publishdir",
        "themesdir",
        "permalinks",
        "taxonomies",
        "markup",
        "module",
        "paginate",
        "pagination",
        "enablerobotstxt",
        "builddrafts",
    }
)
_SCRIPT_SUFFIXES = (".js", ".cjs", ".mjs", ".ts", ".cts", ".mts")
_SCRIPT_MARKERS: tuple[tuple[str, SiteKind], ...] = (
    ("docusaurus.config", "docusaurus"),
    ("astro.config", "astro"),
    ("eleventy.config", "eleventy"),
)
_ASTRO_CONTENT_CONFIGS = tuple(
    f"src/{name}{suffix}" for name in ("content/config", "content.config") for suffix in _SCRIPT_SUFFIXES
)
_IMAGE_HELPER = re.compile(r"\bimage\s*\(\s*\)")


@dataclass(frozen=True)
class Site:
    """A static site: its root folder, its generator, and where it serves files as they are."""

    root: Path
    kind: SiteKind
    config: Path  # the marker file or folder that identified it
    static_dir: Path  # files here are served at the site's root URL (Hugo's staticDir, public/, static/, ...)
    image_schema: bool = False  # astro: the content collection schema uses `image()` (paths relative to the post)


def find_site(post: Path) -> Site | None:
    """The site `post` belongs to, or None when no generator's marker is found above it.

    A symlinked post belongs to the site its link is in (that is where the generator finds it).
    """
    folder = Path(os.path.abspath(post)).parent
    for candidate in (folder, *folder.parents):
        site = _site_at(candidate)
        if site is not None:
            return site
        if (candidate / ".git").exists():
            return None
    return None


def _site_at(folder: Path) -> Site | None:
    for name in _HUGO_FILES:
        if (folder / name).is_file():
            return _hugo(folder, folder / name)
    if (folder / "config" / "_default").is_dir():
        return _hugo(folder, folder / "config" / "_default")
    for prefix, kind in _SCRIPT_MARKERS:
        for suffix in _SCRIPT_SUFFIXES:
            if (folder / f"{prefix}{suffix}").is_file():
                return _site(folder, kind, folder / f"{prefix}{suffix}")
    if (folder / ".eleventy.js").is_file():
        return _site(folder, "eleventy", folder / ".eleventy.js")
    for name in ("_config.yml", "_config.yaml"):
        if (folder / name).is_file():
            return _site(folder, "jekyll", folder / name)
    for name in _CONFIG_FILES:
        path = folder / name
        if path.is_file():
            settings = _read_config(path)
            keys = {str(key).lower() for key in settings}
            if keys & _HUGO_KEYS or {"title", "theme"} <= keys:
                return _hugo(folder, path)
    return None


def _site(root: Path, kind: SiteKind, config: Path) -> Site:
    if kind == "astro":
        return Site(root, kind, config, root / "public", image_schema=_astro_image_schema(root))
    if kind == "docusaurus":
        return Site(root, kind, config, root / "static")
    return Site(root, kind, config, root)  # jekyll copies other folders as they are; eleventy: see docs


def _hugo(root: Path, config: Path) -> Site:
    settings: dict[str, Any] = {}
    if config.is_dir():  # config/_default/: hugo.* or config.* inside
        for name in (*_HUGO_FILES, *_CONFIG_FILES):
            if (config / name).is_file():
                settings = _read_config(config / name)
                break
    else:
        settings = _read_config(config)
    static = next((value for key, value in settings.items() if str(key).lower() == "staticdir"), None)
    if isinstance(static, list):
        static = static[0] if static else None
    static_dir = root / static if isinstance(static, str) and static.strip() else root / "static"
    return Site(root, "hugo", config, static_dir)


def _read_config(path: Path) -> dict[str, Any]:
    """The top-level mapping of a TOML, YAML or JSON config; {} when it cannot be read (a guess, not a check)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            from ruamel.yaml import YAML

            data = YAML(typ="safe", pure=True).load(text)
    except Exception:  # noqa: BLE001 - unreadable or broken: not this generator's config, as far as we can tell
        return {}
    return data if isinstance(data, dict) else {}


def _astro_image_schema(root: Path) -> bool:
    for name in _ASTRO_CONTENT_CONFIGS:
        try:
            if _IMAGE_HELPER.search((root / name).read_text(encoding="utf-8")):
                return True
        except OSError:
            continue
    return False
