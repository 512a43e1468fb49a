"""Writing the cover into the post's front matter, keeping everything else byte for byte.

Presets (the key paths each site generator or theme reads):
    hugo        images: [<image>]                         (Hugo's internal OpenGraph/Twitter templates)
    papermod    cover.image, cover.alt, cover.relative    (relative: true when the image is in the page bundle)
    jekyll      image.path, image.alt                     (jekyll-seo-tag)
    astro       heroImage, heroImageAlt                   (the blog starter; the alt key is configurable)
    docusaurus  image
    custom      publish.custom_image_key / custom_alt_key from the config
On a Hugo page bundle the `hugo` preset writes no `images` entry: every Hugo finds a bundle image named
`*cover*` by itself, while Hugo before 0.120 resolves an `images` entry against the site root (a 404).

YAML (`---`) front matter is edited with ruamel.yaml's round-trip mode and TOML (`+++`) with tomlkit, both
of which keep comments, key order and quoting; the body after the closing fence is never touched. Only the
top-level YAML entries that hold a key being set are re-emitted, and every result is parsed again and
compared with what was asked before it is written: anything else (a YAML anchor or alias in the entry, a
layout the libraries cannot keep) is refused with an InputError, never written half right. A YAML `...`
end marker stays where it is, new keys go before it. A post without front matter gets a YAML block.
Writing is idempotent, and a cover the post already names is kept unless `force`.

Where the image goes is `blogart.outputs.placement`'s business.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from blogart.atomic import atomic_write_bytes, rewrite_bytes
from blogart.errors import InputError, UsageError
from blogart.outputs.placement import Placement, is_bundle, place, short_hash
from blogart.values import FRONT_MATTER_PRESETS, FrontMatterEdit

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")
_FENCED = re.compile(
    r"\A(?P<bom>\ufeff?)(?P<fence>---|\+\+\+)[ \t]*\r?\n(?P<block>.*?)^(?P=fence)[ \t]*(?:\r?\n|\Z)", re.S | re.M
)
_END_MARKER = re.compile(r"^\.\.\.[ \t]*(?:#.*)?$", re.M)


@dataclass(frozen=True)
class KeyPaths:
    """Dotted key paths a preset sets: the image, the alt text (None: the preset has none)."""

    image: str
    alt: str | None
    image_is_list: bool = False  # hugo's `images` is a list


def key_paths(preset: str, astro_alt_key: str = "heroImageAlt", custom: tuple[str, str] = ("", "")) -> KeyPaths:
    if preset == "hugo":
        return KeyPaths("images", None, image_is_list=True)
    if preset == "papermod":
        return KeyPaths("cover.image", "cover.alt")
    if preset == "jekyll":
        return KeyPaths("image.path", "image.alt")
    if preset == "astro":
        return KeyPaths("heroImage", astro_alt_key or None)
    if preset == "docusaurus":
        return KeyPaths("image", None)
    if preset == "custom":
        image, alt = custom
        if not image:
            raise UsageError("--front-matter custom needs publish.custom_image_key in the config")
        return KeyPaths(image, alt or None)
    raise UsageError(f"unknown front-matter preset {preset!r}; use one of {', '.join(FRONT_MATTER_PRESETS)}")


def check_post(source: str) -> Path:
    """The post as a local Markdown file that can be rewritten; a one-line UsageError otherwise.

    A symlinked post is checked (and later rewritten) at its target.
    """
    if urlparse(source).scheme in ("http", "https"):
        raise UsageError("--front-matter needs a local Markdown file, not a URL")
    post = Path(source)
    if post.suffix.lower() not in MARKDOWN_SUFFIXES:
        raise UsageError(f"--front-matter needs a Markdown post ({', '.join(MARKDOWN_SUFFIXES)}), not {post.name}")
    if not post.is_file():
        raise UsageError(f"post not found: {post}")
    target = Path(os.path.realpath(post))
    if not os.access(target, os.W_OK) or not os.access(target.parent, os.W_OK):
        where = f"{post} (a link to {target})" if target != Path(os.path.abspath(post)) else str(post)
        raise UsageError(f"cannot write the cover into {where}: the post or its folder is read-only")
    return post


# --- reading and editing the block ----------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    bom: str
    fence: str  # "---" | "+++" | "" (none)
    block: str  # the front matter text up to a YAML `...` end marker, "\n" line ends
    tail: str  # the `...` line and what follows it inside the fences, kept as it is
    body: str  # everything after the closing fence, untouched
    newline: str


def _split(text: str) -> _Split:
    newline = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"
    match = _FENCED.match(text)
    if match is None:
        first = text.lstrip("\ufeff").split("\n", 1)[0].strip()
        if first in ("---", "+++"):
            raise InputError("broken front matter: the opening fence is never closed")
        if re.match(r'\{\s*(?:"|$)', first):  # Hugo's JSON front matter (not an MDX `{/* comment */}`)
            raise InputError("JSON front matter is not supported; use YAML (---) or TOML (+++)")
        return _Split("", "", "", "", text, newline)
    block = match["block"].replace("\r\n", "\n")
    tail = ""
    if match["fence"] == "---" and (end := _END_MARKER.search(block)):
        block, tail = block[: end.start()], block[end.start() :]
    return _Split(match["bom"], match["fence"], block, tail, text[match.end() :], newline)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    return yaml


def _load(fence: str, block: str) -> Any:
    """The front matter as round-trip data: tomlkit's document or ruamel's CommentedMap."""
    if fence == "+++":
        import tomlkit

        try:
            return tomlkit.parse(block)
        except Exception as exc:  # noqa: BLE001 - tomlkit raises several unrelated types for bad input
            raise InputError(f"broken TOML front matter: {' '.join(str(exc).split())}") from None
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    try:
        data = _yaml().load(block) if block.strip() else None
    except YAMLError as exc:
        raise InputError(f"broken YAML front matter: {' '.join(str(exc).split())}") from None
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:  # ruamel on odd tags and keys
        raise InputError(f"YAML front matter blogart cannot read: {' '.join(str(exc).split())}") from None
    if data is None:
        return CommentedMap()
    if not isinstance(data, dict):
        raise InputError("the YAML front matter is not a mapping of keys")
    return data


def _dump_yaml(data: Any, like: str) -> str:
    """`data` as YAML, indented the way the entry `like` was (a new entry: 2 spaces, sequences flush)."""
    from ruamel.yaml.util import load_yaml_guess_indent

    yaml = _yaml()
    indent, offset = 2, 0
    if like.strip():
        try:
            _, guessed, guessed_offset = load_yaml_guess_indent(like)
            indent, offset = guessed or 2, guessed_offset or 0
        except Exception:  # noqa: BLE001 - a guess only; the defaults do
            pass
    yaml.indent(mapping=indent, sequence=indent, offset=min(offset, indent - 2) if indent >= 2 else 0)
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _entries(block: str) -> dict[str, tuple[int, int]]:
    """Top-level key -> (first line, line after its entry) in `block`, from ruamel's composer (no construction)."""
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    node = _yaml().compose(block)
    if not isinstance(node, MappingNode) or node.flow_style:
        raise InputError("the YAML front matter is not a block of `key: value` lines blogart can add to")
    starts = [key.start_mark.line for key, _ in node.value]
    ends = [*starts[1:], len(block.splitlines())]
    return {
        str(key.value): (start, end)
        for (key, _), start, end in zip(node.value, starts, ends, strict=True)
        if isinstance(key, ScalarNode)
    }


