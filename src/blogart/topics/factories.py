"""Factories of blogart's own topic extractors, registered in pyproject.toml under `blogart.topic_extractors`."""

from __future__ import annotations

from blogart.plugins import Context
from blogart.protocols import TopicExtractor


def local(ctx: Context) -> TopicExtractor:
    """Offline: candidate phrases ranked with the bundled MiniLM; phrase vectors cached in the store's file."""
    from blogart.store.phrase_vectors import PhraseVectorCache
    from blogart.topics.local import LocalTopicExtractor

    return LocalTopicExtractor(vector_cache=PhraseVectorCache(ctx.settings.store.resolved()))


def openai(ctx: Context) -> TopicExtractor:
    """One structured-output call per chunk, then one to combine, through the run's LLM client."""
    from blogart.topics.openai import OpenAITopicExtractor

    return OpenAITopicExtractor(ctx.llm())
