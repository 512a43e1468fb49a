"""The seams: small protocols each backend implements, chosen by name from config (see blogart.plugins).

Each declares everything `pipeline/run.py` calls on that kind of backend, and nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from blogart.values import (
    Candidate,
    Chunk,
    ChunkTopics,
    Flag,
    GenerationRequest,
    ImagePrompt,
    KeyTopics,
    LLMUsage,
    Ranked,
    StylePreset,
)

if TYPE_CHECKING:
    from blogart.values import Drawing  # arrives with the outputs branch (COMMON.md's contract)


class TopicExtractor(Protocol):
    name: str

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]: ...

    def combine(self, chunk_topics: Sequence[ChunkTopics], chunks: Sequence[Chunk], max_topics: int) -> KeyTopics: ...

    @property
    def usage(self) -> LLMUsage: ...


class PromptWriter(Protocol):
    name: str

    def write(
        self, key_topics: KeyTopics, title: str, style: StylePreset, extra_negative: Sequence[str], max_tokens: int
    ) -> ImagePrompt: ...


class Generator(Protocol):
    """Draws images in memory; `blogart.outputs` names and writes every file."""

    name: str

    def generate(self, request: GenerationRequest, round: int = 1) -> list[Drawing]: ...

    def describe(self) -> dict[str, str]:
        """What the manifest records to reproduce a run: weights folders, API model, dtype..."""
        ...

    def count_tokens(self, text: str) -> int | None:
        """Tokens the generator's text encoder reads for `text`; None: no tokenizer, the prompt writers estimate."""
        ...

    def max_prompt_tokens(self) -> int | None:
        """The longest prompt the generator reads, in its own tokens; None: no limit known."""
        ...


class Ranker(Protocol):
    name: str
    model_id: str  # the scoring model, as the manifest records it

    def check_prompt(self, text: str) -> list[Flag]:
        """Screen a prompt before anything is drawn: raises UsageError when moderation refuses it."""
        ...

    def rank(
        self, candidates: Sequence[Candidate], prompt: ImagePrompt, key_topics: KeyTopics | None = None
    ) -> list[Ranked]: ...
