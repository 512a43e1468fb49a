"""Settings (plus command-line choices) to a ready ClipRanker with its moderation."""

from __future__ import annotations

from blogart.config import Settings
from blogart.ranking.clip import ClipRanker, load_clip
from blogart.ranking.moderation import Moderator, OpenAIModeration


def clip_from_settings(settings: Settings):
    """The configured CLIP model (also what PEZ optimises against)."""
    r = settings.rank
    return load_clip(
        r.model,
        r.pretrained,
        weights=settings.models.path_for("clip"),
        cache_dir=settings.models.cache_dir or None,
        batch_size=r.batch_size,
    )


def build_ranker(
    settings: Settings,
    *,
    model: str | None = None,
    pretrained: str | None = None,
    top_k: int | None = None,
    threads: int | None = None,
    moderate: bool = True,
) -> ClipRanker:
    """Map settings (plus flags) to a ClipRanker with its moderation; flags win over the config."""
    rank_cfg, mod_cfg = settings.rank, settings.moderation
    if model is None and pretrained is None:
        clip = clip_from_settings(settings)
    else:  # the [models] clip path belongs to the configured model, not to one picked on the command line
        clip = load_clip(
            model or rank_cfg.model,
            pretrained or rank_cfg.pretrained,
            cache_dir=settings.models.cache_dir or None,
            batch_size=rank_cfg.batch_size,
        )
    moderator = None
    if moderate and mod_cfg.enabled:
        openai = None
        if mod_cfg.openai:
            key = settings.llm.api_key.get_secret_value() if settings.llm.api_key else None
            openai = OpenAIModeration(key, settings.llm.base_url, timeout=settings.llm.timeout)
        moderator = Moderator(dict(mod_cfg.concepts), list(mod_cfg.prompt_blocklist), openai=openai)
    return ClipRanker(
        clip,
        top_k=top_k,
        negative_weight=rank_cfg.negative_weight,
        threads=threads or rank_cfg.threads or None,
        moderator=moderator,
    )
