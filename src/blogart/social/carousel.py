"""Carousels: one image per key topic, then the next best, ordered by score; and each image's alt text.

Each slide's prompt leads with its own topic (the template writer draws the first topic as the
subject), so the slides show different things rather than N takes on the post's main idea.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from blogart.values import ImagePrompt, KeyTopics, Ranked, Topic


@dataclass(frozen=True)
class TopicDraw:
    """One topic's prompt and its ranked candidates (best first, flagged last)."""

    topic: Topic
    prompt: ImagePrompt
    ranked: tuple[Ranked, ...]


@dataclass(frozen=True)
class Slide:
    topic: Topic
    prompt: ImagePrompt
    ranked: Ranked
    alt: str


def slide_topics(key_topics: KeyTopics, count: int) -> list[Topic]:
    """The topics that get a prompt of their own: the first `count` key topics (at least one)."""
    return list(key_topics.topics[: max(count, 1)])


def lead_with(key_topics: KeyTopics, topic: Topic) -> KeyTopics:
    """The key topics with `topic` first, the others after it in their order."""
    return KeyTopics((topic, *(t for t in key_topics.topics if t != topic)), key_topics.summary)


def pick_slides(
    draws: Sequence[TopicDraw], count: int, style: str = "illustration", key_topics: Sequence[Topic] = ()
) -> list[Slide]:
    """At most `count` unflagged images: the best of each topic first, then the next best of any topic.

    The picked images are returned best score first.
    """
    picked: list[tuple[TopicDraw, Ranked]] = []
    for draw in draws:
        best = next((r for r in draw.ranked if not r.flagged), None)
        if best is not None and len(picked) < count:
            picked.append((draw, best))
    chosen = {id(r) for _, r in picked}
    rest = sorted(
        ((draw, r) for draw in draws for r in draw.ranked if not r.flagged and id(r) not in chosen),
        key=lambda pair: pair[1].score,
        reverse=True,
    )
    picked += rest[: max(count - len(picked), 0)]
    picked.sort(key=lambda pair: pair[1].score, reverse=True)
    others = list(key_topics) or [d.topic for d in draws]
    return [Slide(d.topic, d.prompt, r, alt_text(d.topic, others, style)) for d, r in picked]


def alt_text(topic: Topic, others: Sequence[Topic], style: str) -> str:
    """One sentence: what the image shows (its topic) and what the post is about (the other key topics).

    A template, no LLM; the publishing work's alt-text writer can take its place.
    """
    kind = style.replace("-", " ").strip() or "image"
    article = "An" if kind[0].lower() in "aeiou" else "A"
    sentence = f"{article} {kind} of {topic.phrase}"
    context = [t.phrase for t in others if t.phrase.lower() != topic.phrase.lower()][:3]
    if context:
        listed = context[0] if len(context) == 1 else ", ".join(context[:-1]) + " and " + context[-1]
        sentence += f", for a post about {listed}"
    return sentence + "."
