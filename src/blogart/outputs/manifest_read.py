"""Reading manifest.json back (`pick`, `regenerate`, and a rerun looking at the run before it).

A run folder can be copied, committed or edited by hand, so its manifest is outside input: every value
`pick` and `regenerate` use is parsed into the typed models below, with bounds, before anything is drawn
or written. A manifest that fails is one UsageError naming the key (`candidates[2].seed: ...`).

Bounds: image paths are file names looked up in the run folder (never elsewhere); a round's candidate
indices are distinct and fewer than its rows, so a redraw never draws more images than the manifest lists;
ranks are distinct and within the rows; seeds are integers (-1: a generator without seeds); at most
`MAX_CANDIDATES` rows and `MAX_MANIFEST_BYTES` of JSON. The post a run was made for is taken from the
manifest only when it lies inside the site the manifest records, and that site is still there
(`trusted_post`); otherwise the user names the post.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from blogart.errors import UsageError
from blogart.readers import Wording, read_user_bytes
from blogart.values import (
    FRONT_MATTER_PRESETS,
    Candidate,
    Flag,
    ImagePrompt,
    KeyTopics,
    Ranked,
    Topic,
)

MAX_MANIFEST_BYTES = 64 * 1024 * 1024  # a manifest of 10,000 rows is a few MB
MAX_CANDIDATES = 10_000
_OVER = "{path} is over {limit}; it is not a blogart manifest"
_WORDING = Wording(
    missing="no manifest at {path}",
    folder="{path} is a folder, not a manifest",
    unreadable="cannot read {path}: {reason}",
    too_big=_OVER,
    too_long=_OVER,
)
MAX_ROUNDS = 16
MAX_SEED = 2**65  # settings take seeds up to 2**64 - 1; round 2 adds n to them

Seed = Annotated[int, Field(ge=-1, le=MAX_SEED)]
Score = float | None  # strict JSON: a NaN score was written as null


class _Model(BaseModel):
    # strict: "7" is not a seed and 1 is not True; unknown keys are kept (newer manifests add some).
    model_config = ConfigDict(strict=True, extra="allow", allow_inf_nan=False, frozen=True)


class FlagRow(_Model):
    concept: str
    score: float
    threshold: float
    source: str = "clip"


class TopicRow(_Model):
    phrase: str
    abstraction: str = ""
    evidence: list[str] = []
    weight: float = 1.0


class CandidateRow(_Model):
    path: str
    seed: Seed
    prompt: str
    negative_prompt: str = ""
    generator: str = ""
    round: int = Field(1, ge=1, le=MAX_ROUNDS)
    index: int = Field(0, ge=0, lt=MAX_CANDIDATES)
    rank: int | None = Field(None, ge=1, le=MAX_CANDIDATES)  # present on ranked rows only
    score: Score = None
    prompt_score: Score = None
    negative_penalty: Score = None
    topic_scores: dict[str, Score] = {}
    flags: list[FlagRow] = []
    ranker: str = ""

    @field_validator("path")
    @classmethod
    def _an_image_name(cls, value: str) -> str:
        name = _file_name(value)
        if not name or name.startswith(".") or not name.lower().endswith(".png"):
            raise ValueError("must name a .png image in the run folder")
        return value

    @property
    def name(self) -> str:
        """The image's file name: it is looked up in the run folder, wherever the path pointed."""
        return _file_name(self.path)


class TextSection(_Model):
    source: str
    prompt: str
    title: str = ""
    content_hash: str = ""
    negative_prompt: str | None = None
    style: str = ""
    prompt_tokens: int = Field(0, ge=0)
    key_topics: list[TopicRow] = []
    summary: str = ""


class ModelsSection(_Model):
    generator: str | None = None
    weights: dict[str, str | int | float | bool | None] = {}
    ranker: str | None = None


