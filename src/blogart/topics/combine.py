"""The combinator: every chunk's topics -> the post's key topics (at most `max_topics`) and a summary.

Grouping has two strategies, weighing has one rule.
- Grouping: by default, `EmbeddingMerger` clusters near-duplicate phrases with the bundled MiniLM;
  a backend with its own way to group (the LLM's, blogart.topics.openai.OpenAITopicMerger) is passed
  in as `merger`.
- Weighing (`share` and `evidence`, used for every group whatever merged it): a key topic weighs the
  share of the post's tokens in the chunks it comes from (a chunk's key idea counts in full, a
  runner-up 0.6, a chunk that only names it 0.5) and rests on at most three of its topics' sentences.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blogart.protocols import Merger
from blogart.topics.phrases import (
    STOPWORDS,
    chunks_within_budget,
    contains_key,
    content_words,
    phrase_key,
    sentences,
    sentences_within_budget,
    stem,
    trim_words,
)
from blogart.values import Chunk, ChunkTopics, Group, KeyTopics, Merged, Source, Topic

if TYPE_CHECKING:
    import numpy as np

MAX_EVIDENCE = 3  # sentences a topic rests on
# How much of a chunk's tokens a key topic is credited with, by how the chunk holds it.
KEY_IDEA, RUNNER_UP, MENTION = 1.0, 0.6, 0.5
SUMMARY_WORDS = 30


# -- the rule ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PostTokens:
    """Tokens per chunk and in the whole post: what a key topic's weight is a share of."""

    per_chunk: Mapping[int, int]
    total: int

    @classmethod
    def of(cls, chunks: Sequence[Chunk], indices: Iterable[int] = ()) -> PostTokens:
        # Every chunk counts, with or without a topic; an index with no chunk counts as one token.
        per_chunk = {chunk.index: max(chunk.tokens, 1) for chunk in chunks}
        total = sum(per_chunk.get(index, 1) for index in {*per_chunk, *indices})
        return cls(per_chunk, total or 1)

    def tokens(self, index: int) -> int:
        return self.per_chunk.get(index, 1)


def share(group: Group, post: PostTokens) -> float:
    """The share of the post the group covers (unrounded): chunk tokens times how the chunk holds it."""
    credit: dict[int, float] = {}
    for source in group.sources:
        held = KEY_IDEA if source.key_idea else RUNNER_UP
        credit[source.chunk_index] = max(credit.get(source.chunk_index, 0.0), held)
    for index in group.mentioned_in:
        credit[index] = max(credit.get(index, 0.0), MENTION)
    if not credit:
        return min(max(group.guess, 0.0), 1.0)
    return sum(post.tokens(index) * held for index, held in credit.items()) / post.total


def evidence(group: Group) -> tuple[str, ...]:
    """The first distinct sentences the group's topics rest on."""
    return tuple(dict.fromkeys(s for source in group.sources for s in source.topic.evidence))[:MAX_EVIDENCE]


def key_topic(group: Group, weight: float) -> Topic:
    return Topic(group.phrase, group.abstraction, evidence(group), round(min(weight, 1.0), 4))


# -- the combinator ---------------------------------------------------------------------------------


def sources_of(chunk_topics: Sequence[ChunkTopics]) -> list[Source]:
    """Each chunk's key ideas, then its runners-up, chunk by chunk."""
    out: list[Source] = []
    for ct in chunk_topics:
        out += [Source(ct.chunk_index, topic) for topic in ct.topics]
        out += [Source(ct.chunk_index, topic, key_idea=False) for topic in ct.runners_up]
    return out


def combine(
    chunk_topics: Sequence[ChunkTopics], chunks: Sequence[Chunk], max_topics: int = 6, merger: Merger | None = None
) -> KeyTopics:
    """The post's key topics, heaviest first, and a one-line summary of it.

    Without a `merger`, near-duplicates are merged by embeddings and the summary is the post's own
    sentence closest to the key topics (the title when there is none).
    """
    sources = sources_of(chunk_topics)
    merged = (merger or EmbeddingMerger()).merge(sources, chunks, max_topics)
    post = PostTokens.of(chunks, (s.chunk_index for s in sources))
    weighed = [(group, share(group, post)) for group in merged.groups]
    weighed.sort(key=lambda item: -(item[1] + item[0].bonus))  # stable: the merger's order breaks ties
    kept = weighed[: max(max_topics, 0)]
    summary = merged.summary
    if summary is None:
        summary = closest_sentence(chunks, kept) or title_of(chunks)
    return KeyTopics(tuple(key_topic(group, weight) for group, weight in kept), summary)


def closest_sentence(chunks: Sequence[Chunk], kept: Sequence[tuple[Group, float]]) -> str:
    """The post sentence closest to the weighted centroid of the key topics, on one line."""
    import numpy as np

    from blogart.llm.embeddings import embed, unit

    # The sentences the local extractor read (a long post's sample): already embedded in this process.
    said = sentences_within_budget([sentences(c.text) for c in chunks_within_budget(chunks)])
    # Prefer real sentences over headings and list fragments that chunks may carry.
    said = [s for s in said if len(s.split()) >= 6 and s[-1] in ".!?"] or said
    if not said or not kept:
        return ""
    centroids = np.stack([unit(embed([s.topic.phrase for s in group.sources]).mean(axis=0)) for group, _ in kept])
    weights = np.array([max(weight, 1e-3) for _, weight in kept])
    centroid = unit((centroids * weights[:, None]).sum(axis=0))
    best = int(np.argmax(embed(said) @ centroid))
    return trim_words(said[best], SUMMARY_WORDS)


