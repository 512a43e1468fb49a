"""The form words and phrases are compared in, shared by the topics stage and the icons prompt writer.

Lowercase, possessives dropped, nouns in their dictionary singular (lemminflect, which ships its data),
grammar and too-vague words (topics/data/stopwords.toml) set apart.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from importlib.resources import files

WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:['’\-][A-Za-z0-9]+)*")


def _load_stopwords() -> tuple[frozenset[str], frozenset[str]]:
    data = tomllib.loads((files("blogart.topics") / "data" / "stopwords.toml").read_text(encoding="utf-8"))
    return frozenset(data["function"].lower().split()), frozenset(data["generic"].lower().split())


FUNCTION_WORDS, GENERIC_WORDS = _load_stopwords()
# Words that may not start or end a phrase: grammar words, and words too vague to name a topic.
STOPWORDS = FUNCTION_WORDS | GENERIC_WORDS


@lru_cache(maxsize=65536)
def dictionary_forms(word: str) -> dict[str, tuple[str, ...]]:
    """lemminflect's dictionary forms of a lowercase word by part of speech ({} for unknown words)."""
    from lemminflect import getAllLemmas

    return getAllLemmas(word)


def noun_lemma(word: str) -> str:
    """The singular of a lowercase noun ("analyses" -> "analysis", "glasses" -> "glass"), other known
    words unchanged; a word the dictionary does not know loses a plural-looking s ("autoscalers")."""
    lemmas = dictionary_forms(word)
    if nouns := lemmas.get("NOUN"):
        return nouns[0] if len(word) > 2 else word
    if not lemmas and len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def phrase_key(phrase: str) -> str:
    """Comparison form: lowercase, possessives dropped, nouns in the singular, leading stopwords dropped."""
    words = [noun_lemma(w.lower().replace("’", "'").removesuffix("'s")) for w in WORD.findall(phrase)]
    while words and words[0] in STOPWORDS:
        words.pop(0)
    return " ".join(words)


def content_words(phrase: str) -> set[str]:
    return {w for w in phrase_key(phrase).split() if w not in STOPWORDS}


# Words that deny what follows within a few words ("no flights at all", "without a single flight").
NEGATIONS = frozenset(
    ["no", "not", "never", "without", "nor", "zero", "instead", "rather", "avoid", "avoided", "skip", "skipped"]
)
NOT_DENIALS = frozenset({("not", "only"), ("not", "just"), ("no", "matter")})  # "not only X" affirms X
NEGATION_REACH = 3  # words between a denial and the word it denies


def mentions(sentences: list[str], words: set[str]) -> tuple[int, int]:
    """(denied, affirmed): how often the sentences use one of `words` (comparison form) after a denial
    within NEGATION_REACH words, and otherwise. Contractions count ("didn't fly" denies "fly")."""
    denied = affirmed = 0
    for sentence in dict.fromkeys(sentences):
        tokens = [w.lower().replace("’", "'") for w in WORD.findall(sentence)]
        for i, token in enumerate(tokens):
            if noun_lemma(token.removesuffix("'s")) not in words:
                continue
            before = tokens[max(0, i - NEGATION_REACH - 1) : i]
            cues = [
                j
                for j, w in enumerate(before)
                if (w in NEGATIONS or w.endswith("n't"))
                and (j + 1 == len(before) or (w, before[j + 1]) not in NOT_DENIALS)
            ]
            if cues:
                denied += 1
            else:
                affirmed += 1
    return denied, affirmed
