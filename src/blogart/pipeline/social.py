"""`blogart social`: an informal post to images for each platform, with captions, alt text and a manifest.

Post -> SocialPost -> Normalised text -> Document -> key topics (run_prompt) -> one prompt per slide
topic -> candidates per topic -> ranked with the social moderation preset -> carousel slides ->
platform images, captions, alt texts, manifest and summary (outputs.social). Nothing is posted.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from blogart import __version__, plugins
from blogart.config import Settings
from blogart.pipeline.run import (
    TEXT_BACKENDS,
    _quiet,
    _request,
    _token_counter,
    backend_context,
    choose_backend,
    run_prompt,
)
from blogart.protocols import Generator, PromptWriter
from blogart.social.carousel import Slide, TopicDraw, lead_with, pick_slides, slide_topics
from blogart.social.normalise import Normalised, load_slang, normalise
from blogart.social.platforms import MAX_CAROUSEL, Platform, choose_platforms
from blogart.social.read import SocialPost, read_post
from blogart.store import Store
from blogart.values import Document, Flag, Ranked, Section, to_dict


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
    settings: Settings,
    *,
    platforms: Sequence[str] = (),
    carousel: int | None = None,
    per_topic: int | None = None,
    stdin: BinaryIO | None = None,
    report: Callable[[str], None] = _quiet,
) -> SocialResult:
    """Read, normalise, extract topics, draw and rank per slide topic, pick the carousel, write the folder.

    The run folder is staged and published whole (see outputs.social); nothing is posted anywhere.
    """
    from blogart.generators.defaults import resolve
    from blogart.outputs.files import check_writable
    from blogart.outputs.social import SocialRun
    from blogart.prompts.styles import get_style, load_styles
    from blogart.ranking.factory import build_ranker
    from blogart.ranking.moderation import describe_flag
    from blogart.social.platforms import PLATFORMS

    settings = resolve(settings).settings  # "auto": DALL-E Mini when installed, else the bundled model
    count = min(carousel or settings.social.carousel, MAX_CAROUSEL)
    post = read_post(source, max_bytes=settings.input.max_bytes, stdin=stdin)
    chosen = choose_platforms(platforms or post.platforms or ["all"])
    slang = load_slang(settings.social.slang_file or None)
    out_base = Path(settings.social.out_dir)
    check_writable(out_base)

    # Generator and ranker found before any work, so missing weights fail in a second.
    ctx = backend_context(settings, Store(settings.store.resolved()))
    generator: Generator = plugins.create("generators", settings.generate.model, ctx)
    moderator = _moderator(settings, ctx)
    llm = settings.llm
    shared = ctx.llm() if settings.moderation.openai and (llm.key() or llm.base_url) else None
    ranker = build_ranker(settings, top_k=None, llm=shared, moderator=moderator)

    clock = time.perf_counter()
    normalised = normalise(post.text, slang)
    document = social_document(post, normalised)
    seconds = {"normalise": time.perf_counter() - clock}
    counter = _token_counter(generator)
    run = run_prompt(
        document.source,
        settings,
        count_tokens=counter,
        max_tokens=generator.max_prompt_tokens(),
        report=report,
        context=ctx,
        document=document,
    )
    seconds.update(run.seconds)
    # The lead prompt's writer again, for the other slides' prompts.
    writer_name = TEXT_BACKENDS[choose_backend(settings)][1]
    writer: PromptWriter = plugins.create("prompt_writers", writer_name, replace(ctx, count_tokens=counter))

    style = get_style(settings.prompt.style, load_styles(settings.prompt.styles_file or None))
    budget = min(settings.prompt.max_tokens, generator.max_prompt_tokens() or settings.prompt.max_tokens)
    topics = slide_topics(run.key_topics, count)
    per = max(per_topic or settings.social.per_topic, math.ceil(count / max(len(topics), 1)))

    refused: list[dict[str, Any]] = []
    draws: list[TopicDraw] = []
    with SocialRun(out_base, document) as staged:
        clock = time.perf_counter()
        for number, topic in enumerate(topics, 1):
            key_topics = lead_with(run.key_topics, topic)
            if number == 1:
                prompt = run.prompt
            else:
                prompt = writer.write(key_topics, document.title, style, settings.prompt.negative, budget)
            # The blocklist and OpenAI: the social preset skips a refused slide, the standard one stops the run.
            flags = ranker.check_prompt(prompt.text)
            if flags:
                refused.append({"topic": topic.phrase, "prompt": prompt.text, "flags": _flag_rows(flags)})
                continue
            report(f"drawing {per} candidates for {topic.phrase!r} with {generator.name}")
            request = replace(_request(prompt, settings), n=per)
            candidates = staged.write(generator.generate(request, round=1), topic=number)
            report(f"ranking {topic.phrase!r} with CLIP")
            ranked = ranker.rank(candidates, prompt, key_topics)
            draws.append(TopicDraw(topic, prompt, tuple(ranked)))
        seconds["draw_and_rank"] = time.perf_counter() - clock

        slides = pick_slides(draws, count, style.name, run.key_topics.topics)
        report(f"writing {len(slides)} images for {', '.join(p.name for p in chosen)}")
        clock = time.perf_counter()
        summary_platforms = staged.write_platforms(slides, chosen, post.text)
        seconds["platform_images"] = time.perf_counter() - clock

        final = {r.candidate.path: staged.final(r.candidate).path for d in draws for r in d.ranked}
        manifest = {
            "blogart_version": __version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "kind": "social",
            "generator": generator.name,
            "models": {"generator": generator.name, "weights": generator.describe(), "ranker": ranker.model_id},
            "text": {
                **run.to_json(),
                "format": post.format,
                "original": post.text,
                "normalised": normalised.text,
                "normalisation": {
                    "hashtags": [list(h) for h in normalised.hashtags],
                    "mentions": list(normalised.mentions),
                    "urls": list(normalised.urls),
                    "emoji": [list(e) for e in normalised.emoji],
                    "expanded": [list(e) for e in normalised.expanded],
                },
                "seconds": seconds,
            },
            "platforms": [p.name for p in chosen],
            "carousel": count,
            "slides": [
                {
                    "slide": number,
                    "topic": slide.topic.phrase,
                    "prompt": slide.prompt.text,
                    "negative_prompt": slide.prompt.negative_prompt,
                    "score": _finite(slide.ranked.score),
                    "image": str(final[slide.ranked.candidate.path]),
                    "alt": slide.alt,
                }
                for number, slide in enumerate(slides, 1)
            ],
            "candidates": [
                {
                    **to_dict(replace(r.candidate, path=final[r.candidate.path])),
                    "topic": d.topic.phrase,
                    "score": _finite(r.score),
                    "prompt_score": _finite(r.prompt_score),
                    "topic_scores": {k: _finite(v) for k, v in r.topic_scores.items()},
                    "flags": _flag_rows(r.flags),
                }
                for d in draws
                for r in d.ranked
            ],
            "moderation": {
                "preset": settings.social.moderation if settings.moderation.enabled else "off",
                "concepts": dict(moderator.concepts) if moderator else dict(settings.moderation.concepts),
                "openai": bool(moderator.openai) if moderator else settings.moderation.openai,
                "refused_prompts": refused,
                "flagged": [
                    {
                        "image": str(final[r.candidate.path]),
                        "topic": d.topic.phrase,
                        "reasons": [describe_flag(f) for f in r.flags],
                    }
                    for d in draws
                    for r in d.ranked
                    if r.flagged
                ],
            },
            "settings": settings.redacted(),
        }
        summary = {
            "blogart_version": __version__,
            "post": post.source or "-",
            "folder": str(staged.folder),
            "original_text": post.text,
            "slides": len(slides),
            "platforms": summary_platforms,
            "limits": {
                name: {"caption": p.caption_limit, "alt": p.alt_limit} for name, p in PLATFORMS.items() if p in chosen
            },
        }
        manifest_path = staged.publish_social(manifest, summary)
    slides = tuple(replace(s, ranked=_moved(s.ranked, final)) for s in slides)
    return SocialResult(post, normalised, chosen, slides, staged.folder, manifest_path, manifest, summary)


def _moved(ranked: Ranked, final: dict[Path, Path]) -> Ranked:
    return replace(ranked, candidate=replace(ranked.candidate, path=final[ranked.candidate.path]))


def _flag_rows(flags: Sequence[Flag]) -> list[dict[str, Any]]:
    from blogart.ranking.moderation import describe_flag

    return [{**to_dict(f), "reason": describe_flag(f)} for f in flags]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
