"""The typed values that flow between pipeline stages.

Every stage takes and returns these, so a stage never needs to import another stage.
This module imports nothing of ours. All values are plain frozen dataclasses; `to_dict`
gives the JSON-ready form that goes into `--json` output and the manifest.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def to_dict(value: Any) -> Any:
    """JSON-ready form of a value (dataclasses, tuples, paths)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_dict(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_dict(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


@dataclass(frozen=True)
class Section:
    """A run of body text under one heading path (title excluded)."""

    heading_path: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Document:
    source: str  # path or URL as given
    format: str  # "markdown" | "html" | "text"
    title: str
    front_matter: dict[str, Any]
    sections: tuple[Section, ...]
    text: str  # plain text of the whole body
    content_hash: str  # sha256 hex of the raw bytes

    @property
    def headings(self) -> list[str]:
        seen: list[str] = []
        for section in self.sections:
            for heading in section.heading_path:
                if heading not in seen:
                    seen.append(heading)
        return seen

    @property
    def outline(self) -> str:
        """Title plus headings, one per line: the context every chunk carries."""
        lines = [self.title] if self.title else []
        depth_seen: set[tuple[str, ...]] = set()
        for section in self.sections:
            for depth in range(1, len(section.heading_path) + 1):
                path = section.heading_path[:depth]
                if path not in depth_seen:
                    depth_seen.add(path)
                    lines.append("  " * (depth - 1) + "- " + path[-1])
        return "\n".join(lines)


@dataclass(frozen=True)
class Chunk:
    index: int
    heading_path: tuple[str, ...]
    text: str
    tokens: int
    outline: str  # title + headings of the whole post


@dataclass(frozen=True)
class Topic:
    phrase: str  # a short noun phrase, 1-6 words
    abstraction: str  # one sentence saying what the idea is
    evidence: tuple[str, ...] = ()  # sentences from the post it rests on
    weight: float = 1.0  # share of the post it covers (combinator), or extractor score


@dataclass(frozen=True)
class ChunkTopics:
    chunk_index: int
    topics: tuple[Topic, ...]  # one key idea per chunk by default
    # The next best ideas, when the extractor ranks some (local): they let a one-chunk post still
    # give the combinator a few topics, at less weight than a chunk's key idea.
    runners_up: tuple[Topic, ...] = ()


@dataclass(frozen=True)
class KeyTopics:
    topics: tuple[Topic, ...]
    summary: str


@dataclass(frozen=True)
class Source:
    """One chunk topic on its way into a key topic (the combinator's input, blogart.topics.combine)."""

    chunk_index: int
    topic: Topic
    key_idea: bool = True  # the chunk's key idea, not one of its runners-up


@dataclass(frozen=True)
class Group:
    """A key topic before it is weighed: its name and the chunk topics it merges."""

    phrase: str
    abstraction: str
    sources: tuple[Source, ...]  # in order of preference: evidence is taken from the first ones
    mentioned_in: frozenset[int] = frozenset()  # chunks that name it without it being their topic
    guess: float = 0.0  # the merger's own weight, used only when no source backs the group
    bonus: float = 0.0  # added to the weight when ordering, never stored


@dataclass(frozen=True)
class Merged:
    groups: tuple[Group, ...]  # in the merger's order; the combinator sorts by weight, stable
    summary: str | None = None  # None: the combinator picks the post sentence closest to the topics


@dataclass(frozen=True)
class StylePreset:
    name: str
    description: str
    suffix: str  # words appended after the subject, e.g. "flat vector illustration, bold colors"
    negative: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImagePrompt:
    text: str
    negative: tuple[str, ...]
    style: str
    tokens: int  # in the generator's text tokenizer when known, else an estimate
    writer: str = "templates"  # "templates" | "openai" | "pez"
    note: str = ""  # what the writer could not do, for people ("nothing in the vocabulary fits ...")

    @property
    def negative_prompt(self) -> str:
        return ", ".join(self.negative)


@dataclass(frozen=True)
class LLMUsage:
    """What the LLM calls of one stage cost."""

    calls: int = 0
    cached: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: LLMUsage) -> LLMUsage:
        return LLMUsage(
            self.calls + other.calls,
            self.cached + other.cached,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cost_usd + other.cost_usd,
        )


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    n: int = 4
    seed: int = 0
    condition_scale: float = 10.0
    top_k: int | None = 50
    top_p: float | None = None
    temperature: float = 1.0


@dataclass(frozen=True)
class Drawing:
    """What a generator returns: an image in memory, not yet a file (`blogart.outputs` writes it)."""

    png: bytes  # PNG-encoded image
    seed: int
    index: int  # position in its round; with seed it reproduces the image
    round: int
    prompt: str
    negative_prompt: str
    generator: str

    @classmethod
    def of(cls, request: GenerationRequest, png: bytes, index: int, round: int, generator: str) -> Drawing:
        """Image `index` of `request`, as the generator named `generator` drew it."""
        return cls(png, request.seed, index, round, request.prompt, request.negative_prompt, generator)


@dataclass(frozen=True)
class Candidate:
    """A Drawing once `blogart.outputs` has written it to disk."""

    path: Path  # PNG on disk
    seed: int
    prompt: str
    negative_prompt: str
    generator: str  # e.g. "dalle-mini"
    round: int = 1
    index: int = 0  # position in its round; with `seed` it reproduces the image


@dataclass(frozen=True)
class Flag:
    concept: str
    score: float
    threshold: float
    source: str = "clip"  # "clip" | "openai" | "prompt-blocklist"


@dataclass(frozen=True)
class Ranked:
    candidate: Candidate
    score: float  # final score used for sorting
    prompt_score: float  # CLIPScore vs the prompt
    topic_scores: dict[str, float] = field(default_factory=dict)  # CLIPScore vs each key topic
    negative_penalty: float = 0.0
    flags: tuple[Flag, ...] = ()
    model: str = ""  # ranker model id

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


# --- publishing: what the outputs stage makes of the ranked candidates ---------------------------


@dataclass(frozen=True)
class CropSize:
    """One published size: `og` 1200x630, `square` 1080x1080..."""

    name: str
    width: int
    height: int

    @property
    def aspect(self) -> float:
        return self.width / self.height


DEFAULT_SIZES = (
    CropSize("og", 1200, 630),  # Open Graph (LinkedIn's 1200x627 is close enough)
    CropSize("square", 1080, 1080),
    CropSize("portrait", 1080, 1350),
    CropSize("wide", 1600, 900),  # X
)

FRONT_MATTER_PRESETS = ("hugo", "papermod", "jekyll", "astro", "docusaurus", "custom")


@dataclass(frozen=True)
class CardOptions:
    """Title cards ([publish] card): the cover with the post's title set on it (docs/cards.md)."""

    theme: str = "dark"  # "dark" | "light"
    template: str = ""  # a TOML file laid over the default template; "" the default
    site: str = ""  # the site name on the card
    date: bool = True  # the post's front-matter date
    tags: int = 3  # at most this many front-matter tags; 0 none
    sizes: tuple[str, ...] = ()  # more sizes of [publish] sizes, each as card-<name>.png
    cover: bool = False  # papermod: cover.image names the card too, not only the art


@dataclass(frozen=True)
class PublishOptions:
    """How a run publishes its cover: the one value `generate`, `ci`/`backfill` and `social` pass down."""

    enabled: bool = True
    front_matter: str | None = None  # a preset of FRONT_MATTER_PRESETS; None leaves the post alone
    sizes: tuple[CropSize, ...] = DEFAULT_SIZES
    upscaler: str = "lanczos"  # "lanczos" | "swin2sr"
    upscale_size: int = 1024  # the cover's long side after upscaling
    force: bool = False  # replace a cover the post already names
    card: CardOptions | None = None  # None: no title card


@dataclass(frozen=True)
class CropWindow:
    """A window of the source image (pixels) and why it was chosen."""

    left: int
    top: int
    width: int
    height: int
    score: float
    method: str  # "clip" | "saliency" | "full"

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.left + self.width, self.top + self.height)


@dataclass(frozen=True)
class FrontMatterEdit:
    """What publishing did (or would do) to the post's front matter."""

    post: Path
    preset: str
    status: str  # "written" | "unchanged" | "kept-existing"
    image: str  # the path or URL written into the front matter (the one the site serves)
    image_file: Path | None  # where the cover was copied for the site, if anywhere
    keys: tuple[str, ...]  # the dotted keys set (added or replaced)
    added: tuple[str, ...] = ()  # keys the front matter lacked
    replaced: tuple[str, ...] = ()  # keys whose value changed
    left: tuple[str, ...] = ()  # other keys of a block whose image was replaced (--force), left as they were
    placement: str = ""  # how the site serves the file: "hugo page bundle", "jekyll assets", "publish.static_dir"...
    image_sha256: str = ""  # of the file placed, so a later run removes it only while it is still ours
    image_copied: bool = False  # the file was (or will be) written; False: it already held these bytes
    removed: Path | None = None  # the cover an earlier run placed, removed because this one replaces it
    summary: str = ""  # one line for people: what happened where
