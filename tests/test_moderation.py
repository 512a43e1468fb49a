"""Moderation: CLIP concept checks, the prompt blocklist, and OpenAI's endpoint on the fake server."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from tiny_clip import PROMPT, _candidates, _pngs

from blogart.errors import LLMError, UsageError
from blogart.llm.client import LLMClient
from blogart.ranking.moderation import Moderator, OpenAIModeration, blocklist_matches, concept_flags
from blogart.store import Store
from blogart.values import ImagePrompt


def _client(fake_openai, tmp_path, max_retries: int = 0) -> LLMClient:
    return LLMClient(
        "gpt-4o",
        "sk-test",
        fake_openai.base_url,
        max_retries=max_retries,
        store=Store(tmp_path / "log.db"),
        backoff_initial=0.01,
        backoff_max=0.02,
    )


def test_blocklist_matches_whole_words_and_phrases():
    blocklist = ["gore", "Hate Symbol", "  "]
    assert blocklist_matches("A GORE-soaked scene", blocklist) == ["gore"]
    assert blocklist_matches("a gorgeous view", blocklist) == []
    assert blocklist_matches("draw a hate   symbol", blocklist) == ["Hate Symbol"]
    assert blocklist_matches("symbol of hate", blocklist) == []


def test_blocked_prompt_is_refused_or_flagged(clip, tmp_path):  # noqa: F811
    from blogart.ranking.clip import ClipRanker

    paths = _pngs(tmp_path, 2)
    prompt = ImagePrompt("a bloody gore scene", (), "", 8)
    with pytest.raises(UsageError, match="prompt refused by moderation \\(gore\\)"):
        ClipRanker(clip, moderator=Moderator(prompt_blocklist=["gore"])).rank(_candidates(paths), prompt)
    ranked = ClipRanker(clip, moderator=Moderator(prompt_blocklist=["gore"], refuse_blocked_prompt=False)).rank(
        _candidates(paths), prompt
    )
    assert all(r.flagged and r.flags[0].source == "prompt-blocklist" for r in ranked)


def test_concept_near_an_image_flags_it_and_it_sorts_last(clip, tmp_path):  # noqa: F811
    from blogart.ranking.clip import ClipRanker

    paths = _pngs(tmp_path, 4)
    prompt = ImagePrompt(PROMPT, (), "", 8)
    plain = ClipRanker(clip).rank(_candidates(paths), prompt)
    best = plain[0].candidate.path
    # The concept is the prompt's own text, so its cosine to each image is the prompt's; a threshold
    # between the best and the runner-up flags exactly the best image.
    cosines = sorted((r.prompt_score / 2.5 for r in plain), reverse=True)
    threshold = (cosines[0] + cosines[1]) / 2
    moderator = Moderator(concepts={PROMPT: threshold, "a far away concept": 0.99})
    ranked = ClipRanker(clip, moderator=moderator).rank(_candidates(paths), prompt)
    assert ranked[-1].candidate.path == best
    (flag,) = ranked[-1].flags
    assert flag.concept == PROMPT and flag.source == "clip" and flag.threshold == threshold
    assert flag.score == pytest.approx(cosines[0], abs=1e-5)
    assert not any(r.flagged for r in ranked[:-1])
    assert [r.candidate.path for r in ranked[:-1]] == [r.candidate.path for r in plain[1:]]
    # top_k keeps the flagged image listed after the kept ones, never in their place
    top = ClipRanker(clip, moderator=moderator, top_k=1).rank(_candidates(paths), prompt)
    assert [r.candidate.path for r in top] == [plain[1].candidate.path, best]


def test_concept_flags_uses_thresholds_per_concept():
    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    concepts = np.array([[1.0, 0.0], [0.6, 0.8]])
    flags = concept_flags(images, concepts, {"a": 0.9, "b": 0.7})
    assert [[f.concept for f in row] for row in flags] == [["a"], ["b"]]
    assert flags[1][0].score == pytest.approx(0.8)


def test_openai_moderation_against_the_fake_server(fake_openai, tmp_path):
    png = _pngs(tmp_path, 1)[0]
    client = _client(fake_openai, tmp_path)
    moderation = OpenAIModeration(client)
    assert moderation.check_text("a calm lake") == []
    assert moderation.check_image(png) == []
    text_request, image_request = [r for r in fake_openai.requests if r.path == "/v1/moderations"]
    assert text_request.json == {"model": "omni-moderation-latest", "input": "a calm lake"}
    (item,) = image_request.json["input"]
    assert item["type"] == "image_url"
    assert base64.b64decode(item["image_url"]["url"].removeprefix("data:image/png;base64,")) == png.read_bytes()
    assert image_request.headers["authorization"] == "Bearer sk-test"

    names = ["violence", "violence/graphic", "sexual"]
    flagged = {
        "flagged": True,
        "categories": {"violence": True, "violence/graphic": False, "sexual": False},
        "category_scores": {"violence": 0.91, "violence/graphic": 0.4, "sexual": 0.01},
    }
    body = {"id": "modr-1", "model": "omni-moderation-latest", "results": [flagged]}
    fake_openai.queue("/v1/moderations", body=body)
    (flag,) = moderation.check_image(png)
    assert (flag.concept, flag.score, flag.source) == ("violence", pytest.approx(0.91), "openai")
    # Our own thresholds override the endpoint's decision per category.
    strict = OpenAIModeration(client, thresholds={n: 0.3 for n in names})
    fake_openai.queue("/v1/moderations", body=body)
    assert {f.concept for f in strict.check_text("x")} == {"violence", "violence/graphic"}

    fake_openai.queue("/v1/moderations", status=500, body={"error": {"message": "boom", "type": "server_error"}})
    with pytest.raises(
        LLMError, match="moderations to omni-moderation-latest .* failed after 1 attempts: HTTP 500: boom"
    ):
        moderation.check_text("x")


def test_openai_moderation_is_logged_and_retried_like_chat_calls(fake_openai, tmp_path):
    png = _pngs(tmp_path, 1)[0]
    client = _client(fake_openai, tmp_path, max_retries=2)
    fake_openai.queue("/v1/moderations", status=429, body={"error": {"message": "slow down", "type": "rate"}})
    assert OpenAIModeration(client).check_image(png) == []
    retried, failed = client.store.recent_calls()  # newest first
    assert failed.error.startswith("HTTP 429") and retried.error is None
    assert retried.kind == "moderations" and retried.model == "omni-moderation-latest"
    assert retried.cost_usd == 0.0 and retried.response["results"]
    # The log notes the image's size, never its base64 data.
    (part,) = retried.request["input"]
    assert part["image_url"]["url"].startswith("data:image/png;base64,<") and len(str(retried.request)) < 300


def test_openai_flags_reach_the_ranking(clip, fake_openai, tmp_path):  # noqa: F811
    from blogart.ranking.clip import ClipRanker

    paths = _pngs(tmp_path, 2)
    flagged = {"flagged": True, "categories": {"hate": True}, "category_scores": {"hate": 0.8}}
    clean = {"flagged": False, "categories": {"hate": False}, "category_scores": {"hate": 0.0}}
    fake_openai.queue("/v1/moderations", body={"id": "m", "model": "omni-moderation-latest", "results": [clean]})
    fake_openai.queue("/v1/moderations", body={"id": "m", "model": "omni-moderation-latest", "results": [flagged]})
    fake_openai.queue("/v1/moderations", body={"id": "m", "model": "omni-moderation-latest", "results": [clean]})
    moderator = Moderator(openai=OpenAIModeration(_client(fake_openai, tmp_path)))
    ranked = ClipRanker(clip, moderator=moderator).rank(_candidates(paths), ImagePrompt(PROMPT, (), "", 8))
    assert ranked[-1].candidate.path == paths[0]  # the first image checked (after the prompt) was flagged
    assert ranked[-1].flags[0].concept == "hate" and ranked[-1].flags[0].source == "openai"
    assert not ranked[0].flagged
    assert len([r for r in fake_openai.requests if r.path == "/v1/moderations"]) == 3


def test_the_social_preset_is_stricter_and_knows_more(fake_openai, tmp_path):
    from blogart.config import ModerationSettings
    from blogart.ranking.moderation import SOCIAL, describe_flag, preset_moderator
    from blogart.values import Flag

    standard = ModerationSettings().concepts
    assert set(standard) < set(SOCIAL.concepts)
    assert all(SOCIAL.concepts[name] < threshold for name, threshold in standard.items())
    for word in ("weapon", "drugs", "self-harm", "political"):
        assert any(word in concept for concept in SOCIAL.concepts), word

    # Configured concepts join the preset's at the lower threshold; `concepts` replaces the preset's own.
    moderator = preset_moderator(SOCIAL, extra_concepts={"nudity": 0.1, "a tattoo": 0.3}, prompt_blocklist=["gore"])
    assert moderator.concepts["nudity"] == 0.1 and moderator.concepts["a tattoo"] == 0.3
    assert moderator.concepts["a gun or other weapon"] == SOCIAL.concepts["a gun or other weapon"]
    assert moderator.openai is None and list(moderator.prompt_blocklist) == ["gore"]
    assert preset_moderator(SOCIAL, concepts={}, extra_concepts={"x": 0.2}).concepts == {"x": 0.2}

    # Its OpenAI thresholds flag what the endpoint itself let through.
    client = _client(fake_openai, tmp_path)
    strict = preset_moderator(SOCIAL, openai=client)
    scores = {"self-harm": 0.15, "violence": 0.1, "sexual": 0.0}
    result = {"flagged": False, "categories": {k: False for k in scores}, "category_scores": scores}
    fake_openai.queue("/v1/moderations", body={"id": "m", "model": "omni-moderation-latest", "results": [result]})
    (flag,) = strict.openai.check_text("a sad poem")
    assert (flag.concept, flag.threshold, flag.source) == ("self-harm", 0.1, "openai")
    assert describe_flag(flag) == "OpenAI moderation scored 'self-harm' 0.15, at or above 0.10"
    assert describe_flag(Flag("gore", 1.0, 1.0, "prompt-blocklist")) == "the prompt contains the blocked word 'gore'"
    assert describe_flag(Flag("nudity", 0.25, 0.22)) == "CLIP similarity to 'nudity' is 0.250, at or above 0.220"
    assert describe_flag(Flag("hate", 0.9, 0.0, "openai")) == "OpenAI moderation flagged 'hate' (score 0.90)"


def test_the_social_preset_flags_what_the_standard_one_lets_through(clip, tmp_path):  # noqa: F811
    from blogart.ranking.clip import ClipRanker
    from blogart.ranking.moderation import SOCIAL, preset_moderator

    paths = _pngs(tmp_path, 3)
    prompt = ImagePrompt(PROMPT, (), "", 8)
    # A threshold between the lowest and highest cosine to a concept: a stricter preset flags more images.
    concept = "a gun or other weapon"
    cosines = sorted(float(v) for v in (clip.encode_images(paths) @ clip.encode_texts([concept]).T).ravel())
    loose = Moderator(concepts={concept: cosines[-1] + 1e-4})
    stricter = preset_moderator(SOCIAL, concepts={concept: (cosines[0] + cosines[1]) / 2})
    assert not any(r.flagged for r in ClipRanker(clip, moderator=loose).rank(_candidates(paths), prompt))
    flagged = [r for r in ClipRanker(clip, moderator=stricter).rank(_candidates(paths), prompt) if r.flagged]
    assert len(flagged) == 2 and all(f.concept == concept for r in flagged for f in r.flags)
