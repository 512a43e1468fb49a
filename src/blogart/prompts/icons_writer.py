"""The prompt writer for the bundled icon model: key topics -> the concepts it can draw -> one caption.

The bundled model only knows its vocabulary (`concepts.json`) and the caption grammar of
`prompts.icons.caption()`, so a free-form prompt would be noise to it. Each key topic, in order of
weight, is matched to the concepts by MiniLM cosine similarity, as the post uses it rather than as a
bare phrase: a blend of the phrase, the topic's own sentences from the post and the post as a whole
(title, summary and every topic's sentences) against each concept's description of what its emoji
shows. A topic's best concept is taken when it

- reaches `floor` and stands out from the rest of the vocabulary (`STAND_OUT` standard deviations
  above its mean), so a topic the vocabulary has nothing for maps to nothing;
- does not rest on a homograph: when the topic and the concept share a word ("tide pools" and
  "pool 8 ball", "cloud" costs and a "cloud"), the match must hold with that word masked out of both;
- is not (nearly) a concept already chosen, which means the topic adds nothing.

A topic the post denies ("no flights at all": as often after "no", "not", "without" as not) is not
drawn: it names what the post is not about.

At most three distinct concepts, laid out in a row in topic order:

    "AI contract review", "legal documents", "fairness"
        -> a robot, a page and a balance scale on a teal background, left to right

When no topic finds a concept, the writer says so (`Choice.fallback`) and draws the neutral
`NEUTRAL` concept, which suits any post, rather than a wrong object.

The background comes from the style preset where one implies it, else from a hash of the post's title
and concepts: the same post always gets the same prompt.

The concepts' own vectors ship beside `concepts.json` (`concept_vectors.npz`, written by the recipe's
export stage): embedding the whole vocabulary costs a fresh process ~2 s, more than the rest of a short
post's prompt. They are used only when they were made by the same MiniLM from the same concept texts.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from blogart.atomic import atomic_write_bytes
from blogart.errors import InputError
from blogart.prompts.builder import DALLE_TEXT_TOKENS, TokenCounter, counter_or_estimate, merge_negative
from blogart.prompts.icons import COLOURS, Background, Concept, caption
from blogart.values import ImagePrompt, KeyTopics, StylePreset, Topic

MAX_ICONS = 3  # more than three emoji in 128 px stop being recognisable
FLOOR = 0.28  # blended MiniLM cosine; below it a topic and a concept are unrelated
# How far above the vocabulary's mean (in standard deviations) a concept must score to stand for a
# topic: a word-alike scores well on every concept of its kind, a real match stands apart.
STAND_OUT = 4.0
# A concept must fit the post as a whole (cosine with its title, summary and topic sentences), not
# only one topic: a word taken in another sense ("shot" of espresso -> camera flash) fails this.
POST_FLOOR = 0.25
# STAND_OUT and POST_FLOOR are measured on the bundled vocabulary (~300 described concepts); a small
# vocabulary has no spread to stand out from, and one described by keywords alone scores lower, so
# below this size `floor` alone decides.
CALIBRATED_VOCABULARY = 50
# A match on a shared word must keep this cosine with the word masked out of topic and concept alike.
HOMOGRAPH_FLOOR = 0.2
CANDIDATES = 5  # a topic's best concepts, in order, tried before it maps to nothing
MARGIN = 0.05  # a concept already chosen within this of a topic's best match stands for that topic
# Weights of the topic's phrase, its sentences in the post and the whole post in a concept's score.
PHRASE, SENTENCES, POST = 0.3, 0.5, 0.2
NEUTRAL = "notepad"  # drawn when nothing fits: a written page suits any post
LAYOUT = "row"  # caption order is topic order, left to right

# Presets whose look implies a background; any other style takes a colour from the post's hash.
STYLE_BACKGROUNDS = {
    "minimal-line-art": Background("white"),
    "pencil-sketch": Background("white"),
    "flat-vector": Background("beige"),
    "pixel-art": Background("black"),
    "cinematic": Background("navy", "black"),
    "watercolor": Background("white", "beige"),
}

Embed = Callable[[Sequence[str]], np.ndarray]  # texts -> unit rows (blogart.llm.embeddings.embed)


def concept_text(concept: Concept) -> str:
    """What a concept is matched on: its caption name and description, else its name and other words."""
    if concept.description:
        return f"{concept.name}: {concept.description}"
    return ", ".join(dict.fromkeys([concept.name, *concept.keywords]))


@dataclass(frozen=True)
class Choice:
    """The concepts for one post, and how they were found."""

    concepts: tuple[Concept, ...]
    fallback: bool = False  # nothing in the vocabulary fits the topics: the neutral concept stands in
    homographs: tuple[tuple[str, str], ...] = ()  # (topic, concept) matches refused as word-alikes
    denied: tuple[str, ...] = ()  # topics the post denies ("no flights"), not drawn

    @property
    def note(self) -> str:
        """One line saying what was left out, for people; "" when the topics found their concepts."""
        if not self.fallback:
            return ""
        return f"nothing in the bundled model's vocabulary fits this post's topics; drawing a {self.concepts[0].name}"


def topic_sentences(topic: Topic) -> list[str]:
    """The topic as the post uses it: its evidence sentences, else its one-line abstraction, else the phrase."""
    sentences = [s for s in topic.evidence if s.strip()]
    if sentences:
        return sentences
    return [topic.abstraction] if topic.abstraction.strip() else [topic.phrase]


def denies(post: Sequence[str], topic: Topic) -> bool:
    """Whether the post's sentences deny the topic's words at least as often as they use them plainly."""
    from blogart.words import content_words, mentions

    denied, affirmed = mentions([s for s in post if s.strip()], content_words(topic.phrase))
    return denied > 0 and denied >= affirmed


def concept_words(concept: Concept) -> set[str]:
    """The words a topic phrase can share with a concept's name and keywords, in comparison form."""
    from blogart.words import content_words

    return content_words(" ".join([concept.name, *concept.keywords]))


