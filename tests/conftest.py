"""Shared fixtures. Every test runs with its own user dir and no API key from the host."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# One XLA compile cache for the session and every process a test starts: the suite compiles the same
# tiny models' programs over and over (a trainer test's second run takes half the time). The cache is
# keyed by the program, the flags and the jax version. JAX reads it once a process, at the first compile;
# `isolated_env` turns off `[generate] compile_cache` so that blogart's commands (which would otherwise
# point it at each test's own, empty BLOGART_HOME/xla-cache) use it too.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(tempfile.gettempdir()) / "blogart-tests-xla-cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")

# The longest tests and xdist_group groups (tests/README.md), longest first. Started first, none of them
# is left to run alone at the end while the other worker idles; xdist's loadgroup hands work out in
# collection order.
HEAVY = (
    "test_recipe_icons.py::test_the_recipe_at_test_size_killed_then_rerun",
    "group:finetune-shared",
    "test_recipe_gpu.py::test_the_gpu_legs_rehearsed_at_test_size",
    "test_backfill.py::test_backfill_killed_halfway",
    "test_vqgan_train.py::test_a_grown_decoder",
    "group:trainer-runs",
    "group:ray",
    "test_vqgan_train.py::test_kill_9_mid_run",
)


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        names = [item.nodeid.rsplit("/", 1)[-1]]
        names += [f"group:{m.args[0] if m.args else m.kwargs.get('name')}" for m in item.iter_markers("xdist_group")]
        return next((i for i, prefix in enumerate(HEAVY) if any(n.startswith(prefix) for n in names)), len(HEAVY))

    items.sort(key=rank)  # stable: every other test keeps its place


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """A temporary BLOGART_HOME, no OpenAI settings, no hub access, from the host."""
    home = tmp_path / "blogart-home"
    home.mkdir()
    monkeypatch.setenv("BLOGART_HOME", str(home))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("BLOGART_GENERATE__COMPILE_CACHE", "false")  # the session's XLA cache (above)
    # The packaged bundled model is host state too: a test that wants one builds it (tests/tiny_bundled.py).
    monkeypatch.setenv("BLOGART_ASSETS", str(tmp_path / "no-bundled-model"))
    monkeypatch.chdir(tmp_path)
    return home


@pytest.fixture
def fake_openai():
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (see tests/fake_openai.py)."""
    from fake_openai import FakeOpenAI

    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def openai_env(fake_openai, monkeypatch):
    """The OpenAI settings point at the fake server (chat, images, moderation); returns the server. The key is
    one a test can look for in what a run wrote (it must be masked everywhere)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    return fake_openai


@pytest.fixture(scope="module")
def cases(request):
    """Reference inputs and outputs for the test module's model folder (its DATA): DATA/cases.npz."""
    import numpy as np

    with np.load(request.module.DATA / "cases.npz") as data:
        return {key: data[key] for key in data}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    """A tiny open_clip model (tests/data/clip/blogart-tiny-clip.json) saved as a safetensors file."""
    from tiny_clip import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("clip"))


@pytest.fixture(scope="session")
def clip(tiny_checkpoint):
    from tiny_clip import MODEL

    from blogart.models.clip import load_clip, set_threads

    set_threads(1)  # tiny ops: a second thread only adds waiting on a shared machine
    return load_clip(MODEL, str(tiny_checkpoint))


@pytest.fixture(scope="session")
def bundled_model(tmp_path_factory):
    """(tiny bundled model folder, dist-info folder with this checkout's entry points), built once a session."""
    from batch_env import tiny_bundled_model

    return tiny_bundled_model(tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_bundled(bundled_model):
    return bundled_model[0]


@pytest.fixture(scope="session")
def own_metadata(bundled_model):
    return bundled_model[1]


@pytest.fixture
def bundled_env(tiny_bundled, own_metadata, monkeypatch):
    """The tiny bundled model in place of the packaged one; this checkout's entry points registered."""
    from blogart import assets

    monkeypatch.setenv(assets.ENV, str(tiny_bundled))
    monkeypatch.syspath_prepend(str(own_metadata))
    return tiny_bundled


@pytest.fixture(scope="session")
def tiny_dalle(tmp_path_factory):
    """(DalleBart checkpoint folder, VQGAN folder): tiny random weights in the released formats."""
    from tiny_dalle import make_tiny_dalle

    return make_tiny_dalle(tmp_path_factory.mktemp("dalle"))


@pytest.fixture
def tiny_ranker(tiny_checkpoint, monkeypatch):
    """Ranking with the tiny CLIP (set through the environment, so subprocesses get it too)."""
    from tiny_clip import MODEL

    monkeypatch.setenv("BLOGART_RANK__MODEL", MODEL)
    monkeypatch.setenv("BLOGART_MODELS__CLIP", str(tiny_checkpoint))
    # The tiny random CLIP finds every image close to every text: no concepts, or all would be flagged.
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", "{}")
