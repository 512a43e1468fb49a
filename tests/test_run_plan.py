"""The run plan: settings resolved once at the entry point, backends chosen by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blogart.cli import app
from blogart.config import load_settings
from blogart.pipeline import auto
from blogart.pipeline.plan import plan_run
from blogart.store import Store

ROOT = Path(__file__).parent.parent
runner = CliRunner()


def _counting(monkeypatch, owner, name: str) -> list[int]:
    """Wrap the real `owner.name` so each call is counted; it still does all it did."""
    calls: list[int] = []
    real = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def test_one_generate_resolves_settings_once_opens_the_store_once_and_resolves_clip_once(
    third_party, tiny_ranker, tmp_path, monkeypatch
):
    """Text backends and the painter from a plugin keep it fast; the built-in CLIP ranker's model is the run's:
    moderation, round 2's PEZ, the crop scorer and the manifest's weight hashes use it."""
    from blogart.models import clip

    resolutions = _counting(monkeypatch, auto, "resolve_generator")
    stores = _counting(monkeypatch, Store, "__init__")
    clips = _counting(monkeypatch, clip, "resolve_clip")
    monkeypatch.setenv("BLOGART_RANK__RANKER", "clip")
    monkeypatch.setenv("BLOGART_OPTIMIZE__ITERATIONS", "2")
    out = tmp_path / "out"
    args = [
        "generate",
        str(ROOT / "tests" / "data" / "posts" / "tidepools.txt"),
        "-n",
        "2",
        "--rounds",
        "2",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["generator"] == "thirdparty" and manifest["ranked"] and manifest["publish"]["cover"]
    assert manifest["text"]["optimized_prompt"] and manifest["weights_sha256"]["clip"]
    assert (len(resolutions), len(stores), len(clips)) == (1, 1, 1)


def test_a_plan_names_a_backend_of_each_kind(bundled_env):
    plan = plan_run(load_settings(), rank=False, publish=False)
    assert (plan.generator, plan.backend, plan.extractor, plan.writer) == ("bundled", "local", "local", "icons")
    assert plan.ranker is None and not plan.publish.enabled and plan.notice
    again = plan_run(plan.settings)
    assert again.settings == plan.settings and again.notice is None and again.ranker == auto.RANKER


THIRD_PARTY = """
import io

from PIL import Image

from blogart.values import ChunkTopics, Drawing, ImagePrompt, LLMUsage, Ranked, Topic


class Extractor:
    name = "thirdparty"
    usage = LLMUsage()

    def extract(self, chunks):
        topic = Topic("lighthouse keeper", "A keeper climbs the tower.", (), 1.0)
        return [ChunkTopics(c.index, (topic,)) for c in chunks]

    def merger(self):
        return None


class Writer:
    name = "thirdparty"

    def write(self, key_topics, title, style, extra_negative, max_tokens):
        text = "woodcut of " + key_topics.topics[0].phrase
        return ImagePrompt(text, tuple(extra_negative), style.name, len(text.split()), writer="thirdparty")


class Painter:
    name = "thirdparty"

    def generate(self, request, round=1):
        drawings = []
        for i in range(request.n):
            buffer = io.BytesIO()
            Image.new("RGB", (64, 64), (40 * i, 90, 160)).save(buffer, format="PNG")
            drawings.append(Drawing(buffer.getvalue(), request.seed, i, round, request.prompt, "", self.name))
        return drawings

    def describe(self):
        return {"painter": "flat colours"}

    def count_tokens(self, text):
        return None

    def max_prompt_tokens(self):
        return None


class Judge:
    name = "thirdparty"
    model_id = "thirdparty-judge"

    def check_prompt(self, text):
        return []

    def rank(self, candidates, prompt, key_topics=None):
        ranked = [Ranked(c, float(c.index), float(c.index), model=self.model_id) for c in candidates]
        return sorted(ranked, key=lambda r: -r.score)

    def score_images(self, images, text):
        return [0.0 for _ in images]


def extractor(ctx):
    return Extractor()


def writer(ctx):
    return Writer()


def painter(ctx):
    return Painter()


def judge(ctx):
    return Judge()
"""


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """A distribution that registers a backend of every kind, as pip would leave it installed."""
    import sys

    root = tmp_path / "site"
    info = root / "blogart_thirdparty-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: blogart_thirdparty\nVersion: 1.0\n")
    groups = {"topic_extractors": "extractor", "prompt_writers": "writer", "generators": "painter", "rankers": "judge"}
    (info / "entry_points.txt").write_text(
        "".join(f"[blogart.{kind}]\nthirdparty = blogart_thirdparty:{factory}\n" for kind, factory in groups.items())
    )
    (root / "blogart_thirdparty.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(root))
    for kind in ("TOPICS__BACKEND", "PROMPT__WRITER", "GENERATE__MODEL", "RANK__RANKER"):
        monkeypatch.setenv(f"BLOGART_{kind}", "thirdparty")
    monkeypatch.setenv("BLOGART_LLM__BACKEND", "local")
    yield
    sys.modules.pop("blogart_thirdparty", None)


def test_every_backend_kind_is_chosen_by_name_a_plugin_included(third_party, tmp_path):
    plan = plan_run(load_settings())
    assert (plan.generator, plan.extractor, plan.writer, plan.ranker) == ("thirdparty",) * 4

    out = tmp_path / "out"
    post = str(ROOT / "examples" / "sourdough.md")
    result = runner.invoke(app, ["generate", post, "-n", "2", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["text"]["prompt"] == "woodcut of lighthouse keeper" and manifest["text"]["writer"] == "thirdparty"
    assert manifest["models"] == {
        "generator": "thirdparty",
        "weights": {"painter": "flat colours"},
        "ranker": "thirdparty-judge",
    }
    assert manifest["cover"].endswith("r1-01-s0.png")  # the judge ranks index 1 first
    assert (out / Path(manifest["cover"]).parent.name / "cover.png").is_file()

    result = runner.invoke(app, ["prompt", post, "--json"])
    assert result.exit_code == 0, result.output
    assert [t["phrase"] for t in json.loads(result.stdout)["key_topics"]] == ["lighthouse keeper"]


def test_auto_keeps_todays_pairs_and_an_unknown_name_is_one_error_line(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOGART_GENERATE__MODEL", "openai-images")
    plan = plan_run(load_settings())
    assert (plan.extractor, plan.writer, plan.ranker) == ("local", "templates", "clip")
    plan = plan_run(load_settings(overrides={"llm": {"api_key": "sk-test"}}))
    assert (plan.extractor, plan.writer, plan.ranker) == ("openai", "openai", "clip")

    monkeypatch.setenv("BLOGART_PROMPT__WRITER", "nope")
    result = runner.invoke(app, ["prompt", str(ROOT / "examples" / "sourdough.md")])
    assert result.exit_code != 0 and "unknown prompt writer 'nope'; known:" in result.output
    assert "Traceback" not in result.output
