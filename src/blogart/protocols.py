"""The seams: small protocols each backend implements, chosen by name from config (see blogart.plugins).

Each declares everything the pipeline calls on that kind of backend, and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from blogart.values import (
    Candidate,
    Chunk,
    ChunkTopics,
    Drawing,
    Flag,
    GenerationRequest,
    ImagePrompt,
    KeyTopics,
    LLMUsage,
    Merged,
    Ranked,
    Source,
    StylePreset,
)


class Merger(Protocol):
    """How chunk topics are grouped into key topics (blogart.topics.combine weighs the groups, one rule)."""

    def merge(self, sources: Sequence[Source], chunks: Sequence[Chunk], max_topics: int) -> Merged: ...


class TopicExtractor(Protocol):
    """Names each chunk's key idea (and its runners-up, if it ranks some).

    One combinator merges them into the post's key topics: blogart.topics.combine.combine, with the
    backend's own Merger where it has one (the LLM's).
    """

    name: str

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]: ...

    def merger(self) -> Merger | None:
        """How this backend groups chunk topics into key topics; None: the combinator's embedding merge."""
        ...

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

    def generate(self, request: GenerationRequest, round: int = 1) -> list[Drawing]:
        """May also take `progress=`, a callable given the images drawn so far (the CLI's progress bar)."""
        ...

    def describe(self) -> dict[str, str]:
        """What the manifest records to reproduce a run: weights folders, API model, dtype..."""
        ...

    def count_tokens(self, text: str) -> int | None:
        """Tokens the generator's text encoder reads for `text`; None: no tokenizer, the prompt writers estimate."""
        ...

    def max_prompt_tokens(self) -> int | None:
        """The longest prompt the generator reads, in its own tokens; None: no limit known."""
        ...


class BatchGenerator(Generator, Protocol):
    """A generator that can also draw several requests at once, their candidates sharing sampler batches.

    Optional: the batch engines use it where a generator has it (`stream_many`) and draw post by post
    where not. Each request's drawings are exactly what `generate` returns for it alone.
    """

    def generate_many(
        self, requests: Sequence[GenerationRequest], round: int = 1, batch_size: int | None = None
    ) -> list[list[Drawing]]:
        """Each request's drawings, in order; may also take `progress=`."""
        ...

    def stream_many(
        self, requests: Iterable[GenerationRequest], round: int = 1, batch_size: int | None = None
    ) -> Iterator[Any]:
        """Reads `requests` lazily, as far as the next batch needs, and yields each request once all its
        images are drawn: a value with `position` (among the requests), `drawings` and `seconds`."""
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

    def score_images(self, images: Sequence[Any], text: str) -> list[float]:
        """How well each image (PIL) matches `text`, higher is better: the publish step's crop windows."""
        ...
