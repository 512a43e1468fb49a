"""`--dry-run`: what a `prompt` or `generate` run would cost, worked out without calling anything.

With the OpenAI backend the real prompt stage (`pipeline/prompt.py`) runs against a recording LLM client
(`llm/recording.py`) and a store it reads but never writes: every call the stage makes is recorded and
checked in the LLM cache; a cached answer lets the stage go on as the real run would, an uncached one is
answered with a placeholder, and the calls asked from it are sized from that. The local backends call no
LLM: the post is only read and chunked. `generate` adds what comes after the prompt stage, estimated:
the openai-images drawings and the alt text written from the image prompt. Request tokens are tiktoken's;
an answer's length is a guess per call kind. Prices come from `blogart.llm.pricing` (None where the
model is not in the table).
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

from blogart.config import Settings
from blogart.llm.pricing import chat_cost, image_cost
from blogart.llm.recording import RecordedCall, RecordingClient
from blogart.pipeline.plan import RunPlan, Session
from blogart.store import Store
from blogart.values import Chunk, Document

# Tokens a reply is guessed to take, per call kind (the schemas' fields, a sentence or three each).
ANSWER_TOKENS = {"chunk_topic": 120, "image_prompt": 90, "alt_text": 50}
KEY_TOPICS_ANSWER = (60, 70)  # the summary, then each key topic
CHUNK_LINE = 30  # tokens of one line the alt-text request quotes (a topic, the prompt)
IMAGE_SIZE = "1024x1024"  # what the openai-images generator asks for
ESTIMATES = (
    "completion_tokens and cost_usd of each call to make are guesses; a call with cached null is asked "
    "from answers not in the cache, so its prompt_tokens are sized from placeholders, as are alt_text's"
)


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
    topics_cached: bool = False  # the topics stage is in the store's stage cache: it asks nothing

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
            "topics_cached": self.topics_cached,
            "calls": [asdict(c) for c in self.calls],
            "calls_to_make": len(self.to_make),
            "cache_hits": sum(1 for c in self.calls if c.cached),
            "estimated_cost_usd": self.cost_usd,
            "estimates": ESTIMATES,
        }


class _ReadOnlyStore(Store):
    """The store as a dry run uses it: read, never written (its answers may be placeholders)."""

    def stage_put(self, key: str, value: Any) -> None:
        pass

    def put_cached(self, key: str, model: str, response: Any) -> None:
        pass

    def log_call(self, **fields: Any) -> int:
        return 0


def dry_run(source: str, plan: RunPlan, *, generate: bool = False) -> DryRun:
    """The run `blogart prompt` (or with `generate`, `blogart generate`) would make, and its cost.

    With `generate`, alt text is counted when `plan.publish` is enabled.
    """
    from blogart.pipeline.document import load_document

    settings = plan.settings
    document = load_document(source, max_bytes=settings.input.max_bytes, timeout=settings.input.timeout)
    store = _ReadOnlyStore(settings.store.resolved())
    calls: list[PlannedCall] = []
    topics_cached = False
    if plan.backend == "openai":
        from blogart.pipeline.topics_cache import topics_cache_key

        topics_cached = store.stage_get(topics_cache_key(document, plan.extractor, settings)) is not None
        client = _recording_client(settings, store)
        chunks, title = _prompt_stage(source, plan, document, client, generate)
        calls = _planned(client.calls, chunks)
        if generate and plan.publish.enabled and settings.publish.alt_text in ("auto", "llm"):
            calls.append(_alt_text(client, title))
    else:
        chunks = _chunks(document, settings)
    if generate and plan.generator == "openai-images":
        model = settings.generate.openai_images_model
        n = settings.generate.n * settings.generate.rounds
        calls.append(PlannedCall("images", model, False, cost_usd=image_cost(model, IMAGE_SIZE, n), images=n))
    return DryRun(document, chunks, plan.backend, tuple(calls), topics_cached)


def _recording_client(settings: Settings, store: Store) -> RecordingClient:
    llm = settings.llm

    def answer_tokens(kind: str) -> int:
        if kind == "key_topics":
            return KEY_TOPICS_ANSWER[0] + KEY_TOPICS_ANSWER[1] * settings.topics.max_key_topics
        return ANSWER_TOKENS.get(kind, ANSWER_TOKENS["image_prompt"])

    return RecordingClient(
        llm.model,
        llm.key(),
        store=store,
        count_tokens=_counter(settings.chunking.encoding),
        answer_tokens=answer_tokens,
        base_url=llm.base_url,
        temperature=llm.temperature,
    )


def _prompt_stage(
    source: str, plan: RunPlan, document: Document, client: RecordingClient, generate: bool
) -> tuple[tuple[Chunk, ...], str]:
    """The real prompt stage against `client`: (its chunks, the post's title)."""
    from blogart import plugins
    from blogart.pipeline.prompt import run_prompt

    session = Session(client.store, plugins.Context(plan.settings, llm=functools.cache(lambda: client)))
    if generate:  # the generator's tokens and text length shape the prompt (made as `generate` makes it)
        session = session.for_generator(session.create("generators", plan.generator))
    run = run_prompt(source, plan, session=session, document=document)
    return run.chunks, run.document.title


def _planned(recorded: list[RecordedCall], chunks: tuple[Chunk, ...]) -> list[PlannedCall]:
    """The recorded calls as the plan lists them; the extractor asks chunk by chunk, in order."""
    indices = iter(c.index for c in chunks)
    return [
        PlannedCall(
            call.kind,
            call.model,
            call.cached,
            call.prompt_tokens,
            call.completion_tokens,
            call.cost_usd,
            chunk=next(indices, None) if call.kind == "chunk_topic" else None,
        )
        for call in recorded
    ]


def _alt_text(client: RecordingClient, title: str) -> PlannedCall:
    """Written from the drawn cover's prompt, so never known before it: the system prompt, title, topics, prompt."""
    from blogart.llm.recording import request_tokens
    from blogart.outputs.alttext import SYSTEM, AltTextOut

    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": title}]
    request = client.structured_request(messages, AltTextOut, "alt_text")
    tokens = request_tokens(request, client.count_tokens) + CHUNK_LINE * 4
    answer = ANSWER_TOKENS["alt_text"]
    return PlannedCall("alt_text", client.model, None, tokens, answer, chat_cost(client.model, tokens, answer))


def _chunks(document: Document, settings: Settings) -> tuple[Chunk, ...]:
    from blogart.pipeline.chunking import chunk_document

    c = settings.chunking
    return tuple(
        chunk_document(document, max_tokens=c.max_tokens, overlap_tokens=c.overlap_tokens, encoding=c.encoding)
    )


def _counter(encoding_name: str):
    from blogart.text import encoding

    enc = encoding(encoding_name)
    return lambda text: len(enc.encode(text, disallowed_special=()))
