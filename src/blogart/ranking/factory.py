"""Settings (plus command-line choices) to a ready ClipRanker with its moderation; `clip_ranker` is the
`clip` entry in the `blogart.rankers` plugin group."""

from __future__ import annotations

from blogart.config import Settings
from blogart.errors import UsageError
from blogart.llm.client import LLMClient
from blogart.models.clip import ClipModel, load_clip
from blogart.plugins import Context
from blogart.ranking.clip import ClipRanker
from blogart.ranking.moderation import Moderator, OpenAIModeration


def clip_from_settings(settings: Settings) -> ClipModel:
    """The configured CLIP model (also what PEZ optimises against)."""
    r = settings.rank
    return load_clip(
        r.model,
        r.pretrained,
        weights=settings.models.path_for("clip"),
        cache_dir=settings.models.cache_dir or None,
        batch_size=r.batch_size,
    )


def run_clip(ranker: object | None, pez: bool, settings: Settings) -> ClipModel | None:
    """A run's one CLIP, resolved and loaded once: the built-in ranker's, or the configured one when round 2's
    PEZ (`pez`) needs it without that ranker (loaded now, so missing weights fail before any drawing)."""
    if isinstance(ranker, ClipRanker):
        return ranker.clip
    return clip_from_settings(settings) if pez else None


def build_ranker(
    settings: Settings,
    *,
    model: str | None = None,
    pretrained: str | None = None,
    top_k: int | None = None,
    threads: int | None = None,
    moderate: bool = True,
    llm: LLMClient | None = None,
    moderator: Moderator | None = None,
) -> ClipRanker:
    """Map settings (plus flags) to a ClipRanker with its moderation; flags win over the config.

    `llm` is the client OpenAI moderation calls through (made from the settings when not given);
    `moderator` replaces the configured moderation (a preset's, see ranking.moderation.PRESETS).
    """
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
    if not (moderate and mod_cfg.enabled):
        moderator = None
    elif moderator is None:
        openai = None
        if mod_cfg.openai:
            if llm is None and not (settings.llm.key() or settings.llm.base_url):
                raise UsageError("OpenAI moderation needs an API key (OPENAI_API_KEY or [llm] api_key)")
            openai = OpenAIModeration(llm or LLMClient.from_settings(settings))
        moderator = Moderator(dict(mod_cfg.concepts), list(mod_cfg.prompt_blocklist), openai=openai)
    return ClipRanker(
        clip,
        top_k=top_k,
        negative_weight=rank_cfg.negative_weight,
        threads=threads or rank_cfg.threads or None,
        moderator=moderator,
    )


def clip_ranker(ctx: Context) -> ClipRanker:
    """The pipeline's ranker: every candidate scored (no top-k cut), moderation as configured."""
    llm = ctx.settings.llm
    # Without a key build_ranker says that moderation, not the topic backend, needs one.
    shared = ctx.llm() if ctx.settings.moderation.openai and (llm.key() or llm.base_url) else None
    return build_ranker(ctx.settings, top_k=None, llm=shared)
