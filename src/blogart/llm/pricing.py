"""Estimated cost of a call, from a small table of list prices.

Chat prices are USD per 1M tokens (input, output), from https://openai.com/api/pricing/ as listed in
mid-2025 (standard tier, no batch or cached-input discount). Image prices are USD per image for the
standard quality. Estimates only: check your own bill. A model not in the table costs None (unknown),
which covers local OpenAI-compatible servers such as Ollama or vLLM.
"""

from __future__ import annotations

import re

CHAT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4": (30.00, 60.00),
}

IMAGE_PRICES: dict[str, dict[str, float]] = {
    "dall-e-3": {"1024x1024": 0.040, "1024x1792": 0.080, "1792x1024": 0.080},
    "dall-e-2": {"256x256": 0.016, "512x512": 0.018, "1024x1024": 0.020},
}

# Dated snapshots ("gpt-4o-2024-08-06", "gpt-4-0613", "gpt-4-turbo-preview") share their family's price;
# anything else after the name ("gpt-4.5-preview" is not "gpt-4") is a different model.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4}|preview)$")


def price_key(model: str, table: dict[str, object]) -> str | None:
    name = model.strip().lower().removeprefix("openai/")
    if name in table:
        return name
    base = _SNAPSHOT.sub("", name)
    return base if base != name and base in table else None


def chat_cost(model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
    key = price_key(model, CHAT_PRICES)
    if key is None:
        return None
    per_input, per_output = CHAT_PRICES[key]
    return (prompt_tokens * per_input + completion_tokens * per_output) / 1_000_000


def image_cost(model: str, size: str, n: int) -> float | None:
    key = price_key(model, IMAGE_PRICES)
    price = IMAGE_PRICES[key].get(size) if key else None
    return None if price is None else price * n
