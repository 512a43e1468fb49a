"""The only wiring: calls the stages in order, picks backends from settings, writes the manifest.

Stages never import each other; each takes and returns values from `blogart.values`.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart import __version__, plugins
from blogart.config import Settings
from blogart.pipeline.post_control import KEY, PostControl, PostSkipped, read_control
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
    PublishOptions,
    Ranked,
    Topic,
    to_dict,
)

if TYPE_CHECKING:
    from blogart.outputs.manifest_read import Manifest, PublishSection


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
    control: PostControl | None = None,
) -> PromptRun:
    """Post -> Document -> chunks -> per-chunk topics -> key topics -> image prompt (-> PEZ prompt).

    `document`: a post already read (a social post, normalised), used instead of reading `source`.
    `control`: the post's `blogart:` mapping, already applied to `settings` (run_generate); None: read
    here from the post's front matter and applied (its style, negative words and prompt).
    """
    from blogart.generators.defaults import resolve
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document
    from blogart.pipeline.post_hash import post_hash
    from blogart.prompts.styles import get_style, load_styles
    from blogart.topics.combine import combine

    settings = resolve(settings).settings  # generate.model "auto" -> the generator (and writer) it means
    seconds: dict[str, float] = {}
    backend = choose_backend(settings)
    get_style(settings.prompt.style, load_styles(settings.prompt.styles_file or None))  # a bad setting fails now
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
    if control is None:
        control = read_control(document.front_matter, document.source)
        settings = control.apply(settings, document.source)
    style = get_style(settings.prompt.style, load_styles(settings.prompt.styles_file or None))
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
    if control.prompt is not None:  # the post's own prompt, word for word; the style's negative words still apply
        prompt = _own_prompt(control.prompt, style, settings.prompt.negative, ctx.count_tokens)
    else:
        prompt = writer.write(key_topics, document.title, style, settings.prompt.negative, budget)
    _check_blocklist(prompt.text, settings)
    seconds["prompt"] = time.perf_counter() - clock
    usage = ctx.llm().usage if backend == "openai" else LLMUsage()

    run = PromptRun(
        document,
        tuple(chunks),
        tuple(chunk_topics),
        key_topics,
        prompt,
        backend,
        usage,
        seconds=seconds,
        control=control.recorded(),
        post_hash=post_hash(document, settings),
    )
    if optimize:
        run = _optimize(run, settings, images=(), report=report)
    return run


def _own_prompt(text: str, style: Any, negative: list[str], count_tokens: Callable[[str], int] | None) -> ImagePrompt:
    """A post's `blogart.prompt` as the image prompt: its words as written, the negative words merged as usual."""
    from blogart.prompts.builder import counter_or_estimate, merge_negative

    return ImagePrompt(
        text=text,
        negative=merge_negative(style, negative),
        style=style.name,
        tokens=counter_or_estimate(count_tokens)(text),
        writer="front matter",
    )


TOPICS_STAGE_VERSION = 4  # bump when extractors change what they return for the same input


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


def publish_options(settings: Settings, **changes: Any) -> PublishOptions:
    """The [publish] settings as the value the publish step takes; `changes` (flags) win where not None."""
    from blogart.outputs.crops import parse_size

    p = settings.publish
    options = PublishOptions(
        enabled=p.enabled,
        front_matter=p.front_matter or None,
        sizes=tuple(parse_size(name, size) for name, size in p.sizes.items()),
        upscaler=p.upscaler,
        upscale_size=p.upscale_size,
    )
    return replace(options, **{k: v for k, v in changes.items() if v is not None})


