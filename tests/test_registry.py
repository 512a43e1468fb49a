"""Built-in generators through the registry find their weights as `blogart models` does."""

from __future__ import annotations

import shutil

from blogart import modelhub, plugins
from blogart.config import Settings


def _snapshot(cache, name: str, files: tuple[str, ...], source=None):
    """A Hugging Face cache snapshot of `name` holding `files`: copies from `source`, else placeholders."""
    model = modelhub.KNOWN[name]
    repo = cache / ("models--" + model.repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("a" * 40)
    for file in files:
        if source is not None and (source / file).is_file():
            shutil.copy(source / file, snapshot / file)
        else:
            (snapshot / file).write_text("{}")
    return snapshot


def test_dalle_weights_are_found_in_the_configured_cache_dir(tmp_path, tiny_dalle):
    cache = tmp_path / "my-hf-cache"  # not HF_HOME: only [models] cache_dir points here
    checkpoint = _snapshot(cache, "dalle-mini", modelhub.DALLEBART_FILES, source=tiny_dalle[0])
    vqgan = _snapshot(cache, "vqgan", modelhub.VQGAN_FILES, source=tiny_dalle[1])
    ctx = plugins.Context(Settings(models={"cache_dir": str(cache)}))
    generator = plugins.create("generators", "dalle-mini", ctx)
    assert (generator.checkpoint, generator.vqgan_folder) == (checkpoint, vqgan)
