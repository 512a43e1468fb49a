"""manifest.json: everything a run did, so it can be explained and reproduced (`files` writes it).

This module builds the manifests of `generate` and `social`; `manifest_read` reads them back, typed and
bounded, for `pick`, `regenerate` and a rerun.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blogart.config import Settings
from blogart.outputs.manifest_read import post_fields
from blogart.values import Candidate, Flag, Ranked, to_dict

if TYPE_CHECKING:
    from blogart.social.carousel import Slide, TopicDraw
    from blogart.social.normalise import Normalised
    from blogart.social.read import SocialPost


def _finite(value: float) -> float | None:
    # A broken model can score NaN; the manifest stays strict JSON and says "no score" instead.
    return value if math.isfinite(value) else None


def build_manifest(
    prompt_run: dict[str, Any],
    candidates: list[Candidate],
    ranked: list[Ranked],
    settings: Settings,
    models: dict[str, Any],
    version: str,
) -> dict[str, Any]:
    """`models` names what drew and ranked: {"generator": name, "weights": {...}, "ranker": id or None}."""
    by_path = {r.candidate.path: r for r in ranked}
    rows = []
    for candidate in candidates:
        row = to_dict(candidate)
        if (r := by_path.get(candidate.path)) is not None:
            row.update(
                score=_finite(r.score),
                prompt_score=_finite(r.prompt_score),
                topic_scores={topic: _finite(v) for topic, v in r.topic_scores.items()},
                negative_penalty=_finite(r.negative_penalty),
                flags=[to_dict(f) for f in r.flags],
                rank=ranked.index(r) + 1,
                ranker=r.model,
            )
        rows.append(row)
    cover = next((r.candidate.path for r in ranked if not r.flagged), None)
    if cover is None and not ranked and candidates:
        cover = candidates[0].path  # unranked: the first candidate, and the manifest says so
    return {
        "blogart_version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "generator": models["generator"],
        "models": models,
        "ranked": bool(ranked),
        "cover": str(cover) if cover else None,
        "text": prompt_run,
        # The post's absolute path and site: `pick` finds it from any folder, and only inside that site.
        "post": post_fields(str(prompt_run.get("source") or "")),
        "candidates": rows,
        "settings": settings.redacted(),
    }


def flag_rows(flags: Sequence[Flag]) -> list[dict[str, Any]]:
    """Moderation flags as the social manifest lists them, each with its reason in words."""
    from blogart.ranking.moderation import describe_flag

    return [{**to_dict(f), "reason": describe_flag(f)} for f in flags]


def _normalisation(normalised: Normalised) -> dict[str, Any]:
    return {
        "hashtags": [list(h) for h in normalised.hashtags],
        "mentions": list(normalised.mentions),
        "urls": list(normalised.urls),
        "emoji": [list(e) for e in normalised.emoji],
        "expanded": [list(e) for e in normalised.expanded],
    }


def build_social_manifest(
    prompt_run: dict[str, Any],
    post: SocialPost,
    normalised: Normalised,
    seconds: dict[str, float],
    *,
    platforms: Sequence[str],
    carousel: int,
    slides: Sequence[Slide],
    draws: Sequence[TopicDraw],
    final: Mapping[Path, Path],
    moderation: dict[str, Any],
    settings: Settings,
    models: dict[str, Any],
    version: str,
) -> dict[str, Any]:
    """A social run's manifest. `final`: each candidate's staged path -> its published one; `moderation`:
    the preset, concepts and openai switch used and the refused prompts; `models` as in build_manifest."""
    from blogart.ranking.moderation import describe_flag

    rows = [(d, r) for d in draws for r in d.ranked]
    return {
        "blogart_version": version,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "kind": "social",
        "generator": models["generator"],
        "models": models,
        "text": {
            **prompt_run,
            "format": post.format,
            "original": post.text,
            "normalised": normalised.text,
            "normalisation": _normalisation(normalised),
            "seconds": seconds,
        },
        "platforms": list(platforms),
        "carousel": carousel,
        "slides": [
            {
                "slide": number,
                "topic": slide.topic.phrase,
                "prompt": slide.prompt.text,
                "negative_prompt": slide.prompt.negative_prompt,
                "writer": slide.prompt.writer,
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
                "flags": flag_rows(r.flags),
            }
            for d, r in rows
        ],
        "moderation": {
            **moderation,
            "flagged": [
                {
                    "image": str(final[r.candidate.path]),
                    "topic": d.topic.phrase,
                    "reasons": [describe_flag(f) for f in r.flags],
                }
                for d, r in rows
                if r.flagged
            ],
        },
        "settings": settings.redacted(),
    }