def title_of(chunks: Sequence[Chunk]) -> str:
    """The post's title: the first line of the outline the chunks carry."""
    for chunk in chunks:
        for line in chunk.outline.splitlines():
            if line.strip():
                return line.strip()
    return ""


# -- grouping by embeddings -------------------------------------------------------------------------


class EmbeddingMerger:
    """Merges phrases that mean the same thing, by MiniLM cosine and shared head words."""

    def __init__(self, merge_threshold: float = 0.8, overlap_threshold: float = 0.5) -> None:
        self.merge_threshold = merge_threshold  # cosine above which two phrases are one topic
        self.overlap_threshold = overlap_threshold  # lower bar when the phrases share a content word

    def merge(self, sources: Sequence[Source], chunks: Sequence[Chunk], max_topics: int) -> Merged:
        from blogart.llm.embeddings import embed

        if not sources or max_topics <= 0:
            return Merged(())
        items = sorted(sources, key=lambda s: (not s.key_idea, -s.topic.weight, s.chunk_index, s.topic.phrase))
        vectors = embed([s.topic.phrase for s in items])

        # Each cluster is judged by its seed (its strongest member), not by any member, so that
        # "sourdough" cannot chain "sourdough starter" and "sourdough bread" into one topic.
        clusters: list[list[int]] = []
        for i in range(len(items)):
            homes = [
                c
                for c in clusters
                if self._same(items, vectors, i, c[0]) or any(self._within(items, vectors, i, j) for j in c[1:])
            ]
            if homes:
                max(homes, key=lambda c: float(vectors[i] @ vectors[c[0]])).append(i)
            else:
                clusters.append([i])

        texts = {c.index: phrase_key(c.text) for c in chunks}
        title_key = phrase_key(title_of(chunks))
        title_words = set(title_key.split()) - STOPWORDS
        groups: list[tuple[float, Group]] = []
        for cluster in clusters:
            members = tuple(items[i] for i in cluster)
            keys = {phrase_key(m.topic.phrase) for m in members}
            # The title is the author's own summary: a topic it names spans the whole post.
            titled = any(k and contains_key(title_key, k) for k in keys)
            mentioned = frozenset(
                index for index, text in texts.items() if titled or any(k and contains_key(text, k) for k in keys)
            )
            best = self._representative(members, title_words)
            # A topic naming more of the title wins near ties ("sourdough bread" over "dough").
            named = len(content_words(best.phrase) & title_words) / max(len(title_words), 1)
            group = Group(best.phrase, best.abstraction, members, mentioned, bonus=0.1 * named)
            groups.append((max(m.topic.weight for m in members), group))
        # Near ties in weight go to the higher extractor score, then the phrase (the combinator's sort is stable).
        groups.sort(key=lambda g: (-g[0], g[1].phrase))
        return Merged(tuple(group for _, group in groups))

    def _same(self, items: Sequence[Source], vectors: np.ndarray, i: int, j: int) -> bool:
        """One topic: near-identical meaning, or related meaning around the same head noun."""
        a, b = phrase_key(items[i].topic.phrase), phrase_key(items[j].topic.phrase)
        sim = float(vectors[i] @ vectors[j])
        if a == b or sim >= self.merge_threshold:
            return True
        if sim < self.overlap_threshold or not (a and b):
            return False
        # The last word of an English noun phrase is its head: "sourdough starter" and "starter
        # culture" share the thing itself, "sourdough starter" and "sourdough bread" only a modifier.
        # Compared by stem, so "autoscalers" and "Kubernetes autoscaling" share theirs.
        heads = {stem(a.split()[-1]), stem(b.split()[-1])}
        return bool(heads & {stem(w) for w in content_words(a)} & {stem(w) for w in content_words(b)})

    def _within(self, items: Sequence[Source], vectors: np.ndarray, i: int, j: int) -> bool:
        """Substring overlap with any member: "loaf" belongs with "sourdough loaf"."""
        a, b = phrase_key(items[i].topic.phrase), phrase_key(items[j].topic.phrase)
        if not (a and b) or float(vectors[i] @ vectors[j]) < self.overlap_threshold:
            return False
        return contains_key(a, b) or contains_key(b, a)

    @staticmethod
    def _representative(members: Sequence[Source], title_words: set[str]) -> Topic:
        # A chunk's own key idea first; then the one naming more of the title ("async Rust" over
        # "async") and the common core of the others ("pods" over "removes pods"); then the score.
        keys = [phrase_key(m.topic.phrase) for m in members]

        def value(m: Source) -> tuple[float, str]:
            key = phrase_key(m.topic.phrase)
            covered = len(content_words(m.topic.phrase) & title_words) / max(len(title_words), 1)
            core = sum(1 for k in keys if k != key and contains_key(k, key))
            return (-(m.topic.weight + 0.15 * m.key_idea + 0.3 * covered + 0.05 * min(core, 1)), m.topic.phrase)

        return min(members, key=value).topic
