"""`prompt --dry-run` / `generate --dry-run`: chunks, the calls a run would make (cache hits excluded, read
from the real SQLite cache) and their cost, with the fake OpenAI server counting that nothing was sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import schema_name
from test_prompt_command import _fake_model
from typer.testing import CliRunner

from blogart.cli import app
from blogart.llm.pricing import CHAT_PRICES, IMAGE_PRICES

POSTS = Path(__file__).parent / "data" / "posts"
SOURDOUGH = str(POSTS / "sourdough.md")
runner = CliRunner()


@pytest.fixture
def fake_model(openai_env):
    """The fake server answering every schema as a cooperative model would."""
    openai_env.on_chat(_fake_model)
    return openai_env


def _invoke(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _dry(*args: str) -> dict:
    return _invoke(*args, "--dry-run")


def test_prompt_dry_run_plans_every_call_and_sends_none(fake_model):
    plan = _dry("prompt", SOURDOUGH)
    assert fake_model.requests == []
    assert plan["dry_run"] is True and plan["backend"] == "openai"
    chunks = len(plan["chunks"])
    assert chunks > 1 and all(c["tokens"] > 0 for c in plan["chunks"])
    kinds = [c["kind"] for c in plan["calls"]]
    assert kinds == ["chunk_topic"] * chunks + ["key_topics", "image_prompt"]
    assert [c["chunk"] for c in plan["calls"][:chunks]] == list(range(chunks))
    assert plan["calls_to_make"] == chunks + 2 and plan["cache_hits"] == 0
    # Each chunk's request holds at least the chunk itself; its cost is the price table's.
    per_input, per_output = CHAT_PRICES["gpt-4o"]
    for call, chunk in zip(plan["calls"], plan["chunks"], strict=False):
        assert call["cached"] is False and call["prompt_tokens"] > chunk["tokens"]
        expected = (call["prompt_tokens"] * per_input + call["completion_tokens"] * per_output) / 1e6
        assert call["cost_usd"] == pytest.approx(expected)
    assert plan["estimated_cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in plan["calls"]), abs=1e-6)
    # The merge and the writer are asked from answers the dry run could only stand in for.
    assert [c["cached"] for c in plan["calls"][chunks:]] == [None, None] and "guesses" in plan["estimates"]
    assert plan["calls"][chunks]["prompt_tokens"] > 0 and plan["topics_cached"] is False

    # The real run makes exactly the calls the plan named.
    real = _invoke("prompt", SOURDOUGH)
    assert len(fake_model.calls("/v1/chat/completions")) == plan["calls_to_make"] == real["usage"]["calls"]


def test_dry_run_after_a_run_finds_everything_in_the_cache(fake_model):
    _invoke("prompt", SOURDOUGH)
    sent = len(fake_model.requests)
    plan = _dry("prompt", SOURDOUGH)
    assert len(fake_model.requests) == sent
    assert plan["calls_to_make"] == 0 and plan["estimated_cost_usd"] == 0
    # The topics came from the stage cache (no call asked), and the writer's request, asked from them, from the
    # LLM cache under its own key.
    assert plan["topics_cached"] is True
    assert [(c["kind"], c["cached"]) for c in plan["calls"]] == [("image_prompt", True)]
    table = runner.invoke(app, ["prompt", SOURDOUGH, "--dry-run"]).output
    assert "topics: in the stage cache" in table and "0 calls to make, 1 cache hits" in table


def test_dry_run_checks_each_chunk_call_against_the_llm_cache(fake_model):
    """Another topic count misses the topics stage cache, but each chunk's answer is still cached."""
    _invoke("prompt", SOURDOUGH)
    sent = len(fake_model.requests)
    plan = _dry("prompt", SOURDOUGH, "--max-topics", "2")
    assert len(fake_model.requests) == sent
    by_kind = {}
    for call in plan["calls"]:
        by_kind.setdefault(call["kind"], []).append(call["cached"])
    # The merge is asked from the cached chunk answers, so its request is the real one: a known miss. The
    # writer's is asked from the merge's placeholder answer: unknown.
    assert all(by_kind["chunk_topic"]) and by_kind["key_topics"] == [False] and by_kind["image_prompt"] == [None]
    assert plan["calls_to_make"] == 2 and plan["estimated_cost_usd"] > 0

    _invoke("prompt", SOURDOUGH, "--max-topics", "2")
    # No chunk was asked again; the merge was. The writer's question is the same as before (the fake model
    # merges to the same topics), so it was answered from the cache: the plan's "miss*" is an upper bound.
    asked = [schema_name(r.json) for r in fake_model.calls("/v1/chat/completions")[sent:]]
    assert asked == ["key_topics"]


