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