class FrontMatterSection(_Model):
    preset: Literal[FRONT_MATTER_PRESETS] | None = None  # type: ignore[valid-type]
    status: str | None = None
    image: str | None = None  # the value written to the front matter
    image_file: str | None = None  # where the cover was placed
    image_sha256: Annotated[str, Field(pattern=r"^([0-9a-f]{64})?$")] | None = None

    def placed_within(self, roots: list[Path]) -> dict[str, Any]:
        """This record as `frontmatter.plan(previous=...)` takes it, its placed file kept only when that is a
        PNG inside one of `roots` with its hash recorded: a file elsewhere is never blogart's to remove."""
        record = {"status": self.status, "image": self.image, "image_file": None, "image_sha256": None}
        if not (self.image_file and self.image_sha256 and self.image_file.lower().endswith(".png")):
            return record
        try:
            real = Path(self.image_file).resolve()
            inside = any(real.is_relative_to(root.resolve()) for root in roots)
        except (OSError, RuntimeError, ValueError):
            inside = False
        if inside and Path(self.image_file).is_absolute():
            record.update(image_file=self.image_file, image_sha256=self.image_sha256)
        return record


def placement_record(raw: Any, roots: list[Path]) -> dict[str, Any]:
    """A recorded `publish.front_matter` (any JSON) as `frontmatter.plan(previous=...)` may take it: {} when it
    is not a record, its placed file dropped unless inside one of `roots` (see `placed_within`)."""
    try:
        return FrontMatterSection.model_validate(raw).placed_within(roots)
    except (ValidationError, RecursionError):
        return {}


class PublishSection(_Model):
    front_matter: FrontMatterSection | None = None
    alt_text: str | None = None
    alt_source: str = "template"


class PostSection(_Model):
    """Where the post was when the run was made: its absolute path and its site (when one was found)."""

    path: str
    site_root: str | None = None
    site_kind: str | None = None
    site_path: str | None = None  # the post's path relative to site_root, "/"-separated


class Manifest(_Model):
    generator: str
    text: TextSection
    candidates: list[CandidateRow] = Field(max_length=MAX_CANDIDATES)
    models: ModelsSection = ModelsSection()
    ranked: bool = False
    cover: str | None = None
    settings: dict[str, Any] = {}
    publish: PublishSection | None = None
    post: PostSection | None = None

    @model_validator(mode="after")
    def _rows_fit_together(self) -> Manifest:
        by_round: dict[int, list[tuple[int, CandidateRow]]] = {}
        for i, row in enumerate(self.candidates):
            by_round.setdefault(row.round, []).append((i, row))
        for rows in by_round.values():
            seen: set[int] = set()
            for i, row in rows:
                if row.index >= len(rows) or row.index in seen:
                    raise ValueError(
                        f"candidates[{i}].index: {row.index} is not a free index below this round's {len(rows)} rows"
                    )
                seen.add(row.index)
        ranks: set[int] = set()
        for i, row in enumerate(self.candidates):
            if row.rank is None:
                continue
            if row.rank > len(self.candidates) or row.rank in ranks:
                raise ValueError(f"candidates[{i}].rank: {row.rank} is not a free rank within the rows")
            ranks.add(row.rank)
        return self

    def recorded(self, section: str) -> dict[str, Any]:
        """One section of the recorded settings as a mapping ({} when absent)."""
        value = self.settings.get(section)
        return value if isinstance(value, dict) else {}