def _plain_anchors(text: str, top: str) -> None:
    """Refuse to re-emit an entry with an anchor, alias or merge key: others may refer to it, or it to them."""
    from ruamel.yaml.tokens import AliasToken, AnchorToken

    if any(isinstance(token, (AliasToken, AnchorToken)) for token in _yaml().scan(text)):
        raise InputError(
            f"front matter key {top!r} uses a YAML anchor, alias or merge key (&, *, <<), which blogart does "
            "not rewrite; write it out plainly or set the cover yourself"
        )


def _edit_yaml(block: str, wanted: dict[str, Any]) -> str:
    """`block` with the dotted keys of `wanted` set. Only the top-level entries that hold them are re-emitted
    (ruamel.yaml keeps their comments and quoting); every other line stays byte for byte, new entries go last.
    """
    from ruamel.yaml.comments import CommentedMap

    lines = block.splitlines(keepends=True)
    entries = _entries(block) if block.strip() else {}
    groups: dict[str, dict[str, Any]] = {}
    for key, value in wanted.items():
        top, _, rest = key.partition(".")
        groups.setdefault(top, {})[rest] = value
    replaced: dict[int, tuple[int, str]] = {}
    appended = []
    for top, values in groups.items():
        if top in entries:
            first, last = entries[top]
            entry_text = "".join(lines[first:last])
            _plain_anchors(entry_text, top)
            entry = _yaml().load(entry_text)
            for rest, value in values.items():
                _set(entry, f"{top}.{rest}" if rest else top, value, "---")
            replaced[first] = (last, _dump_yaml(entry, entry_text))
        else:
            entry = CommentedMap()
            for rest, value in values.items():
                _set(entry, f"{top}.{rest}" if rest else top, value, "---")
            appended.append(_dump_yaml(entry, ""))
    out, i = [], 0
    while i < len(lines):
        if i in replaced:
            i, text = replaced[i]
            out.append(text)
        else:
            out.append(lines[i])
            i += 1
    if out and not out[-1].endswith("\n"):
        out[-1] += "\n"
    return "".join(out + appended)


