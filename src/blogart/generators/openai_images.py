"""The managed backend: the OpenAI Images API (DALL-E 2/3, gpt-image-1), for users who compare with DALL-E.

The API takes no seed and no negative prompt: drawings carry seed NO_SEED (-1), and negative words are
sent as an "Avoid: ..." sentence, the nearest thing the API understands. It has no tokenizer or prompt
limit the writers could use: `count_tokens` and `max_prompt_tokens` say None.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

from pydantic import SecretStr

from blogart.errors import LLMError, UsageError
from blogart.llm.client import LLMClient
from blogart.llm.pricing import image_cost
from blogart.store import Store
from blogart.values import Drawing, GenerationRequest

NO_SEED = -1  # the Images API has no seed: these images cannot be reproduced

SIZES = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536", "auto"),
}
MAX_N = {"dall-e-2": 10, "dall-e-3": 1, "gpt-image-1": 10}  # images per request


def api_prompt(prompt: str, negative_prompt: str) -> str:
    return f"{prompt}. Avoid: {negative_prompt}." if negative_prompt.strip() else prompt


def _without_images(response: Any) -> dict[str, Any]:
    """The response as logged: base64 bodies replaced by their size, so the log stays small."""
    data = response.model_dump(mode="json")
    for item in data.get("data") or []:
        if item.get("b64_json"):
            item["b64_json"] = f"<{len(item['b64_json'])} base64 chars>"
    return data


class OpenAIImagesGenerator:
    name = "openai-images"

    def __init__(
        self,
        client_or_key: LLMClient | str | SecretStr | None = None,
        base_url: str | None = None,
        model: str = "dall-e-3",
        size: str = "1024x1024",
        quality: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
        store: Store | None = None,
        *,
        api_key: str | SecretStr | None = None,
    ) -> None:
        """client_or_key: an LLMClient to share (its log and retries), or an API key; `api_key=` says the same."""
        if client_or_key is None:
            client_or_key = api_key
        if model in SIZES and size not in SIZES[model]:
            raise UsageError(f"{model} cannot draw {size} images; use one of {', '.join(SIZES[model])}")
        if isinstance(client_or_key, LLMClient):
            self.client = client_or_key
        else:
            # The images call shares the chat client's retries and log; its chat model is unused here.
            self.client = LLMClient(
                model, client_or_key, base_url=base_url, timeout=timeout, max_retries=max_retries, store=store
            )
        self.model = model
        self.size = size
        self.quality = quality

    def describe(self) -> dict[str, str]:
        return {"model": self.model, "size": self.size, "quality": self.quality or "default"}

    def count_tokens(self, text: str) -> int | None:
        return None  # the API's tokenizer is not public: the prompt writers estimate

    def max_prompt_tokens(self) -> int | None:
        return None  # thousands of characters: the writers' own budget applies

    def generate(
        self, request: GenerationRequest, round: int = 1, progress: Callable[[int], None] | None = None
    ) -> list[Drawing]:
        """`progress(done)` after each API call: the images received so far."""
        if request.n < 1:
            raise UsageError("n must be >= 1")
        per_call = MAX_N.get(self.model, 1)
        images: list[bytes] = []
        while len(images) < request.n:
            images.extend(self._request(request, min(per_call, request.n - len(images))))
            if progress is not None:
                progress(len(images))
        return [
            Drawing(
                png=data,
                seed=NO_SEED,
                index=i,
                round=round,
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                generator=f"{self.name}:{self.model}",
            )
            for i, data in enumerate(images[: request.n])
        ]

    def _request(self, request: GenerationRequest, n: int) -> list[bytes]:
        params: dict[str, Any] = {
            "model": self.model,
            "prompt": api_prompt(request.prompt, request.negative_prompt),
            "n": n,
            "size": self.size,
        }
        if not self.model.startswith("gpt-image"):
            params["response_format"] = "b64_json"  # gpt-image models always answer base64 and reject the field
        if self.quality:
            params["quality"] = self.quality
        response = self.client.send(
            "images.generations",
            self.model,
            params,
            lambda: self.client.sdk.images.generate(**params),
            log_response=_without_images,
            cost=lambda _: image_cost(self.model, self.size, n),
        )
        data = response.data or []
        if len(data) != n:
            raise LLMError(f"{self.model} returned {len(data)} images, {n} asked for")
        return [self._png(item) for item in data]

    def _png(self, item: Any) -> bytes:
        if item.b64_json:
            raw = base64.b64decode(item.b64_json)
        elif item.url:
            import httpx

            try:
                reply = httpx.get(item.url, timeout=self.client.timeout, follow_redirects=True)
                reply.raise_for_status()
            except httpx.HTTPError as exc:
                raise LLMError(f"could not download the image from {item.url}: {exc}") from None
            raw = reply.content
        else:
            raise LLMError(f"{self.model} returned an image with neither data nor a URL")
        from PIL import Image, UnidentifiedImageError

        try:
            image = Image.open(io.BytesIO(raw))
            if image.format == "PNG":
                image.verify()
                return raw
            # gpt-image-1 may answer JPEG or WebP; drawings are PNG images.
            out = io.BytesIO()
            image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB").save(out, format="PNG")
            return out.getvalue()
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:  # PIL's verify() raises SyntaxError
            raise LLMError(f"{self.model} returned data that is not an image: {exc}") from None
