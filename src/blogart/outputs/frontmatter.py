"""Writing the cover into the post's front matter, keeping everything else byte for byte.

Presets (the key paths each site generator or theme reads):
    hugo        images: [<image>]                         (Hugo's internal OpenGraph/Twitter templates)
    papermod    cover.image, cover.alt, cover.relative    (relative: true when the image is in the page bundle)
    jekyll      image.path, image.alt                     (jekyll-seo-tag)
    astro       heroImage, heroImageAlt                   (the blog starter; the alt key is configurable)
    docusaurus  image
    custom      publish.custom_image_key / custom_alt_key from the config
YAML (`---`) front matter is edited with ruamel.yaml's round-trip mode and TOML (`+++`) with tomlkit, both
of which keep comments, key order and quoting; the body after the closing fence is never touched. A post
without front matter gets a YAML block. Writing is idempotent, and a cover the post already names is kept
unless `force`.

Where the image goes: a page bundle (`index.md` / `_index.md`) gets `cover.png` beside it and a relative
path; with `publish.static_dir` set, a plain post's cover is copied there as `<slug>.png` and the path
written is `publish.static_url` + `/<slug>.png`; otherwise it is copied beside the post as
`<post name>-cover.png` with a relative path.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from blogart.atomic import atomic_write_bytes
from blogart.errors import InputError, UsageError
from blogart.values import FRONT_MATTER_PRESETS, FrontMatterEdit

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")
BUNDLE_NAMES = ("index", "_index")
_FENCED = re.compile(
    r"\A(?P<bom>\ufeff?)(?P<fence>---|\+\+\+)[ \t]*\r?\n(?P<block>.*?)^(?P=fence)[ \t]*(?:\r?\n|\Z)", re.S | re.M
)


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
    """The post as a local Markdown file that can be rewritten; a one-line UsageError otherwise."""
    if urlparse(source).scheme in ("http", "https"):
        raise UsageError("--front-matter needs a local Markdown file, not a URL")
    post = Path(source)
    if post.suffix.lower() not in MARKDOWN_SUFFIXES:
        raise UsageError(f"--front-matter needs a Markdown post ({', '.join(MARKDOWN_SUFFIXES)}), not {post.name}")
    if not post.is_file():
        raise UsageError(f"post not found: {post}")
    if not os.access(post, os.W_OK) or not os.access(post.parent, os.W_OK):
        raise UsageError(f"cannot write the cover into {post}: the post or its folder is read-only")
    return post


def is_bundle(post: Path) -> bool:
    return post.stem in BUNDLE_NAMES


def placement(
    post: Path, slug: str, static_dir: str = "", static_url: str = "", astro: bool = False
) -> tuple[Path, str]:
    """(file the cover is copied to, path or URL the front matter names) for this post."""
    if is_bundle(post):
        return post.parent / "cover.png", "cover.png"
    if static_dir:
        url = static_url.rstrip("/") + f"/{slug}.png"
        return Path(static_dir) / f"{slug}.png", url
    name = f"{post.stem}-cover.png"
    return post.parent / name, f"./{name}" if astro else name


# --- reading and editing the block ----------------------------------------------------------------


@dataclass(frozen=True)
class _Split:
    bom: str
    fence: str  # "---" | "+++" | "" (none)
    block: str  # the front matter text, "\n" line ends
    body: str  # everything after the closing fence, untouched
    newline: str


def _split(text: str) -> _Split:
    newline = "\r\n" if text.split("\n", 1)[0].endswith("\r") else "\n"
    match = _FENCED.match(text)
    if match is None:
        if text.lstrip("\ufeff").split("\n", 1)[0].strip() in ("---", "+++"):
            raise InputError("broken front matter: the opening fence is never closed")
        return _Split("", "", "", text, newline)
    block = match["block"].replace("\r\n", "\n")
    return _Split(match["bom"], match["fence"], block, text[match.end() :], newline)


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    return yaml


def _load(split: _Split) -> Any:
    """The front matter as round-trip data: tomlkit's document or ruamel's CommentedMap."""
    if split.fence == "+++":
        import tomlkit

        try:
            return tomlkit.parse(split.block)
        except Exception as exc:  # tomlkit's ParseError and friends
            raise InputError(f"broken TOML front matter: {exc}") from None
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import YAMLError

    try:
        data = _yaml().load(split.block) if split.block.strip() else None
    except YAMLError as exc:
        raise InputError(f"broken YAML front matter: {' '.join(str(exc).split())}") from None
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


def _edit_yaml(block: str, data: Any, wanted: dict[str, Any]) -> str:
    """`block` with the dotted keys of `wanted` set. Only the top-level entries that hold them are re-emitted
    (ruamel.yaml keeps their comments and quoting); every other line stays byte for byte, new entries go last.
    """
    lines = block.splitlines(keepends=True)
    starts = sorted(data.lc.key(key)[0] for key in data) if data else []
    groups: dict[str, dict[str, Any]] = {}
    for key, value in wanted.items():
        top, _, rest = key.partition(".")
        groups.setdefault(top, {})[rest] = value
    replaced: dict[int, tuple[int, str]] = {}
    appended = []
    for top, values in groups.items():
        if top in data:
            first = data.lc.key(top)[0]
            last = next((line for line in starts if line > first), len(lines))
            entry_text = "".join(lines[first:last])
            entry = _yaml().load(entry_text)
            for rest, value in values.items():
                _set(entry, f"{top}.{rest}" if rest else top, value, "---")
            replaced[first] = (last, _dump_yaml(entry, entry_text))
        else:
            from ruamel.yaml.comments import CommentedMap

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


def edit_text(
    text: str, paths: KeyPaths, image: str, alt: str, *, relative: bool | None = None, force: bool = False
) -> tuple[str, str]:
    """(new text, status): the post with the cover keys set; status "written", "unchanged" or "kept-existing"."""
    split = _split(text)
    data = _load(split)
    current = existing_image(data, paths)
    if current is not None and current != image and not force:
        return text, "kept-existing"
    wanted: dict[str, Any] = {paths.image: [image] if paths.image_is_list else image}
    if paths.alt:
        wanted[paths.alt] = alt
    if relative is not None and paths.image == "cover.image":
        wanted["cover.relative"] = relative
    if all(_plain(_get(data, key)) == _plain(value) for key, value in wanted.items()):
        return text, "unchanged"
    wanted = {key: _sequence(v, split.fence) if isinstance(v, list) else v for key, v in wanted.items()}
    if split.fence == "+++":
        import tomlkit

        for key, value in wanted.items():
            _set(data, key, value, "+++")
        block = tomlkit.dumps(data)  # tomlkit keeps every byte it was not asked to change
    else:
        block = _edit_yaml(split.block, data, wanted)
    fence = split.fence or "---"
    head = f"{split.bom}{fence}\n{block}{fence}\n"
    if split.newline == "\r\n":
        head = head.replace("\n", "\r\n")
    return head + split.body, "written"


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "unwrap"):  # tomlkit items
        return value.unwrap()
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


def plan(
    post: Path,
    preset: str,
    *,
    slug: str,
    alt: str,
    force: bool = False,
    static_dir: str = "",
    static_url: str = "",
    astro_alt_key: str = "heroImageAlt",
    custom: tuple[str, str] = ("", ""),
) -> tuple[FrontMatterEdit, bytes | None]:
    """What writing the cover into `post` would do, and the post's new bytes (None: leave it as it is)."""
    paths = key_paths(preset, astro_alt_key, custom)
    image_file, image = placement(post, slug, static_dir, static_url, astro=preset == "astro")
    raw = post.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{post}: not UTF-8 text; its front matter cannot be edited") from None
    relative = True if is_bundle(post) and preset == "papermod" else None
    try:
        new_text, status = edit_text(text, paths, image, alt, relative=relative, force=force)
    except InputError as exc:
        raise InputError(f"{post}: {exc}") from None
    keys = tuple(k for k in (paths.image, paths.alt) if k) + (("cover.relative",) if relative else ())
    placed = image_file if status != "kept-existing" else None
    edit = FrontMatterEdit(post, preset, status, image if placed else "", placed, keys)
    return edit, new_text.encode("utf-8") if status == "written" else None


def apply(edit: FrontMatterEdit, new_post: bytes | None, cover_png: bytes) -> None:
    """Copy the cover where the site serves it (only when it changed), then rewrite the post (atomic)."""
    if edit.image_file is not None:
        try:
            unchanged = edit.image_file.read_bytes() == cover_png
        except OSError:
            unchanged = False
        if not unchanged:
            atomic_write_bytes(edit.image_file, cover_png)
    if new_post is not None:
        atomic_write_bytes(edit.post, new_post)
