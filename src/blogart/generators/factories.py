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
