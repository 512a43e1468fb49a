"""Which generator `generate.model = "auto"` (the default) means, and what the bundled model brings with it.

The order, first match wins:

1. an explicit generator (`--model`, `[generate] model`, BLOGART_GENERATE__MODEL) is used as given;
2. DALL-E Mini when any of its weights are placed by hand (`[models] dalle_mini` or `vqgan`, or
   `--checkpoint` / `--vqgan`) or `blogart models pull dalle-mini` put them in the Hugging Face cache;
3. the bundled icon model (`blogart.assets`) when its files are all there, with a one-line notice;
4. otherwise DALL-E Mini, whose missing weights fail the run naming `blogart models pull dalle-mini`.

When the generator is the bundled model, ranking uses the bundled CLIP too (`[rank] model = "bundled"`,
an open_clip folder) unless `[rank] model`/`pretrained` or `[models] clip` were set, and moderation's CLIP concept
checks are off unless `[moderation] concepts` was set (for `social`'s preset: `[social] concepts`): the bundled
CLIP only knows the icon vocabulary, so thresholds calibrated on LAION CLIP mean nothing to it (the prompt
blocklist and, with a key, OpenAI's endpoint still apply).
Its sampling settings (condition scale, top-k, ...) come from its own generation_config.json where the
user set none (`blogart.generators.dalle.sampling`); so do a DALL-E Mini or Mega checkpoint's, when its
folder has that file (a fine-tune of the bundled model keeps it; the released checkpoints have none).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blogart import assets, modelhub
from blogart.config import Settings
from blogart.errors import MissingWeights

AUTO = "auto"
DALLE_MINI = "dalle-mini"
PULL_COMMAND = "blogart models pull dalle-mini"
DALLEBART_MODELS = (DALLE_MINI, "dalle-mega")


@dataclass(frozen=True)
class Defaults:
    settings: Settings  # with generate.model resolved (never "auto") and, for the bundled model, its ranker
    notice: str | None = None  # one line for the user when the bundled model stands in for DALL-E Mini


def notice_line(model: assets.BundledModel) -> str:
    return (
        f"no DALL-E Mini weights found: drawing with the bundled icon model ({model.root}); "
        f"for DALL-E Mini run `{PULL_COMMAND}` (and `blogart models pull vqgan`)"
    )


def dalle_mini_installed(settings: Settings) -> bool:
    """DALL-E Mini's weights were placed by hand or pulled into the Hugging Face cache."""
    models = settings.models
    if models.dalle_mini or models.vqgan:
        return True
    try:
        modelhub.find(DALLE_MINI, None, models.cache_dir or None)
    except MissingWeights:
        return False
    return True


def resolve(settings: Settings) -> Defaults:
    """Settings with the generator chosen (see the module docstring for the order); explicit choices win."""
    name = settings.generate.model
    if name == assets.NAME:
        return Defaults(with_bundled(settings))
    if name != AUTO:
        return Defaults(with_checkpoint_sampling(settings, name))
    if not dalle_mini_installed(settings) and (model := assets.installed()) is not None:
        chosen = _set(settings, "generate", model=assets.NAME)
        return Defaults(with_bundled(chosen), notice_line(model))
    return Defaults(with_checkpoint_sampling(_set(settings, "generate", model=DALLE_MINI), DALLE_MINI))


def vqgan_folder(settings: Settings, generator: str | None = None) -> Path:
    """The VQGAN `generate` decodes with under these settings (with `generate.model` set to `generator` when
    given): the bundled model's when it draws with the bundled model, else the configured or pulled one
    (MissingWeights naming the pull command). The default of `vqgan train --from`, `vqgan check --model`
    and `finetune --vqgan`."""
    if generator is not None:
        settings = _set(settings, "generate", model=generator)
    if resolve(settings).settings.generate.model == assets.NAME:
        return assets.require().vqgan
    models = settings.models
    return modelhub.find("vqgan", models.path_for("vqgan"), models.cache_dir or None)


def with_bundled(settings: Settings) -> Settings:
    """What drawing with the bundled model brings: its ranker and its sampling defaults."""
    return with_model_sampling(with_bundled_ranker(settings), assets.bundled().dallebart)


def with_checkpoint_sampling(settings: Settings, name: str) -> Settings:
    """DALL-E Mini/Mega: the sampling defaults of the checkpoint folder they will load, if it has any."""
    if name not in DALLEBART_MODELS:
        return settings
    try:
        folder = modelhub.find(name, settings.models.path_for(name), settings.models.cache_dir or None)
    except MissingWeights:
        return settings  # the generator reports what is missing, with the pull command
    return with_model_sampling(settings, folder) if folder.is_dir() else settings


def with_model_sampling(settings: Settings, checkpoint: Path) -> Settings:
    """The checkpoint folder's sampling defaults (generation_config.json) for the keys the user left unset."""
    from blogart.generators.dalle.sampling import read_sampling

    chosen = settings.generate.model_fields_set
    unset = {key: value for key, value in read_sampling(checkpoint).items() if key not in chosen}
    return _set(settings, "generate", **unset) if unset else settings


def with_bundled_ranker(settings: Settings) -> Settings:
    """The bundled CLIP for ranking (and no CLIP concept checks), where the user chose neither."""
    if settings.rank.model_fields_set & {"model", "pretrained"} or settings.models.clip:
        return settings
    settings = _set(settings, "rank", model="bundled")
    # `social`'s strict preset brings LAION-calibrated concepts of its own: off too, unless [social] set some.
    for section in ("moderation", "social"):
        if "concepts" not in getattr(settings, section).model_fields_set:
            settings = _set(settings, section, concepts={})
    return settings


def _set(settings: Settings, section: str, **values) -> Settings:
    """A copy of `settings` with some keys of one section replaced.

    The keys count as set from then on, so resolving resolved settings again changes nothing."""
    updated = getattr(settings, section).model_copy(update=values)
    return settings.model_copy(update={section: updated})
