"""An LLM client that sends nothing: `--dry-run` runs the real prompt stage against it.

Each structured call the stage makes is recorded (model, messages, tokens, cost, whether the LLM cache
already answers it). A cached answer is returned as the real client would return it, so the stage goes on
exactly as a real run; an uncached one gets a placeholder of the schema's shape, and every later call of
another kind is then asked from placeholders: its messages are not the real ones, so whether the cache
holds it is unknown (`cached` None) and its size is the placeholder's. Request tokens are counted with
tiktoken; an answer's tokens are the caller's guess per kind.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from blogart.errors import BlogartError
from blogart.llm.client import PLACEHOLDER_KEY, LLMClient
from blogart.llm.pricing import chat_cost
from blogart.store import Store, cache_key
from blogart.values import LLMUsage

MESSAGE_OVERHEAD = 4  # tokens OpenAI's chat format adds per message
PLACEHOLDER_TEXT = "unknown until asked"

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class RecordedCall:
    kind: str  # the schema's name: chunk_topic, key_topics, image_prompt, ...
    model: str
    messages: tuple[dict[str, str], ...]
    cached: bool | None  # None: asked from placeholder answers, so the cache cannot be checked
    prompt_tokens: int
    completion_tokens: int  # the guess for a call to make; 0 for a cache hit
    cost_usd: float | None  # 0 for a cache hit; None: the model is not in the price table


class RecordingClient(LLMClient):
    """`structured` answers from the cache or with a placeholder and records the call; nothing is sent."""

    def __init__(
        self,
        model: str,
        api_key: str | SecretStr | None,
        *,
        store: Store,
        count_tokens: Callable[[str], int],
        answer_tokens: Callable[[str], int],
        base_url: str | None = None,
        temperature: float | None = 0.2,
    ) -> None:
        # No key is needed: requests are only built, and the cache read.
        super().__init__(model, api_key or PLACEHOLDER_KEY, base_url=base_url, store=store, temperature=temperature)
        self.count_tokens = count_tokens
        self.answer_tokens = answer_tokens
        self.calls: list[RecordedCall] = []
        self._placeholders: set[str] = set()  # kinds answered with a placeholder so far

    def structured(self, messages: Sequence[dict[str, str]], schema: type[M], name: str) -> tuple[M, LLMUsage]:
        request = self.structured_request(messages, schema, name)
        tokens = request_tokens(request, self.count_tokens)
        # Calls of one kind are asked independently (chunk by chunk); a later kind is asked from earlier answers.
        known = not (self._placeholders - {name})
        answer = self._from_cache(request, schema) if known else None
        recorded = tuple(dict(m) for m in messages)
        if answer is not None:
            self.calls.append(RecordedCall(name, self.model, recorded, True, tokens, 0, 0.0))
            usage = LLMUsage(cached=1)
            self.usage += usage
            return answer, usage
        guess = self.answer_tokens(name)
        cost = chat_cost(self.model, tokens, guess)
        self.calls.append(RecordedCall(name, self.model, recorded, False if known else None, tokens, guess, cost))
        self._placeholders.add(name)
        return placeholder(schema), LLMUsage()

    def send(self, kind: str, model: str, *args: Any, **kwargs: Any) -> Any:
        raise BlogartError(f"a dry run sends nothing, and this step needs a {kind} answer from {model}")

    def _from_cache(self, request: dict[str, Any], schema: type[M]) -> M | None:
        """The cached answer as the real client reads it: an entry under the request's key that parses."""
        cached = self.store.cached_response(cache_key(self.model, request))
        if cached is None:
            return None
        try:
            return schema.model_validate_json(cached["content"])
        except (ValidationError, KeyError, TypeError):
            return None


def request_tokens(request: dict[str, Any], count: Callable[[str], int]) -> int:
    """The request's prompt tokens: each message plus the chat format's overhead, and the response schema."""
    schema = json.dumps(request.get("response_format", {}), separators=(",", ":"))
    return sum(count(m["content"]) + MESSAGE_OVERHEAD for m in request["messages"]) + count(schema)


def placeholder(schema: type[M]) -> M:
    """An answer of the schema's shape for the stage to go on with: text in every string, one item per list
    (so a merge has a topic to cite and a writer a topic to write from), 1 for numbers."""
    return schema.model_validate({name: _value(field.annotation) for name, field in schema.model_fields.items()})


def _value(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return placeholder(annotation).model_dump()
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return [_value(item)]
    if annotation is str:
        return PLACEHOLDER_TEXT
    if annotation is bool:
        return False
    if annotation in (int, float):
        return 1
    raise TypeError(f"no placeholder for a field of type {annotation!r}")