def test_generate_dry_run_prices_the_images_and_draws_nothing(fake_model, tmp_path):
    out = tmp_path / "out"
    plan = _dry("generate", SOURDOUGH, "-m", "openai-images", "-n", "3", "--out", str(out))
    assert fake_model.requests == []
    assert not out.exists()
    images = plan["calls"][-1]
    assert images["kind"] == "images" and images["images"] == 3
    assert images["cost_usd"] == pytest.approx(3 * IMAGE_PRICES["dall-e-3"]["1024x1024"])
    assert "alt_text" in [c["kind"] for c in plan["calls"]]  # publishing writes alt text with the LLM
    no_publish = _dry("generate", SOURDOUGH, "-m", "openai-images", "-n", "3", "--no-publish")
    assert "alt_text" not in [c["kind"] for c in no_publish["calls"]]


def test_local_backend_dry_run_has_no_calls_and_prints_a_table():
    result = runner.invoke(app, ["prompt", SOURDOUGH, "--dry-run", "--backend", "local"])
    assert result.exit_code == 0, result.output
    assert "chunks" in result.output and "Making and feeding a sourdough starter" in result.output
    assert "LLM calls: none" in result.output and "$0" in result.output


def test_dry_run_table_sums_up(fake_model):
    result = runner.invoke(app, ["prompt", SOURDOUGH, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "chunk_topic 0" in result.output and "miss*" in result.output
    assert "calls to make, 0 cache hits; estimated cost: $0.0" in result.output
    assert fake_model.requests == []


def test_dry_run_of_a_missing_post_is_one_clean_line(tmp_path):
    result = runner.invoke(app, ["prompt", str(tmp_path / "nope.md"), "--dry-run"])
    assert result.exit_code != 0
    assert "no such file" in result.output and "Traceback" not in result.output


def test_the_recording_client_sends_nothing_and_stands_in_with_the_schemas_shape(tmp_path):
    from blogart.errors import BlogartError
    from blogart.llm.recording import PLACEHOLDER_TEXT, RecordingClient, placeholder
    from blogart.llm.schemas import ChunkTopicOut, KeyTopicsOut, PromptOut
    from blogart.store import Store

    topics = placeholder(KeyTopicsOut)
    assert topics.topics[0].phrase == PLACEHOLDER_TEXT and topics.topics[0].sources == [1]
    assert placeholder(ChunkTopicOut).evidence == [PLACEHOLDER_TEXT] and placeholder(PromptOut).prompt

    client = RecordingClient("gpt-4o", None, store=Store(tmp_path / "db"), count_tokens=len, answer_tokens=lambda k: 7)
    messages = [{"role": "user", "content": "a chunk"}]
    first, _ = client.structured(messages, ChunkTopicOut, "chunk_topic")
    second, _ = client.structured(messages, ChunkTopicOut, "chunk_topic")
    merged, _ = client.structured(messages, KeyTopicsOut, "key_topics")
    assert first == second == placeholder(ChunkTopicOut) and merged == topics
    # Chunks are asked independently: both are known misses; the merge is asked from their placeholders.
    assert [(c.kind, c.cached, c.completion_tokens) for c in client.calls] == [
        ("chunk_topic", False, 7),
        ("chunk_topic", False, 7),
        ("key_topics", None, 7),
    ]
    with pytest.raises(BlogartError, match="sends nothing"):
        client.moderate("text")


def test_a_post_that_writes_its_own_prompt_asks_no_writer(fake_model, tmp_path):
    """The dry run is the real stage: the post's own `blogart.prompt` stands in for the writer's call."""
    text = (POSTS / "sourdough.md").read_text()
    own = tmp_path / "own.md"
    own.write_text(text.replace("author: Maren Holt\n", 'author: Maren Holt\nblogart:\n  prompt: "a loaf"\n', 1))
    kinds = [c["kind"] for c in _dry("prompt", str(own))["calls"]]
    assert "chunk_topic" in kinds and "image_prompt" not in kinds
    assert fake_model.requests == []
