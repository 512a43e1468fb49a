"""Which posts a CI run or a backfill works on: changed since a git ref, or lacking a cover.

A post "has a cover" when its front matter names one (`cover.image`, `cover`, `image`, `images`,
`heroImage`: the keys Hugo, Jekyll and Astro themes read) or when the output folder holds a run whose
manifest names a cover and was made from exactly this content (same content hash).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogart.errors import BlogartError, UsageError

POST_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx", ".html", ".htm", ".xhtml", ".txt"}
COVER_KEYS = ("cover", "image", "images", "heroImage", "hero_image", "featured_image")
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class Post:
    """A post file with what selection needs to know about it."""

    path: Path
    content_hash: str
    has_cover: bool  # front matter names one, or a manifest for this exact content names one
    up_to_date: bool  # a manifest was made from exactly this content


def find_posts(content_dir: Path, glob: str = "**/*") -> list[Path]:
    """Post files under `content_dir` matching `glob`, sorted; hidden files and folders are skipped."""
    content_dir = Path(content_dir)
    if not content_dir.is_dir():
        raise UsageError(f"{content_dir}: not a folder")
    found = []
    for path in content_dir.glob(glob):
        relative = path.relative_to(content_dir)
        if path.is_file() and path.suffix.lower() in POST_SUFFIXES and not _hidden(relative):
            found.append(path.resolve())
    return sorted(found)


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def changed_since(content_dir: Path, ref: str) -> list[Path]:
    """Posts added or modified since `ref`: `git diff --name-only --diff-filter=AM REF -- CONTENT_DIR`."""
    content_dir = Path(content_dir).resolve()
    if not content_dir.is_dir():
        raise UsageError(f"{content_dir}: not a folder")
    top = _git(content_dir, "rev-parse", "--show-toplevel").strip()
    names = _git(content_dir, "diff", "--name-only", "--diff-filter=AM", "-z", ref, "--", str(content_dir))
    paths = [(Path(top) / name).resolve() for name in names.split("\0") if name]
    return sorted(p for p in paths if p.is_file() and p.suffix.lower() in POST_SUFFIXES)


def _git(cwd: Path, *args: str) -> str:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BlogartError("git is not installed; --since needs it") from None
    if result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"git {args[0]} failed"
        raise UsageError(f"git {args[0]}: {message}")
    return result.stdout


def manifest_index(out_dir: Path) -> dict[str, str | None]:
    """content hash -> cover path (None when every candidate was flagged), from every run in `out_dir`."""
    index: dict[str, str | None] = {}
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        return index
    for manifest in out_dir.glob(f"*/{MANIFEST_NAME}"):
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
            content_hash = str(data["text"]["content_hash"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not blogart's, or half-written by hand: it says nothing about any post
        if index.get(content_hash) is None:
            index[content_hash] = data.get("cover")
    return index


def front_matter_cover(front_matter: dict[str, Any]) -> str | None:
    """The cover image a post's front matter names, if any."""
    for key in COVER_KEYS:
        value = front_matter.get(key)
        if isinstance(value, dict):  # cover: {image: ..., alt: ...}
            value = value.get("image") or value.get("src")
        if isinstance(value, list):  # images: [a.png, b.png]
            value = next((v for v in value if isinstance(v, str) and v.strip()), None)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def inspect(paths: Iterable[Path], out_dir: Path, settings: Any) -> tuple[list[Post], dict[Path, str]]:
    """Read each post once; returns the posts and, apart, those that cannot be read with the reason."""
    from blogart.pipeline.document import load_document

    index = manifest_index(out_dir)
    posts, unreadable = [], {}
    for path in paths:
        try:
            document = load_document(str(path), max_bytes=settings.input.max_bytes)
        except BlogartError as exc:
            unreadable[path] = str(exc)
            continue
        h = document.content_hash
        cover = front_matter_cover(document.front_matter) or index.get(h)
        posts.append(Post(path, h, has_cover=cover is not None, up_to_date=h in index))
    return posts, unreadable
