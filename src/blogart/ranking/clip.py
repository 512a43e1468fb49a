"""The CLIP ranker: CLIPScore of each candidate vs the prompt and key topics, and the order it sorts them in.

The model it scores with is `blogart.models.clip`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from blogart.errors import UsageError
from blogart.models.clip import ClipModel, set_threads
from blogart.ranking.scores import clip_score, combine_scores
from blogart.values import Candidate, Flag, ImagePrompt, KeyTopics, Ranked


class ClipRanker:
    """protocols.Ranker: CLIPScore vs the prompt and each key topic, minus negative-word similarity.

    Final score (see ranking.scores.combine_scores):
        score = w_prompt * prompt_score + w_topics * mean(topic_scores) - negative_weight * max_j CLIPScore(neg_j)
    where CLIPScore(text) = 2.5 * max(cos(image, text), 0) (Hessel et al. 2021); with no topics the
    prompt score carries the whole weight. Flagged candidates sort after every unflagged one.
    """

    name = "clip"

    def __init__(
        self,
        clip: ClipModel,
        *,
        top_k: int | None = None,
        negative_weight: float = 0.5,
        prompt_weight: float = 0.5,
        topic_weight: float = 0.5,
        threads: int | None = None,
        moderator: Any | None = None,  # ranking.moderation.Moderator
    ):
        if top_k is not None and top_k < 1:
            raise UsageError("top-k must be at least 1")
        self.clip = clip
        self.top_k = top_k
        self.negative_weight = negative_weight
        self.prompt_weight = prompt_weight
        self.topic_weight = topic_weight
        self.threads = threads
        self.moderator = moderator

    @property
    def model_id(self) -> str:
        return self.clip.model_id

    def check_prompt(self, text: str) -> list[Flag]:
        """The moderator's verdict on a prompt (blocklist, OpenAI when enabled); raises when it refuses."""
        return self.moderator.check_prompt(text) if self.moderator is not None else []

    def rank(
        self, candidates: Sequence[Candidate], prompt: ImagePrompt, key_topics: KeyTopics | None = None
    ) -> list[Ranked]:
        """All candidates sorted best first; with top_k, the best k unflagged ones, then every flagged one."""
        set_threads(self.threads)
        prompt_flags: tuple[Flag, ...] = ()
        if self.moderator is not None:
            prompt_flags = tuple(self.moderator.check_prompt(prompt.text))
        if not candidates:
            return []
        topics = [t.phrase for t in key_topics.topics] if key_topics else []
        negatives = list(prompt.negative)
        images = self.clip.encode_images([c.path for c in candidates])
        prompt_cos = images @ self.clip.encode_texts([prompt.text])[0]
        topic_cos = images @ self.clip.encode_texts(topics).T if topics else np.zeros((len(candidates), 0))
        negative_cos = images @ self.clip.encode_texts(negatives).T if negatives else np.zeros((len(candidates), 0))
        image_flags = (
            self.moderator.check_images(self.clip, images, [c.path for c in candidates]) if self.moderator else None
        )

        ranked = []
        for i, candidate in enumerate(candidates):
            topic_scores = {t: clip_score(float(c)) for t, c in zip(topics, topic_cos[i], strict=True)}
            score, prompt_score, penalty = combine_scores(
                float(prompt_cos[i]),
                [float(c) for c in topic_cos[i]],
                [float(c) for c in negative_cos[i]],
                prompt_weight=self.prompt_weight,
                topic_weight=self.topic_weight,
                negative_weight=self.negative_weight,
            )
            flags = prompt_flags + (tuple(image_flags[i]) if image_flags else ())
            ranked.append(
                Ranked(
                    candidate=candidate,
                    score=score,
                    prompt_score=prompt_score,
                    topic_scores=topic_scores,
                    negative_penalty=penalty,
                    flags=flags,
                    model=self.clip.model_id,
                )
            )
        return select(ranked, self.top_k)

    def score_images(self, images: Sequence[Any], text: str) -> list[float]:
        """Cosine similarity of each PIL image to `text` (not CLIPScore's clamp at 0, which would tie the windows
        of a weak match); no moderation: these are crops of an image already ranked.

        Each image is letterboxed to a square first: CLIP's own preprocessing keeps only the centre square,
        which for a wide crop window would hide the very parts that tell the windows apart."""
        set_threads(self.threads)
        if not images:
            return []
        fill = _mean_colour(self.clip.preprocess)
        cos = self.clip.encode_images([letterbox(image, fill) for image in images]) @ self.clip.encode_texts([text])[0]
        return [float(c) for c in cos]


def letterbox(image: Any, fill: tuple[int, int, int] = (0, 0, 0)) -> Any:
    """`image` (PIL) centred on a square of `fill`, as large as its long side: all of it survives a centre crop."""
    from PIL import Image

    picture = image.convert("RGB")
    width, height = picture.size
    if width == height:
        return picture
    side = max(width, height)
    square = Image.new("RGB", (side, side), fill)
    square.paste(picture, ((side - width) // 2, (side - height) // 2))
    return square


def _mean_colour(preprocess: Any) -> tuple[int, int, int]:
    """The normalisation mean of an open_clip transform as a colour: padding in it is zero to the model."""
    for step in getattr(preprocess, "transforms", ()):
        mean = getattr(step, "mean", None)
        if mean is not None and len(mean) == 3:
            return tuple(round(255 * float(m)) for m in mean)  # type: ignore[return-value]
    return (128, 128, 128)


def sort_ranked(ranked: Sequence[Ranked]) -> list[Ranked]:
    """Unflagged first, then by score, best first; ties keep input order (stable sort)."""
    return sorted(ranked, key=lambda r: (r.flagged, -r.score if math.isfinite(r.score) else math.inf))


def select(ranked: Sequence[Ranked], top_k: int | None) -> list[Ranked]:
    ordered = sort_ranked(ranked)
    if top_k is None:
        return ordered
    clean = [r for r in ordered if not r.flagged]
    # Flagged ones stay in the list so the manifest can say why they were left out.
    return clean[:top_k] + [r for r in ordered if r.flagged]
