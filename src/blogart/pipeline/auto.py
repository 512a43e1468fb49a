"""What "auto" means for each backend kind, and what the bundled model brings with it.

The generator, first match wins:

1. an explicit generator (`--model`, `[generate] model`, BLOGART_GENERATE__MODEL) is used as given;
2. a diffusers model whose weights are there (`[models] sd_turbo`, or `blogart models pull sd-turbo`;
   then z-image-turbo) when diffusers is installed, with a one-line notice;
3. DALL-E Mini when any of its weights are placed by hand (`[models] dalle_mini` or `vqgan`, or
   `--checkpoint` / `--vqgan`) or `blogart models pull dalle-mini` put them in the Hugging Face cache;
4. the bundled icon model (`blogart.assets`) when its files are all there, with a one-line notice;
5. otherwise DALL-E Mini, whose missing weights fail the run naming `blogart models pull dalle-mini`.

When the generator is the bundled model, ranking uses the bundled CLIP too (`[rank] model = "bundled"`,
an open_clip folder) unless `[rank] model`/`pretrained` or `[models] clip` were set, and moderation's CLIP concept
checks are off unless `[moderation] concepts` was set (for `social`'s preset: `[social] concepts`): the bundled
CLIP only knows the icon vocabulary, so thresholds calibrated on LAION CLIP mean nothing to it (the prompt
blocklist and, with a key, OpenAI's endpoint still apply).
Its sampling settings (condition scale, top-k, ...) come from its own generation_config.json where the
user set none (`blogart.models.dalle.generation_config`); so do a DALL-E Mini or Mega checkpoint's, when its
folder has that file (a fine-tune of the bundled model keeps it; the released checkpoints have none).

The text backends: `[llm] backend = "auto"` is openai when a key or base_url is set, else local; each text
backend names a pair (topic extractor, prompt writer), and the bundled model has its own prompt writer.
`[topics] backend`, `[prompt] writer` and `[rank] ranker` name any registered backend instead (a plugin's).
"""

from __future__ import annotations

from pathlib import Path

from blogart import assets, modelhub
from blogart.config import Settings
from blogart.errors import MissingWeights

AUTO = "auto"
DALLE_MINI = "dalle-mini"
PULL_COMMAND = "blogart models pull dalle-mini"
DALLEBART_MODELS = (DALLE_MINI, "dalle-mega")
# Diffusers models "auto" takes when their weights are there, first found wins: the CPU-friendly one first.
DIFFUSION_MODELS = ("sd-turbo", "z-image-turbo")

# llm.backend picks a pair of registered backends: (topic extractor, prompt writer).
TEXT_BACKENDS = {"openai": ("openai", "openai"), "local": ("local", "templates")}
# A generator that reads only its own caption grammar has its own prompt writer, whatever the text backend.
GENERATOR_WRITERS = {"bundled": "icons"}
RANKER = "clip"


def choose_backend(settings: Settings) -> str:
    """The text backend: with "auto", openai when a key or base_url is set, else local (see TEXT_BACKENDS)."""
    backend = settings.llm.backend
    if backend == AUTO:
        return "openai" if (settings.llm.key() or settings.llm.base_url) else "local"
    return backend


def choose_names(settings: Settings, backend: str) -> tuple[str, str, str]:
    """(topic extractor, prompt writer, ranker) by registered name: `[topics] backend`, `[prompt] writer`
    and `[rank] ranker` as set, "auto" the text backend's pair (the writer the generator's own, if it has one)
    and the clip ranker."""
    extractor, writer = TEXT_BACKENDS[backend]
    writer = GENERATOR_WRITERS.get(settings.generate.model, writer)

    def named(name: str, default: str) -> str:
        return default if name == AUTO else name

    return (
        named(settings.topics.backend, extractor),
        named(settings.prompt.writer, writer),
        named(settings.rank.ranker, RANKER),
    )


def notice_line(model: assets.BundledModel) -> str:
    return (
        f"no DALL-E Mini weights found: drawing with the bundled icon model ({model.root}); "
        f"for DALL-E Mini run `{PULL_COMMAND}` (and `blogart models pull vqgan`), "
        "for 512 px pictures `blogart models pull sd-turbo`"
    )


def diffusion_notice(name: str, folder: Path) -> str:
    better = (
        "on a GPU, `blogart models pull z-image-turbo` draws 1024 px"
        if name == "sd-turbo"
        else "on a CPU, `blogart models pull sd-turbo` is the fast one"
    )
    return f"drawing with {name} ({folder}); {better}; --model names another"


def installed_diffusion(settings: Settings) -> tuple[str, Path] | None:
    """The first diffusers model whose pipeline folder is there, when diffusers can run it."""
    import importlib.util

    if importlib.util.find_spec("diffusers") is None:
        return None
    models = settings.models
    for name in DIFFUSION_MODELS:
        try:
            return name, modelhub.find(name, models.path_for(name), models.cache_dir or None)
        except MissingWeights:
            continue
    return None


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


def resolve_generator(settings: Settings) -> tuple[Settings, str | None]:
    """(settings with the generator chosen and what it brings, the notice line or None); explicit choices win.

    Resolving resolved settings changes nothing and says nothing."""
    name = settings.generate.model
    if name == assets.NAME:
        return with_bundled(settings), None
    if name != AUTO:
        return with_checkpoint_sampling(settings, name), None
    if (diffusion := installed_diffusion(settings)) is not None:
        return _set(settings, "generate", model=diffusion[0]), diffusion_notice(*diffusion)
    if not dalle_mini_installed(settings) and (model := assets.installed()) is not None:
        return with_bundled(_set(settings, "generate", model=assets.NAME)), notice_line(model)
    return with_checkpoint_sampling(_set(settings, "generate", model=DALLE_MINI), DALLE_MINI), None


def vqgan_folder(settings: Settings, generator: str | None = None) -> Path:
    """The VQGAN `generate` decodes with under these settings (with `generate.model` set to `generator` when
    given): the bundled model's when it draws with the bundled model, else the configured or pulled one
    (MissingWeights naming the pull command). The default of `vqgan train --from`, `vqgan check --model`
    and `finetune --vqgan`."""
    if generator is not None:
        settings = _set(settings, "generate", model=generator)
    if resolve_generator(settings)[0].generate.model == assets.NAME:
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
    from blogart.models.dalle.generation_config import read_sampling

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
