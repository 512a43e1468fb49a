"""The seams: small protocols each backend implements, chosen by name from config."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from blogart.values import (
    Candidate,
    Chunk,
    ChunkTopics,
    GenerationRequest,
    ImagePrompt,
    KeyTopics,
    LLMUsage,
    Ranked,
    StylePreset,
)


class TopicExtractor(Protocol):
    """Names each chunk's key idea (and its runners-up, if it ranks some).

    One combinator merges them into the post's key topics: blogart.topics.combine.combine, with the
    backend's own Merger where it has one (the LLM's).
    """

    name: str

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]: ...

    @property
    def usage(self) -> LLMUsage: ...


class PromptWriter(Protocol):
    name: str

    def write(
        self, key_topics: KeyTopics, title: str, style: StylePreset, extra_negative: Sequence[str], max_tokens: int
    ) -> ImagePrompt: ...


class Generator(Protocol):
    name: str

    def generate(self, request: GenerationRequest, out_dir: Path, round: int = 1) -> list[Candidate]: ...

    def describe(self) -> dict[str, str]:
        """What the manifest records to reproduce a run: weights folders, API model, dtype..."""
        ...


class Ranker(Protocol):
    name: str

    def rank(
        self, candidates: Sequence[Candidate], prompt: ImagePrompt, key_topics: KeyTopics | None = None
    ) -> list[Ranked]: ...
