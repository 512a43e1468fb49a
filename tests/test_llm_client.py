"""LLMClient end to end through the real openai SDK against the fake server on 127.0.0.1."""

from __future__ import annotations

import time

import pytest
from fake_openai import chat_completion, schema_name
from pydantic import BaseModel, SecretStr

from blogart.errors import LLMError, UsageError
from blogart.llm.client import LLMClient
from blogart.llm.pricing import chat_cost, image_cost
from blogart.store import Store

CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "What is this post about?"}]


class Answer(BaseModel):
    topic: str
    score: float


def make_client(fake, tmp_path, **kwargs) -> LLMClient:
    kwargs.setdefault("max_retries", 3)
    kwargs.setdefault("timeout", 5.0)
    return LLMClient(
        "gpt-4o",
        api_key="sk-test",
        base_url=fake.base_url,
        store=Store(tmp_path / "log.db"),
        backoff_initial=0.01,
        backoff_max=0.05,
        **kwargs,
    )


def test_structured_output_is_parsed_logged_and_priced(fake_openai, tmp_path):
    fake_openai.on_chat(lambda req: {"topic": "kelp forests", "score": 0.9}, prompt_tokens=1000, completion_tokens=200)
    client = make_client(fake_openai, tmp_path)
    parsed, usage = client.structured(MESSAGES, Answer, "answer")
    assert parsed == Answer(topic="kelp forests", score=0.9)
    assert usage.calls == 1 and usage.cached == 0
    assert (usage.prompt_tokens, usage.completion_tokens) == (1000, 200)
    assert usage.cost_usd == pytest.approx(1000 * 2.5e-6 + 200 * 10e-6)

    sent = fake_openai.calls(CHAT)[0]
    assert sent.headers["authorization"] == "Bearer sk-test"
    assert sent.json["model"] == "gpt-4o"
    assert sent.json["messages"] == MESSAGES
    fmt = sent.json["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert schema_name(sent.json) == "answer"
    assert fmt["json_schema"]["schema"]["additionalProperties"] is False
    assert set(fmt["json_schema"]["schema"]["required"]) == {"topic", "score"}

    [call] = client.store.recent_calls()
    assert call.kind == "chat.completions" and call.error is None and not call.cached
    assert call.request["messages"] == MESSAGES
    assert call.response["choices"][0]["message"]["content"] == '{"topic": "kelp forests", "score": 0.9}'
    assert (call.prompt_tokens, call.completion_tokens) == (1000, 200)
    assert call.cost_usd == pytest.approx(usage.cost_usd)
    assert call.duration_s is not None and call.duration_s >= 0
    assert "sk-test" not in str(call.request)


def test_rerun_hits_the_cache_without_a_request(fake_openai, tmp_path):
    fake_openai.on_chat(lambda req: {"topic": "otters", "score": 1.0})
    first, _ = make_client(fake_openai, tmp_path).structured(MESSAGES, Answer, "answer")
    # A new client and process-like fresh state: only the SQLite file is shared.
    client = make_client(fake_openai, tmp_path)
    again, usage = client.structured(MESSAGES, Answer, "answer")
    assert again == first
    assert len(fake_openai.calls(CHAT)) == 1
    assert usage.calls == 0 and usage.cached == 1 and usage.cost_usd == 0
    newest = client.store.recent_calls(1)[0]
    assert newest.cached and newest.cost_usd == 0
    # A different question is not a cache hit.
    client.structured([{"role": "user", "content": "something else"}], Answer, "answer")
    assert len(fake_openai.calls(CHAT)) == 2


def test_429_then_success_is_retried_and_both_attempts_are_logged(fake_openai, tmp_path):
    fake_openai.on_chat(lambda req: {"topic": "t", "score": 0.5})
    fake_openai.queue(CHAT, status=429)
    client = make_client(fake_openai, tmp_path)
    parsed, usage = client.structured(MESSAGES, Answer, "answer")
    assert parsed.topic == "t" and usage.calls == 1
    assert len(fake_openai.calls(CHAT)) == 2
    ok, failed = client.store.recent_calls()
    assert failed.error.startswith("HTTP 429") and failed.response is None
    assert ok.error is None and ok.prompt_tokens == 100


def test_500_then_success(fake_openai, tmp_path):
    fake_openai.on_chat(lambda req: {"topic": "t", "score": 0.5})
    fake_openai.queue(CHAT, status=500)
    fake_openai.queue(CHAT, status=503)
    parsed, _ = make_client(fake_openai, tmp_path).structured(MESSAGES, Answer, "answer")
    assert parsed.topic == "t"
    assert len(fake_openai.calls(CHAT)) == 3


def test_persistent_500_is_a_one_line_llm_error(fake_openai, tmp_path):
    fake_openai.on(CHAT, lambda req: (500, {"error": {"message": "the\nserver melted", "type": "server_error"}}))
    client = make_client(fake_openai, tmp_path, max_retries=2)
    with pytest.raises(LLMError) as info:
        client.structured(MESSAGES, Answer, "answer")
    message = str(info.value)
    assert "\n" not in message and "after 3 attempts" in message and "HTTP 500" in message
    assert "server melted" in message
    assert len(fake_openai.calls(CHAT)) == 3
    assert [c.error is not None for c in client.store.recent_calls()] == [True, True, True]
    assert client.usage.calls == 0
    assert all(c.kind == "chat.completions" for c in client.store.recent_calls())


def test_client_errors_are_not_retried(fake_openai, tmp_path):
    fake_openai.queue(CHAT, status=401, body={"error": {"message": "Incorrect API key", "type": "invalid_request"}})
    with pytest.raises(LLMError, match="HTTP 401: Incorrect API key"):
        make_client(fake_openai, tmp_path).structured(MESSAGES, Answer, "answer")
    assert len(fake_openai.calls(CHAT)) == 1


def test_timeout_then_success(fake_openai, tmp_path):
    fake_openai.on_chat(lambda req: {"topic": "t", "score": 0.5})
    fake_openai.queue(CHAT, delay=3.0)
    client = make_client(fake_openai, tmp_path, timeout=0.3)
    start = time.perf_counter()
    parsed, _ = client.structured(MESSAGES, Answer, "answer")
    assert parsed.topic == "t"
    assert time.perf_counter() - start < 2.5
    assert client.store.recent_calls()[1].error == "request timed out"


def test_persistent_timeout_is_an_llm_error(fake_openai, tmp_path):
    for _ in range(2):
        fake_openai.queue(CHAT, delay=3.0)
    client = make_client(fake_openai, tmp_path, timeout=0.2, max_retries=1)
    with pytest.raises(LLMError, match="after 2 attempts: request timed out"):
        client.structured(MESSAGES, Answer, "answer")


def test_connection_refused_is_an_llm_error(tmp_path):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = LLMClient(
        "gpt-4o",
        None,
        base_url=f"http://127.0.0.1:{port}/v1",
        store=Store(tmp_path / "x.db"),
        max_retries=1,
        backoff_initial=0.01,
        backoff_max=0.01,
        timeout=2,
    )
    with pytest.raises(LLMError, match="connection failed"):
        client.structured(MESSAGES, Answer, "answer")


def test_malformed_json_once_gets_a_corrective_retry(fake_openai, tmp_path):
    replies = iter(['{"topic": "kelp", "sco', {"topic": "kelp", "score": 0.7}])
    fake_openai.on_chat(lambda req: next(replies))
    client = make_client(fake_openai, tmp_path)
    parsed, usage = client.structured(MESSAGES, Answer, "answer")
    assert parsed == Answer(topic="kelp", score=0.7)
    assert usage.calls == 2 and usage.prompt_tokens == 200
    second = fake_openai.calls(CHAT)[1].json["messages"]
    assert second[:1] == MESSAGES
    assert second[1] == {"role": "assistant", "content": '{"topic": "kelp", "sco'}
    assert "not valid JSON" in second[2]["content"]
    # The good answer is cached under the original question.
    make_client(fake_openai, tmp_path).structured(MESSAGES, Answer, "answer")
    assert len(fake_openai.calls(CHAT)) == 2


def test_malformed_json_twice_is_an_llm_error(fake_openai, tmp_path):
    replies = iter(["not json at all", {"topic": "missing score"}])
    fake_openai.on_chat(lambda req: next(replies))
    client = make_client(fake_openai, tmp_path)
    with pytest.raises(LLMError, match="returned invalid JSON for answer twice") as info:
        client.structured(MESSAGES, Answer, "answer")
    assert "\n" not in str(info.value)
    assert len(fake_openai.calls(CHAT)) == 2
    assert client.usage.calls == 2
    # Nothing bad was cached: a rerun asks again.
    fake_openai.on_chat(lambda req: {"topic": "t", "score": 1})
    make_client(fake_openai, tmp_path).structured(MESSAGES, Answer, "answer")
    assert len(fake_openai.calls(CHAT)) == 3


def test_refusal_is_an_llm_error(fake_openai, tmp_path):
    body = chat_completion("")
    body["choices"][0]["message"].update(content=None, refusal="I can't help with that.")
    fake_openai.on(CHAT, lambda req: (200, body))
    with pytest.raises(LLMError, match="refused the answer request: I can't help with that"):
        make_client(fake_openai, tmp_path).structured(MESSAGES, Answer, "answer")


def test_missing_key_without_base_url_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="set OPENAI_API_KEY or use --backend local"):
        LLMClient("gpt-4o", None, store=Store(tmp_path / "x.db"))
    with pytest.raises(UsageError):
        LLMClient("gpt-4o", SecretStr(""), store=Store(tmp_path / "x.db"))