def run_generate(
    source: str,
    settings: Settings,
    *,
    rank: bool = True,
    report: Callable[[str], None] = _quiet,
    publish: PublishOptions | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> GenerateRun:
    """The whole job: prompt, candidates (one or two rounds), ranking and moderation, publishing, manifest.

    `on_image(done, n)`: images drawn so far, for a progress bar (when the generator reports them).

    Images are drawn into a staging folder and the run is published as a whole at the end
    (see `blogart.outputs.files`): a run that fails leaves the previous one as it was. `publish`
    (default: from the [publish] settings) says what to make of the best candidate: cover, crops,
    gallery and the post's front matter.
    """
    from blogart.generators.defaults import resolve
    from blogart.outputs.files import StagedRun, check_writable
    from blogart.outputs.manifest import build_manifest
    from blogart.pipeline.document import load_document
    from blogart.ranking.factory import clip_from_settings

    settings = resolve(settings).settings  # "auto": DALL-E Mini when installed, else the bundled model
    options = publish if publish is not None else publish_options(settings)
    # Generator and ranker found before any work, so missing weights fail in a second, not after the drawing.
    store = Store(settings.store.resolved())
    ctx = backend_context(settings, store)
    generator: Generator = plugins.create("generators", settings.generate.model, ctx)
    ranker: Ranker | None = plugins.create("rankers", RANKER, ctx) if rank else None
    if ranker is None and settings.generate.rounds > 1:
        clip_from_settings(settings)  # round 2's PEZ needs CLIP even without ranking
    # The post's own `blogart:` front matter sets its style, negative words and seed. Applied after the
    # generator and ranker are made: a batch shares them across posts, keyed by the settings they got.
    document = load_document(source, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    control = read_control(document.front_matter, document.source)
    if control.skip and not options.force:
        raise PostSkipped(f"{source}: its front matter says {KEY}.skip: true (--force draws it anyway)")
    settings = control.apply(settings, document.source)
    check_writable(Path(settings.generate.out_dir))
    swin2sr = _check_publish(source, settings, options)
    # The generator's tokenizer and text length set the prompt's budget.
    run = run_prompt(
        source,
        settings,
        count_tokens=_token_counter(generator),
        max_tokens=generator.max_prompt_tokens(),
        report=report,
        context=ctx,
        document=document,
        control=control,
    )

    def screen(prompt: ImagePrompt) -> None:
        # The blocklist was checked when the prompt was written; OpenAI's verdict, too, comes before drawing.
        if ranker is not None:
            ranker.check_prompt(prompt.text)

    screen(run.prompt)
    with StagedRun(Path(settings.generate.out_dir), run.document) as staged:
        report(f"drawing {settings.generate.n} candidates with {generator.name}")
        clock = time.perf_counter()
        candidates = staged.write(_draw(generator, _request(run.prompt, settings), 1, on_image))
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
            second = _draw(generator, _request(run.optimized, settings, seed_offset=settings.generate.n), 2, on_image)
            candidates += staged.write(second)
            seconds["generate_round2"] = time.perf_counter() - clock
            if ranker is not None:
                # Both rounds are scored against the builder's prompt and topics so scores compare.
                report("ranking both rounds with CLIP")
                ranked = ranker.rank(candidates, run.prompt, run.key_topics)

        # The manifest names the files where they will be once published, not in the staging folder.
        drawn = {c.path.name: c.path for c in candidates}
        candidates = [staged.final(c) for c in candidates]
        ranked = [replace(r, candidate=staged.final(r.candidate)) for r in ranked]
        section, edit = None, None
        if options.enabled:
            report("publishing the cover, its crops and the gallery")
            clock = time.perf_counter()
            section, edit = _publish(
                staged, run, candidates, ranked, drawn, options, settings, generator.name, ranker, swin2sr, ctx
            )
            seconds["publish"] = time.perf_counter() - clock
        run = replace(run, seconds=seconds)
        models = {
            "generator": generator.name,
            "weights": generator.describe(),
            "ranker": ranker.model_id if ranker is not None else None,
        }
        manifest = build_manifest(run.to_json(), candidates, ranked, settings, models, __version__)
        manifest.update(_provenance(settings, generator, ranker, seconds, store))
        manifest["publish"] = section
        manifest_path = staged.publish(manifest)
    if edit is not None:
        from blogart.outputs.frontmatter import apply

        apply(*edit, (staged.folder / "cover.png").read_bytes())
    return GenerateRun(run, tuple(candidates), tuple(ranked), staged.folder, manifest_path, manifest)


def _draw(generator: Generator, request: GenerationRequest, round: int, on_image) -> list:
    """One round's drawings; `on_image(done, n)` as they come, from a generator that takes `progress`."""
    if on_image is None or "progress" not in inspect.signature(generator.generate).parameters:
        return generator.generate(request, round=round)  # a plugin's generator need not report progress
    on_image(0, request.n)
    return generator.generate(request, round=round, progress=lambda done: on_image(done, request.n))


# --- publishing (the step after ranking) -------------------------------------------------------


def _check_publish(source: str, settings: Settings, options: PublishOptions) -> Any:
    """Before any work: the post can take front matter, the upscaler has its weights. Returns Swin2SR or None."""
    if not options.enabled:
        return None
    if options.front_matter:
        from blogart.outputs import frontmatter

        p = settings.publish
        frontmatter.key_paths(options.front_matter, p.astro_alt_key, (p.custom_image_key, p.custom_alt_key))
        post = frontmatter.check_post(source)
        # Where the cover goes, and whether the front matter can take it, before anything is drawn.
        frontmatter.check(
            post,
            options.front_matter,
            slug="cover",
            force=options.force,
            static_dir=p.static_dir,
            static_url=p.static_url,
            astro_alt_key=p.astro_alt_key,
            custom=(p.custom_image_key, p.custom_alt_key),
        )
    if options.upscaler == "swin2sr":
        from blogart import modelhub
        from blogart.outputs.upscale import Swin2SR

        return Swin2SR(modelhub.find("swin2sr", settings.models.swin2sr or None, settings.models.cache_dir or None))
    return None


def _front_matter_plan(
    post: Path,
    document: Document,
    alt: str,
    options: PublishOptions,
    settings: Settings,
    *,
    cover_png: bytes | None = None,
    previous: dict[str, Any] | None = None,
):
    """The edit of `post`'s front matter that names its cover (what `generate` and `pick` write).

    `cover_png`: the cover, whose hash names the placed file. `previous`: the run folder's last
    `publish.front_matter` (default: read from the post's run folder under out_dir).
    """
    from blogart.outputs import frontmatter
    from blogart.outputs.files import folder_for, slug_for

    if previous is None:
        previous = _previous_front_matter(folder_for(Path(settings.generate.out_dir), document))
    p = settings.publish
    return frontmatter.plan(
        post,
        options.front_matter,
        slug=slug_for(document),
        alt=alt,
        cover_png=cover_png,
        force=options.force,
        static_dir=p.static_dir,
        static_url=p.static_url,
        astro_alt_key=p.astro_alt_key,
        custom=(p.custom_image_key, p.custom_alt_key),
        previous=previous,
    )


def _previous_front_matter(folder: Path) -> dict[str, Any] | None:
    """The `publish.front_matter` of the run published in `folder`, if it has one."""
    from blogart.outputs.files import MANIFEST_NAME

    try:
        recorded = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["publish"]["front_matter"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return recorded if isinstance(recorded, dict) else None


def _alt_text(run: PromptRun, settings: Settings, ctx: plugins.Context) -> tuple[str, str]:
    from blogart.outputs.alttext import llm_alt_text, template_alt_text

    mode = settings.publish.alt_text
    if mode == "llm" or (mode == "auto" and run.backend == "openai"):
        return llm_alt_text(ctx.llm(), run.prompt, run.key_topics, run.document.title), "llm"
    return template_alt_text(run.prompt, run.key_topics, run.prompt.style), "template"


def _scorer(ranker: Ranker | None, prompt: ImagePrompt) -> tuple[Any, str]:
    """Crop windows scored by CLIP against the prompt when ranking is on, else by saliency."""
    if ranker is None:
        return None, "saliency"
    return (lambda images: ranker.score_images(images, prompt.text)), f"clip:{ranker.model_id}"


def _publish(staged, run, candidates, ranked, drawn, options, settings, generator_name, ranker, swin2sr, ctx):
    """Cover, crops and gallery into the staging folder; the front-matter edit planned (applied after the swap)."""
    from blogart.outputs.gallery import numbered
    from blogart.outputs.publish import inputs_hash, previous_images, render_images, write_outputs

    items = numbered(list(candidates), list(ranked))
    chosen = next((i for i in items if i.ranked is None or not i.ranked.flagged), None)
    alt, alt_source = _alt_text(run, settings, ctx)
    images, digest = None, None
    if chosen is not None:
        source_png = drawn[chosen.candidate.path.name].read_bytes()
        scorer, scorer_id = _scorer(ranker, run.prompt)
        digest = inputs_hash(source_png, options, scorer_id)
        images = previous_images(staged.folder, digest) or render_images(source_png, options, scorer, swin2sr)
    written, section = write_outputs(
        staged.staging,
        staged.folder,
        images=images,
        chosen=chosen,
        items=items,
        title=run.document.title,
        generator=generator_name,
        prompt=run.prompt,
        key_topics=run.key_topics,
        alt=alt,
        alt_source=alt_source,
        options=options,
        digest=digest,
    )
    staged.add_files(written)
    edit = None
    if options.front_matter and images is not None:
        plan = _front_matter_plan(
            Path(run.document.source),
            run.document,
            alt,
            options,
            settings,
            cover_png=images.cover_png,
            previous=_previous_front_matter(staged.folder),
        )
        section["front_matter"] = to_dict(plan[0])
        edit = plan
    return section, edit


def _provenance(settings, generator, ranker, seconds, store) -> dict[str, Any]:
    from blogart.outputs.provenance import describe_provenance

    locations = {k: v for k, v in generator.describe().items() if k in ("checkpoint", "vqgan") and v}
    if ranker is not None:
        from blogart.ranking.clip import resolve_clip

        r = settings.rank
        source = resolve_clip(
            r.model, r.pretrained, settings.models.path_for("clip"), settings.models.cache_dir or None
        )
        # A `local-dir:` folder (the bundled CLIP, say) names no file: its weights are in the folder.
        locations["clip"] = source.checkpoint or source.model_name.removeprefix("local-dir:")
    return describe_provenance(locations, seconds, store)


# --- pick another candidate, redraw a run -----------------------------------------------------


@dataclass(frozen=True)
class PickRun:
    folder: Path
    number: int
    manifest: dict[str, Any]
    front_matter: str | None  # the edit's status, when the post's front matter was touched


def _load_manifest(path: Path) -> tuple[Manifest, dict[str, Any]]:
    """(typed Manifest, the JSON as read): every value checked before anything is drawn or written."""
    from blogart.outputs.manifest_read import read_manifest

    return read_manifest(path)


def find_run_folder(target: str, settings: Settings) -> tuple[Path, Path | None]:
    """(run folder, post): the folder given as itself or its manifest (post None), or the post it was made from."""
    from blogart.errors import UsageError
    from blogart.outputs.files import MANIFEST_NAME, folder_for, slug_for
    from blogart.pipeline.document import load_document

    path = Path(target)
    if path.is_dir() and (path / MANIFEST_NAME).is_file():
        return path, None
    if path.name == MANIFEST_NAME and path.is_file():
        return path.parent, None
    if path.is_dir():
        raise UsageError(f"{path} is not a run folder (no {MANIFEST_NAME})")
    document = load_document(target, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    base = Path(settings.generate.out_dir)
    folder = _run_recording(base, slug_for(document), path) if path.is_file() else None
    folder = folder or folder_for(base, document)
    if not (folder / MANIFEST_NAME).is_file():
        raise UsageError(f"{target} has no run in {settings.generate.out_dir}; run `blogart generate` first")
    return folder, (path if path.is_file() else None)


def _run_recording(base: Path, slug: str, post: Path) -> Path | None:
    """The run folder (`<slug>`, `<slug>-2`, ...) whose manifest records `post` at its absolute path.

    Found wherever `generate` ran from and however the post was edited since; only a lookup, the
    manifest is read in full (and checked) afterwards.
    """
    from blogart.outputs.files import MANIFEST_NAME

    wanted = post.resolve()
    for n in range(1, 1000):
        folder = base / (slug if n == 1 else f"{slug}-{n}")
        if not folder.is_dir():
            return None
        try:
            recorded = json.loads((folder / MANIFEST_NAME).read_text(encoding="utf-8"))["post"]["path"]
            if isinstance(recorded, str) and Path(recorded).resolve() == wanted:
                return folder
        except (OSError, ValueError, KeyError, TypeError, RecursionError, RuntimeError):
            continue
    return None


def _rows_as_values(manifest: Manifest, folder: Path) -> tuple[list[Candidate], list[Ranked]]:
    """The manifest's candidates back as values, their files looked up by name in `folder` (which may have moved)."""
    from blogart.values import Flag

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


def _prompt_of(manifest: Manifest) -> tuple[ImagePrompt, KeyTopics]:
    text = manifest.text
    negative = tuple(w.strip() for w in (text.negative_prompt or "").split(",") if w.strip())
    prompt = ImagePrompt(text.prompt, negative, text.style, text.prompt_tokens)
    topics = tuple(Topic(t.phrase, t.abstraction, tuple(t.evidence), t.weight) for t in text.key_topics)
    return prompt, KeyTopics(topics, text.summary)


def _recorded_ranker_settings(manifest: Manifest, settings: Settings) -> Settings:
    """`settings` with the CLIP the run ranked with (the bundled one, say): crops are scored as `generate` did.

    Moderation is off: the candidates' flags are the manifest's, and only crop windows are scored here.
    """
    from pydantic import ValidationError

    from blogart.config import RankSettings
    from blogart.errors import UsageError

    rank = manifest.recorded("rank")
    keys = ("model", "pretrained", "negative_weight", "batch_size")
    try:
        recorded = RankSettings.model_validate({k: rank[k] for k in keys if k in rank})
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        key = ".".join(str(part) for part in error["loc"])
        raise UsageError(f"the manifest's settings.rank.{key} is unusable: {error['msg']}") from None
    models = manifest.recorded("models")
    if not isinstance(models.get("clip", ""), str):
        raise UsageError("the manifest's settings.models.clip is not a path")
    clip = {"clip": models["clip"]} if "clip" in models else {}
    return settings.model_copy(
        update={
            "rank": settings.rank.model_copy(update={k: getattr(recorded, k) for k in keys if k in rank}),
            "models": settings.models.model_copy(update=clip),
            "moderation": settings.moderation.model_copy(update={"enabled": False}),
        }
    )


def _image_bytes(path: Path) -> bytes:
    """A candidate's PNG from the run folder, checked to be an image (one line when it is not)."""
    import io

    from PIL import Image

    from blogart.errors import UsageError

    try:
        data = path.read_bytes() if path.is_file() else None
        if data is not None:
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise UsageError(f"{path} is not a readable image: {' '.join(str(exc).split())}") from None
    if data is None:
        raise UsageError(f"{path.name} is missing from the run folder {path.parent}")
    return data


def _prior_placement(previous: PublishSection, post: Path, settings: Settings) -> dict[str, Any]:
    """The manifest's record of the cover it placed, its file kept only inside the post's site or static_dir."""
    from blogart.outputs.site import find_site

    if previous.front_matter is None:
        return {}
    roots = [site.root] if (site := find_site(post)) is not None else []
    if settings.publish.static_dir:
        roots.append(Path(settings.publish.static_dir))
    return previous.front_matter.placed_within(roots)


def run_pick(
    target: str,
    number: int,
    settings: Settings,
    *,
    publish: PublishOptions | None = None,
    report: Callable[[str], None] = _quiet,
) -> PickRun:
    """Make candidate `number` (as the gallery numbers them) the cover: files, crops, gallery, manifest, post.

    Writes only into the run folder and, with front matter, to the post and where its site serves the
    cover. The post is the one given as `target`, or the manifest's when it lies inside the site the
    manifest records (`manifest_read.trusted_post`). Ranking models and settings are the recorded ones.
    """
    from blogart.errors import UsageError
    from blogart.outputs import frontmatter
    from blogart.outputs.files import MANIFEST_NAME, Restaged
    from blogart.outputs.gallery import numbered
    from blogart.outputs.manifest_read import PublishSection, trusted_post
    from blogart.outputs.publish import inputs_hash, render_images, write_outputs

    folder, given_post = find_run_folder(target, settings)
    manifest, data = _load_manifest(folder / MANIFEST_NAME)
    candidates, ranked = _rows_as_values(manifest, folder)
    items = numbered(candidates, ranked)
    if not 1 <= number <= len(items):
        raise UsageError(f"there is no candidate {number}; {folder} has candidates 1 to {len(items)}")
    chosen = items[number - 1]
    if chosen.ranked is not None and chosen.ranked.flagged:
        concepts = ", ".join(f.concept for f in chosen.ranked.flags)
        raise UsageError(f"candidate {number} was flagged by moderation ({concepts}); pick another")
    previous = manifest.publish or PublishSection()
    recorded = previous.front_matter.preset if previous.front_matter else None
    options = publish if publish is not None else publish_options(settings, front_matter=recorded)
    post = (given_post or trusted_post(manifest)) if options.front_matter else None
    swin2sr = _check_publish(str(post or ""), settings, options)
    ranker = None
    if manifest.ranked:
        ranker_settings = _recorded_ranker_settings(manifest, settings)
        ctx = backend_context(ranker_settings, Store(settings.store.resolved()))
        ranker = plugins.create("rankers", RANKER, ctx)
    prompt, key_topics = _prompt_of(manifest)
    source_png = _image_bytes(chosen.candidate.path)
    report(f"publishing candidate {number}")
    scorer, scorer_id = _scorer(ranker, prompt)
    images = render_images(source_png, options, scorer, swin2sr)
    alt = previous.alt_text or ""
    if not alt:
        from blogart.outputs.alttext import template_alt_text

        alt = template_alt_text(prompt, key_topics, prompt.style)
    edit = None
    with Restaged(folder) as staged:
        _, section = write_outputs(
            staged.staging,
            folder,
            images=images,
            chosen=chosen,
            items=items,
            title=manifest.text.title,
            generator=manifest.generator,
            prompt=prompt,
            key_topics=key_topics,
            alt=alt,
            alt_source=previous.alt_source,
            options=options,
            digest=inputs_hash(source_png, options, scorer_id),
        )
        if post is not None:
            from blogart.pipeline.document import load_document

            document = load_document(str(post), max_bytes=settings.input.max_bytes)
            prior = _prior_placement(previous, post, settings)
            edit = _front_matter_plan(
                post, document, alt, options, settings, cover_png=images.cover_png, previous=prior
            )
            section["front_matter"] = to_dict(edit[0])
        data["cover"] = str(folder / chosen.candidate.path.name)
        data["publish"] = section
        staged.publish(data)
    if edit is not None:
        frontmatter.apply(*edit, images.cover_png)
    return PickRun(folder, number, data, edit[0].status if edit else None)


@dataclass(frozen=True)
class Redrawn:
    name: str
    same_bytes: bool
    same_pixels: bool


def _recorded_generate_settings(manifest: Manifest, settings: Settings) -> Settings:
    """`settings` with the generator, weights and sampling the manifest records, each checked as config is."""
    from pydantic import ValidationError

    from blogart.config import GenerateSettings, ModelsSettings
    from blogart.errors import UsageError

    name = manifest.generator
    weights = manifest.models.weights
    g = manifest.recorded("generate")
    generate = {
        "model": name,
        "dtype": weights.get("dtype") or g.get("dtype"),
        **{k: g.get(k) for k in ("condition_scale", "top_k", "top_p", "temperature", "batch_size")},
    }
    generate = {k: v for k, v in generate.items() if v is not None}
    models = {"vqgan": weights.get("vqgan")}
    if name in ("dalle-mini", "dalle-mega"):
        models[name.replace("-", "_")] = weights.get("checkpoint")
    models = {k: v for k, v in models.items() if v}
    checked = []
    for section, model, current, values in (
        ("settings.generate", GenerateSettings, settings.generate, generate),
        ("models.weights", ModelsSettings, settings.models, models),
    ):
        try:
            valid = model.model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            error = exc.errors(include_url=False, include_input=False)[0]
            key = ".".join(str(part) for part in error["loc"])
            raise UsageError(f"the manifest's {section}.{key} is unusable: {error['msg']}") from None
        checked.append(current.model_copy(update={k: getattr(valid, k) for k in values}))
    return settings.model_copy(update={"generate": checked[0], "models": checked[1]})


def run_regenerate(
    manifest_path: Path, settings: Settings, *, out: Path | None = None, report: Callable[[str], None] = _quiet
) -> list[Redrawn]:
    """Draw a manifest's candidates again (same model, weights, seeds, prompts and settings) and compare.

    Each round draws as many images as its rows (the manifest's indices are checked to fit them); the
    stored images are read by name from the manifest's folder; only `out` is written to.
    """
    import io

    from PIL import Image

    from blogart.errors import UsageError
    from blogart.outputs.files import check_folder, write_drawing

    if out is not None:
        check_folder(Path(out), "--out")
    manifest, _ = _load_manifest(Path(manifest_path))
    folder = Path(manifest_path).parent
    if manifest.generator == "openai-images":
        raise UsageError("openai-images takes no seed, so its images cannot be redrawn; only local models can")
    current = _recorded_generate_settings(manifest, settings)
    generator: Generator = plugins.create("generators", manifest.generator, backend_context(current))
    rows_by_round: dict[int, list[Any]] = {}
    for row in manifest.candidates:
        rows_by_round.setdefault(row.round, []).append(row)
    results = []
    for round_number, rows in sorted(rows_by_round.items()):
        first = rows[0]
        request = replace(
            _request(ImagePrompt(first.prompt, (), "", 0), current),
            negative_prompt=first.negative_prompt,
            n=max(r.index for r in rows) + 1,
            seed=first.seed,
        )
        report(f"redrawing round {round_number} ({request.n} images)")
        drawings = {d.index: d for d in generator.generate(request, round=round_number)}
        for row in rows:
            drawing = drawings[row.index]
            stored = folder / row.name
            old = stored.read_bytes() if stored.is_file() else b""
            same_pixels = False
            if old:
                try:
                    with Image.open(io.BytesIO(old)) as a, Image.open(io.BytesIO(drawing.png)) as b:
                        same_pixels = a.size == b.size and a.convert("RGB").tobytes() == b.convert("RGB").tobytes()
                except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
                    same_pixels = False  # the stored file is no image: it differs
            if out is not None:
                write_drawing(Path(out), drawing)
            results.append(Redrawn(stored.name, old == drawing.png, same_pixels))
    return results
