"""Every file a run writes: the run folder's name, the images' names, and publishing the run.

Layout. One folder per post, `<out>/<slug>/`, holding `manifest.json` and exactly the images it lists.
Images are named `r{round}-{index:02d}-s{seed}.png` for every generator (`r1-03-s42.png`: round 1,
image 3, seed 42); a generator without seeds (the OpenAI Images API) leaves the seed out: `r1-03.png`.
Round and index make a name unique within a run; the seed says how to draw the image again.

Slugs. The post's front-matter `slug`, else its title, else its file name (or the URL's last path
part), transliterated to ASCII (`Привет, мир` -> `privet-mir`, `東京の夜` -> `dong-jing-noye`);
when none of them leaves a letter or digit (an emoji-only title, `..`), `post-<8 hex of the content hash>`.

Whose folder. A run folder belongs to the post its manifest names: same content hash (the same post,
wherever it was read from) or same source (the same file or URL, edited since). A rerun of a post
reuses its folder. A different post whose slug is taken goes to the first free `slug-2`, `slug-3`, ...;
so does any post whose slug names a folder that is not empty and has no manifest (someone else's files).
A run folder is blogart's: a rerun replaces it whole, so keep your own files elsewhere.

Guarantees. A run draws its images into a hidden staging folder beside the run folder
(`<out>/.<slug>.staging-<pid>-<random>/`) and writes the manifest there last. Only then is the staging
folder swapped in for the run folder in one rename (on Linux an atomic exchange; on other systems two
renames, between which the run folder is absent for an instant), and the previous run is deleted.
So a reader of `<out>/<slug>/` sees either the previous complete run or the new complete one, never a
mix, and the folder holds exactly the images its manifest lists: a rerun with a smaller `-n` leaves no
stale images behind. Images are never overwritten in place. A run that fails before the swap leaves
the previous run untouched and deletes its staging folder (and the output folder, if the run made it);
a killed run's staging folder is deleted by the next run into the same output folder. Should a second
post with the same slug publish into the folder while a run draws, that run stops with an error
rather than overwrite it.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from blogart.atomic import atomic_write_bytes, atomic_write_json
from blogart.errors import BlogartError, UsageError
from blogart.processes import alive
from blogart.values import Candidate, Document, Drawing

MANIFEST_NAME = "manifest.json"
MAX_SLUG = 60

# Hidden work folders in <out>: a run's staging folder, and (off Linux) the previous run between the two renames.
_WORK_FOLDER = re.compile(r"^\.(?P<slug>[a-z0-9-]+)\.(?P<kind>staging|replaced)-(?P<pid>\d+)-[0-9a-f]{8}$")


def image_name(drawing: Drawing) -> str:
    seed = f"-s{drawing.seed}" if drawing.seed >= 0 else ""
    return f"r{drawing.round}-{drawing.index:02d}{seed}.png"


def write_drawing(folder: Path, drawing: Drawing) -> Path:
    """One drawing as a file in `folder` under its usual name (`blogart regenerate --out`)."""
    path = Path(folder) / image_name(drawing)
    atomic_write_bytes(path, drawing.png)
    return path


def slugify(text: str) -> str:
    """ASCII letters, digits and dashes, at most 60 characters; "" when nothing is left."""
    from unidecode import unidecode

    slug = re.sub(r"[^a-z0-9]+", "-", unidecode(text).lower()).strip("-")
    return slug[:MAX_SLUG].rstrip("-")


def _source_stem(source: str) -> str:
    parsed = urlparse(source)
    path = parsed.path if parsed.scheme in ("http", "https") else source
    return Path(path.rstrip("/")).stem


def slug_for(document: Document) -> str:
    """The post's folder name before collisions: front-matter slug, title, file name, content hash."""
    for name in (document.front_matter.get("slug"), document.title, _source_stem(document.source)):
        if name and (slug := slugify(str(name))):
            return slug
    return f"post-{document.content_hash[:8]}"


