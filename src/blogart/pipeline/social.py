"""`blogart social`: an informal post to images for each platform, with captions, alt text and a manifest.

Post -> SocialPost -> Normalised text -> Document -> key topics (pipeline.prompt) -> one prompt per slide
topic -> candidates per topic -> ranked with the social moderation preset -> carousel slides ->
platform images, captions, alt texts, manifest and summary (outputs.social). Nothing is posted.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, BinaryIO

from blogart import __version__, plugins
from blogart.config import Settings
from blogart.outputs.manifest import build_social_manifest, flag_rows
from blogart.pipeline.plan import Report, RunPlan, Session, generation_request, open_session, quiet
from blogart.pipeline.prompt import PromptRun, run_prompt, style_of
from blogart.protocols import Generator, PromptWriter
from blogart.social.carousel import Slide, TopicDraw, lead_with, pick_slides, slide_topics
from blogart.social.normalise import Normalised, load_slang, normalise
from blogart.social.platforms import MAX_CAROUSEL, Platform, choose_platforms
from blogart.social.read import SocialPost, read_post
from blogart.values import Document, ImagePrompt, KeyTopics, Ranked, Section, StylePreset, Topic


@dataclass(frozen=True)
class SocialResult:
    post: SocialPost
    normalised: Normalised
    platforms: tuple[Platform, ...]
    slides: tuple[Slide, ...]
    out_dir: Path
    manifest_path: Path
    manifest: dict[str, Any]
    summary: dict[str, Any]


def social_document(post: SocialPost, normalised: Normalised) -> Document:
    """The normalised post as the Document the topic stage reads (one section, no headings)."""
    text = normalised.text
    # The hash covers the normalised text: a new slang entry changes what is read, so topics are redone.
    digest = hashlib.sha256(f"{post.content_hash}\n{text}".encode()).hexdigest()
    return Document(post.source or "-", "social", post.title, {}, (Section((), text),), text, digest)


def _moderator(settings: Settings, ctx: plugins.Context):
    """The social preset's moderator, or None to let the ranker use [moderation] as configured."""
    from blogart.ranking.moderation import SOCIAL, preset_moderator

    social, mod = settings.social, settings.moderation
    if social.moderation != "social" or not mod.enabled:
        return None
    llm = settings.llm
    use_openai = mod.openai or (SOCIAL.openai_when_key and llm.key() is not None)
    if use_openai and not (llm.key() or llm.base_url):
        from blogart.errors import UsageError

        raise UsageError("OpenAI moderation needs an API key (OPENAI_API_KEY or [llm] api_key)")
    moderator = preset_moderator(
        SOCIAL,
        concepts=social.concepts,
        extra_concepts=dict(mod.concepts),
        prompt_blocklist=list(mod.prompt_blocklist),
        openai=ctx.llm() if use_openai else None,
    )
    moderator.refuse_blocked_prompt = False  # a refused slide is skipped and reported, the others go on
    return moderator


def run_social(
    source: str,
    plan: RunPlan,
    *,
    platforms: Sequence[str] = (),
    carousel: int | None = None,
    per_topic: int | None = None,
    stdin: BinaryIO | None = None,
    report: Report = quiet,
) -> SocialResult:
    """Read, normalise, extract topics, draw and rank per slide topic, pick the carousel, write the folder.

    The run folder is staged and published whole (see outputs.social); nothing is posted anywhere.
    """
    from blogart.outputs.files import check_writable
    from blogart.outputs.social import SocialRun

    settings = plan.settings
    count = min(carousel or settings.social.carousel, MAX_CAROUSEL)
    post = read_post(source, max_bytes=settings.input.max_bytes, stdin=stdin)
    chosen = choose_platforms(platforms or post.platforms or ["all"])
    slang = load_slang(settings.social.slang_file or None)
    out_base = Path(settings.social.out_dir)
    check_writable(out_base)

    # Generator and ranker found before any work, so missing weights fail in a second.
    session = open_session(settings)
    generator: Generator = session.create("generators", plan.generator)
    drawer = _Drawer(generator, *_ranker(settings, session.context), settings, report)
    session = session.for_generator(generator)

    clock = time.perf_counter()
    normalised = normalise(post.text, slang)
    document = social_document(post, normalised)
    seconds = {"normalise": time.perf_counter() - clock}
    run = run_prompt(document.source, plan, report=report, session=session, document=document)
    seconds.update(run.seconds)
    # Every slide's prompt by the run's writer: the bundled model reads only its own caption grammar.
    writer: PromptWriter = session.create("prompt_writers", plan.writer)
    style = style_of(settings)
    topics = slide_topics(run.key_topics, count)
    per = max(per_topic or settings.social.per_topic, math.ceil(count / max(len(topics), 1)))

    with SocialRun(out_base, document) as staged:
        clock = time.perf_counter()
        prompts = _slide_prompts(writer, settings, session, run, topics, style)
        for number, (topic, prompt, key_topics) in enumerate(prompts, 1):
            drawer.draw(staged, number, topic, prompt, key_topics, per)
        seconds["draw_and_rank"] = time.perf_counter() - clock

        slides = pick_slides(drawer.draws, count, style.name, run.key_topics.topics)
        report(f"writing {len(slides)} images for {', '.join(p.name for p in chosen)}")
        clock = time.perf_counter()
        summary_platforms = staged.write_platforms(slides, chosen, post.text)
        seconds["platform_images"] = time.perf_counter() - clock

        final = {r.candidate.path: staged.final(r.candidate).path for d in drawer.draws for r in d.ranked}
        manifest = build_social_manifest(
            run.to_json(),
            post,
            normalised,
            seconds,
            platforms=[p.name for p in chosen],
            carousel=count,
            slides=slides,
            draws=drawer.draws,
            final=final,
            moderation=drawer.moderation(),
            settings=settings,
            models={"generator": generator.name, "weights": generator.describe(), "ranker": drawer.ranker.model_id},
            version=__version__,
        )
        summary = _summary(post, staged.folder, slides, summary_platforms, chosen)
        manifest_path = staged.publish_social(manifest, summary)
    slides = tuple(replace(s, ranked=_moved(s.ranked, final)) for s in slides)
    return SocialResult(post, normalised, chosen, slides, staged.folder, manifest_path, manifest, summary)


