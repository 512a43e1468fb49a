"""Built-in generators through the registry find their weights as `blogart models` does."""

from __future__ import annotations

from blogart import modelhub, plugins
from blogart.config import Settings


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
    ctx = plugins.Context(Settings(models={"cache_dir": str(cache)}))
    generator = plugins.create("generators", "dalle-mini", ctx)
    assert (generator.checkpoint, generator.vqgan_folder) == (checkpoint, vqgan)