def shared_words(phrase: str, concept: Concept) -> set[str]:
    from blogart.words import content_words

    return content_words(phrase) & concept_words(concept)


def mask_words(text: str, words: set[str]) -> str:
    """`text` without the words (and their inflections: "pool" takes "pools" with it)."""
    for word in sorted(words):
        text = re.sub(rf"\b{re.escape(word)}\w*", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def concept_texts_digest(concepts: Sequence[Concept]) -> str:
    """sha256 of what the concepts are matched on, in order: a stored matrix fits only these concepts."""
    return hashlib.sha256("\n".join(concept_text(c) for c in concepts).encode("utf-8")).hexdigest()


def save_concept_vectors(path: Path, concepts: Sequence[Concept], vectors: np.ndarray, model: str) -> None:
    """Store the concept matrix as float16 (cosine error ~1e-3, half the bytes) with what made it."""
    buffer = io.BytesIO()
    np.savez(
        buffer,
        vectors=np.asarray(vectors, dtype=np.float16),
        model=np.array(model),
        texts=np.array(concept_texts_digest(concepts)),
    )
    atomic_write_bytes(path, buffer.getvalue())


def load_concept_vectors(path: Path, concepts: Sequence[Concept], model: str) -> np.ndarray | None:
    """The stored matrix as float32 when it fits these concepts and this MiniLM; None otherwise."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if str(data["model"]) != model or str(data["texts"]) != concept_texts_digest(concepts):
                return None
            vectors = data["vectors"].astype(np.float32)
    except (OSError, ValueError, KeyError):
        return None
    return vectors if vectors.shape[0] == len(concepts) else None


def _minilm(texts: Sequence[str]) -> np.ndarray:
    from blogart.llm.embeddings import embed

    return embed(texts)


class IconPromptWriter:
    """PromptWriter (protocols.PromptWriter) for the bundled icon model."""

    name = "icons"

    def __init__(
        self,
        concepts: Sequence[Concept],
        count_tokens: TokenCounter | None = None,
        embed: Embed | None = None,
        floor: float = FLOOR,
        concept_vectors: np.ndarray | None = None,
    ) -> None:
        if not concepts:
            raise InputError("the bundled model's concepts.json lists no concepts")
        self.concepts = list(concepts)
        self.count_tokens = counter_or_estimate(count_tokens)
        self.embed = embed or _minilm
        self.floor = floor
        # Rows for `concepts` from the same embedder (load_concept_vectors); None: embedded on first use.
        self._matrix = concept_vectors

    def _concept_matrix(self) -> np.ndarray:
        if self._matrix is None:
            self._matrix = self.embed([concept_text(c) for c in self.concepts])
        return self._matrix

    def choose(self, key_topics: KeyTopics, title: str = "") -> list[Concept]:
        """1 to MAX_ICONS distinct concepts for the topics, in topic order (see `choice`)."""
        return list(self.choice(key_topics, title).concepts)

    def choice(self, key_topics: KeyTopics, title: str = "") -> Choice:
        """The concepts for the topics, in topic order (see the module docstring).

        When no topic finds a concept, the neutral concept stands in when the vocabulary has it, else
        the one concept nearest to the title and summary, so there is always something to draw.
        """
        topics = [t for t in key_topics.topics if t.phrase.strip()]
        if not topics and not title.strip() and not key_topics.summary.strip():
            raise InputError("nothing to draw: no key topics, title or summary")
        matrix = self._concept_matrix()
        chosen: list[int] = []
        homographs: list[tuple[str, str]] = []
        post = [title, key_topics.summary, *(s for t in topics for s in topic_sentences(t))]
        denied = tuple(t.phrase for t in topics if denies(post, t))
        if topics:
            scores, whole = self._scores(topics, title, key_topics.summary, matrix)
            for topic, row in zip(topics, scores, strict=True):
                if topic.phrase in denied:
                    continue
                best = self._best(topic, row, whole, homographs)
                # A topic about as near to a concept already drawn adds nothing ("crust" after "bread").
                if best is not None and not any(row[i] >= row[best] - MARGIN for i in chosen):
                    chosen.append(best)
                if len(chosen) == MAX_ICONS:
                    break
        if chosen:
            return Choice(tuple(self.concepts[i] for i in chosen), homographs=tuple(homographs), denied=denied)
        return Choice((self._fallback(topics, title, key_topics.summary, matrix),), True, tuple(homographs), denied)

    def _scores(
        self, topics: Sequence[Topic], title: str, summary: str, matrix: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(topics x concepts: each topic's phrase, its sentences and the whole post, blended; the whole post's row)."""
        sentences = [topic_sentences(t) for t in topics]
        head = " ".join(p for p in (title, summary) if p.strip())
        # One batch: the phrases, every topic's sentences, then the title and summary.
        vectors = self.embed([*(t.phrase for t in topics), *(s for group in sentences for s in group), head])
        phrases = vectors[: len(topics)] @ matrix.T
        starts = np.cumsum([len(topics), *(len(group) for group in sentences)])
        in_post = np.stack([_unit(vectors[a:b].mean(axis=0)) for a, b in zip(starts[:-1], starts[1:], strict=True)])
        post = in_post.mean(axis=0) + (vectors[-1] if head else 0.0)
        whole = _unit(post) @ matrix.T
        return PHRASE * phrases + SENTENCES * (in_post @ matrix.T) + POST * whole[None, :], whole

    def _best(self, topic: Topic, row: np.ndarray, whole: np.ndarray, homographs: list[tuple[str, str]]) -> int | None:
        """The index of the concept that stands for `topic`, or None; refused word-alikes go to `homographs`."""
        spread = float(row.std())
        if len(row) >= CALIBRATED_VOCABULARY and spread > 0:
            stand_out = (row - row.mean()) / spread
            fitting = np.where(whole >= POST_FLOOR, row, -1.0)
        else:
            stand_out, fitting = np.full_like(row, np.inf), row
        for index in np.argsort(-fitting)[:CANDIDATES]:
            index = int(index)
            if fitting[index] < self.floor or stand_out[index] < STAND_OUT:
                return None
            if self.homograph(topic, self.concepts[index]):
                homographs.append((topic.phrase, self.concepts[index].name))
                continue
            return index
        return None

    def homograph(self, topic: Topic, concept: Concept) -> bool:
        """Whether the topic matches the concept only through a word they share, used in another sense.

        With the shared words masked out of the topic's sentences and the concept's text, what is left
        must still be related: "tide pools" among anemones and a billiard "pool 8 ball" are not,
        "bees" in a beekeeping post and a "bee" described as honey and pollination are. A topic without
        sentences from the post has no context to tell the senses apart, so it is taken at its word.
        """
        words = shared_words(topic.phrase, concept)
        if not words or not any(s.strip() for s in topic.evidence):
            return False
        sentences = [mask_words(s, words) for s in topic_sentences(topic)]
        vectors = self.embed([*sentences, mask_words(concept_text(concept), words)])
        return float(_unit(vectors[:-1].mean(axis=0)) @ vectors[-1]) < HOMOGRAPH_FLOOR

    def _fallback(self, topics: Sequence[Topic], title: str, summary: str, matrix: np.ndarray) -> Concept:
        for concept in self.concepts:
            if concept.name == NEUTRAL:
                return concept
        context = " ".join(p for p in (title, summary, *(t.phrase for t in topics)) if p.strip())
        return self.concepts[int(np.argmax(self.embed([context])[0] @ matrix.T))]

    def background(self, style: StylePreset, title: str, concepts: Sequence[Concept]) -> Background:
        if style.name in STYLE_BACKGROUNDS:
            return STYLE_BACKGROUNDS[style.name]
        key = "\n".join([title, *(c.name for c in concepts)]).encode("utf-8")
        digest = hashlib.sha256(key).digest()
        return Background(list(COLOURS)[digest[0] % len(COLOURS)])

    def write(
        self,
        key_topics: KeyTopics,
        title: str,
        style: StylePreset,
        extra_negative: Sequence[str] = (),
        max_tokens: int = DALLE_TEXT_TOKENS,
    ) -> ImagePrompt:
        choice = self.choice(key_topics, title)
        concepts = list(choice.concepts)
        background = self.background(style, title, concepts)
        text = caption(concepts, background, LAYOUT)
        # Too long for the model's text length: the least important concepts go first.
        while self.count_tokens(text) > max_tokens and len(concepts) > 1:
            concepts = concepts[:-1]
            text = caption(concepts, background, LAYOUT)
        return ImagePrompt(
            text=text,
            negative=merge_negative(style, extra_negative),
            style=style.name,
            tokens=self.count_tokens(text),
            writer=self.name,
            note=choice.note,
        )
