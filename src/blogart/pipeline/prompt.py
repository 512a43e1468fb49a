"""`blogart prompt`, and the text half of every run: post -> chunks -> topics -> key topics -> image prompt."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart.config import Settings
from blogart.pipeline.plan import Report, RunPlan, Session, open_session, quiet
from blogart.pipeline.post_control import PostControl, read_control
from blogart.protocols import PromptWriter, TopicExtractor
from blogart.values import (
    Chunk,
    ChunkTopics,
    Document,
    ImagePrompt,
    KeyTopics,
    LLMUsage,
    StylePreset,
    to_dict,
)

if TYPE_CHECKING:
    from blogart.models.clip import ClipModel


@dataclass(frozen=True)
class PromptRun:
    document: Document
    chunks: tuple[Chunk, ...]
    chunk_topics: tuple[ChunkTopics, ...]
    key_topics: KeyTopics
    prompt: ImagePrompt
    backend: str
    usage: LLMUsage
    optimized: ImagePrompt | None = None  # the PEZ prompt, when asked for
    optimize_history: tuple[float, ...] = ()
    seconds: dict[str, float] = field(default_factory=dict)
    control: dict[str, Any] | None = None  # the post's own `blogart:` front matter, as honoured
    post_hash: str = ""  # blogart.pipeline.post_hash: what `ci --since` compares, blind to the cover's keys

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.document.title,
            "source": self.document.source,
            "content_hash": self.document.content_hash,
            "post_hash": self.post_hash,
            "post_control": self.control,
            "backend": self.backend,
            "chunks": len(self.chunks),
            "chunk_tokens": [c.tokens for c in self.chunks],
            "topics": [{"chunk": ct.chunk_index, **to_dict(topic)} for ct in self.chunk_topics for topic in ct.topics],
            "key_topics": [to_dict(t) for t in self.key_topics.topics],
            "summary": self.key_topics.summary,
            "prompt": self.prompt.text,
            "prompt_tokens": self.prompt.tokens,
            "negative_prompt": self.prompt.negative_prompt,
            "style": self.prompt.style,
            "writer": self.prompt.writer,
            **({"prompt_note": self.prompt.note} if self.prompt.note else {}),
            "optimized_prompt": self.optimized.text if self.optimized else None,
            "optimize_scores": (
                {"start": self.optimize_history[0], "best": max(self.optimize_history)}
                if self.optimize_history
                else None
            ),
            "usage": to_dict(self.usage),
            "seconds": self.seconds,
        }


def style_of(settings: Settings) -> StylePreset:
    """The [prompt] style preset; an unknown one is one UsageError."""
    from blogart.prompts.styles import get_style, load_styles

    return get_style(settings.prompt.style, load_styles(settings.prompt.styles_file or None))


def run_prompt(
    source: str,
    plan: RunPlan,
    *,
    optimize: bool = False,
    report: Report = quiet,
    session: Session | None = None,
    document: Document | None = None,
    control: PostControl | None = None,
) -> PromptRun:
    """Post -> Document -> chunks -> per-chunk topics -> key topics -> image prompt (-> PEZ prompt).

    `session`: the run's store and backend context (`generate` passes its own, with the generator's token
    count and text length). `document`: a post already read (a social post, normalised), used instead of
    reading `source`. `control`: the post's `blogart:` mapping, already applied to the plan's settings;
    None: read here from the post's front matter and applied (its style, negative words and prompt).
    """
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document
    from blogart.pipeline.post_hash import post_hash

    settings = plan.settings
    style_of(settings)  # a bad setting fails now
    session = session or open_session(settings)
    # Both made before any work, so a missing key or an unknown plugin fails in a second.
    extractor: TopicExtractor = session.create("topic_extractors", plan.extractor)
    writer: PromptWriter = session.create("prompt_writers", plan.writer)

    report("reading the post")
    clock = time.perf_counter()
    if document is None:
        document = load_document(source, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    if control is None:
        control = read_control(document.front_matter, document.source)
        settings = control.apply(settings, document.source)
    style = style_of(settings)
    c = settings.chunking
    chunks = chunk_document(document, max_tokens=c.max_tokens, overlap_tokens=c.overlap_tokens, encoding=c.encoding)
    seconds = {"read_and_chunk": time.perf_counter() - clock}

    report(f"extracting topics from {len(chunks)} chunks ({plan.backend})")
    clock = time.perf_counter()
    chunk_topics, key_topics = _topics(document, chunks, extractor, plan.extractor, settings, session)
    seconds["topics"] = time.perf_counter() - clock

    report("writing the image prompt")
    clock = time.perf_counter()
    budget = min(settings.prompt.max_tokens, session.max_tokens or settings.prompt.max_tokens)
    if control.prompt is not None:  # the post's own prompt, word for word; the style's negative words still apply
        prompt = _own_prompt(control.prompt, style, settings.prompt.negative, session.context.count_tokens)
    else:
        prompt = writer.write(key_topics, document.title, style, settings.prompt.negative, budget)
    check_blocklist(prompt.text, settings)
    seconds["prompt"] = time.perf_counter() - clock
    usage = session.context.llm().usage if plan.backend == "openai" else LLMUsage()

    run = PromptRun(
        document,
        tuple(chunks),
        tuple(chunk_topics),
        key_topics,
        prompt,
        plan.backend,
        usage,
        seconds=seconds,
        control=control.recorded(),
        post_hash=post_hash(document, settings),
    )
    if optimize:
        run = optimize_prompt(run, settings, images=(), report=report)
    return run


def _topics(
    document: Document,
    chunks: list[Chunk],
    extractor: TopicExtractor,
    extractor_name: str,
    settings: Settings,
    session: Session,
) -> tuple[list[ChunkTopics], KeyTopics]:
    """The topics stage, from the store's stage cache when this extractor read this post so before."""
    from blogart.pipeline.topics_cache import topics_cache_key, topics_from_json
    from blogart.topics.combine import combine

    cache_key = topics_cache_key(document, extractor_name, settings)
    cached = session.store.stage_get(cache_key)
    if cached is not None:
        return topics_from_json(cached)
    chunk_topics = extractor.extract(chunks)
    key_topics = combine(chunk_topics, chunks, settings.topics.max_key_topics, extractor.merger())
    session.store.stage_put(cache_key, {"chunk_topics": to_dict(chunk_topics), "key_topics": to_dict(key_topics)})
    return chunk_topics, key_topics