def test_base_url_without_key_works_and_unknown_model_has_no_cost(fake_openai, tmp_path):
    fake_openai.on_chat(lambda req: {"topic": "t", "score": 0.5})
    client = LLMClient("llama3.1:8b", None, base_url=fake_openai.base_url, store=Store(tmp_path / "x.db"))
    _, usage = client.structured(MESSAGES, Answer, "answer")
    assert usage.cost_usd == 0.0
    assert client.store.recent_calls()[0].cost_usd is None
    assert fake_openai.calls(CHAT)[0].json["model"] == "llama3.1:8b"


def test_pricing_table():
    assert chat_cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert chat_cost("gpt-4o-2024-08-06", 1_000_000, 0) == pytest.approx(2.5)
    assert chat_cost("gpt-4-0613", 0, 1_000_000) == pytest.approx(60)
    assert chat_cost("gpt-4.1-mini", 1_000_000, 0) == pytest.approx(0.4)
    assert chat_cost("gpt-4.5-preview", 10, 10) is None
    assert chat_cost("mistral", 10, 10) is None
    assert image_cost("dall-e-3", "1024x1024", 2) == pytest.approx(0.08)
    assert image_cost("gpt-image-1", "1024x1024", 1) is None


def test_client_from_settings_uses_the_key_helper_and_the_configured_store(tmp_path):
    from blogart.config import Settings

    settings = Settings(llm={"api_key": "sk-set", "model": "gpt-4o-mini"}, store={"path": str(tmp_path / "s.db")})
    assert settings.llm.key() == "sk-set" and Settings().llm.key() is None
    client = LLMClient.from_settings(settings)
    assert (client.model, client._api_key, client.store.path) == ("gpt-4o-mini", "sk-set", tmp_path / "s.db")
    with pytest.raises(UsageError, match="no OpenAI API key"):
        LLMClient.from_settings(Settings(store={"path": str(tmp_path / "s.db")}))
