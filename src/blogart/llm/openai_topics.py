"""Topic extraction and condensing with a GPT-4-class chat model (structured outputs)."""

from __future__ import annotations

from collections.abc import Sequence

from blogart.llm.client import LLMClient
from blogart.llm.schemas import ChunkTopicOut, KeyTopicsOut
from blogart.values import Chunk, ChunkTopics, KeyTopics, LLMUsage, Topic

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


def _words(text: str) -> str:
    return " ".join(text.split())


def verbatim_evidence(sentences: Sequence[str], chunk_text: str, limit: int = 3) -> tuple[str, ...]:
    """Keep only evidence that really is in the chunk (whitespace aside): models paraphrase when asked not to."""
    haystack = _words(chunk_text).casefold()
    kept: list[str] = []
    for sentence in sentences:
        sentence = _words(sentence)
        if sentence and sentence.casefold() in haystack and sentence not in kept:
            kept.append(sentence)
    return tuple(kept[:limit])


def short_phrase(text: str, max_words: int = 6) -> str:
    words = _words(text).strip(" .;:,").split(" ")
    return " ".join(words[:max_words])


class OpenAITopicExtractor:
    name = "openai"

    def __init__(self, client: LLMClient) -> None:
        self.client = client
        self._usage = LLMUsage()

    @property
    def usage(self) -> LLMUsage:
        return self._usage

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]:
        return [self._extract_one(chunk) for chunk in chunks]

    def _extract_one(self, chunk: Chunk) -> ChunkTopics:
        where = " > ".join(chunk.heading_path) or "(before the first heading)"
        user = (
            f"Outline of the whole post:\n{chunk.outline}\n\nThis chunk is under: {where}\n\n"
            f'Chunk:\n"""\n{chunk.text}\n"""'
        )
        messages = [{"role": "system", "content": EXTRACT_SYSTEM}, {"role": "user", "content": user}]
        out, usage = self.client.structured(messages, ChunkTopicOut, "chunk_topic")
        self._usage += usage
        topic = Topic(
            phrase=short_phrase(out.phrase),
            abstraction=_words(out.abstraction),
            evidence=verbatim_evidence(out.evidence, chunk.text),
        )
        return ChunkTopics(chunk_index=chunk.index, topics=(topic,) if topic.phrase else ())

    def combine(self, chunk_topics: Sequence[ChunkTopics], chunks: Sequence[Chunk], max_topics: int) -> KeyTopics:
        numbered: list[tuple[int, Topic]] = []  # (chunk index, topic); the list position is the number shown
        for item in chunk_topics:
            numbered.extend((item.chunk_index, topic) for topic in item.topics)
        if not numbered:
            return KeyTopics(topics=(), summary="")

        tokens = {chunk.index: max(chunk.tokens, 1) for chunk in chunks}
        # Shares of the whole post: a chunk that yielded no topic still counts in the total.
        total = sum(tokens.get(index, 1) for index in {*tokens, *(index for index, _ in numbered)})
        outline = chunks[0].outline if chunks else ""
        lines = [
            f"{n}. [chunk {index}, {tokens.get(index, 1) / total:.0%} of the post] {topic.phrase}: {topic.abstraction}"
            for n, (index, topic) in enumerate(numbered, start=1)
        ]
        user = (
            f"Outline of the post:\n{outline}\n\nChunk topics:\n" + "\n".join(lines) + f"\n\nReturn at most "
            f"{max_topics} key topics, each a noun phrase of 1 to 6 words."
        )
        messages = [{"role": "system", "content": COMBINE_SYSTEM}, {"role": "user", "content": user}]
        out, usage = self.client.structured(messages, KeyTopicsOut, "key_topics")
        self._usage += usage

        grounded = any(1 <= n <= len(numbered) for key in out.topics for n in key.sources)
        merged: list[Topic] = []
        seen: set[str] = set()
        for key in out.topics:
            phrase = short_phrase(key.phrase)
            sources = [numbered[n - 1] for n in dict.fromkeys(key.sources) if 1 <= n <= len(numbered)]
            if not phrase or phrase.casefold() in seen or (grounded and not sources):
                continue  # a topic that merges none of the post's topics is the model's invention
            seen.add(phrase.casefold())
            if sources:
                # Weight from what the post really holds, not the model's guess: the tokens of the chunks merged.
                weight = sum(tokens.get(i, 1) for i in {index for index, _ in sources}) / total
            else:
                weight = min(max(key.weight, 0.0), 1.0)
            evidence = tuple(dict.fromkeys(s for _, topic in sources for s in topic.evidence))[:3]
            merged.append(Topic(phrase=phrase, abstraction=_words(key.abstraction), evidence=evidence, weight=weight))
            if len(merged) == max_topics:
                break
        merged.sort(key=lambda topic: -topic.weight)  # stable: the model's order breaks ties
        return KeyTopics(topics=tuple(merged), summary=_words(out.summary))  # one line
