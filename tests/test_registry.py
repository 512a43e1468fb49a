"""Generators by name: built-ins find their weights as `blogart models` does; plugins load only when chosen."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from blogart import modelhub
from blogart.config import Settings
from blogart.errors import BlogartError, UsageError
from blogart.generators import registry


class EchoGenerator:
    name = "echo"

    def __init__(self, settings):
        self.settings = settings


def echo_factory(settings):
    return EchoGenerator(settings)


@pytest.fixture
def plugins(monkeypatch):
    found = [
        EntryPoint("echo", f"{__name__}:echo_factory", registry.GROUP),
        EntryPoint("broken", "blogart_no_such_plugin_module:factory", registry.GROUP),
        EntryPoint("dalle-mini", "blogart_no_such_plugin_module:factory", registry.GROUP),  # cannot shadow
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep for ep in found if ep.group == group])


def test_a_broken_plugin_breaks_only_itself(plugins):
    assert registry.available() == ["dalle-mini", "dalle-mega", "openai-images", "broken", "echo"]
    settings = Settings(llm={"api_key": "sk-test"})
    assert registry.create_generator("openai-images", settings).name == "openai-images"
    echo = registry.create_generator("echo", settings)
    assert isinstance(echo, EchoGenerator) and echo.settings is settings
    with pytest.raises(BlogartError, match="generator plugin 'broken' .* failed to load") as err:
        registry.create_generator("broken", settings)
    assert not isinstance(err.value, UsageError)
    with pytest.raises(UsageError, match="unknown generator 'nope'; known: broken, dalle-mega"):
        registry.create_generator("nope", settings)


def _snapshot(cache, name: str, files: tuple[str, ...]):
    model = modelhub.KNOWN[name]
    repo = cache / ("models--" + model.repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    for file in files:
        (snapshot / file).write_text("{}")
    return snapshot


def test_dalle_weights_are_found_in_the_configured_cache_dir(tmp_path):
    cache = tmp_path / "my-hf-cache"  # not HF_HOME: only [models] cache_dir points here
    checkpoint = _snapshot(cache, "dalle-mini", modelhub.DALLEBART_FILES)
    vqgan = _snapshot(cache, "vqgan", modelhub.VQGAN_FILES)
    generator = registry.create_generator("dalle-mini", Settings(models={"cache_dir": str(cache)}))
    assert (generator.checkpoint, generator.vqgan_folder) == (checkpoint, vqgan)
