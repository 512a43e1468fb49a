"""The backend registry: built-ins come from pyproject's entry points, plugins from their own distributions."""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blogart import plugins
from blogart.cli import app
from blogart.config import Settings
from blogart.errors import BlogartError, UsageError

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"

PLUGIN_MODULE = """
class Echo:
    name = "echo"

    def __init__(self, ctx):
        self.ctx = ctx


def echo(ctx):
    return Echo(ctx)


def crashes(ctx):
    raise RuntimeError("no GPU\\nsecond line")
"""


def _install(root: Path, dist: str, entry_points: str, module: str | None = None) -> None:
    """A distribution on sys.path, as pip would leave it: a dist-info folder with its entry points."""
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(entry_points)
    if module is not None:
        (root / "blogart_demo_plugin.py").write_text(module)


@pytest.fixture
def demo_plugin(tmp_path, monkeypatch):
    _install(
        tmp_path,
        "blogart_demo",
        "[blogart.generators]\n"
        "echo = blogart_demo_plugin:echo\n"
        "crashes = blogart_demo_plugin:crashes\n"
        "broken = blogart_no_such_module:factory\n"
        "dalle-mini = blogart_no_such_module:factory\n"  # cannot shadow a built-in
        "[blogart.rankers]\n"
        "echo = blogart_demo_plugin:echo\n",
        PLUGIN_MODULE,
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("blogart_demo_plugin", None)


def test_builtins_are_the_pyproject_entry_points():
    """The one list of built-ins is pyproject.toml (a stale install shows here: `pip install -e .`)."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]
    for kind in plugins.KINDS:
        own = sorted((b.name, b.entry_point.value) for b in plugins.backends(kind) if b.builtin)
        assert own == sorted(declared[f"blogart.{kind}"].items()), kind
    assert set(declared) == {f"blogart.{kind}" for kind in plugins.KINDS}


def test_a_plugin_registers_like_a_builtin_and_breaks_only_itself(demo_plugin):
    assert plugins.names("generators") == [
        *("bundled", "dalle-mega", "dalle-mini", "diffusers", "openai-images", "sd-turbo", "z-image-turbo"),
        *("broken", "crashes", "echo"),
    ]
    echo = next(b for b in plugins.backends("generators") if b.name == "echo")
    assert (echo.source, echo.builtin) == ("blogart_demo", False)
    ctx = plugins.Context(Settings())
    made = plugins.create("generators", "echo", ctx)
    assert made.name == "echo" and made.ctx is ctx
    assert plugins.create("rankers", "echo", ctx).name == "echo"

    with pytest.raises(BlogartError) as err:
        plugins.create("generators", "broken", ctx)
    assert not isinstance(err.value, UsageError)
    assert str(err.value) == (
        "generator plugin 'broken' (blogart_no_such_module:factory from blogart_demo) failed to load: "
        "module not found error: No module named 'blogart_no_such_module'"
    )
    with pytest.raises(BlogartError, match="plugin 'crashes' .* failed: runtime error: no GPU second line$"):
        plugins.create("generators", "crashes", ctx)
    # blogart's own dalle-mini wins over the plugin's broken one: the error is about weights, not the plugin.
    with pytest.raises(BlogartError, match="blogart models pull dalle-mini"):
        plugins.create("generators", "dalle-mini", ctx)


def test_unknown_names_are_one_usage_error_listing_the_known_ones(demo_plugin):
    ctx = plugins.Context(Settings())
    with pytest.raises(UsageError) as err:
        plugins.create("generators", "nope", ctx)
    assert str(err.value) == (
        "unknown generator 'nope'; known: broken, bundled, crashes, dalle-mega, dalle-mini, diffusers, echo, "
        "openai-images, sd-turbo, z-image-turbo"
    )
    with pytest.raises(UsageError, match="unknown ranker 'nope'; known: clip, echo$"):
        plugins.create("rankers", "nope", ctx)
    with pytest.raises(UsageError, match="unknown backend kind 'painters'; known: generators, topic_extractors"):
        plugins.backends("painters")


def test_two_plugins_with_one_name_are_refused(demo_plugin, tmp_path, monkeypatch):
    _install(tmp_path / "other", "blogart_other", "[blogart.generators]\necho = blogart_demo_plugin:echo\n")
    monkeypatch.syspath_prepend(str(tmp_path / "other"))
    with pytest.raises(UsageError, match="generator 'echo' is registered by several plugins"):
        plugins.create("generators", "echo", plugins.Context(Settings()))


def test_an_offline_backend_needs_no_llm_client():
    ctx = plugins.Context(Settings())
    assert plugins.create("topic_extractors", "local", ctx).name == "local"
    assert plugins.create("prompt_writers", "templates", ctx).name == "templates"
    with pytest.raises(BlogartError, match="needs an LLM client"):
        plugins.create("topic_extractors", "openai", ctx)


def test_llm_backends_share_the_context_client(fake_openai, tmp_path):
    from blogart.pipeline.plan import backend_context

    settings = Settings(llm={"api_key": "sk-test", "base_url": fake_openai.base_url})
    ctx = backend_context(settings)
    extractor = plugins.create("topic_extractors", "openai", ctx)
    writer = plugins.create("prompt_writers", "openai", ctx)
    images = plugins.create("generators", "openai-images", ctx)
    assert extractor.client is writer.client is images.client is ctx.llm()


def test_choose_backend_picks_registered_text_backends():
    from blogart.pipeline.auto import TEXT_BACKENDS, choose_backend

    assert choose_backend(Settings()) == "local"
    assert choose_backend(Settings(llm={"api_key": "sk-x"})) == "openai"
    assert choose_backend(Settings(llm={"base_url": "http://localhost:11434/v1"})) == "openai"
    assert choose_backend(Settings(llm={"backend": "local", "api_key": "sk-x"})) == "local"
    for extractor, writer in TEXT_BACKENDS.values():
        assert extractor in plugins.names("topic_extractors") and writer in plugins.names("prompt_writers")


def test_plugins_command_lists_every_backend_with_its_source(demo_plugin):
    result = CliRunner().invoke(app, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {
        "kind": "rankers",
        "name": "clip",
        "source": "built-in",
        "factory": "blogart.ranking.factory:clip_ranker",
    } in rows
    assert {(r["kind"], r["name"], r["source"]) for r in rows} >= {
        ("generators", "dalle-mini", "built-in"),
        ("topic_extractors", "local", "built-in"),
        ("prompt_writers", "templates", "built-in"),
        ("generators", "echo", "blogart_demo"),
        ("rankers", "echo", "blogart_demo"),
    }
    table = CliRunner().invoke(app, ["plugins"])
    assert table.exit_code == 0 and "blogart_demo" in table.output and "prompt_writers" in table.output