def _slide_prompts(
    writer: PromptWriter,
    settings: Settings,
    session: Session,
    run: PromptRun,
    topics: Sequence[Topic],
    style: StylePreset,
) -> Iterator[tuple[Topic, ImagePrompt, KeyTopics]]:
    """Each slide topic with its prompt, written as it is reached: the first is the run's own prompt."""
    budget = min(settings.prompt.max_tokens, session.max_tokens or settings.prompt.max_tokens)
    for number, topic in enumerate(topics, 1):
        key_topics = lead_with(run.key_topics, topic)
        if number == 1:
            yield topic, run.prompt, key_topics
        else:
            title = run.document.title
            yield topic, writer.write(key_topics, title, style, settings.prompt.negative, budget), key_topics


def _ranker(settings: Settings, ctx: plugins.Context) -> tuple[Any, Any]:
    """(the ranker, the social preset's moderator or None)."""
    from blogart.ranking.factory import build_ranker

    moderator = _moderator(settings, ctx)
    llm = settings.llm
    shared = ctx.llm() if settings.moderation.openai and (llm.key() or llm.base_url) else None
    return build_ranker(settings, top_k=None, llm=shared, moderator=moderator), moderator


@dataclass
class _Drawer:
    """Draws and ranks each slide topic's candidates; keeps what it drew and the prompts moderation refused."""

    generator: Generator
    ranker: Any
    moderator: Any
    settings: Settings
    report: Report
    draws: list[TopicDraw] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def draw(self, staged: Any, number: int, topic: Topic, prompt: ImagePrompt, key_topics: KeyTopics, n: int) -> None:
        # The blocklist and OpenAI: the social preset skips a refused slide, the standard one stops the run.
        flags = self.ranker.check_prompt(prompt.text)
        if flags:
            self.refused.append({"topic": topic.phrase, "prompt": prompt.text, "flags": flag_rows(flags)})
            return
        self.report(f"drawing {n} candidates for {topic.phrase!r} with {self.generator.name}")
        request = replace(generation_request(prompt, self.settings), n=n)
        candidates = staged.write(self.generator.generate(request, round=1), topic=number)
        self.report(f"ranking {topic.phrase!r} with CLIP")
        ranked = self.ranker.rank(candidates, prompt, key_topics)
        self.draws.append(TopicDraw(topic, prompt, tuple(ranked)))

    def moderation(self) -> dict[str, Any]:
        """The manifest's account of the moderation used (its flagged images are added from the draws)."""
        mod, moderator = self.settings.moderation, self.moderator
        return {
            "preset": self.settings.social.moderation if mod.enabled else "off",
            "concepts": dict(moderator.concepts) if moderator else dict(mod.concepts),
            "openai": bool(moderator.openai) if moderator else mod.openai,
            "refused_prompts": self.refused,
        }


def _summary(
    post: SocialPost, folder: Path, slides: Sequence[Slide], platforms: dict[str, Any], chosen: Sequence[Platform]
) -> dict[str, Any]:
    """What a publisher script reads (`social --json`): the folder, the slides and each platform's files."""
    from blogart.social.platforms import PLATFORMS

    return {
        "blogart_version": __version__,
        "post": post.source or "-",
        "folder": str(folder),
        "original_text": post.text,
        "slides": len(slides),
        "platforms": platforms,
        "limits": {
            name: {"caption": p.caption_limit, "alt": p.alt_limit} for name, p in PLATFORMS.items() if p in chosen
        },
    }


def _moved(ranked: Ranked, final: dict[Path, Path]) -> Ranked:
    return replace(ranked, candidate=replace(ranked.candidate, path=final[ranked.candidate.path]))
