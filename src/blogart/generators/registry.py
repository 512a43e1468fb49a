"""Generators by name. Built-ins are imported only when chosen; others register through the
`blogart.generators` entry-point group, as a factory `(settings) -> Generator`, loaded only when chosen."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from blogart.config import Settings, user_dir
from blogart.errors import BlogartError, UsageError
from blogart.protocols import Generator

Factory = Callable[[Settings], Generator]
GROUP = "blogart.generators"


def _dalle(name: str) -> Factory:
    def factory(settings: Settings) -> Generator:
        from blogart import modelhub
        from blogart.generators.dalle.generator import DalleGenerator

        cache_dir = settings.models.cache_dir or None
        checkpoint = modelhub.find(name, settings.models.path_for(name), cache_dir)
        vqgan = modelhub.find("vqgan", settings.models.path_for("vqgan"), cache_dir)
        g = settings.generate
        return DalleGenerator(
            name,
            checkpoint,
            vqgan,
            dtype=g.dtype,
            batch_size=g.batch_size,
            compile_cache=user_dir() / "xla-cache" if g.compile_cache else None,
        )

    return factory


def _openai_images(settings: Settings) -> Generator:
    from blogart.generators.openai_images import OpenAIImagesGenerator

    key = settings.llm.api_key.get_secret_value() if settings.llm.api_key else None
    return OpenAIImagesGenerator(
        api_key=key,
        base_url=settings.llm.base_url,
        model=settings.generate.openai_images_model,
        timeout=settings.llm.timeout,
    )


BUILTIN: dict[str, Factory] = {
    "dalle-mini": _dalle("dalle-mini"),
    "dalle-mega": _dalle("dalle-mega"),
    "openai-images": _openai_images,
}


def available() -> list[str]:
    """Every generator name: the built-ins, then plugins (a plugin cannot shadow a built-in)."""
    return [*BUILTIN, *sorted({ep.name for ep in entry_points(group=GROUP)} - BUILTIN.keys())]


def create_generator(name: str, settings: Settings) -> Generator:
    if name in BUILTIN:
        return BUILTIN[name](settings)
    plugin = next((ep for ep in entry_points(group=GROUP) if ep.name == name), None)
    if plugin is None:
        raise UsageError(f"unknown generator {name!r}; known: {', '.join(sorted(available()))}")
    try:
        factory = plugin.load()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is the user's to fix, not a traceback
        raise BlogartError(f"generator plugin {name!r} ({plugin.value}) failed to load: {exc}") from exc
    return factory(settings)
