"""Offline topic extraction: keyphrases ranked with the bundled MiniLM, no network and no LLM.

Per chunk: candidate phrases (blogart.topics.phrases) are embedded, scored by cosine to the chunk
and to the whole post (its title and headings), and diversified with maximal marginal relevance.
The best is the chunk's key idea; the next ones travel along as runners-up for the combinator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from blogart.topics.phrases import candidate_phrases, contains_key, phrase_key, sentences, trim_words
from blogart.values import Chunk, ChunkTopics, LLMUsage, Topic

EVIDENCE_WORDS = 40  # an evidence sentence longer than this is cut


def mmr(scores: np.ndarray, vectors: np.ndarray, k: int, diversity: float = 0.3) -> list[int]:
    """Maximal marginal relevance: each pick trades its score against its closeness to earlier picks."""
    chosen: list[int] = []
    left = list(range(len(scores)))
    while left and len(chosen) < k:
        redundancy = (vectors[left] @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(left))
        value = (1 - diversity) * scores[left] - diversity * redundancy
        best = left[int(np.argmax(value))]
        chosen.append(best)
        left.remove(best)
    return chosen


class LocalTopicExtractor:
    """TopicExtractor that runs offline on the bundled MiniLM (protocols.TopicExtractor)."""

    name = "local"

    def __init__(self, topics_per_chunk: int = 1, runners_up: int = 2, diversity: float = 0.3) -> None:
        self.topics_per_chunk = topics_per_chunk
        # Runners-up per chunk, so a one-chunk post still gives the prompt a few scene elements.
        self.runners_up = runners_up
        self.diversity = diversity

    def merger(self) -> None:
        return None  # the combinator's MiniLM merge

    @property
    def usage(self) -> LLMUsage:
        return LLMUsage()

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]:
        return [self._extract_one(chunk) for chunk in chunks]

    def _extract_one(self, chunk: Chunk) -> ChunkTopics:
        from blogart.llm.embeddings import embed, unit

        said = sentences(chunk.text)
        outline = [line.strip(" -") for line in chunk.outline.splitlines() if line.strip(" -")]
        candidates = candidate_phrases(said, outline)
        if not candidates:
            return ChunkTopics(chunk.index, ())
        phrases = [c.text for c in candidates]
        vectors = embed(phrases + said + ([". ".join(outline)] if outline else []))
        phrase_vecs = vectors[: len(phrases)]
        sentence_vecs = vectors[len(phrases) : len(phrases) + len(said)]
        chunk_vec = unit(sentence_vecs.mean(axis=0))
        post_vec = vectors[-1] if outline else chunk_vec
        title_key = phrase_key(outline[0]) if outline else ""

        frequency = np.array([min(1.0, math.log1p(c.count - 1) / math.log(4)) for c in candidates])
        in_title = np.array([1.0 if c.key and contains_key(title_key, c.key) else 0.0 for c in candidates])
        # Long n-grams seen once are often a noun run into a verb ("starter culture bubbles").
        long_once = np.array([1.0 if c.count == 1 and len(c.key.split()) >= 3 else 0.0 for c in candidates])
        scores = (
            0.6 * (phrase_vecs @ chunk_vec)
            + 0.3 * (phrase_vecs @ post_vec)
            + 0.1 * frequency
            + 0.05 * in_title
            - 0.06 * long_once
        )

        picks = mmr(scores, phrase_vecs, self.topics_per_chunk + self.runners_up, self.diversity)
        topics = []
        for i in picks:
            # The sentences that best carry the phrase, by meaning and (a little) by naming it.
            names = [contains_key(phrase_key(s), candidates[i].key) for s in said]
            fit = sentence_vecs @ phrase_vecs[i] + 0.2 * np.array(names, dtype=float)
            order = np.argsort(-fit, kind="stable")
            evidence = tuple(trim_words(said[j], EVIDENCE_WORDS) for j in order[:3])
            topics.append(Topic(phrases[i], evidence[0], evidence, round(float(scores[i]), 4)))
        n = self.topics_per_chunk
        return ChunkTopics(chunk.index, tuple(topics[:n]), runners_up=tuple(topics[n:]))
