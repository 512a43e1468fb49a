"""Which posts a CI run or a backfill works on: changed since a git ref, or lacking a cover.

A post "has a cover" when its front matter names one (`cover.image`, `cover`, `image`, `images`,
`heroImage`: the keys Hugo, Jekyll and Astro themes read) or when the output folder holds a run whose
manifest names a cover and was made from this content: the same bytes, or the same post hash
(`blogart.pipeline.post_hash`: the post less the keys that name a cover, so blogart's own front-matter
edit does not make the post look changed). A post whose front matter says `blogart: {skip: true}` is
passed over, with that reason.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from blogart.errors import BlogartError, UsageError
from blogart.pipeline.post_control import KEY, read_control
from blogart.pipeline.post_hash import COVER_KEYS

POST_SUFFIXES = {".md", ".markdown", ".mdown", ".mkd", ".mkdn", ".mdx", ".html", ".htm", ".xhtml", ".txt"}
MANIFEST_NAME = "manifest.json"
POST_HASH = "post:"  # manifest_index keys by content hash and, apart, by this prefix + post hash


@dataclass(frozen=True)
class Post:
    """A post file with what selection needs to know about it."""

    path: Path
    content_hash: str
    has_cover: bool  # front matter names one, or a manifest for this content names one
    up_to_date: bool  # a manifest was made from this content (same bytes, or same post hash)


def scan_posts(content_dir: Path, glob: str = "**/*") -> tuple[list[Path], dict[Path, str]]:
    """(post files, {path: why it is passed over}) under `content_dir` matching `glob`.

    A name with a post's suffix that is not a readable regular file (a FIFO, a folder called `x.md`, a
    symlink loop or a dangling link) is listed with its reason rather than dropped without a word.
    """
    content_dir = Path(content_dir)
    if not content_dir.is_dir():
        raise UsageError(f"{content_dir}: not a folder")
    pattern = check_glob(glob)
    found, passed_over = [], {}
    for path in content_dir.glob(pattern):
        relative = path.relative_to(content_dir)
        if path.suffix.lower() not in POST_SUFFIXES or _hidden(relative):
            continue
        reason = not_a_post_file(path)
        if reason is None:
            found.append(path.resolve())
        else:
            passed_over[path.absolute()] = reason
    return sorted(found), dict(sorted(passed_over.items()))


def check_glob(glob: str) -> str:
    """`glob` if it names files inside CONTENT_DIR; a one-line UsageError otherwise."""
    pattern = PurePosixPath(glob.replace("\\", "/"))
    if not glob.strip() or "\0" in glob:
        raise UsageError("--glob is empty; give a pattern relative to CONTENT_DIR, like '**/*.md'")
    if pattern.is_absolute() or PureWindowsPath(glob).anchor or glob.startswith("~"):
        raise UsageError(f"--glob {glob!r}: give a pattern relative to CONTENT_DIR, like '**/*.md'")
    if ".." in pattern.parts:
        raise UsageError(f"--glob {glob!r}: '..' would leave CONTENT_DIR; give a pattern inside it")
    return glob


def not_a_post_file(path: Path) -> str | None:
    """Why `path` cannot be read as a post (None: it is a readable regular file)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        if exc.errno == errno.ENOENT and path.is_symlink():
            return "a symlink to nothing"
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISDIR(mode):
        return "a folder, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe), not a file"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied"
    return None


def _hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def changed_since(content_dir: Path, ref: str) -> list[Path]:
    """Posts added or modified since `ref`: `git diff --name-only --diff-filter=AM COMMIT -- CONTENT_DIR`.

    `ref` often comes from an event payload: it is resolved to a commit first, and every git call that
    takes it gets `--end-of-options`, so a ref like `--output=FILE` is never read as an option.
    """
    content_dir = Path(content_dir).resolve()
    if not content_dir.is_dir():
        raise UsageError(f"{content_dir}: not a folder")
    top = _toplevel(content_dir)
    commit = resolve_commit(content_dir, ref)
    names = _git(
        content_dir, "diff", "--name-only", "--diff-filter=AM", "-z", "--end-of-options", commit, "--", str(content_dir)
    )
    paths = [(top / name).resolve() for name in names.split("\0") if name]
    return sorted(p for p in paths if p.is_file() and p.suffix.lower() in POST_SUFFIXES)


def _toplevel(folder: Path) -> Path:
    try:
        return Path(_git(folder, "rev-parse", "--show-toplevel").strip())
    except UsageError:
        raise UsageError(f"{folder} is not in a git repository; --since needs one") from None


def check_ref_text(ref: str) -> str:
    """`ref` as text git may be given (no NUL, newline or empty); a one-line UsageError otherwise."""
    if not ref.strip() or any(c in ref for c in "\0\n\r"):
        raise UsageError(f"--since {ref!r}: not a git ref")
    return ref


def resolve_commit(repo: Path, ref: str) -> str:
    """The commit id `ref` names in the repository at `repo`; a one-line UsageError otherwise.

    In a shallow clone (CI's default checkout) an older commit is missing rather than wrong: the
    message says how to fetch the history.
    """
    check_ref_text(ref)
    result = _run_git(repo, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    commit = result.stdout.strip()
    if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
        return commit
    message = f"--since {ref!r}: not a commit in this repository"
    if _run_git(repo, "rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        message += (
            "; this clone is shallow, so older commits are missing: fetch the history first"
            " (actions/checkout with fetch-depth: 0, or git fetch --deepen=50)"
        )
    raise UsageError(message)


def _run_git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BlogartError("git is not installed; --since needs it") from None


def _git(cwd: Path, *args: str) -> str:
    result = _run_git(cwd, *args)
    if result.returncode != 0:
        message = " ".join(result.stderr.split()) or f"git {args[0]} failed"
        raise UsageError(f"git {args[0]}: {message}")
    return result.stdout


def manifest_index(out_dir: Path) -> dict[str, str | None]:
    """content hash (and POST_HASH + post hash) -> cover path (None when every candidate was flagged),
    from every run in `out_dir`."""
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
        cover = data.get("cover") if isinstance(data.get("cover"), str) else None
        post_hash = data["text"].get("post_hash")
        keys = [content_hash] + ([POST_HASH + post_hash] if isinstance(post_hash, str) and post_hash else [])
        for key in keys:
            if index.get(key) is None:
                index[key] = cover
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
    """Read each post once; returns the posts and, apart, those passed over (unreadable, a bad or a
    `skip: true` `blogart:` mapping) with the reason."""
    from blogart.pipeline.document import load_document
    from blogart.pipeline.post_hash import post_hash

    index = manifest_index(out_dir)
    posts, passed_over = [], {}
    for path in paths:
        try:
            document = load_document(str(path), max_bytes=settings.input.max_bytes)
            control = read_control(document.front_matter, str(path))
            control.apply(settings, str(path))  # an unknown style is found now, not after the batch starts
        except BlogartError as exc:
            passed_over[path] = str(exc)
            continue
        if control.skip:
            passed_over[path] = f"its front matter says {KEY}.skip: true"
            continue
        h, ph = document.content_hash, POST_HASH + post_hash(document, settings)
        cover = front_matter_cover(document.front_matter) or index.get(h) or index.get(ph)
        posts.append(Post(path, h, has_cover=cover is not None, up_to_date=h in index or ph in index))
    return posts, passed_over