def _file_name(value: str) -> str:
    # Either separator: a manifest written on Windows names its images with backslashes.
    name = re.split(r"[\\/]", value)[-1]
    return "" if name in (".", "..") else name


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _key(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def read_manifest(path: Path) -> tuple[Manifest, dict[str, Any]]:
    """The manifest at `path`, typed and checked, and the JSON as read (to update and write back).

    Anything wrong is a UsageError of one line: the file, and the key that failed with why.
    """
    raw = read_user_bytes(path, what="manifest", max_bytes=MAX_MANIFEST_BYTES, wording=_WORDING)
    return parse_manifest(raw, str(path))


def parse_manifest(raw: bytes | str, name: str = "manifest.json") -> tuple[Manifest, dict[str, Any]]:
    """`read_manifest` for text already read; `name` is what the error calls the file."""
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
    except RecursionError:
        raise UsageError(f"{name} is not a blogart manifest: nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise UsageError(f"{name} is not valid JSON: {_one_line(exc)}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{name} is not a blogart manifest: the top level is not an object")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        message = _one_line(error["msg"]).removeprefix("Value error, ")
        key = _key(tuple(error["loc"]))
        # A check across rows names its own key (candidates[3].index: ...).
        where = "" if error["type"] == "value_error" and not error["loc"] else f"{key}: "
        raise UsageError(f"{name} is not a usable blogart manifest: {where}{message}") from None
    except RecursionError:
        raise UsageError(f"{name} is not a blogart manifest: nested too deeply") from None
    return manifest, data


def post_fields(source: str) -> dict[str, Any] | None:
    """What `build_manifest` records of the post: its absolute path and its site; None for a URL or text."""
    from urllib.parse import urlparse

    from blogart.outputs.site import find_site

    if urlparse(source).scheme in ("http", "https") or not source:
        return None
    post = Path(source).absolute()
    if not post.is_file():
        return None
    site = find_site(post)
    fields: dict[str, Any] = {"path": str(post), "site_root": None, "site_kind": None, "site_path": None}
    if site is not None:
        try:
            relative = post.resolve().relative_to(site.root.resolve())
        except ValueError:
            return fields
        fields.update(site_root=str(site.root), site_kind=site.kind, site_path=relative.as_posix())
    return fields


def trusted_post(manifest: Manifest) -> Path:
    """The post the run was made for, when the manifest's word for it can be taken.

    It can when the post lies inside the site root the manifest records and that folder is still the
    post's site (the same root found again from the post). Otherwise a UsageError asking for the post.
    """
    from blogart.outputs.site import find_site

    ask = "pass the post instead of the run folder: blogart pick POST N"
    post = manifest.post
    if post is None or not post.site_root:
        raise UsageError(f"the manifest records no site for its post; {ask}")
    path, root = Path(post.path), Path(post.site_root)
    if not path.is_absolute() or not root.is_absolute():
        raise UsageError(f"the manifest's post.path and post.site_root must be absolute paths; {ask}")
    try:
        real = path.resolve()
        real.relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        raise UsageError(f"the manifest's post {path} is outside its recorded site {root}; {ask}") from None
    if not real.is_file():
        raise UsageError(f"the run's post {path} is not there any more; {ask}")
    site = find_site(real)
    if site is None or site.root.resolve() != root.resolve():
        raise UsageError(f"{root} is no longer the site of {path}; {ask}")
    return path


def rows_as_values(manifest: Manifest, folder: Path) -> tuple[list[Candidate], list[Ranked]]:
    """The manifest's candidates back as values, their files looked up by name in `folder` (which may have moved)."""
    candidates, ranked_by_rank = [], []
    for row in manifest.candidates:
        candidate = Candidate(
            path=folder / row.name,
            seed=row.seed,
            prompt=row.prompt,
            negative_prompt=row.negative_prompt,
            generator=row.generator,
            round=row.round,
            index=row.index,
        )
        candidates.append(candidate)
        if row.rank is not None:
            score = row.score if row.score is not None else float("nan")
            flags = tuple(Flag(f.concept, f.score, f.threshold, f.source) for f in row.flags)
            ranked = Ranked(candidate, score, row.prompt_score or 0.0, flags=flags, model=row.ranker)
            ranked_by_rank.append((row.rank, ranked))
    return candidates, [r for _, r in sorted(ranked_by_rank, key=lambda pair: pair[0])]


def prompt_of(manifest: Manifest) -> tuple[ImagePrompt, KeyTopics]:
    """The image prompt and key topics the run drew and ranked with."""
    text = manifest.text
    negative = tuple(w.strip() for w in (text.negative_prompt or "").split(",") if w.strip())
    prompt = ImagePrompt(text.prompt, negative, text.style, text.prompt_tokens)
    topics = tuple(Topic(t.phrase, t.abstraction, tuple(t.evidence), t.weight) for t in text.key_topics)
    return prompt, KeyTopics(topics, text.summary)


def _peek(folder: Path, *keys: str) -> Any:
    """One value of the manifest in `folder`, read leniently: None when there is none or it is not there.

    For lookups only (which folder holds a post's run, what the run before placed); a manifest that is
    used is read in full with `read_manifest`."""
    from blogart.outputs.files import MANIFEST_NAME

    try:
        value: Any = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))
        for key in keys:
            value = value[key]
    except (OSError, ValueError, KeyError, TypeError, RecursionError, RuntimeError):
        return None
    return value


def recorded_post(folder: Path) -> str | None:
    """The post path the manifest in `folder` records, if any."""
    value = _peek(folder, "post", "path")
    return value if isinstance(value, str) else None


def recorded_front_matter(folder: Path) -> dict[str, Any] | None:
    """The `publish.front_matter` of the run published in `folder`, if it has one."""
    value = _peek(folder, "publish", "front_matter")
    return value if isinstance(value, dict) else None
