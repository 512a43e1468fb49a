"""The only wiring: calls the stages in order, picks backends from settings, writes the manifest.

Stages never import each other; each takes and returns values from `blogart.values`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from blogart import __version__, plugins
from blogart.config import Settings
from blogart.protocols import Generator, PromptWriter, Ranker, TopicExtractor
from blogart.store import Store
from blogart.values import (
    Candidate,
    Chunk,
    ChunkTopics,
    Document,
    GenerationRequest,
    ImagePrompt,
    KeyTopics,
    LLMUsage,
    Ranked,
    Topic,
    to_dict,
)


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

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.document.title,
            "source": self.document.source,
            "content_hash": self.document.content_hash,
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
            "optimized_prompt": self.optimized.text if self.optimized else None,
            "optimize_scores": (
                {"start": self.optimize_history[0], "best": max(self.optimize_history)}
                if self.optimize_history
                else None
            ),
            "usage": to_dict(self.usage),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class GenerateRun:
    prompt_run: PromptRun
    candidates: tuple[Candidate, ...]
    ranked: tuple[Ranked, ...]
    out_dir: Path
    manifest_path: Path
    manifest: dict[str, Any]


# llm.backend picks a pair of registered backends: (topic extractor, prompt writer).
TEXT_BACKENDS = {"openai": ("openai", "openai"), "local": ("local", "templates")}
# A generator that reads only its own caption grammar has its own prompt writer, whatever the text backend.
GENERATOR_WRITERS = {"bundled": "icons"}
RANKER = "clip"


def choose_backend(settings: Settings) -> str:
    """The text backend: with "auto", openai when a key or base_url is set, else local (see TEXT_BACKENDS)."""
    backend = settings.llm.backend
    if backend == "auto":
        return "openai" if (settings.llm.key() or settings.llm.base_url) else "local"
    return backend


def backend_context(
    settings: Settings, store: Store | None = None, count_tokens: Callable[[str], int] | None = None
) -> plugins.Context:
    """What every backend factory gets: the settings and one LLM client for the run, made on first use."""
    from blogart.llm.client import LLMClient

    return plugins.Context(
        settings,
        llm=functools.cache(lambda: LLMClient.from_settings(settings, store)),
        count_tokens=count_tokens,
    )


def _token_counter(generator: Generator) -> Callable[[str], int]:
    """The generator's own token count for the prompt writers, an estimate where it has no tokenizer."""
    from blogart.prompts.builder import estimate_tokens

    def count(text: str) -> int:
        tokens = generator.count_tokens(text)
        return estimate_tokens(text) if tokens is None else tokens

    return count


def _quiet(stage: str) -> None:
    pass


