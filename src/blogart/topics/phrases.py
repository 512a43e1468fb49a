"""Candidate topic phrases cut from plain text with word rules, and the form phrases are compared in.

No tagger and nothing downloaded: noun-phrase-like n-grams are runs of words between stopwords and
punctuation, minus the runs the text itself shows to be verbs or adverbs, and minus those whose last
word cannot be a noun (lemminflect's dictionary: "AI performs", "tidal"). Words are compared in their
dictionary form (lemminflect), and how common a word is in general English comes from wordfreq: both
packages ship their data. Stopwords are read once from data/stopwords.toml.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

from blogart.text import collapse_whitespace, split_sentences
from blogart.words import (  # noqa: F401 - re-exported: the comparison form lives in words.py
    FUNCTION_WORDS,
    GENERIC_WORDS,
    STOPWORDS,
    WORD,
    content_words,
    dictionary_forms,
    noun_lemma,
    phrase_key,
)

T = TypeVar("T")


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


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
MAX_CANDIDATES = 48  # per chunk, by frequency then position: embedding phrases is most of the stage
# Word pieces of sentences a post's topics are read from (~1,500 words); past it, every k-th sentence
# of each chunk (`sentences_within_budget`): the topics stage of a long post stays near a second.
SENTENCE_BUDGET = 2000
# Chunks a post's topics are read from (~12,000 words at 512 tokens a chunk): past it, an evenly
# spaced sample, so the stage's work (embeddings, merging topics pairwise) is bounded for any text.
CHUNK_BUDGET = 24

_TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’\-][A-Za-z0-9]+)*|[^\sA-Za-z]")


def sentences(text: str) -> list[str]:
    """The sentences of a chunk worth reading for topics: one line each, list and heading marks
    dropped, fragments of fewer than two words left out."""
    out = []
    for sentence in split_sentences(text):
        sentence = collapse_whitespace(sentence).lstrip("-*•#> ").strip()
        if len(WORD.findall(sentence)) >= 2:
            out.append(sentence)
    return out


def chunks_within_budget(chunks: Sequence[T], most: int = CHUNK_BUDGET) -> list[T]:
    """All chunks when there are at most `most`, else `most` of them evenly spaced (the first always)."""
    if len(chunks) <= most:
        return list(chunks)
    return [chunks[i * len(chunks) // most] for i in range(most)]


def sentences_within_budget(chunks: Sequence[Sequence[str]], budget: int = SENTENCE_BUDGET) -> list[str]:
    """The distinct sentences to embed: all of them when their word pieces fit `budget`, else every k-th
    sentence of each chunk (its first always), with the smallest k that fits. An evenly spaced sample
    keeps each chunk's mean vector close to the whole chunk's."""
    from blogart.llm.embeddings import word_pieces

    distinct = list(dict.fromkeys(s for said in chunks for s in said))
    cost = dict(zip(distinct, word_pieces(distinct), strict=True))
    picked = distinct
    for stride in range(1, max((len(said) for said in chunks), default=0) + 1):
        picked = list(dict.fromkeys(s for said in chunks for s in said[::stride]))
        if sum(cost[s] for s in picked) <= budget:
            break
    return picked


# -- comparing phrases ------------------------------------------------------------------------------


def can_be_noun(word: str) -> bool:
    """Whether a lowercase word may head a noun phrase: a noun, a gerund ("tapering"), or a word the
    dictionary does not know (names, jargon). Verb forms ("performs", "learned"), adjectives and
    adverbs may not."""
    lemmas = dictionary_forms(word)
    return not lemmas or "NOUN" in lemmas or "PROPN" in lemmas or word.endswith("ing")


@lru_cache(maxsize=65536)
def commonness(word: str) -> float:
    """How common a lowercase word is in general English, 0 (rare: "aqueduct", "VQGAN") to 1 ("model",
    "time"): wordfreq's Zipf frequency mapped from 3 and below to 0, from 6 and above to 1."""
    from wordfreq import zipf_frequency  # 0.1-0.6 s to import: only when phrases are ranked

    return min(max((zipf_frequency(word, "en") - 3.0) / 3.0, 0.0), 1.0)


def contains_key(text_key: str, key: str) -> bool:
    """Whether the phrase_key `key` occurs in `text_key` as whole words."""
    return f" {key} " in f" {text_key} "


def stem(word: str) -> str:
    """Crude stem of a phrase_key word: "autoscaler" and "autoscaling" both give "autoscal"."""
    for suffix in ("ation", "ing", "er", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def trim_words(text: str, max_words: int) -> str:
    """The first `max_words` words of `text`, with "…" where it was cut."""
    words = text.split()
    if len(words) <= max_words:
        return " ".join(words)
    return " ".join(words[:max_words]).rstrip(",;:") + "…"


# -- finding candidates -----------------------------------------------------------------------------


@dataclass
class Candidate:
    key: str
    forms: Counter[str] = field(default_factory=Counter)
    count: int = 0
    first: int = 0

    @property
    def text(self) -> str:
        # Most frequent surface form; ties go to the earliest seen (Counter keeps insertion order).
        return self.forms.most_common(1)[0][0]


def candidate_phrases(sentences: Sequence[str], context: Sequence[str] = ()) -> list[Candidate]:
    """Noun-phrase-like n-grams (1-4 words, no stopword at either edge), grouped by phrase_key.

    `context` (title, headings) only helps tell proper nouns from sentence-initial capitals.
    """
    proper = _proper_words([*sentences, *context])
    verbs = _verb_forms(sentences)
    found: dict[str, Candidate] = {}
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
                    if not (can_be_noun(low[-1]) or low[-1] in proper):
                        continue  # ends on a verb form or an adjective: "AI performs", "rocky"
                    if size == 1 and len(low[0]) < 3:
                        continue
                    # Authors' casing, except a capital that only marks the start of a sentence.
                    first = words[0] if words[0].lower() in proper or not (opens and start == 0) else words[0].lower()
                    form = " ".join([first, *words[1:]])
                    key = phrase_key(form)
                    cand = found.get(key)
                    if cand is None:
                        cand = found[key] = Candidate(key, first=position)
                    cand.forms[form] += 1
                    cand.count += 1
                    position += 1
    # Among phrases seen as often, the ones with a rare word first ("asset management" before "team").
    ranked = sorted(found.values(), key=lambda c: (-c.count, min(map(commonness, c.key.split() or [""])), c.first))
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
        if not WORD.fullmatch(word) or (low in STOPWORDS and low not in CONNECTORS):
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
            if WORD.fullmatch(token) and low not in STOPWORDS and (bare or previous in S_FORM_AFTER):
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
        for i, word in enumerate(WORD.findall(sentence)):
            if word[0].isupper() and i > 0:
                upper.add(word.lower())
            elif word[0].islower():
                lower.add(word.lower())
    return upper - lower
