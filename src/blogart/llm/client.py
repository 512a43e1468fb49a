"""The OpenAI client: structured outputs, our own retries, every call logged and cached in the store.

Works with any OpenAI-compatible server through `base_url` (Ollama, vLLM). The SDK's own retries are
off so that each attempt is ours to log and to back off from.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError

from blogart.config import Settings
from blogart.errors import LLMError, UsageError
from blogart.llm.pricing import chat_cost
from blogart.redact import redact_text, redact_url, remember
from blogart.store import Store, cache_key
from blogart.text import one_line, shorten
from blogart.values import LLMUsage

if TYPE_CHECKING:
    import openai

M = TypeVar("M", bound=BaseModel)

# Local servers ignore the key but the SDK insists on one.
PLACEHOLDER_KEY = "not-needed"
MODERATION_MODEL = "omni-moderation-latest"  # takes text and images


def is_transient(exc: BaseException) -> bool:
    """Worth retrying: rate limits, server errors, timeouts, dropped connections."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409, 429) or exc.status_code >= 500
    return False


def retry_after(exc: BaseException | None) -> float | None:
    """Seconds a rate-limited server asked us to wait (its Retry-After header), if it said."""
    response = getattr(exc, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: rare from API servers; the backoff applies
        return None


def _honour_retry_after(backoff: Callable[[Any], float], cap: float) -> Callable[[Any], float]:
    """Wait as long as the server asked (up to `cap`), and never less than our own backoff."""

    def wait(retry_state: Any) -> float:
        asked = retry_after(retry_state.outcome.exception() if retry_state.outcome else None)
        return max(backoff(retry_state), min(asked, cap)) if asked is not None else backoff(retry_state)

    return wait


def describe_error(exc: BaseException) -> str:
    """One line for the log and the user, secrets masked (servers echo keys back in their errors)."""
    return redact_text(_describe(exc)) or ""


def _describe(exc: BaseException) -> str:
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        return f"connection failed: {one_line(exc.__cause__ or exc, 160)}"
    if isinstance(exc, openai.APIStatusError):
        message = exc.message
        if isinstance(exc.body, dict):
            message = (exc.body.get("error") or exc.body).get("message", message) if exc.body else message
        return f"HTTP {exc.status_code}: {shorten(str(message), 200)}"
    return one_line(exc, 200, named=True)


def _loggable(text_or_parts: str | list[dict[str, Any]]) -> Any:
    """Moderation input for the log: image data URLs become a short note of their size."""
    if isinstance(text_or_parts, str):
        return text_or_parts
    parts = []
    for part in text_or_parts:
        url = (part.get("image_url") or {}).get("url", "")
        if url.startswith("data:"):
            part = {**part, "image_url": {"url": f"{url.split(',', 1)[0]},<{len(url)} characters>"}}
        parts.append(part)
    return parts


class LLMClient:
    def __init__(
        self,
        model: str,
        api_key: str | SecretStr | None,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        store: Store | None = None,
        temperature: float | None = 0.2,
        backoff_initial: float = 1.0,
        backoff_max: float = 30.0,
    ) -> None:
        if isinstance(api_key, SecretStr):
            api_key = api_key.get_secret_value()
        if not api_key:
            if not base_url:
                raise UsageError("no OpenAI API key: set OPENAI_API_KEY or use --backend local")
            api_key = PLACEHOLDER_KEY
        if api_key != PLACEHOLDER_KEY:
            remember(api_key)  # masked in every error text we print or store
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max(0, int(max_retries))
        self.temperature = temperature
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.store = store if store is not None else Store()
        self.usage = LLMUsage()  # everything this client spent, across calls
        self._api_key = api_key
        self._sdk: openai.OpenAI | None = None

    @classmethod
    def from_settings(cls, settings: Settings, store: Store | None = None) -> LLMClient:
        """The client the [llm] settings describe; raises the missing-key UsageError when there is no key."""
        llm = settings.llm
        return cls(
            model=llm.model,
            api_key=llm.key(),
            base_url=llm.base_url,
            timeout=llm.timeout,
            max_retries=llm.max_retries,
            temperature=llm.temperature,
            store=store if store is not None else Store(settings.store.resolved()),
        )

    @property
    def sdk(self) -> openai.OpenAI:
        """The official SDK client, built on first use (importing openai costs start-up time)."""
        if self._sdk is None:
            import openai

            self._sdk = openai.OpenAI(
                api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
            )
        return self._sdk

    def send(
        self,
        kind: str,
        model: str,
        request: dict[str, Any],
        call: Callable[[], Any],
        *,
        log_response: Callable[[Any], Any] | None = None,
        cost: Callable[[Any], float | None] | None = None,
        key: str | None = None,
        cache: bool = False,
    ) -> Any:
        """Run `call` (one SDK request) with backoff on transient errors, logging every attempt.

        Non-transient errors, or transient ones that outlast max_retries, become one-line LLMErrors.
        """
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

        def attempt() -> Any:
            start = time.perf_counter()
            try:
                response = call()
            except Exception as exc:
                self.store.log_call(
                    model=model,
                    kind=kind,
                    request=request,
                    duration_s=round(time.perf_counter() - start, 4),
                    error=describe_error(exc),
                    cache_key=key,
                )
                raise
            usage = getattr(response, "usage", None)
            self.store.log_call(
                model=getattr(response, "model", None) or model,
                kind=kind,
                request=request,
                response=log_response(response) if log_response else response.model_dump(mode="json"),
                prompt_tokens=getattr(usage, "prompt_tokens", None),
                completion_tokens=getattr(usage, "completion_tokens", None),
                cost_usd=cost(response) if cost else None,
                duration_s=round(time.perf_counter() - start, 4),
                cache_key=key,
            )
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            # Jitter spreads out parallel workers that hit the same rate limit at once.
            wait=_honour_retry_after(
                wait_exponential_jitter(
                    multiplier=self.backoff_initial, jitter=self.backoff_initial, max=self.backoff_max
                ),
                self.backoff_max,
            ),
            retry=retry_if_exception(is_transient),
            reraise=True,
        )
        try:
            return retrying(attempt)
        except Exception as exc:
            import openai

            if not isinstance(exc, openai.OpenAIError):
                raise
            where = f" at {redact_url(self.base_url)}" if self.base_url else ""
            tries = f" after {self.max_retries + 1} attempts" if is_transient(exc) else ""
            raise LLMError(f"{kind} to {model}{where} failed{tries}: {describe_error(exc)}") from None

    def structured(self, messages: Sequence[dict[str, str]], schema: type[M], name: str) -> tuple[M, LLMUsage]:
        """One chat completion whose reply must parse as `schema`; cached by model + request.

        A reply that is not valid JSON for the schema gets one corrective retry; a second bad reply is an
        LLMError.
        """
        request = self.structured_request(messages, schema, name)
        key = cache_key(self.model, request)

        cached = self.store.cached_response(key)
        if cached is not None:
            try:
                parsed = schema.model_validate_json(cached["content"])
            except (ValidationError, KeyError, TypeError):
                parsed = None  # a stale entry from an older schema: ask again
            if parsed is not None:
                self.store.log_call(
                    model=self.model,
                    kind="chat.completions",
                    request=request,
                    response=cached,
                    cached=True,
                    cost_usd=0.0,
                    duration_s=0.0,
                    cache_key=key,
                )
                usage = LLMUsage(cached=1)
                self.usage += usage
                return parsed, usage

        usage = LLMUsage()
        attempt_request = request
        for try_number in (1, 2):
            response = self.send(
                "chat.completions",
                self.model,
                attempt_request,
                lambda r=attempt_request: self.sdk.chat.completions.create(**r),
                cost=lambda resp: self._cost(resp),
                key=key,
            )
            usage += self._usage_of(response)
            choice = response.choices[0] if response.choices else None
            message = choice.message if choice else None
            if message is not None and getattr(message, "refusal", None):
                self.usage += usage
                raise LLMError(f"{self.model} refused the {name} request: {shorten(message.refusal, 200)}")
            content = (message.content if message else None) or ""
            try:
                parsed = schema.model_validate_json(content)
            except ValidationError as exc:
                problem = shorten(str(exc.errors()[0].get("msg", exc)) if exc.errors() else str(exc), 200)
                if try_number == 2:
                    self.usage += usage
                    raise LLMError(f"{self.model} returned invalid JSON for {name} twice: {problem}") from None
                attempt_request = {
                    **request,
                    "messages": [
                        *request["messages"],
                        {"role": "assistant", "content": content},
                        {
                            "role": "user",
                            "content": f"That reply was not valid JSON for the {name} schema ({problem}). "
                            "Reply again with only a JSON object that matches the schema exactly.",
                        },
                    ],
                }
                continue
            # Cache the good answer under the original question, so a rerun skips the bad first reply too.
            self.store.put_cached(key, self.model, {"content": content})
            self.usage += usage
            return parsed, usage
        raise AssertionError("unreachable")  # pragma: no cover

    def structured_request(self, messages: Sequence[dict[str, str]], schema: type[M], name: str) -> dict[str, Any]:
        """The chat request `structured` sends (and caches under `cache_key(self.model, request)`)."""
        import openai

        # The SDK's public helper makes the strict schema; `chat.completions.parse` would too, but it raises on
        # a malformed reply, losing the text the corrective retry quotes and the log keeps, and it names the
        # schema after the class, not `name`.
        strict_schema = openai.pydantic_function_tool(schema, name=name)["function"]["parameters"]
        request: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "strict": True, "schema": strict_schema},
            },
        }
        if self.temperature is not None:
            request["temperature"] = self.temperature
        return request

    def moderate(self, text_or_parts: str | list[dict[str, Any]], model: str = MODERATION_MODEL) -> Any:
        """One moderation request (text, or content parts such as images), logged and retried like a chat call.

        Returns the SDK's response; images are logged by size only, never as their base64 data.
        """
        request = {"model": model, "input": text_or_parts}
        return self.send(
            "moderations",
            model,
            {"model": model, "input": _loggable(text_or_parts)},
            lambda: self.sdk.moderations.create(**request),
            cost=lambda _: 0.0,  # the moderation endpoint is free
        )

    def _cost(self, response: Any) -> float | None:
        usage = getattr(response, "usage", None)
        if usage is None:
            return None
        return chat_cost(self.model, usage.prompt_tokens or 0, usage.completion_tokens or 0)

    def _usage_of(self, response: Any) -> LLMUsage:
        usage = getattr(response, "usage", None)
        prompt = (usage.prompt_tokens or 0) if usage else 0
        completion = (usage.completion_tokens or 0) if usage else 0
        return LLMUsage(
            calls=1,
            prompt_tokens=prompt,
            completion_tokens=completion,
            cost_usd=chat_cost(self.model, prompt, completion) or 0.0,
        )
