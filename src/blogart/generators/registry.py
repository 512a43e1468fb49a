"""Generators by name. Built-ins are imported only when chosen; others register through the
`blogart.generators` entry-point group, as a factory `(settings) -> Generator`."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from blogart.config import Settings
from blogart.errors import UsageError
from blogart.protocols import Generator

Factory = Callable[[Settings], Generator]


def _dalle(name: str) -> Factory:
    def factory(settings: Settings) -> Generator:
        from blogart import modelhub
        from blogart.generators.dalle.backend import DalleGenerator

        checkpoint = modelhub.find(name, explicit=settings.models.path_for(name))
        vqgan = modelhub.find("vqgan", explicit=settings.models.path_for("vqgan"))
        return DalleGenerator(name, checkpoint, vqgan, dtype=settings.generate.dtype)

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


def available() -> dict[str, Factory]:
    found = dict(BUILTIN)
    for ep in entry_points(group="blogart.generators"):
        found.setdefault(ep.name, ep.load())
    return found


def create_generator(name: str, settings: Settings) -> Generator:
    factories = available()
    if name not in factories:
        raise UsageError(f"unknown generator {name!r}; known: {', '.join(sorted(factories))}")
    return factories[name](settings)
