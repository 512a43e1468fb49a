"""Offline topic extraction: keyphrases ranked with the bundled MiniLM, no network and no LLM.

Per chunk: candidate phrases (blogart.topics.phrases) are scored by cosine to the chunk and to the
whole post (its title and headings), by how often the post repeats them, and against how common
their words are in general English; maximal marginal relevance then diversifies the picks. The best
is the chunk's key idea; the next ones travel along as runners-up for the combinator.

Embedding work follows the text, not the padding: every distinct phrase, sentence and outline of the
post is embedded once, phrases and sentences in separate calls (each batched by length), and phrase
vectors come from the SQLite cache when an earlier run already embedded them.

A long post is read within budgets (`PHRASE_BUDGET`, `phrases.SENTENCE_BUDGET`), so its topics stage stays
near a second on a laptop core: each chunk embeds its most frequent candidates, and an evenly spaced
sample of its sentences stands for it. A post up to ~1,500 words fits both budgets and is read whole.
A post of more than `phrases.CHUNK_BUDGET` chunks is read from an evenly spaced sample of them; the
others get no topics.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from blogart.store.phrase_vectors import PhraseVectorCache
from blogart.topics.phrases import (
    Candidate,
    candidate_phrases,
    chunks_within_budget,
    commonness,
    contains_key,
    phrase_key,
    sentences,
    sentences_within_budget,
    trim_words,
)
from blogart.values import Chunk, ChunkTopics, LLMUsage, Topic

EVIDENCE_WORDS = 40  # an evidence sentence longer than this is cut
# Topics the chunks of a post offer the combinator together, at least: a short post of one or two
# chunks gives more runners-up each, so it can fill a cover's worth of key topics (`max_key_topics`).
POST_TOPICS = 6
# Distinct candidate phrases embedded per post: a chunk's share is its best by frequency (never fewer
# than MIN_CHUNK_PHRASES). A post of eight chunks or fewer keeps all its candidates (48 per chunk).
PHRASE_BUDGET = 400
MIN_CHUNK_PHRASES = 16


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


def specificity_penalty(candidate: Candidate) -> float:
    """0 for a phrase with a rare word in it ("asset management" has "asset"), up to 1 for a phrase of
    everyday words only ("images", "model"). A name the author capitalises counts half."""
    words = candidate.key.split()
    if not words:
        return 0.0
    common = min(commonness(w) for w in words)
    named = any(w[:1].isupper() for w in candidate.text.split())
    return common * (0.5 if named else 1.0)


@dataclass(frozen=True)
class _ChunkText:
    chunk: Chunk
    said: list[str]
    outline: list[str]
    candidates: list[Candidate]


class LocalTopicExtractor:
    """TopicExtractor that runs offline on the bundled MiniLM (protocols.TopicExtractor)."""

    name = "local"

    def __init__(
        self,
        topics_per_chunk: int = 1,
        runners_up: int = 2,
        diversity: float = 0.3,
        vector_cache: PhraseVectorCache | None = None,
    ) -> None:
        self.topics_per_chunk = topics_per_chunk
        # Runners-up per chunk (more in a post of few chunks), so a short post still gives the prompt
        # a few scene elements.
        self.runners_up = runners_up
        self.diversity = diversity
        self.vector_cache = vector_cache  # None: vectors live only as long as the process

    def merger(self) -> None:
        return None  # the combinator's MiniLM merge

    @property
    def usage(self) -> LLMUsage:
        return LLMUsage()

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]:
        from blogart.llm.embeddings import embed

        texts = []
        read = chunks_within_budget(chunks)  # a huge post: an evenly spaced sample of its chunks
        for chunk in read:
            said = sentences(chunk.text)
            outline = [line.strip(" -") for line in chunk.outline.splitlines() if line.strip(" -")]
            texts.append(_ChunkText(chunk, said, outline, candidate_phrases(said, outline)))
        # How often the whole post uses a phrase: a chunk alone cannot tell a running subject.
        in_post: Counter[str] = Counter()
        for text in texts:
            for c in text.candidates:
                in_post[c.key] += c.count

        share = max(MIN_CHUNK_PHRASES, PHRASE_BUDGET // max(len(texts), 1))
        texts = [replace(t, candidates=t.candidates[:share]) for t in texts]
        phrases = self.phrase_vectors(list(dict.fromkeys(c.text for t in texts for c in t.candidates)))
        said = sentences_within_budget([t.said for t in texts])
        outlines = list(dict.fromkeys(". ".join(t.outline) for t in texts if t.outline))
        vectors = dict(zip(said, embed(said), strict=True)) | dict(zip(outlines, embed(outlines), strict=True))
        runners_up = max(self.runners_up, POST_TOPICS // max(len(texts), 1) - self.topics_per_chunk)
        ranked = {text.chunk.index: self._rank(text, phrases, vectors, in_post, runners_up) for text in texts}
        return [ranked.get(chunk.index) or ChunkTopics(chunk.index, ()) for chunk in chunks]

    def phrase_vectors(self, phrases: list[str]) -> dict[str, np.ndarray]:
        """One vector per distinct phrase: from the cache where an earlier run stored it, else embedded."""
        from blogart.llm.embeddings import embed, model_id

        if not phrases:
            return {}
        found: dict[str, np.ndarray] = {}
        model = model_id() if self.vector_cache is not None else ""
        if self.vector_cache is not None:
            found = self.vector_cache.get(model, phrases)
        missing = [p for p in phrases if p not in found]
        if missing:
            fresh = dict(zip(missing, embed(missing), strict=True))
            if self.vector_cache is not None:
                self.vector_cache.put(model, fresh)
            found.update(fresh)
        return found

    def _rank(
        self,
        text: _ChunkText,
        phrase_vectors: dict[str, np.ndarray],
        vectors: dict[str, np.ndarray],
        in_post: Counter,
        runners_up: int,
    ) -> ChunkTopics:
        from blogart.llm.embeddings import unit

        candidates, said = text.candidates, text.said
        if not candidates:
            return ChunkTopics(text.chunk.index, ())
        phrases = [c.text for c in candidates]
        phrase_vecs = np.stack([phrase_vectors[p] for p in phrases])
        read = [i for i, s in enumerate(said) if s in vectors]  # a long post's sample (see the module doc)
        sentence_vecs = np.stack([vectors[said[i]] for i in read])
        chunk_vec = unit(sentence_vecs.mean(axis=0))
        post_vec = vectors[". ".join(text.outline)] if text.outline else chunk_vec
        title_key = phrase_key(text.outline[0]) if text.outline else ""

        frequency = np.array([min(1.0, math.log1p(c.count - 1) / math.log(4)) for c in candidates])
        in_title = np.array([1.0 if c.key and contains_key(title_key, c.key) else 0.0 for c in candidates])
        # A subject of several words the post keeps naming ("asset management") is what an editor picks.
        repeated = np.array([1.0 if in_post[c.key] >= 2 and len(c.key.split()) >= 2 else 0.0 for c in candidates])
        common = np.array([specificity_penalty(c) for c in candidates])
        # Long n-grams seen once are often a noun run into a verb ("starter culture bubbles").
        long_once = np.array([1.0 if in_post[c.key] == 1 and len(c.key.split()) >= 3 else 0.0 for c in candidates])
        scores = (
            0.6 * (phrase_vecs @ chunk_vec)
            + 0.3 * (phrase_vecs @ post_vec)
            + 0.1 * frequency
            + 0.05 * in_title
            + 0.08 * repeated
            - 0.15 * common
            - 0.06 * long_once
        )

        picks = mmr(scores, phrase_vecs, self.topics_per_chunk + runners_up, self.diversity)
        topics = []
        for i in picks:
            # The sentences that best carry the phrase, by meaning and (a little) by naming it.
            names = [contains_key(phrase_key(s), candidates[i].key) for s in said]
            # A sentence left out of the sample counts as close as the chunk as a whole.
            meaning = np.full(len(said), float(phrase_vecs[i] @ chunk_vec))
            meaning[read] = sentence_vecs @ phrase_vecs[i]
            fit = meaning + 0.2 * np.array(names, dtype=float)
            order = np.argsort(-fit, kind="stable")
            evidence = tuple(trim_words(said[j], EVIDENCE_WORDS) for j in order[:3])
            topics.append(Topic(phrases[i], evidence[0], evidence, round(float(scores[i]), 4)))
        n = self.topics_per_chunk
        return ChunkTopics(text.chunk.index, tuple(topics[:n]), runners_up=tuple(topics[n:]))
