"""Topics with a GPT-4-class chat model (structured outputs): one call per chunk, one to merge them.

`OpenAITopicExtractor` names each chunk's key idea. `OpenAITopicMerger` is the combinator's
grouping strategy when an LLM is at hand (blogart.topics.combine.Merger): the model says which
chunk topics make one key topic and writes the summary; the weights and evidence still come from
the combinator's rule, from what the post really holds.
"""

from __future__ import annotations

from collections.abc import Sequence

from blogart.llm.client import LLMClient
from blogart.llm.schemas import ChunkTopicOut, KeyTopicsOut
from blogart.text import collapse_whitespace
from blogart.topics.combine import MAX_EVIDENCE, Group, Merged, PostTokens, Source
from blogart.values import Chunk, ChunkTopics, LLMUsage, Topic

# gpt-4o: GPT-4 family, structured outputs, and the model the config defaults to; gpt-4.1 also works.
DEFAULT_MODEL = "gpt-4o"

EXTRACT_SYSTEM = (
    "You read one chunk of a blog post and name its single key idea, the one a cover image for this part "
    "would show. The post's outline is given so you know where the chunk sits; name the idea of this chunk, "
    "not of the whole post. Prefer concrete, specific subjects over generic words. Evidence sentences must "
    "be copied exactly from the chunk text."
)

COMBINE_SYSTEM = (
    "You condense the per-chunk topics of one blog post into its key topics. Merge topics that mean the "
    "same thing or overlap, keep distinct ideas apart, order them by importance, and give each the numbers "
    "of the chunk topics it merges and the share of the post it covers. Then write a one-line summary of "
    "the whole post."
)


def verbatim_evidence(sentences: Sequence[str], chunk_text: str, limit: int = MAX_EVIDENCE) -> tuple[str, ...]:
    """Keep only evidence that really is in the chunk (whitespace aside): models paraphrase when asked not to."""
    haystack = collapse_whitespace(chunk_text).casefold()
    kept: list[str] = []
    for sentence in sentences:
        sentence = collapse_whitespace(sentence)
        if sentence and sentence.casefold() in haystack and sentence not in kept:
            kept.append(sentence)
    return tuple(kept[:limit])


def short_phrase(text: str, max_words: int = 6) -> str:
    words = collapse_whitespace(text).strip(" .;:,").split(" ")
    return " ".join(words[:max_words])


class OpenAITopicExtractor:
    """TopicExtractor that asks the chat model for each chunk's key idea (protocols.TopicExtractor)."""

    name = "openai"

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self._usage = LLMUsage()

    def merger(self) -> OpenAITopicMerger:
        return OpenAITopicMerger(self.client)

    @property
    def usage(self) -> LLMUsage:
        return self._usage

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]:
        return [self._extract_one(chunk) for chunk in chunks]

    def messages_for(self, chunk: Chunk) -> list[dict[str, str]]:
        """The chat messages asking for one chunk's key idea (also what `--dry-run` checks the cache for)."""
        where = " > ".join(chunk.heading_path) or "(before the first heading)"
        user = (
            f"Outline of the whole post:\n{chunk.outline}\n\nThis chunk is under: {where}\n\n"
            f'Chunk:\n"""\n{chunk.text}\n"""'
        )
        return [{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": user}]

    def _extract_one(self, chunk: Chunk) -> ChunkTopics:
        out, usage = self.client.structured(self.messages_for(chunk), ChunkTopicOut, "chunk_topic")
        self._usage += usage
        topic = Topic(
            phrase=short_phrase(out.phrase),
            abstraction=collapse_whitespace(out.abstraction),
            evidence=verbatim_evidence(out.evidence, chunk.text),
        )
        return ChunkTopics(chunk_index=chunk.index, topics=(topic,) if topic.phrase else ())


class OpenAITopicMerger:
    """Merger (blogart.topics.combine.Merger) that lets the chat model group the chunk topics."""

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self._usage = LLMUsage()

    @property
    def usage(self) -> LLMUsage:
        return self._usage

    def merge(self, sources: Sequence[Source], chunks: Sequence[Chunk], max_topics: int) -> Merged:
        # The model sees each chunk's key idea; the list position is the number it answers with.
        numbered = [source for source in sources if source.key_idea]
        if not numbered:
            return Merged((), summary="")

        post = PostTokens.of(chunks, (s.chunk_index for s in numbered))
        outline = chunks[0].outline if chunks else ""
        lines = [
            f"{n}. [chunk {s.chunk_index}, {post.tokens(s.chunk_index) / post.total:.0%} of the post] "
            f"{s.topic.phrase}: {s.topic.abstraction}"
            for n, s in enumerate(numbered, start=1)
        ]
        user = (
            f"Outline of the post:\n{outline}\n\nChunk topics:\n" + "\n".join(lines) + f"\n\nReturn at most "
            f"{max_topics} key topics, each a noun phrase of 1 to 6 words."
        )
        messages = [{"role": "system", "content": COMBINE_SYSTEM}, {"role": "user", "content": user}]
        out, usage = self.client.structured(messages, KeyTopicsOut, "key_topics")
        self._usage += usage

        grounded = any(1 <= n <= len(numbered) for key in out.topics for n in key.sources)
        groups: list[Group] = []
        seen: set[str] = set()
        for key in out.topics:
            phrase = short_phrase(key.phrase)
            merged = tuple(numbered[n - 1] for n in dict.fromkeys(key.sources) if 1 <= n <= len(numbered))
            if not phrase or phrase.casefold() in seen or (grounded and not merged):
                continue  # a topic that merges none of the post's topics is the model's invention
            seen.add(phrase.casefold())
            # The model's weight is a guess, used only when it named no sources at all.
            groups.append(Group(phrase, collapse_whitespace(key.abstraction), merged, guess=key.weight))
            if len(groups) == max_topics:
                break  # the model's order is its order of importance
        return Merged(tuple(groups), summary=collapse_whitespace(out.summary))