def run_prompt(
    source: str,
    settings: Settings,
    *,
    optimize: bool = False,
    count_tokens=None,
    max_tokens: int | None = None,
    report: Callable[[str], None] = _quiet,
    context: plugins.Context | None = None,
    document: Document | None = None,
) -> PromptRun:
    """Post -> Document -> chunks -> per-chunk topics -> key topics -> image prompt (-> PEZ prompt).

    `document`: a post already read (a social post, normalised), used instead of reading `source`.
    """
    from blogart.generators.defaults import resolve
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document
    from blogart.prompts.styles import get_style, load_styles
    from blogart.topics.combine import combine

    settings = resolve(settings).settings  # generate.model "auto" -> the generator (and writer) it means
    seconds: dict[str, float] = {}
    backend = choose_backend(settings)
    style = get_style(settings.prompt.style, load_styles(settings.prompt.styles_file or None))
    store = Store(settings.store.resolved())
    # One LLM client for the whole run: run_generate passes the context its generator and ranker share.
    ctx = replace(context, count_tokens=count_tokens) if context else backend_context(settings, store, count_tokens)
    # Both made before any work, so a missing key or an unknown plugin fails in a second.
    extractor_name, writer_name = TEXT_BACKENDS[backend]
    writer_name = GENERATOR_WRITERS.get(settings.generate.model, writer_name)
    extractor: TopicExtractor = plugins.create("topic_extractors", extractor_name, ctx)
    writer: PromptWriter = plugins.create("prompt_writers", writer_name, ctx)

    report("reading the post")
    clock = time.perf_counter()
    if document is None:
        document = load_document(source, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    chunks = chunk_document(
        document,
        max_tokens=settings.chunking.max_tokens,
        overlap_tokens=settings.chunking.overlap_tokens,
        encoding=settings.chunking.encoding,
    )
    seconds["read_and_chunk"] = time.perf_counter() - clock

    report(f"extracting topics from {len(chunks)} chunks ({backend})")
    clock = time.perf_counter()
    cache_key = _topics_cache_key(document, backend, settings)
    cached = store.stage_get(cache_key)
    if cached is not None:
        chunk_topics, key_topics = _topics_from_json(cached)
    else:
        chunk_topics = extractor.extract(chunks)
        key_topics = combine(chunk_topics, chunks, settings.topics.max_key_topics, extractor.merger())
        store.stage_put(cache_key, {"chunk_topics": to_dict(chunk_topics), "key_topics": to_dict(key_topics)})
    seconds["topics"] = time.perf_counter() - clock

    report("writing the image prompt")
    clock = time.perf_counter()
    budget = min(settings.prompt.max_tokens, max_tokens or settings.prompt.max_tokens)
    prompt = writer.write(key_topics, document.title, style, settings.prompt.negative, budget)
    _check_blocklist(prompt.text, settings)
    seconds["prompt"] = time.perf_counter() - clock
    usage = ctx.llm().usage if backend == "openai" else LLMUsage()

    run = PromptRun(document, tuple(chunks), tuple(chunk_topics), key_topics, prompt, backend, usage, seconds=seconds)
    if optimize:
        run = _optimize(run, settings, images=(), report=report)
    return run


TOPICS_STAGE_VERSION = 3  # bump when extractors change what they return for the same input


def _topics_cache_key(document: Document, backend: str, settings: Settings) -> str:
    """Topics depend on the post, the backend and model, chunking and the topic count: nothing else."""
    parts = {
        "stage": "topics",
        "version": TOPICS_STAGE_VERSION,
        "content": document.content_hash,
        "backend": backend,
        "model": settings.llm.model if backend == "openai" else "minilm",
        "chunking": settings.chunking.model_dump(),
        "max_topics": settings.topics.max_key_topics,
    }
    return "topics:" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _topic(data: dict[str, Any]) -> Topic:
    return Topic(data["phrase"], data["abstraction"], tuple(data["evidence"]), data["weight"])


def _topics_from_json(data: dict[str, Any]) -> tuple[list[ChunkTopics], KeyTopics]:
    chunk_topics = [
        ChunkTopics(
            ct["chunk_index"], tuple(_topic(t) for t in ct["topics"]), tuple(_topic(t) for t in ct["runners_up"])
        )
        for ct in data["chunk_topics"]
    ]
    key = data["key_topics"]
    return chunk_topics, KeyTopics(tuple(_topic(t) for t in key["topics"]), key["summary"])


def _prompt_blocklist(settings: Settings) -> list[str]:
    return list(settings.moderation.prompt_blocklist) if settings.moderation.enabled else []


def _check_blocklist(prompt_text: str, settings: Settings) -> None:
    """Refuse a prompt with a blocked word as soon as it is written (OpenAI's verdict comes in run_generate)."""
    blocked = _prompt_blocklist(settings)
    if blocked:
        from blogart.ranking.moderation import Moderator

        Moderator(prompt_blocklist=blocked).check_prompt(prompt_text)


def _optimize(
    run: PromptRun, settings: Settings, images: tuple[Path, ...], report: Callable[[str], None] = _quiet
) -> PromptRun:
    """Second-round prompt: PEZ against the key topics (and the best first-round images, if any)."""
    from blogart.prompts.optimize import optimize_prompt, to_image_prompt
    from blogart.ranking.factory import clip_from_settings

    report(f"optimising the prompt with CLIP (PEZ, {settings.optimize.iterations} iterations)")
    clock = time.perf_counter()
    opt = settings.optimize
    result = optimize_prompt(
        clip_from_settings(settings),
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
        blocklist=[*opt.blocklist, *_prompt_blocklist(settings)],
        seed=opt.seed,
        threads=settings.rank.threads or None,
    )
    _check_blocklist(result.text, settings)
    optimized = to_image_prompt(result, run.prompt)
    seconds = {**run.seconds, "optimize": time.perf_counter() - clock}
    return replace(run, optimized=optimized, optimize_history=tuple(result.score_history), seconds=seconds)


def _request(prompt: ImagePrompt, settings: Settings, seed_offset: int = 0) -> GenerationRequest:
    g = settings.generate
    return GenerationRequest(
        prompt=prompt.text,
        negative_prompt=prompt.negative_prompt,
        n=g.n,
        seed=g.seed + seed_offset,
        condition_scale=g.condition_scale,
        top_k=g.top_k or None,
        top_p=g.top_p,
        temperature=g.temperature,
    )


def run_generate(
    source: str, settings: Settings, *, rank: bool = True, report: Callable[[str], None] = _quiet
) -> GenerateRun:
    """The whole job: prompt, candidates (one or two rounds), ranking and moderation, manifest.

    Images are drawn into a staging folder and the run is published as a whole at the end
    (see `blogart.outputs.files`): a run that fails leaves the previous one as it was.
    """
    from blogart.generators.defaults import resolve
    from blogart.outputs.files import StagedRun, check_writable
    from blogart.outputs.manifest import build_manifest
    from blogart.ranking.factory import clip_from_settings

    settings = resolve(settings).settings  # "auto": DALL-E Mini when installed, else the bundled model
    # Generator and ranker found before any work, so missing weights fail in a second, not after the drawing.
    ctx = backend_context(settings, Store(settings.store.resolved()))
    generator: Generator = plugins.create("generators", settings.generate.model, ctx)
    ranker: Ranker | None = plugins.create("rankers", RANKER, ctx) if rank else None
    if ranker is None and settings.generate.rounds > 1:
        clip_from_settings(settings)  # round 2's PEZ needs CLIP even without ranking
    check_writable(Path(settings.generate.out_dir))
    # The generator's tokenizer and text length set the prompt's budget.
    run = run_prompt(
        source,
        settings,
        count_tokens=_token_counter(generator),
        max_tokens=generator.max_prompt_tokens(),
        report=report,
        context=ctx,
    )

    def screen(prompt: ImagePrompt) -> None:
        # The blocklist was checked when the prompt was written; OpenAI's verdict, too, comes before drawing.
        if ranker is not None:
            ranker.check_prompt(prompt.text)

    screen(run.prompt)
    with StagedRun(Path(settings.generate.out_dir), run.document) as staged:
        report(f"drawing {settings.generate.n} candidates with {generator.name}")
        clock = time.perf_counter()
        candidates = staged.write(generator.generate(_request(run.prompt, settings), round=1))
        seconds = {**run.seconds, "generate_round1": time.perf_counter() - clock}

        ranked: list[Ranked] = []
        if ranker is not None:
            report("ranking with CLIP")
            clock = time.perf_counter()
            ranked = ranker.rank(candidates, run.prompt, run.key_topics)
            seconds["rank_round1"] = time.perf_counter() - clock

        if settings.generate.rounds > 1:
            best = tuple(r.candidate.path for r in ranked if not r.flagged)[: settings.rank.top_k]
            run = _optimize(run, settings, images=best, report=report)
            screen(run.optimized)
            report(f"drawing {settings.generate.n} round-2 candidates")
            clock = time.perf_counter()
            second = generator.generate(_request(run.optimized, settings, seed_offset=settings.generate.n), round=2)
            candidates += staged.write(second)
            seconds["generate_round2"] = time.perf_counter() - clock
            if ranker is not None:
                # Both rounds are scored against the builder's prompt and topics so scores compare.
                report("ranking both rounds with CLIP")
                ranked = ranker.rank(candidates, run.prompt, run.key_topics)

        # The manifest names the files where they will be once published, not in the staging folder.
        candidates = [staged.final(c) for c in candidates]
        ranked = [replace(r, candidate=staged.final(r.candidate)) for r in ranked]
        run = replace(run, seconds=seconds)
        models = {
            "generator": generator.name,
            "weights": generator.describe(),
            "ranker": ranker.model_id if ranker is not None else None,
        }
        manifest = build_manifest(run.to_json(), candidates, ranked, settings, models, __version__)
        manifest_path = staged.publish(manifest)
    return GenerateRun(run, tuple(candidates), tuple(ranked), staged.folder, manifest_path, manifest)