def _get(data: Any, path: str) -> Any:
    node = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _new_table(fence: str) -> Any:
    if fence == "+++":
        import tomlkit

        return tomlkit.table()
    if fence == "":
        return {}
    from ruamel.yaml.comments import CommentedMap

    return CommentedMap()


def _set(data: Any, path: str, value: Any, fence: str) -> None:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        if not isinstance(node.get(part), dict):
            node[part] = _new_table(fence)  # absent, or a plain value the preset wants as a table (force)
        node = node[part]
    node[last] = value


def existing_image(front_matter: dict[str, Any], paths: KeyPaths) -> str | None:
    """The cover a post's front matter already names under the preset's key, if any."""
    value = _get(front_matter, paths.image)
    if value is None and "." in paths.image:  # jekyll's `image: /a.png`, a plain value where a table goes
        value = _get(front_matter, paths.image.rsplit(".", 1)[0])
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value not in (None, "") and not isinstance(value, dict) else None


@dataclass(frozen=True)
class Edited:
    """What `edit_block` made of a post's text."""

    text: str
    status: str  # "written" | "unchanged" | "kept-existing"
    added: tuple[str, ...] = ()  # dotted keys that were absent
    replaced: tuple[str, ...] = ()  # dotted keys whose value changed
    left: tuple[str, ...] = ()  # other keys of a block whose image was replaced (force), left as they were


def edit_text(
    text: str, paths: KeyPaths, image: str, alt: str, *, relative: bool | None = None, force: bool = False
) -> tuple[str, str]:
    """(new text, status): the post with the cover keys set; status "written", "unchanged" or "kept-existing"."""
    edited = edit_block(text, paths, image, alt, relative=relative, force=force)
    return edited.text, edited.status


def edit_block(
    text: str,
    paths: KeyPaths,
    image: str,
    alt: str,
    *,
    relative: bool | None = None,
    force: bool = False,
    image_if_present: bool = False,
    ours: Callable[[str], bool] | None = None,
) -> Edited:
    """The post with the cover keys set. `image_if_present`: write the image key only over one the post has
    (with `force`), never add it (a Hugo bundle's cover is found by its name). `ours(value)`: the cover the
    post names is one blogart placed, replaced without `force`. InputError when the front matter cannot be
    edited without changing something else."""
    split = _split(text)
    data = _load(split.fence, split.block)
    current = existing_image(data, paths)
    if current is not None and current != image and not force and not (ours is not None and ours(current)):
        return Edited(text, "kept-existing")
    wanted: dict[str, Any] = {}
    if current is not None or not image_if_present:
        wanted[paths.image] = [image] if paths.image_is_list else image
        if paths.alt:
            wanted[paths.alt] = alt
    # cover.relative: true for a bundle's resource; false only over a stale `true`, never added
    if relative is not None and paths.image == "cover.image" and (relative or _get(data, "cover.relative") is not None):
        wanted["cover.relative"] = relative
    changed = {key: value for key, value in wanted.items() if _plain(_get(data, key)) != _plain(value)}
    if not changed:
        return Edited(text, "unchanged")
    added, replaced = _added_and_replaced(data, changed)
    left: tuple[str, ...] = ()
    if current is not None and "." in paths.image:
        parent = _get(data, paths.image.rsplit(".", 1)[0])
        if isinstance(parent, dict):
            prefix = paths.image.rsplit(".", 1)[0]
            left = tuple(f"{prefix}.{key}" for key in parent if f"{prefix}.{key}" not in wanted)
    wanted = {key: _sequence(v, split.fence) if isinstance(v, list) else v for key, v in wanted.items()}
    block = _edited_block(split, data, wanted)
    fence = split.fence or "---"
    head = f"{split.bom}{fence}\n{block}{split.tail}{fence}\n"
    if split.newline == "\r\n":
        head = head.replace("\n", "\r\n")
    return Edited(head + split.body, "written", added, replaced, left)


