"""The prompt writer for the bundled icon model: key topics -> the concepts it can draw -> one caption.

The bundled model only knows its vocabulary (`concepts.json`) and the caption grammar of
`prompts.icons.caption()`, so a free-form prompt would be noise to it. Each key topic, in order of
weight, is matched to its nearest concept by MiniLM cosine similarity (topic phrase against the
concept's name and keywords); a topic whose best match is below `floor` maps to nothing, and one whose
best match is (nearly) a concept already chosen adds nothing. At most three distinct concepts, laid out
in a row in topic order:

    "AI contract review", "legal documents", "fairness"
        -> a robot, a page and a balance scale on a teal background, left to right

The background comes from the style preset where one implies it, else from a hash of the post's title
and concepts: the same post always gets the same prompt.

The concepts' own vectors ship beside `concepts.json` (`concept_vectors.npz`, written by the recipe's
export stage): embedding the whole vocabulary costs a fresh process ~2 s, more than the rest of a short
post's prompt. They are used only when they were made by the same MiniLM from the same concept texts.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from blogart.atomic import atomic_write_bytes
from blogart.errors import InputError
from blogart.prompts.builder import DALLE_TEXT_TOKENS, TokenCounter, counter_or_estimate, merge_negative
from blogart.prompts.icons import COLOURS, Background, Concept, caption
from blogart.values import ImagePrompt, KeyTopics, StylePreset

MAX_ICONS = 3  # more than three emoji in 128 px stop being recognisable
FLOOR = 0.3  # MiniLM cosine; below it a topic and a concept are unrelated
MARGIN = 0.05  # a concept already chosen within this of a topic's best match stands for that topic
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
    """What a concept is matched on: its caption name, then its other words."""
    return ", ".join(dict.fromkeys([concept.name, *concept.keywords]))


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
        """1 to MAX_ICONS distinct concepts for the topics, in topic order (see the module docstring).

        When no topic reaches the floor, the one concept nearest to the title and summary stands in,
        so there is always something to draw.
        """
        phrases = [t.phrase for t in key_topics.topics if t.phrase.strip()]
        matrix = self._concept_matrix()
        chosen: list[int] = []
        if phrases:
            similarity = self.embed(phrases) @ matrix.T
            for row in similarity:
                best = int(np.argmax(row))
                # A topic about as near to a concept already drawn adds nothing ("crust" after "bread").
                if row[best] >= self.floor and not any(row[i] >= row[best] - MARGIN for i in chosen):
                    chosen.append(best)
                if len(chosen) == MAX_ICONS:
                    break
        if not chosen:
            context = " ".join(p for p in (title, key_topics.summary, *phrases) if p.strip())
            if not context:
                raise InputError("nothing to draw: no key topics, title or summary")
            chosen = [int(np.argmax(self.embed([context])[0] @ matrix.T))]
        return [self.concepts[i] for i in chosen]

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
        concepts = self.choose(key_topics, title)
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
        )
