"""The openai topic extractor and merger, and the prompt writer, through the real SDK against the fake server."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from fake_openai import schema_name

from blogart.errors import LLMError
from blogart.llm.client import LLMClient
from blogart.prompts.builder import estimate_tokens
from blogart.prompts.openai_writer import (
    OpenAIPromptWriter,
    fit_to_tokens,
)
from blogart.store import Store
from blogart.topics.combine import combine
from blogart.topics.openai import OpenAITopicExtractor, OpenAITopicMerger, verbatim_evidence
from blogart.values import Chunk, ChunkTopics, KeyTopics, StylePreset, Topic

CHAT = "/v1/chat/completions"
OUTLINE = "Kelp forests\n- Why kelp matters\n- Sea otters\n- Restoring forests"
CHUNKS = [
    Chunk(0, ("Why kelp matters",), "Kelp grows half a metre a day. It shelters fish and stores carbon.", 300, OUTLINE),
    Chunk(1, ("Sea otters",), "Sea otters eat urchins. Without otters, urchins mow the kelp down.", 100, OUTLINE),
    Chunk(
        2,
        ("Restoring forests",),
        "Divers replant kelp on ropes. Urchin culling helps the forests recover.",
        100,
        OUTLINE,
    ),
]
TOPIC_BY_HEADING = {
    "Why kelp matters": (
        "giant kelp forest",
        "Kelp forests grow fast and store carbon.",
        "It shelters fish and stores carbon.",
    ),
    "Sea otters": ("sea otters eating urchins", "Otters keep urchins from eating kelp.", "Sea otters eat urchins."),
    "Restoring forests": ("kelp restoration divers", "People replant kelp forests.", "Divers replant kelp on ropes."),
}
STYLE = StylePreset(
    "illustration", "a clean editorial illustration", "editorial illustration, soft colors", ("text", "watermark")
)


@dataclass
class Example:  # the shape of blogart.prompts.library.PromptExample
    topics: list[str]
    summary: str
    style: str
    prompt: str


EXAMPLES = [
    Example(["rust borrow checker"], "How Rust checks borrows.", "photo", "a crab guarding a bridge, photo"),
    Example(["coffee roasting"], "Roasting beans at home.", "illustration", "coffee beans in a pan, steam"),
]


def fake_model(request: dict) -> dict:
    """A tiny stand-in model: reads the chunk or the topic list it is sent and answers in the asked schema."""
    name = schema_name(request)
    user = request["messages"][-1]["content"]
    if name == "chunk_topic":
        heading = re.search(r"This chunk is under: (.+)", user).group(1)
        phrase, abstraction, evidence = TOPIC_BY_HEADING[heading]
        return {"phrase": phrase, "abstraction": abstraction, "evidence": [evidence, "A sentence the model made up."]}
    if name == "key_topics":
        assert "1. [chunk 0, 60% of the post] giant kelp forest" in user
        return {
            "topics": [
                {
                    "phrase": "sea otters and urchins",
                    "abstraction": "Otters protect kelp.",
                    "sources": [2],
                    "weight": 0.9,
                },
                {
                    "phrase": "kelp forest",
                    "abstraction": "Kelp forests and their repair.",
                    "sources": [1, 3, 3, 9],
                    "weight": 0.1,
                },
                {"phrase": "Kelp Forest", "abstraction": "a duplicate", "sources": [], "weight": 0.5},
                {"phrase": "ocean", "abstraction": "The sea.", "sources": [], "weight": 2.0},
            ],
            "summary": "Kelp forests grow fast,\nneed otters, and can be replanted.",
        }
    if name == "image_prompt":
        return {
            "prompt": "a giant kelp forest with sea otters, sunlight rays through water, editorial illustration, "
            "soft colors, small fish, divers on ropes, rocky sea floor, blue green water, calm mood",
            "negative": ["TEXT", "people"],
        }
    raise AssertionError(f"unexpected schema {name}")


@pytest.fixture
def client(fake_openai, tmp_path):
    fake_openai.on_chat(fake_model)
    return LLMClient(
        "gpt-4o",
        "sk-test",
        base_url=fake_openai.base_url,
        store=Store(tmp_path / "db.sqlite"),
        backoff_initial=0.01,
        backoff_max=0.02,
    )


def test_extract_one_call_per_chunk_with_context(client, fake_openai):
    extractor = OpenAITopicExtractor(client)
    result = extractor.extract(CHUNKS)
    assert [r.chunk_index for r in result] == [0, 1, 2]
    first = result[0].topics[0]
    assert first.phrase == "giant kelp forest"
    assert first.abstraction == "Kelp forests grow fast and store carbon."
    assert first.evidence == ("It shelters fish and stores carbon.",)  # the invented sentence is dropped
    sent = fake_openai.calls(CHAT)
    assert len(sent) == 3
    user = sent[1].json["messages"][-1]["content"]
    assert OUTLINE in user and "This chunk is under: Sea otters" in user and CHUNKS[1].text in user
    assert extractor.usage.calls == 3 and extractor.usage.prompt_tokens == 300
    # A rerun is free: answered from the SQLite cache.
    again = OpenAITopicExtractor(client)
    assert again.extract(CHUNKS) == result
    assert len(fake_openai.calls(CHAT)) == 3 and again.usage.cached == 3 and again.usage.cost_usd == 0


def test_combine_merges_weights_by_tokens_and_caps(client, fake_openai):
    extractor, merger = OpenAITopicExtractor(client), OpenAITopicMerger(client)
    key = combine(extractor.extract(CHUNKS), CHUNKS, max_topics=3, merger=merger)
    assert isinstance(key, KeyTopics)
    # "Kelp Forest" repeats a phrase and "ocean" merges no chunk topic: both dropped.
    assert [t.phrase for t in key.topics] == ["kelp forest", "sea otters and urchins"]
    kelp, otters = key.topics
    assert kelp.weight == pytest.approx(0.8)  # chunks 0 and 2: 400 of 500 tokens
    assert otters.weight == pytest.approx(0.2)  # the model's 0.9 is replaced by chunk 1's share
    assert kelp.evidence == ("It shelters fish and stores carbon.", "Divers replant kelp on ropes.")
    assert key.summary == "Kelp forests grow fast, need otters, and can be replanted."
    assert len(fake_openai.calls(CHAT)) == 4
    assert extractor.usage.calls == 3 and merger.usage.calls == 1


def test_combine_weights_are_shares_of_the_whole_post(client, fake_openai):
    # Chunk 1 gave no topic; its 100 tokens are still part of the post the weights are shares of.
    kelp = Topic("giant kelp forest", "Kelp forests grow fast and store carbon.", ("It shelters fish.",))
    divers = Topic("kelp restoration divers", "People replant kelp forests.", ())
    given = [ChunkTopics(0, (kelp,)), ChunkTopics(1, ()), ChunkTopics(2, (divers,))]
    key = combine(given, CHUNKS, max_topics=6, merger=OpenAITopicMerger(client))
    assert [(t.phrase, t.weight) for t in key.topics] == [("kelp forest", 0.6), ("sea otters and urchins", 0.2)]


def test_combine_respects_max_topics_and_empty_input(client, fake_openai):
    merger = OpenAITopicMerger(client)
    key = combine(OpenAITopicExtractor(client).extract(CHUNKS), CHUNKS, max_topics=1, merger=merger)
    assert [t.phrase for t in key.topics] == ["sea otters and urchins"]  # the model's first, its importance order
    assert "at most 1 key topics" in fake_openai.calls(CHAT)[-1].json["messages"][-1]["content"]
    before = len(fake_openai.calls(CHAT))
    assert combine([ChunkTopics(0, ())], CHUNKS, 6, merger=merger) == KeyTopics((), "")
    assert len(fake_openai.calls(CHAT)) == before


def test_writer_few_shot_style_tokens_and_negatives(client, fake_openai):
    key = KeyTopics((Topic("kelp forest", "Kelp forests."), Topic("sea otters", "Otters.")), "Kelp needs otters.")
    writer = OpenAIPromptWriter(client, EXAMPLES, count_tokens=estimate_tokens)
    prompt = writer.write(key, "Saving kelp", STYLE, extra_negative=["blurry", "text "], max_tokens=30)
    assert prompt.writer == "openai" and prompt.style == "illustration"
    assert prompt.text.startswith("a giant kelp forest with sea otters")
    assert prompt.text.endswith("editorial illustration, soft colors")
    assert prompt.text.count("editorial illustration") == 1
    assert prompt.tokens == estimate_tokens(prompt.text) <= 30
    assert "calm mood" not in prompt.text  # cut at a comma boundary from the end of the subject
    assert prompt.negative == ("text", "watermark", "blurry", "people")
    messages = fake_openai.calls(CHAT)[0].json["messages"]
    assert "30 tokens" in messages[0]["content"]
    # Few-shot: the example in the same style comes first, as a user/assistant pair.
    assert "coffee roasting" in messages[1]["content"] and '"coffee beans in a pan' in messages[2]["content"]
    assert "rust borrow checker" in messages[3]["content"]
    assert messages[-1]["content"].startswith("Title: Saving kelp\nKey topics: kelp forest (Kelp forests.)")
    assert writer.usage.calls == 1


def test_writer_shows_the_examples_closest_to_the_post_first(client, fake_openai):
    near = Example(["kelp forest", "sea urchins"], "Diving in kelp.", "photo", "a kelp forest underwater, photo")
    writer = OpenAIPromptWriter(client, [*EXAMPLES, near])
    key = KeyTopics((Topic("kelp forest", "Kelp forests."), Topic("sea otters", "Otters.")), "Kelp needs otters.")
    messages = writer.messages(key, "Saving kelp", STYLE, 64)
    shown = [m["content"] for m in messages[1:-1:2]]
    # Shared topic words beat the same style; the style breaks the tie between the others.
    assert [line.split("\n")[0] for line in shown] == [
        "Key topics: kelp forest; sea urchins",
        "Key topics: coffee roasting",
        "Key topics: rust borrow checker",
    ]


def test_writer_without_a_subject_falls_back_to_the_key_topics(client, fake_openai):
    fake_openai.on_chat(lambda req: {"prompt": " Editorial illustration, soft colors. ", "negative": []})
    key = KeyTopics((Topic("kelp forest", "Kelp forests."), Topic("sea otters", "Otters.")), "Kelp needs otters.")
    prompt = OpenAIPromptWriter(client, EXAMPLES).write(key, "Saving kelp", STYLE, [], 64)
    assert prompt.text == "kelp forest, sea otters, editorial illustration, soft colors"


def test_writer_surfaces_llm_errors(client, fake_openai):
    fake_openai.on_chat(lambda req: "no json here")
    writer = OpenAIPromptWriter(client, EXAMPLES)
    with pytest.raises(LLMError, match="invalid JSON for image_prompt twice"):
        writer.write(KeyTopics((Topic("x", "y"),), "s"), "t", STYLE, [], 64)


def test_fit_to_tokens_cuts_subject_then_style_then_words():
    words = len  # one token per character keeps the arithmetic visible
    assert fit_to_tokens("a cat, a hat", "photo", words, 100) == "a cat, a hat, photo"
    assert fit_to_tokens("a cat, a hat", "photo", words, 12) == "a cat, photo"
    assert fit_to_tokens("a cat, a hat", "photo, 35mm", words, 8) == "a cat"
    assert fit_to_tokens("a black cat", "", words, 6) == "a"
    assert fit_to_tokens("a black cat", "", words, 0) == ""


def test_verbatim_evidence_ignores_whitespace_and_case():
    chunk = "Kelp grows\nhalf a metre a day. It shelters fish."
    assert verbatim_evidence(["kelp grows half a metre a day.", "Otters are cute."], chunk) == (
        "kelp grows half a metre a day.",
    )
