"""Factories of blogart's own generators, registered in pyproject.toml under `blogart.generators`.

Each takes a `blogart.plugins.Context`; the heavy modules are imported only when the factory runs.
"""

from __future__ import annotations

from pathlib import Path

from blogart.config import user_dir
from blogart.plugins import Context
from blogart.protocols import Generator


def _dalle(name: str, ctx: Context) -> Generator:
    from blogart import modelhub
    from blogart.generators.dalle.generator import DalleGenerator

    settings = ctx.settings
    cache_dir = settings.models.cache_dir or None
    checkpoint = modelhub.find(name, settings.models.path_for(name), cache_dir)
    vqgan = modelhub.find("vqgan", settings.models.path_for("vqgan"), cache_dir)
    for folder in (checkpoint, vqgan):
        _check_tree(folder)
    g = settings.generate
    return DalleGenerator(
        name,
        checkpoint,
        vqgan,
        dtype=g.dtype,
        batch_size=g.batch_size,
        compile_cache=user_dir() / "xla-cache" if g.compile_cache else None,
    )


# Listing a msgpack tree reads the whole file (the format has no index): worth it before any LLM call for
# mini (1.7 GB, ~1 s from the page cache), not for mega (10.4 GB), whose tree is checked when it loads.
FULL_CHECK_BYTES = 4_000_000_000


def _check_tree(folder) -> None:
    """Files and tensor shapes against config.json, without loading the weights: a broken checkpoint
    fails here, in a second, before any LLM call is paid for."""
    from blogart.errors import BlogartError
    from blogart.models.dalle.checkpoint import WEIGHTS_NAME
    from blogart.models.dalle.verify import verify

    weights = Path(folder) / WEIGHTS_NAME
    if weights.is_file() and weights.stat().st_size > FULL_CHECK_BYTES:
        return
    report = verify(folder)
    if not report.ok:
        raise BlogartError(f"{folder}: {report.problems[0]} (see `blogart models verify {folder}`)")


def dalle_mini(ctx: Context) -> Generator:
    return _dalle("dalle-mini", ctx)


def dalle_mega(ctx: Context) -> Generator:
    return _dalle("dalle-mega", ctx)


def bundled(ctx: Context) -> Generator:
    """The small icon model that ships with blogart (`blogart.assets`): DalleBart + VQGAN, float16 on disk."""
    from blogart import assets
    from blogart.generators.dalle.generator import DalleGenerator

    model = assets.require()
    for folder in (model.dallebart, model.vqgan):
        _check_tree(folder)
    g = ctx.settings.generate
    return DalleGenerator(
        assets.NAME,
        model.dallebart,
        model.vqgan,
        dtype=g.dtype,
        batch_size=g.batch_size,
        compile_cache=user_dir() / "xla-cache" if g.compile_cache else None,
    )


def openai_images(ctx: Context) -> Generator:
    from blogart.errors import UsageError
    from blogart.generators.openai_images import OpenAIImagesGenerator

    if not ctx.settings.llm.key() and not ctx.settings.llm.base_url:
        # The chat client's own hint (--backend local) would not help: this is about drawing.
        raise UsageError(
            "openai-images needs an OpenAI API key: set OPENAI_API_KEY, or draw locally with -m dalle-mini"
        )
    # The run's client: image requests share the chat calls' log and retry policy.
    return OpenAIImagesGenerator(ctx.llm(), model=ctx.settings.generate.openai_images_model)


def _diffusion(name: str, ctx: Context) -> Generator:
    """A diffusers pipeline found as the other weights are (explicit path, then the HF cache), checked first."""
    from blogart import modelhub
    from blogart.generators.diffusion import DEFAULTS, DiffusionGenerator, ModelDefaults
    from blogart.models.diffusion import verify_pipeline

    settings = ctx.settings
    folder = modelhub.find(name, settings.models.path_for(name), settings.models.cache_dir or None)
    report = verify_pipeline(folder)
    if not report.ok:
        from blogart.errors import BlogartError

        raise BlogartError(f"{folder}: {report.problems[0]} (see `blogart models verify {folder}`)")
    known = modelhub.KNOWN.get(name)
    in_cache = folder.parent.name == "snapshots"
    return DiffusionGenerator(
        name,
        folder,
        settings.diffusion,
        batch_size=settings.generate.batch_size,
        model_id=known.repo_id if known else name.removeprefix(modelhub.DIFFUSERS_PREFIX),
        revision=folder.name if in_cache else "",
        defaults=DEFAULTS.get(name, ModelDefaults()),
        tiny_vae=modelhub.find("taesd", settings.models.path_for("taesd"), settings.models.cache_dir or None)
        if settings.diffusion.tiny_vae
        else None,
    )


def sd_turbo(ctx: Context) -> Generator:
    return _diffusion("sd-turbo", ctx)


def z_image_turbo(ctx: Context) -> Generator:
    return _diffusion("z-image-turbo", ctx)


def diffusers_pipeline(ctx: Context) -> Generator:
    """`diffusers:<folder or repo id>`: the full name is the configured model (plugins.find strips the prefix)."""
    from blogart import modelhub
    from blogart.errors import UsageError

    name = ctx.settings.generate.model
    if not name.startswith(modelhub.DIFFUSERS_PREFIX):
        raise UsageError("name the pipeline: --model diffusers:<folder or repo id>")
    return _diffusion(name, ctx)
