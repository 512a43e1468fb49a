"""CLIPScore and how the ranker combines it into one number. Pure Python, no torch.

CLIPScore (Hessel et al. 2021, "CLIPScore: A Reference-free Evaluation Metric for Image Captioning")
is w * max(cos(image, text), 0) with w = 2.5, which stretches CLIP's usual cosine range into roughly 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence

CLIPSCORE_W = 2.5


def clip_score(cosine: float) -> float:
    return CLIPSCORE_W * max(float(cosine), 0.0)


def combine_scores(
    prompt_cos: float,
    topic_cos: Sequence[float],
    negative_cos: Sequence[float],
    *,
    prompt_weight: float = 0.5,
    topic_weight: float = 0.5,
    negative_weight: float = 0.5,
) -> tuple[float, float, float]:
    """(final score, prompt CLIPScore, negative penalty) for one image.

    score = w_prompt * CLIPScore(prompt) + w_topics * mean_t CLIPScore(topic_t)
            - negative_weight * max_j CLIPScore(neg_j)

    With no topics the prompt term takes the topics' weight too: (w_prompt + w_topics) * CLIPScore(prompt).
    The penalty uses the CLIPScore scale too, so it is never negative and
    a negative word can only lower a score.
    """
    prompt_score = clip_score(prompt_cos)
    if topic_cos:
        topic_mean = sum(clip_score(c) for c in topic_cos) / len(topic_cos)
        positive = prompt_weight * prompt_score + topic_weight * topic_mean
    else:
        positive = (prompt_weight + topic_weight) * prompt_score
    penalty = negative_weight * max((clip_score(c) for c in negative_cos), default=0.0)
    return positive - penalty, prompt_score, penalty
