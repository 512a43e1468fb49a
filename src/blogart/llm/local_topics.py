"""Offline topic extraction: keyphrases ranked with the bundled MiniLM, no network and no LLM.

Per chunk: noun-phrase-like n-grams are cut from the text with plain regexes, embedded, scored by
cosine to the chunk and to the whole post (its title and headings), and diversified with maximal
marginal relevance. The combinator merges near-duplicates across chunks and weights each topic by
the share of the post it covers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from blogart.values import Chunk, ChunkTopics, KeyTopics, LLMUsage, Topic


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words that may not start or end a phrase: function words, common verbs and adverbs, vague nouns.
# Kept here rather than taken from NLTK/spaCy so extraction needs no downloaded data.
STOPWORDS = _wordset(
    """
    a about above after again against all almost along already also although always am among an and another any
    anyone anything anyway are around as at away back be became because become becomes been before being below
    between both but by can cannot could did do does doing done down during each either else enough even ever every
    everyone everything few for from further get gets getting got had has have having he her here hers herself him
    himself his how however i if in instead into is it its itself just least less let lets like likely many may
    maybe me might mine more most much must my myself near need needs never next no nobody none nor not nothing now
    of off often on once one only onto or other others otherwise our ours ourselves out over own per perhaps quite
    rather really same several shall she should since so some someone something sometimes soon still such than that
    the their theirs them themselves then there these they thing things this those though through thus to together
    too toward towards under until up upon us usually very via was we well were what whatever when whenever where
    whether which while who whom whose why will with within without would yet you your yours yourself yourselves
    add added adds allow allows ask asked came come comes could did feel felt find found give gives go goes going
    gone keep keeps kept know knew known look looks looked made make makes making mean means meant put puts said say
    says see seen seem seems set sets show shows showed take takes taken took tell think thought try tried tries use
    used uses using want wanted wants work works worked call called calls run runs ran start starts started turn
    turns turned help helps helped leave left move moved moves stay stays stayed let's it's don't doesn't didn't
    isn't aren't wasn't can't won't i'm you're we're they're that's there's here's i've you've we've
    lot lots bit way ways kind kinds sort part parts example examples case cases point points time times day days
    year years today first second third last new old good great better best bad big small little long short high low
    right wrong sure able easy hard different important real whole full simple yes ok okay etc vs eg ie
    underneath beneath behind across inside outside ago anyway else
    """
)
# A word right before a determiner is acting as a verb ("the beekeeper lifts the frames"), and so is
# one right after a modal or subject pronoun ("it compares"): such n-gram occurrences are skipped.
BEFORE_OBJECT = _wordset("a an the these those their its his her our my your it them him me us")
AFTER_SUBJECT = _wordset("to will would can could should may might must it they we you i he she also not")
# Where the chunk itself shows a word to be a verb: its bare form after a modal or plural subject
# ("the HPA can also scale"), its -s form after a singular one ("it bubbles"). "to" is left out: it
# comes before nouns too ("from pool to pool").
BARE_AFTER = _wordset("will would can could should may might must they we you i also not")
S_FORM_AFTER = _wordset("it he she")
CONNECTORS = frozenset({"of"})  # allowed inside a phrase ("bed of kelp"), never at its edges
MAX_WORDS = 4
MAX_CANDIDATES = 120  # per chunk, by frequency then position; keeps the embedding step bounded

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’\-][A-Za-z0-9]+)*")
_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’\-][A-Za-z0-9]+)*|[^\sA-Za-z]")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])|\n\s*\n|\n(?=\s*[-*•#>]|\s*\d+[.)]\s)")


def split_sentences(text: str) -> list[str]:
    """Sentences (or list items / headings) of a plain-text chunk, whitespace collapsed."""
    parts = _SENTENCE_END.split(text)
    out = []
    for part in parts:
        sentence = " ".join(part.split()).lstrip("-*•#> ").strip()
        if len(_WORD.findall(sentence)) >= 2:
            out.append(sentence)
    return out


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-3] + "y" if word.endswith("ies") else word[:-1]
    return word


def phrase_key(phrase: str) -> str:
    """Comparison form: lowercase, possessives and plural s dropped, leading stopwords dropped."""
    words = [_singular(w.lower().replace("’", "'").removesuffix("'s")) for w in _WORD.findall(phrase)]
    while words and words[0] in STOPWORDS:
        words.pop(0)
    return " ".join(words)


def content_words(phrase: str) -> set[str]:
    return {w for w in phrase_key(phrase).split() if w not in STOPWORDS}


@dataclass
class _Candidate:
    key: str
    forms: Counter[str] = field(default_factory=Counter)
    count: int = 0
    first: int = 0

    @property
    def text(self) -> str:
        # Most frequent surface form; ties go to the earliest seen (Counter keeps insertion order).
        return self.forms.most_common(1)[0][0]


def candidate_phrases(sentences: Sequence[str], context: Sequence[str] = ()) -> list[_Candidate]:
    """Noun-phrase-like n-grams (1-4 words, no stopword at either edge), grouped by phrase_key.

    `context` (title, headings) only helps tell proper nouns from sentence-initial capitals.
    """
    proper = _proper_words([*sentences, *context])
    verbs = _verb_forms(sentences)
    found: dict[str, _Candidate] = {}
    position = 0
    for sentence in sentences:
        for run, before, after, opens in _runs(sentence):
            for size in range(1, MAX_WORDS + 1):
                for start in range(len(run) - size + 1):
                    words = run[start : start + size]
                    low = [w.lower() for w in words]
                    if low[0] in CONNECTORS or low[-1] in CONNECTORS or any(len(w) < 2 for w in low):
                        continue
                    if _adverb(low[0]) or _adverb(low[-1]):
                        continue
                    verb_first = start == 0 and before in AFTER_SUBJECT
                    verb_last = start + size == len(run) and after in BEFORE_OBJECT
                    if verb_first or verb_last:
                        continue
                    if size > 1 and _is_verb(low[-1], verbs):
                        continue  # a noun run into a verb the chunk uses elsewhere: "HPA scales"
                    if size == 1 and len(low[0]) < 3:
                        continue
                    # Authors' casing, except a capital that only marks the start of a sentence.
                    first = words[0] if words[0].lower() in proper or not (opens and start == 0) else words[0].lower()
                    form = " ".join([first, *words[1:]])
                    key = phrase_key(form)
                    cand = found.get(key)
                    if cand is None:
                        cand = found[key] = _Candidate(key, first=position)
                    cand.forms[form] += 1
                    cand.count += 1
                    position += 1
    ranked = sorted(found.values(), key=lambda c: (-c.count, c.first))
    return ranked[:MAX_CANDIDATES]


def _runs(sentence: str) -> list[tuple[list[str], str, str, bool]]:
    """Stretches of words with no punctuation and no stopword other than a connector.

    Each run comes with the lowercased tokens just before and after it ("" at the edges) and
    whether it opens the sentence.
    """
    runs: list[tuple[list[str], str, str, bool]] = []
    current: list[str] = []
    before = ""
    opens = True
    for token in _TOKEN.findall(sentence):
        word = token.replace("’", "'").removesuffix("'s")
        low = word.lower()
        if not _WORD.fullmatch(word) or (low in STOPWORDS and low not in CONNECTORS):
            if current:
                runs.append((current, before, low, opens))
            current = []
            before = low
            opens = False
            continue
        current.append(word)
    if current:
        runs.append((current, before, "", opens))
    return runs


def _verb_forms(sentences: Sequence[str]) -> set[str]:
    """Words the text itself uses as verbs, lowercased: bare forms, and -s forms after it/he/she."""
    verbs: set[str] = set()
    for sentence in sentences:
        previous = ""
        for token in _TOKEN.findall(sentence):
            low = token.lower()
            bare = previous in BARE_AFTER and not low.endswith("s")
            if _WORD.fullmatch(token) and low not in STOPWORDS and (bare or previous in S_FORM_AFTER):
                verbs.add(low)
            previous = low
    return verbs


def _is_verb(word: str, verbs: set[str]) -> bool:
    """An -s word that is a verb of `verbs` ("scales" for "scale"); a plural noun head otherwise."""
    if not word.endswith("s") or word.endswith("ss"):
        return False
    return word in verbs or word[:-1] in verbs or (word.endswith("es") and word[:-2] in verbs)


def _adverb(word: str) -> bool:
    return len(word) > 5 and word.endswith("ly") and not word.endswith(("ily", "ply"))


def _proper_words(sentences: Sequence[str]) -> set[str]:
    """Words written capitalised away from a sentence start (Rust, Kubernetes): keep their case."""
    upper: set[str] = set()
    lower: set[str] = set()
    for sentence in sentences:
        for i, word in enumerate(_WORD.findall(sentence)):
            if word[0].isupper() and i > 0:
                upper.add(word.lower())
            elif word[0].islower():
                lower.add(word.lower())
    return upper - lower


def trim_words(text: str, max_words: int) -> str:
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    return " ".join(words[:max_words]).rstrip(",;:") + "…"


def _unit(v: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


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


@dataclass(frozen=True)
class _Scored:
    topic: Topic
    chunk_index: int
    primary: bool


class LocalTopicExtractor:
    """TopicExtractor that runs offline on the bundled MiniLM (protocols.TopicExtractor)."""

    name = "local"

    def __init__(
        self,
        topics_per_chunk: int = 1,
        runners_up: int = 2,
        diversity: float = 0.3,
        merge_threshold: float = 0.8,
        overlap_threshold: float = 0.5,
    ) -> None:
        self.topics_per_chunk = topics_per_chunk
        self.runners_up = runners_up
        self.diversity = diversity
        self.merge_threshold = merge_threshold  # cosine above which two phrases are one topic
        self.overlap_threshold = overlap_threshold  # lower bar when the phrases share a content word
        # Runners-up per chunk, so a one-chunk post still gives the prompt a few scene elements.
        self._spare: dict[tuple[int, str], tuple[Topic, ...]] = {}

    @property
    def usage(self) -> LLMUsage:
        return LLMUsage()

    # -- per chunk ---------------------------------------------------------------------------

    def extract(self, chunks: Sequence[Chunk]) -> list[ChunkTopics]:
        return [self._extract_one(chunk) for chunk in chunks]

    def _extract_one(self, chunk: Chunk) -> ChunkTopics:
        from blogart.llm.embeddings import embed

        sentences = split_sentences(chunk.text)
        outline = [line.strip(" -") for line in chunk.outline.splitlines() if line.strip(" -")]
        candidates = candidate_phrases(sentences, outline)
        if not candidates:
            return ChunkTopics(chunk.index, ())
        phrases = [c.text for c in candidates]
        vectors = embed(phrases + sentences + ([". ".join(outline)] if outline else []))
        phrase_vecs = vectors[: len(phrases)]
        sentence_vecs = vectors[len(phrases) : len(phrases) + len(sentences)]
        chunk_vec = _unit(sentence_vecs.mean(axis=0))
        post_vec = vectors[-1] if outline else chunk_vec
        title_key = phrase_key(outline[0]) if outline else ""

        frequency = np.array([min(1.0, math.log1p(c.count - 1) / math.log(4)) for c in candidates])
        in_title = np.array([1.0 if c.key and _contains_key(title_key, c.key) else 0.0 for c in candidates])
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
            fit = sentence_vecs @ phrase_vecs[i] + 0.2 * np.array(
                [_contains(s, candidates[i].key) for s in sentences], dtype=float
            )
            order = np.argsort(-fit, kind="stable")
            evidence = tuple(trim_words(sentences[j], 40) for j in order[:3])
            topics.append(Topic(phrases[i], evidence[0], evidence, round(float(scores[i]), 4)))
        primary = tuple(topics[: self.topics_per_chunk])
        self._spare[(chunk.index, primary[0].phrase)] = tuple(topics[self.topics_per_chunk :])
        return ChunkTopics(chunk.index, primary)

    # -- combinator --------------------------------------------------------------------------

    def combine(self, chunk_topics: Sequence[ChunkTopics], chunks: Sequence[Chunk], max_topics: int = 6) -> KeyTopics:
        from blogart.llm.embeddings import embed

        items: list[_Scored] = []
        for ct in chunk_topics:
            items += [_Scored(t, ct.chunk_index, True) for t in ct.topics]
            if ct.topics:
                spare = self._spare.get((ct.chunk_index, ct.topics[0].phrase), ())
                items += [_Scored(t, ct.chunk_index, False) for t in spare]
        title = _title(chunks)
        if not items or max_topics <= 0:
            return KeyTopics((), title)
        items.sort(key=lambda s: (not s.primary, -s.topic.weight, s.chunk_index, s.topic.phrase))
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

        tokens = {c.index: max(c.tokens, 1) for c in chunks}
        total = sum(tokens.values()) or 1
        texts = {c.index: phrase_key(c.text) for c in chunks}
        title_key = phrase_key(title)
        merged: list[tuple[float, float, Topic, np.ndarray]] = []
        for cluster in clusters:
            members = [items[i] for i in cluster]
            credit: dict[int, float] = {}
            for m in members:
                credit[m.chunk_index] = max(credit.get(m.chunk_index, 0.0), 1.0 if m.primary else 0.6)
            keys = {phrase_key(m.topic.phrase) for m in members}
            # The title is the author's own summary: a topic it names spans the whole post.
            titled = any(k and _contains_key(title_key, k) for k in keys)
            for index, text in texts.items():
                if titled or any(k and _contains_key(text, k) for k in keys):
                    credit[index] = max(credit.get(index, 0.0), 0.5)
            weight = sum(tokens.get(i, 0) * c for i, c in credit.items()) / total
            best = self._representative(members, title_key)
            evidence = tuple(dict.fromkeys(e for m in members for e in m.topic.evidence))[:3]
            score = max(m.topic.weight for m in members)
            topic = Topic(best.phrase, best.abstraction, evidence, round(min(weight, 1.0), 4))
            centroid = _unit(vectors[cluster].mean(axis=0))
            merged.append((weight, score, topic, centroid))
        # By weight; a topic naming more of the title wins near ties ("sourdough bread" over "dough").
        title_words = set(title_key.split()) - STOPWORDS

        def order(m: tuple[float, float, Topic, np.ndarray]) -> tuple[float, float, str]:
            named = len(content_words(m[2].phrase) & title_words) / max(len(title_words), 1)
            return (-(m[0] + 0.1 * named), -m[1], m[2].phrase)

        merged.sort(key=order)
        kept = merged[:max_topics]
        summary = self._summary(chunks, kept) or title
        return KeyTopics(tuple(m[2] for m in kept), summary)

    def _same(self, items: list[_Scored], vectors: np.ndarray, i: int, j: int) -> bool:
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
        heads = {_stem(a.split()[-1]), _stem(b.split()[-1])}
        return bool(heads & {_stem(w) for w in content_words(a)} & {_stem(w) for w in content_words(b)})

    def _within(self, items: list[_Scored], vectors: np.ndarray, i: int, j: int) -> bool:
        """Substring overlap with any member: "loaf" belongs with "sourdough loaf"."""
        a, b = phrase_key(items[i].topic.phrase), phrase_key(items[j].topic.phrase)
        if not (a and b) or float(vectors[i] @ vectors[j]) < self.overlap_threshold:
            return False
        return _contains_key(a, b) or _contains_key(b, a)

    @staticmethod
    def _representative(members: list[_Scored], title_key: str) -> Topic:
        # A chunk's own key idea first; then the one naming more of the title ("async Rust" over
        # "async") and the common core of the others ("pods" over "removes pods"); then the score.
        title_words = set(title_key.split()) - STOPWORDS
        keys = [phrase_key(m.topic.phrase) for m in members]

        def value(m: _Scored) -> tuple[float, str]:
            key = phrase_key(m.topic.phrase)
            covered = len(content_words(m.topic.phrase) & title_words) / max(len(title_words), 1)
            core = sum(1 for k in keys if k != key and _contains_key(k, key))
            return (-(m.topic.weight + 0.15 * m.primary + 0.3 * covered + 0.05 * min(core, 1)), m.topic.phrase)

        return min(members, key=value).topic

    @staticmethod
    def _summary(chunks: Sequence[Chunk], kept: list[tuple[float, float, Topic, np.ndarray]]) -> str:
        """The post sentence closest to the weighted centroid of the key topics, on one line."""
        from blogart.llm.embeddings import embed

        sentences = list(dict.fromkeys(s for c in chunks for s in split_sentences(c.text)))
        # Prefer real sentences over headings and list fragments that chunks may carry.
        sentences = [s for s in sentences if len(s.split()) >= 6 and s[-1] in ".!?"] or sentences
        if not sentences or not kept:
            return ""
        weights = np.array([max(m[0], 1e-3) for m in kept])
        centroid = _unit((np.stack([m[3] for m in kept]) * weights[:, None]).sum(axis=0))
        best = int(np.argmax(embed(sentences) @ centroid))
        return trim_words(sentences[best], 30)


def _stem(word: str) -> str:
    """Crude stem of a phrase_key word: "autoscaler" and "autoscaling" both give "autoscal"."""
    for suffix in ("ation", "ing", "er", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def _contains_key(text_key: str, key: str) -> bool:
    return f" {key} " in f" {text_key} "


def _contains(sentence: str, key: str) -> bool:
    return _contains_key(phrase_key(sentence), key)


def _title(chunks: Sequence[Chunk]) -> str:
    for chunk in chunks:
        for line in chunk.outline.splitlines():
            if line.strip():
                return line.strip()
    return ""
