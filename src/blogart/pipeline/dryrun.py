"""`--dry-run`: what a `prompt` or `generate` run would cost, worked out without calling anything.

The post is read and chunked as the real run does it. Each LLM call the run would make is built as the
real client builds it and looked up in the SQLite cache the real run reads: a cache hit costs nothing.
Calls whose input depends on an earlier answer (the merge of chunk topics, the image prompt written
from them, the alt text) are checked exactly when the answers they depend on are cached (the image
prompt, once the topics stage is), and otherwise counted as calls to make, sized from a stand-in.
Token counts of a request are tiktoken's; an answer's length is a guess per call kind. Prices come
from `blogart.llm.pricing` (None where the model is not in the table).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from blogart.config import Settings
from blogart.llm.pricing import chat_cost, image_cost
from blogart.pipeline.plan import RunPlan
from blogart.values import Chunk, Document

# Tokens a reply is guessed to take, per call kind (the schemas' fields, a sentence or three each).
ANSWER_TOKENS = {"chunk_topic": 120, "image_prompt": 90, "alt_text": 50}
KEY_TOPICS_ANSWER = (60, 70)  # the summary, then each key topic
CHUNK_LINE = 30  # tokens of one chunk's answer as the merge request quotes it (a phrase and a sentence)
MESSAGE_OVERHEAD = 4  # tokens OpenAI's chat format adds per message
IMAGE_SIZE = "1024x1024"  # what the openai-images generator asks for


@dataclass(frozen=True)
class PlannedCall:
    kind: str  # chunk_topic, key_topics, image_prompt, alt_text, images
    model: str
    cached: bool | None  # None: its input depends on answers not cached yet; counted as a call to make
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = 0.0  # 0 for a cache hit; None: the model is not in the price table
    chunk: int | None = None
    images: int = 0


@dataclass(frozen=True)
class DryRun:
    document: Document
    chunks: tuple[Chunk, ...]
    backend: str
    calls: tuple[PlannedCall, ...]

    @property
    def to_make(self) -> list[PlannedCall]:
        return [c for c in self.calls if not c.cached]

    @property
    def cost_usd(self) -> float | None:
        """The estimated total of the calls to make; None when any of them has no known price."""
        costs = [c.cost_usd for c in self.to_make]
        return None if any(c is None for c in costs) else round(sum(costs), 6)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "title": self.document.title,
            "source": self.document.source,
            "backend": self.backend,
            "chunks": [
                {"index": c.index, "heading_path": list(c.heading_path), "tokens": c.tokens} for c in self.chunks
            ],
            "calls": [asdict(c) for c in self.calls],
            "calls_to_make": len(self.to_make),
            "cache_hits": sum(1 for c in self.calls if c.cached),
            "estimated_cost_usd": self.cost_usd,
        }


def dry_run(source: str, plan: RunPlan, *, generate: bool = False) -> DryRun:
    """The run `blogart prompt` (or with `generate`, `blogart generate`) would make, and its cost.

    With `generate`, alt text is counted when `plan.publish` is enabled.
    """
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document

    settings = plan.settings
    document = load_document(source, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    c = settings.chunking
    chunks = tuple(
        chunk_document(document, max_tokens=c.max_tokens, overlap_tokens=c.overlap_tokens, encoding=c.encoding)
    )
    budget = settings.prompt.max_tokens
    if generate:  # the generator's text length caps the prompt (made as `generate` makes it: no weights loaded)
        from blogart import plugins
        from blogart.pipeline.plan import backend_context

        generator = plugins.create("generators", plan.generator, backend_context(settings))
        budget = min(budget, generator.max_prompt_tokens() or budget)
    calls: list[PlannedCall] = []
    if plan.backend == "openai":
        alt_text = generate and plan.publish.enabled
        writer_is_llm = plan.writer == "openai"
        calls = _text_calls(document, chunks, settings, budget, writer_is_llm=writer_is_llm, alt_text=alt_text)
    if generate and plan.generator == "openai-images":
        model = settings.generate.openai_images_model
        n = settings.generate.n * settings.generate.rounds
        calls.append(PlannedCall("images", model, False, cost_usd=image_cost(model, IMAGE_SIZE, n), images=n))
    return DryRun(document, chunks, plan.backend, tuple(calls))


def _text_calls(
    document: Document,
    chunks: tuple[Chunk, ...],
    settings: Settings,
    budget: int,
    *,
    writer_is_llm: bool,
    alt_text: bool,
) -> list[PlannedCall]:
    from blogart.llm.client import PLACEHOLDER_KEY, LLMClient
    from blogart.llm.schemas import ChunkTopicOut, KeyTopicsOut, PromptOut
    from blogart.outputs.alttext import SYSTEM as ALT_SYSTEM
    from blogart.outputs.alttext import AltTextOut
    from blogart.pipeline.topics_cache import topics_cache_key, topics_from_json
    from blogart.store import Store
    from blogart.topics.openai import COMBINE_SYSTEM, OpenAITopicExtractor
    from blogart.values import KeyTopics

    llm = settings.llm
    store = Store(settings.store.resolved())
    # Builds requests and reads the cache only: no key is needed, and nothing is ever sent.
    key = llm.key() or PLACEHOLDER_KEY
    client = LLMClient(llm.model, key, base_url=llm.base_url, temperature=llm.temperature, store=store)
    count = _counter(settings.chunking.encoding)

    def call(
        kind: str,
        messages: list[dict[str, str]],
        schema: Any,
        chunk: int | None = None,
        known: bool = True,
        extra: int = 0,
    ) -> PlannedCall:
        """`known`: the messages are the real ones (checked in the cache); else a stand-in of about their size."""
        if kind == "key_topics":
            answer = KEY_TOPICS_ANSWER[0] + KEY_TOPICS_ANSWER[1] * settings.topics.max_key_topics
        else:
            answer = ANSWER_TOKENS[kind]
        request = client.structured_request(messages, schema, kind)
        tokens = _request_tokens(request, count) + extra
        cached = _is_cached(store, client, request, schema) if known else None
        if cached:
            return PlannedCall(kind, llm.model, True, tokens, 0, 0.0, chunk)
        return PlannedCall(kind, llm.model, cached, tokens, answer, chat_cost(llm.model, tokens, answer), chunk)

    calls: list[PlannedCall] = []
    extractor = OpenAITopicExtractor(client)
    stage = store.stage_get(topics_cache_key(document, "openai", settings))
    key_topics = None
    if stage is not None:  # the whole topics stage is cached: not one topics call is made
        key_topics = topics_from_json(stage)[1]
        calls += [PlannedCall("chunk_topic", llm.model, True, chunk=chunk.index) for chunk in chunks]
        calls.append(PlannedCall("key_topics", llm.model, True))
    else:
        calls += [call("chunk_topic", extractor.messages_for(chunk), ChunkTopicOut, chunk.index) for chunk in chunks]
        # The merge request lists each chunk's answer (about CHUNK_LINE tokens) under the post's outline.
        outline = chunks[0].outline if chunks else ""
        stand_in = [{"role": "system", "content": COMBINE_SYSTEM}, {"role": "user", "content": outline}]
        calls.append(call("key_topics", stand_in, KeyTopicsOut, known=False, extra=CHUNK_LINE * len(chunks)))
    if writer_is_llm:
        known = key_topics is not None
        topics = key_topics if known else KeyTopics((), "")  # a stand-in: the examples and the title
        messages = _writer_messages(settings, topics, document.title, client, budget)
        calls.append(call("image_prompt", messages, PromptOut, known=known, extra=0 if known else CHUNK_LINE * 3))
    if alt_text and settings.publish.alt_text in ("auto", "llm"):
        # Written from the image prompt, so never known before it: the system prompt, title, topics, prompt.
        stand_in = [{"role": "system", "content": ALT_SYSTEM}, {"role": "user", "content": document.title}]
        calls.append(call("alt_text", stand_in, AltTextOut, known=False, extra=CHUNK_LINE * 4))
    return calls


def _writer_messages(settings: Settings, key_topics: Any, title: str, client: Any, budget: int) -> list[dict[str, str]]:
    from blogart.prompts.library import load_examples
    from blogart.prompts.openai_writer import OpenAIPromptWriter
    from blogart.prompts.styles import get_style, load_styles

    style = get_style(settings.prompt.style, load_styles(settings.prompt.styles_file or None))
    writer = OpenAIPromptWriter(client, load_examples(settings.prompt.library_dir or None))
    return writer.messages(key_topics, title, style, budget)


def _is_cached(store: Any, client: Any, request: dict[str, Any], schema: Any) -> bool:
    """As the client decides it: an entry under the request's key that still parses as the schema."""
    from pydantic import ValidationError

    from blogart.store import cache_key

    cached = store.cached_response(cache_key(client.model, request))
    if cached is None:
        return False
    try:
        schema.model_validate_json(cached["content"])
    except (ValidationError, KeyError, TypeError):
        return False
    return True


def _counter(encoding_name: str):
    from blogart.text import encoding

    enc = encoding(encoding_name)
    return lambda text: len(enc.encode(text, disallowed_special=()))


def _request_tokens(request: dict[str, Any], count) -> int:
    messages = request["messages"]
    schema = json.dumps(request.get("response_format", {}), separators=(",", ":"))
    return sum(count(m["content"]) + MESSAGE_OVERHEAD for m in messages) + count(schema)
