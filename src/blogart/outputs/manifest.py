"""manifest.json: everything a run did, so it can be explained and reproduced (`files` writes it)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from blogart.config import Settings
from blogart.outputs.manifest_read import post_fields
from blogart.values import Candidate, Ranked, to_dict


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