def _added_and_replaced(data: Any, changed: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Keys that were absent, and keys replaced: the key itself, or a plain value where its table goes."""
    added: list[str] = []
    replaced: list[str] = []
    for key in changed:
        parts = key.split(".")
        node, replaced_key = data, None
        for depth, part in enumerate(parts, 1):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
            if depth == len(parts) or not isinstance(node, dict):
                replaced_key = ".".join(parts[:depth])
                break
        if replaced_key is None:
            added.append(key)
        elif replaced_key not in replaced:
            replaced.append(replaced_key)
    return tuple(added), tuple(replaced)


def _edited_block(split: _Split, data: Any, wanted: dict[str, Any]) -> str:
    """The new front matter block, checked: it parses, `wanted` is set, and every other value is as it was."""
    from ruamel.yaml.error import YAMLError

    expected = _plain(data)
    for key, value in wanted.items():
        _set(expected, key, _plain(value), "")
    try:
        if split.fence == "+++":
            import tomlkit

            for key, value in wanted.items():
                _set(data, key, value, "+++")
            block = tomlkit.dumps(data)  # tomlkit keeps every byte it was not asked to change
        else:
            block = _edit_yaml(split.block, wanted)
        again = _plain(_load(split.fence or "---", block))
    except InputError:
        raise
    except (YAMLError, ValueError, TypeError, KeyError, AttributeError) as exc:  # the libraries' refusals
        raise InputError(f"front matter blogart cannot edit: {' '.join(str(exc).split())}") from None
    if again != expected:
        raise InputError(
            "front matter blogart cannot edit without changing other keys (its layout does not survive "
            "a rewrite); set the cover yourself"
        )
    return block


def _plain(value: Any) -> Any:
    """Plain Python data to compare: dicts, lists and scalars (NaN made comparable)."""
    if hasattr(value, "unwrap"):  # tomlkit items and documents
        value = value.unwrap()
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return "<nan>"
    if hasattr(value, "value") and hasattr(value, "tag"):  # ruamel's TaggedScalar
        return (str(value.tag), _plain(value.value))
    return value


def _sequence(values: list[str], fence: str) -> Any:
    if fence == "+++":
        import tomlkit

        array = tomlkit.array()
        array.extend(values)
        return array
    from ruamel.yaml.comments import CommentedSeq

    return CommentedSeq(values)


# --- the whole step ------------------------------------------------------------------------------


def _read(post: Path) -> str:
    try:
        return post.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{post}: not UTF-8 text; its front matter cannot be edited") from None


def check(
    post: Path,
    preset: str,
    *,
    slug: str,
    force: bool = False,
    static_dir: str = "",
    static_url: str = "",
    astro_alt_key: str = "heroImageAlt",
    custom: tuple[str, str] = ("", ""),
) -> None:
    """Before any drawing: the cover has somewhere to go and the front matter can take it (one-line errors)."""
    paths = key_paths(preset, astro_alt_key, custom)
    where = place(post, slug, None, static_dir=static_dir, static_url=static_url)
    try:
        _edit_for(_read(post), paths, preset, where, "", force, None)
    except InputError as exc:
        raise InputError(f"{post}: {exc}") from None


def _edit_for(
    text: str, paths: KeyPaths, preset: str, where: Placement, alt: str, force: bool, ours: Callable[[str], bool] | None
) -> Edited:
    relative = True if where.bundle and preset == "papermod" else (False if preset == "papermod" else None)
    return edit_block(
        text,
        paths,
        where.value,
        alt,
        relative=relative,
        force=force,
        image_if_present=where.bundle and preset == "hugo",
        ours=ours,
    )


def _ours(where: Placement, digest: str, previous: dict[str, Any] | None) -> Callable[[str], bool]:
    """Is a value the post names one blogart wrote? The last run's recorded value, or a name of this
    placement's shape with another content hash (or none)."""
    recorded = previous.get("image") if isinstance(previous, dict) else None
    stem = where.value.removesuffix(f"-{digest}.png" if digest else ".png")
    pattern = re.compile(re.escape(stem) + r"(?:-[0-9a-f]{8})?\.png")
    return lambda value: value == recorded or pattern.fullmatch(value) is not None


def plan(
    post: Path,
    preset: str,
    *,
    slug: str,
    alt: str,
    cover_png: bytes | None = None,
    force: bool = False,
    static_dir: str = "",
    static_url: str = "",
    astro_alt_key: str = "heroImageAlt",
    custom: tuple[str, str] = ("", ""),
    previous: dict[str, Any] | None = None,
) -> tuple[FrontMatterEdit, bytes | None]:
    """What writing the cover into `post` would do, and the post's new bytes (None: leave it as it is).

    `cover_png` names the file by its hash (without it: `<slug>.png`); `previous` is the last run's
    manifest `publish.front_matter`, whose placed file is removed when this one replaces it.
    """
    paths = key_paths(preset, astro_alt_key, custom)
    where = place(post, slug, cover_png, static_dir=static_dir, static_url=static_url)
    ours = _ours(where, short_hash(cover_png), previous)
    try:
        edited = _edit_for(_read(post), paths, preset, where, alt, force, ours)
    except InputError as exc:
        raise InputError(f"{post}: {exc}") from None
    placed = edited.status != "kept-existing"
    keys = tuple(k for k in (*edited.added, *edited.replaced))
    sha = hashlib.sha256(cover_png).hexdigest() if cover_png is not None and placed else ""
    edit = FrontMatterEdit(
        post,
        preset,
        edited.status,
        where.value if placed else "",
        where.file if placed else None,
        keys,
        added=edited.added,
        replaced=edited.replaced,
        left=edited.left,
        placement=where.how if placed else "",
        image_sha256=sha,
        image_copied=placed and cover_png is not None and not _holds(where.file, cover_png),
        removed=_stale(previous, where.file) if placed else None,
    )
    edit = replace(edit, summary=describe(edit))
    return edit, edited.text.encode("utf-8") if edited.status == "written" else None


def _holds(file: Path, data: bytes) -> bool:
    try:
        return file.read_bytes() == data
    except OSError:
        return False


def _stale(previous: dict[str, Any] | None, new_file: Path) -> Path | None:
    """The file the last run placed, when this run places another and that one is still as blogart left it."""
    if not isinstance(previous, dict) or not previous.get("image_file") or previous.get("status") == "kept-existing":
        return None
    old = Path(str(previous["image_file"]))
    if os.path.abspath(old) == os.path.abspath(new_file) or not old.is_file() or old.is_symlink():
        return None
    # Only a PNG in the folder this post's covers go to: a manifest is a file anyone may have edited.
    if old.suffix != ".png" or os.path.realpath(old.parent) != os.path.realpath(new_file.parent):
        return None
    recorded = previous.get("image_sha256")
    if not isinstance(recorded, str) or not recorded:
        return None  # blogart records the hash of every file it places; without one, the file is not provably ours
    try:
        if hashlib.sha256(old.read_bytes()).hexdigest() != recorded:
            return None  # changed since blogart placed it: someone else's now
    except OSError:
        return None
    return old


def describe(edit: FrontMatterEdit) -> str:
    """One line: where the cover went and what changed in which file."""
    if edit.status == "kept-existing":
        return f"{edit.post}: front matter already names a cover; kept it (--force replaces it)"
    parts = []
    if edit.added:
        parts.append("added " + ", ".join(edit.added))
    if edit.replaced:
        parts.append("replaced " + ", ".join(edit.replaced))
    changes = f"{'; '.join(parts)} in {edit.post}" if parts else f"front matter of {edit.post} unchanged"
    if edit.left:
        changes += f" (left {', '.join(edit.left)} as it was)"
    copied = "copied to" if edit.image_copied else "already at"
    line = f"cover {copied} {edit.image_file} ({edit.placement}) as {edit.image}; {changes}"
    if edit.removed is not None:
        line += f"; removed the previous cover {edit.removed}"
    return line


def apply(edit: FrontMatterEdit, new_post: bytes | None, cover_png: bytes) -> None:
    """Copy the cover where the site serves it (only when it changed), rewrite the post in place (its mode,
    owner and symlink kept), then remove the cover blogart placed before."""
    if edit.image_file is not None and not _holds(edit.image_file, cover_png):
        atomic_write_bytes(edit.image_file, cover_png)
    if new_post is not None:
        rewrite_bytes(edit.post, new_post)
    if edit.removed is not None:
        edit.removed.unlink(missing_ok=True)


__all__ = ["apply", "check", "check_post", "describe", "edit_block", "edit_text", "is_bundle", "key_paths", "plan"]