def _manifest_post(folder: Path) -> tuple[str, str] | None:
    """(content hash, source) of the post a run folder's manifest names; None without a readable one."""
    try:
        text = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["text"]
        return str(text["content_hash"]), str(text["source"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _free_for(folder: Path, document: Document) -> bool:
    """May this post's run go into `folder`? Yes when it is absent, empty, or this post's own."""
    if not folder.exists():
        return True
    if not folder.is_dir():
        return False
    if not any(folder.iterdir()):
        return True
    post = _manifest_post(folder)
    return post is not None and (post[0] == document.content_hash or post[1] == document.source)


def folder_for(base: Path, document: Document) -> Path:
    """`<base>/<slug>/`, or `<slug>-2`, `-3`, ... when the slug is another post's folder."""
    slug = slug_for(document)
    for n in itertools.count(1):
        folder = base / (slug if n == 1 else f"{slug}-{n}")
        if _free_for(folder, document):
            return folder
    raise AssertionError("unreachable")


def _mtime(path: Path) -> float | None:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile by another run's cleanup
        return None


def clean_leftovers(base: Path) -> None:
    """Delete the work folders of runs that were killed (their process is gone).

    A previous run caught between the two renames of a swap is put back where it was, not deleted.
    """
    for path in base.iterdir():
        match = _WORK_FOLDER.match(path.name)
        if match is None or not path.is_dir() or alive(int(match["pid"]), since=_mtime(path)):
            continue
        folder = base / match["slug"]
        if match["kind"] == "replaced" and not folder.exists():
            os.rename(path, folder)
        else:
            shutil.rmtree(path, ignore_errors=True)


def _work_folder(base: Path, slug: str, kind: str) -> Path:
    return base / f".{slug}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing folders in one step (Linux renameat2 with RENAME_EXCHANGE); False where unsupported."""
    if sys.platform != "linux":
        return False
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:  # a C library older than glibc 2.28
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a kernel or file system without it
        return False
    raise OSError(code, os.strerror(code), str(b))


def blocking_file(folder: Path) -> Path | None:
    """What stands where `folder` (or the parent it would be made in) must be a folder: a file, a device;
    None when `folder` is a folder or can be made. Creates nothing."""
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return None if probe.is_dir() else probe


def check_folder(folder: Path, name: str) -> None:
    """A UsageError (exit 2) naming `name` (a flag, a setting) when `folder` cannot be a folder."""
    if (blocker := blocking_file(folder)) is not None:
        where = "it" if blocker == Path(folder) else str(blocker)
        raise UsageError(f"{name} {folder} is not a folder: {where} is a file; name a folder")


def check_writable(base: Path) -> None:
    """Fail early, before any drawing or LLM call, when the output folder cannot be written.

    Creates nothing: `base` or its nearest existing parent must be a folder this process may write to.
    """
    base = Path(base)
    check_folder(base, "the output folder")
    probe = base
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write to the output folder {base}: {probe} is not writable")


def _swap_in(base: Path, staging: Path, folder: Path) -> Path | None:
    """Make the staging folder the run folder; returns where the previous run now is, if any."""
    try:
        os.rename(staging, folder)  # no previous run (or an empty folder): one plain rename
        return None
    except OSError:
        if not folder.is_dir():
            raise
    if _exchange(staging, folder):
        return staging
    replaced = _work_folder(base, folder.name, "replaced")
    os.rename(folder, replaced)
    os.rename(staging, folder)
    return replaced


class Restaged:
    """A published run folder copied into a staging folder, changed there, and swapped back in whole
    (`blogart pick`): a reader sees the old folder or the new one, never a mix.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.base = self.folder.parent
        clean_leftovers(self.base)
        self.staging = _work_folder(self.base, self.folder.name, "staging")
        try:
            shutil.copytree(self.folder, self.staging, copy_function=_link_or_copy)
        except OSError as exc:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise UsageError(f"cannot stage a change to {self.folder}: {exc.strerror or exc}") from None
        self.published = False

    def __enter__(self) -> Restaged:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self.published:
            shutil.rmtree(self.staging, ignore_errors=True)

    def publish(self, manifest: dict[str, Any]) -> Path:
        atomic_write_json(self.staging / MANIFEST_NAME, manifest)
        previous = _swap_in(self.base, self.staging, self.folder)
        self.published = True
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return self.folder / MANIFEST_NAME


def _link_or_copy(src: str, dst: str) -> None:
    # Images never change in place (every write is a new file renamed over), so a hard link is a safe copy.
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


class StagedRun:
    """One run of one post: images are written to a hidden staging folder, `publish` makes it the run folder.

    Use it as a context manager: leaving the block with an exception discards the staging folder.
    """

    def __init__(self, base: Path, document: Document) -> None:
        """Creates the staging folder in `base` (and `base` itself) and cleans up killed runs' leftovers."""
        self.base = Path(base)
        self.document = document
        self._created_base = not self.base.exists()
        try:
            self.base.mkdir(parents=True, exist_ok=True)
            clean_leftovers(self.base)
            self.folder = folder_for(self.base, document)
            self.staging = _work_folder(self.base, self.folder.name, "staging")
            self.staging.mkdir()
        except OSError as exc:
            self._remove_base_if_empty()
            raise UsageError(
                f"cannot create the output folder {self.base / slug_for(document)}: {exc.strerror or exc}"
            ) from None
        self._written: set[str] = set()
        self._extra: set[str] = set()  # the publish step's files: cover, crops, gallery
        self.published = False

    def __enter__(self) -> StagedRun:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if not self.published:
            self.discard()

    def write(self, drawings: Iterable[Drawing], prefix: str = "") -> list[Candidate]:
        """Write drawings into the staging folder; the candidates point there until `publish`.

        `prefix` goes before each image name (a social run names its images by slide topic: `t2-...`)."""
        candidates = []
        for drawing in drawings:
            name = prefix + image_name(drawing)
            if name in self._written:  # a fresh folder: only a repeated (round, index) can get here
                raise BlogartError(f"two images of this run are both named {name}")
            atomic_write_bytes(self.staging / name, drawing.png)
            self._written.add(name)
            candidates.append(
                Candidate(
                    path=self.staging / name,
                    seed=drawing.seed,
                    prompt=drawing.prompt,
                    negative_prompt=drawing.negative_prompt,
                    generator=drawing.generator,
                    round=drawing.round,
                    index=drawing.index,
                )
            )
        return candidates

    def add_files(self, names: Iterable[str]) -> None:
        """Files the publish step wrote into the staging folder beside the images (cover, crops, gallery)."""
        self._extra.update(names)

    def final(self, candidate: Candidate) -> Candidate:
        """The candidate as it will be once published: same file name, in the run folder."""
        return replace(candidate, path=self.folder / candidate.path.name)

    def publish(self, manifest: dict[str, Any]) -> Path:
        """Write the manifest, swap the staging folder in for the run folder, delete the previous run.

        Returns the published manifest's path.
        """
        listed = {Path(row["path"]).name for row in manifest["candidates"]}
        if listed != self._written:
            raise BlogartError(f"the manifest lists {sorted(listed)} but the run drew {sorted(self._written)}")
        if unexpected := {p.name for p in self.staging.iterdir()} - self._written - self._extra:
            raise BlogartError(f"the staging folder holds files nobody wrote: {sorted(unexpected)}")
        atomic_write_json(self.staging / MANIFEST_NAME, manifest)
        # Another post with the same slug may have published here while this run drew.
        if not _free_for(self.folder, self.document):
            raise BlogartError(f"{self.folder} was taken by another post during this run; run it again")
        previous = _swap_in(self.base, self.staging, self.folder)
        self.published = True
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
        return self.folder / MANIFEST_NAME

    def discard(self) -> None:
        """Delete the staging folder (and the output folder, if this run made it and it is now empty)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        self._remove_base_if_empty()

    def _remove_base_if_empty(self) -> None:
        if self._created_base:
            with contextlib.suppress(OSError):  # not empty: another run's, or the user's files
                self.base.rmdir()
