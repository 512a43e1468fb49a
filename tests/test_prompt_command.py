"""`blogart prompt` end to end: the offline backend on real posts, the openai backend through the
real SDK against the fake server, and the PEZ option with the tiny CLIP model."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fake_openai import schema_name
from typer.testing import CliRunner

from blogart.cli import app

POSTS = Path(__file__).parent / "data" / "posts"
runner = CliRunner()
REQUIRED_KEYS = {"title", "chunks", "topics", "key_topics", "summary", "prompt", "negative_prompt", "backend"}


def _prompt_json(*args: str) -> dict:
    result = runner.invoke(app, ["prompt", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize(
    ("post", "subject"),
    [
        ("sourdough.md", "sourdough"),
        ("rust-async.md", "async"),
        ("kubernetes-autoscaling.html", "autoscal"),
        ("urban-beekeeping.md", "bee"),
        ("tidepools.txt", "tide"),
    ],
)
def test_local_backend_finds_the_subject(post, subject):
    data = _prompt_json(str(POSTS / post))
    assert data.keys() >= REQUIRED_KEYS
    assert data["backend"] == "local"
    assert 1 <= len(data["key_topics"]) <= 6
    assert len(data["topics"]) == data["chunks"]  # one key idea per chunk
    assert any(subject in t["phrase"].lower() for t in data["key_topics"][:2]), data["key_topics"]
    assert subject in data["prompt"].lower().split(",")[0] or subject in data["prompt"].lower()
    assert data["prompt_tokens"] <= 64
    assert "watermark" in data["negative_prompt"]


def test_style_max_topics_and_negative_flags():
    data = _prompt_json(
        str(POSTS / "sourdough.md"), "--style", "pencil-sketch", "--max-topics", "2", "--negative", "people"
    )
    assert data["style"] == "pencil-sketch"
    assert len(data["key_topics"]) <= 2
    negatives = data["negative_prompt"].split(", ")
    assert negatives[-1] == "people" and "watermark" in negatives


def _fake_model(request: dict) -> dict:
    """Answers each schema from the text it was sent, as a cooperative model would."""
    name = schema_name(request)
    user = request["messages"][-1]["content"]
    if name == "chunk_topic":
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", user) if "sourdough" in s.lower()]
        return {"phrase": "sourdough loaf", "abstraction": "Baking sourdough at home.", "evidence": sentences[:1]}
    if name == "key_topics":
        return {
            "topics": [{"phrase": "sourdough loaf", "abstraction": "Bread.", "sources": [1], "weight": 1.0}],
            "summary": "How to bake sourdough bread at home.",
        }
    if name == "image_prompt":
        return {"prompt": "a crusty sourdough loaf on a wooden board, flour dust", "negative": ["people"]}
    raise AssertionError(name)


def test_openai_backend_end_to_end_and_cached_rerun(fake_openai, monkeypatch):
    fake_openai.on_chat(_fake_model)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    data = _prompt_json(str(POSTS / "sourdough.md"))  # auto picks openai when a key is set
    assert data["backend"] == "openai"
    assert data["prompt"].startswith("a crusty sourdough loaf")
    assert data["key_topics"][0]["phrase"] == "sourdough loaf"
    assert data["usage"]["calls"] == data["chunks"] + 2  # one per chunk, the combinator, the writer
    assert data["usage"]["cost_usd"] > 0
    sent = len(fake_openai.calls("/v1/chat/completions"))

    again = _prompt_json(str(POSTS / "sourdough.md"))
    assert again["prompt"] == data["prompt"]
    assert len(fake_openai.calls("/v1/chat/completions")) == sent  # every answer came from the cache

    logs = runner.invoke(app, ["logs", "-n", "50", "--json"])
    assert logs.exit_code == 0
    rows = json.loads(logs.output)
    # The rerun took its topics from the stage cache and only asked the writer again, answered from the LLM cache.
    assert len(rows) == data["chunks"] + 2 + 1
    assert sum(1 for row in rows if row["cached"]) == 1


def test_optimize_with_tiny_clip(tiny_checkpoint, monkeypatch):
    from tiny_clip import MODEL

    monkeypatch.setenv("BLOGART_RANK__MODEL", MODEL)
    monkeypatch.setenv("BLOGART_MODELS__CLIP", str(tiny_checkpoint))
    monkeypatch.setenv("BLOGART_OPTIMIZE__ITERATIONS", "20")
    monkeypatch.setenv("BLOGART_OPTIMIZE__PROMPT_LEN", "6")
    data = _prompt_json(str(POSTS / "tidepools.txt"), "--optimize")
    assert data["optimized_prompt"]
    assert data["optimized_prompt"] != data["prompt"]
    assert data["optimize_scores"]["best"] > data["optimize_scores"]["start"]


def test_stages_are_reported_in_order():
    from blogart.config import load_settings
    from blogart.pipeline.plan import plan_run
    from blogart.pipeline.prompt import run_prompt

    stages: list[str] = []
    run_prompt(str(POSTS / "tidepools.txt"), plan_run(load_settings()), report=stages.append)
    assert stages[0] == "reading the post"
    assert stages[1].startswith("extracting topics from") and stages[1].endswith("(local)")
    assert stages[2] == "writing the image prompt"