def _own_prompt(
    text: str, style: StylePreset, negative: list[str], count_tokens: Callable[[str], int] | None
) -> ImagePrompt:
    """A post's `blogart.prompt` as the image prompt: its words as written, the negative words merged as usual."""
    from blogart.prompts.builder import counter_or_estimate, merge_negative

    return ImagePrompt(
        text=text,
        negative=merge_negative(style, negative),
        style=style.name,
        tokens=counter_or_estimate(count_tokens)(text),
        writer="front matter",
    )


def prompt_blocklist(settings: Settings) -> list[str]:
    return list(settings.moderation.prompt_blocklist) if settings.moderation.enabled else []


def check_blocklist(prompt_text: str, settings: Settings) -> None:
    """Refuse a prompt with a blocked word as soon as it is written (OpenAI's verdict comes before drawing)."""
    blocked = prompt_blocklist(settings)
    if blocked:
        from blogart.ranking.moderation import Moderator

        Moderator(prompt_blocklist=blocked).check_prompt(prompt_text)


def optimize_prompt(
    run: PromptRun,
    settings: Settings,
    images: tuple[Path, ...],
    report: Report = quiet,
    clip: ClipModel | None = None,
) -> PromptRun:
    """Second-round prompt: PEZ against the key topics (and the best first-round images, if any).

    `clip`: the run's CLIP (the ranker's); None: the configured one, loaded here.
    """
    from blogart.prompts.optimize import optimize_prompt as pez
    from blogart.prompts.optimize import to_image_prompt
    from blogart.ranking.factory import clip_from_settings

    report(f"optimising the prompt with CLIP (PEZ, {settings.optimize.iterations} iterations)")
    clock = time.perf_counter()
    opt = settings.optimize
    result = pez(
        clip if clip is not None else clip_from_settings(settings),
        init_prompt=run.prompt.text,
        topics=[t.phrase for t in run.key_topics.topics],
        images=list(images),
        negative=list(run.prompt.negative),
        prompt_len=opt.prompt_len,
        iterations=opt.iterations,
        lr=opt.lr,
        weight_decay=opt.weight_decay,
        negative_weight=opt.negative_weight,
        # PEZ may pick any token: keep the words moderation blocks out of it, and check what it wrote.
        blocklist=[*opt.blocklist, *prompt_blocklist(settings)],
        seed=opt.seed,
        threads=settings.rank.threads or None,
    )
    check_blocklist(result.text, settings)
    optimized = to_image_prompt(result, run.prompt)
    seconds = {**run.seconds, "optimize": time.perf_counter() - clock}
    return replace(run, optimized=optimized, optimize_history=tuple(result.score_history), seconds=seconds)
