"""The topics stage's entry in the store's stage cache: its key and its values read back."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from blogart.config import Settings
from blogart.values import ChunkTopics, Document, KeyTopics, Topic

TOPICS_STAGE_VERSION = 4  # bump when extractors change what they return for the same input


def topics_cache_key(document: Document, backend: str, settings: Settings) -> str:
    """Topics depend on the post, the extractor (`backend`, its registered name) and model, chunking and the
    topic count: nothing else."""
    parts = {
        "stage": "topics",
        "version": TOPICS_STAGE_VERSION,
        "content": document.content_hash,
        "backend": backend,
        "model": settings.llm.model if backend == "openai" else "minilm",
        "chunking": settings.chunking.model_dump(),
        "max_topics": settings.topics.max_key_topics,
    }
    return "topics:" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _topic(data: dict[str, Any]) -> Topic:
    return Topic(data["phrase"], data["abstraction"], tuple(data["evidence"]), data["weight"])


def topics_from_json(data: dict[str, Any]) -> tuple[list[ChunkTopics], KeyTopics]:
    chunk_topics = [
        ChunkTopics(
            ct["chunk_index"], tuple(_topic(t) for t in ct["topics"]), tuple(_topic(t) for t in ct["runners_up"])
        )
        for ct in data["chunk_topics"]
    ]
    key = data["key_topics"]
    return chunk_topics, KeyTopics(tuple(_topic(t) for t in key["topics"]), key["summary"])
