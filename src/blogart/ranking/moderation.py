"""Checks before an image is published: CLIP zero-shot concepts, a prompt blocklist, optionally OpenAI.

CLIP check (the LAION safety approach): embed each unsafe concept as text once, and flag an image
whose cosine similarity to a concept reaches that concept's threshold. The score in the Flag is that
raw cosine, so thresholds are on the same scale (real ViT-B-32 image-text cosines sit around 0.15-0.35;
the defaults are uncalibrated starting points).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blogart.errors import UsageError
from blogart.llm.client import MODERATION_MODEL as OPENAI_MODERATION_MODEL
from blogart.llm.client import LLMClient
from blogart.values import Flag


def blocklist_matches(text: str, blocklist: Sequence[str]) -> list[str]:
    """Blocklist entries found in text as whole words or phrases, case-insensitive."""
    found = []
    for entry in blocklist:
        words = entry.strip().split()
        if words and re.search(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)", text, re.IGNORECASE):
            found.append(entry.strip())
    return found


def concept_flags(
    image_embeddings: np.ndarray, concept_embeddings: np.ndarray, concepts: dict[str, float]
) -> list[list[Flag]]:
    """Per image, a Flag for every concept whose cosine similarity reaches its threshold."""
    if not concepts or len(image_embeddings) == 0:
        return [[] for _ in range(len(image_embeddings))]
    cosines = image_embeddings @ concept_embeddings.T
    names = list(concepts)
    return [
        [
            Flag(name, float(row[j]), float(concepts[name]), "clip")
            for j, name in enumerate(names)
            if row[j] >= concepts[name]
        ]
        for row in cosines
    ]


class OpenAIModeration:
    """OpenAI's moderation endpoint (`omni-moderation-latest` takes text and images).

    Requests go through the run's LLMClient, so they are logged in `blogart logs` and retried like chat calls.
    """

    def __init__(
        self, client: LLMClient, model: str = OPENAI_MODERATION_MODEL, thresholds: dict[str, float] | None = None
    ):
        self.client = client
        self.model = model
        # category -> score threshold of our own; without one, the endpoint's `flagged` decision stands.
        self.thresholds = dict(thresholds or {})

    def check_text(self, text: str) -> list[Flag]:
        return self._flags(self.client.moderate(text, self.model))

    def check_image(self, path: Path) -> list[Flag]:
        data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
        parts = [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{data}"}}]
        return self._flags(self.client.moderate(parts, self.model))

    def _flags(self, response: Any) -> list[Flag]:
        flags: list[Flag] = []
        for result in response.results:
            categories = _as_dict(result.categories)
            scores = _as_dict(result.category_scores)
            for name, score in scores.items():
                score = float(score or 0.0)
                threshold = self.thresholds.get(name)
                hit = score >= threshold if threshold is not None else bool(categories.get(name))
                if hit:
                    # threshold 0.0 records that the endpoint, not a threshold of ours, decided.
                    flags.append(Flag(name, score, float(threshold or 0.0), "openai"))
        return flags


def _as_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, dict):
        return value
    # SDK models use python names (sexual_minors) with the API's names (sexual/minors) as aliases.
    return {k: v for k, v in value.model_dump(by_alias=True).items() if v is not None}


@dataclass
class Moderator:
    """Everything the ranker checks: prompt blocklist, CLIP concepts per image, optionally OpenAI."""

    concepts: dict[str, float] = field(default_factory=dict)
    prompt_blocklist: Sequence[str] = ()
    refuse_blocked_prompt: bool = True  # False: flag every candidate instead of refusing
    openai: OpenAIModeration | None = None

    def check_prompt(self, prompt: str) -> list[Flag]:
        flags = [Flag(word, 1.0, 1.0, "prompt-blocklist") for word in blocklist_matches(prompt, self.prompt_blocklist)]
        if self.openai is not None:
            flags += self.openai.check_text(prompt)
        if flags and self.refuse_blocked_prompt:
            names = ", ".join(sorted({f.concept for f in flags}))
            raise UsageError(f"prompt refused by moderation ({names}); change the prompt or the blocklist")
        return flags

    def check_images(self, clip: Any, image_embeddings: np.ndarray, paths: Sequence[Path]) -> list[list[Flag]]:
        """Flags per image; `clip` is the models.clip.ClipModel that made the embeddings."""
        concept_embeddings = clip.encode_texts(list(self.concepts)) if self.concepts else np.zeros((0, 0))
        flags = concept_flags(image_embeddings, concept_embeddings, self.concepts)
        if self.openai is not None:
            for i, path in enumerate(paths):
                flags[i] += self.openai.check_image(path)
        return flags


# -- presets -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModerationPreset:
    """A named set of checks: CLIP concepts with thresholds, and OpenAI category thresholds of our own."""

    name: str
    concepts: dict[str, float]
    openai_thresholds: dict[str, float]  # empty: the endpoint's own `flagged` decision stands
    openai_when_key: bool  # ask OpenAI whenever an API key is set, not only when [moderation] openai is on


# Social images are judged in a feed, beside the poster's name: a misread image costs an account ban
# or a reputation, so this preset flags earlier (thresholds ~0.05 below the standard 0.27) and knows
# more: weapons, drugs, self-harm, political symbols. Expect more false alarms; the report says why.
SOCIAL = ModerationPreset(
    name="social",
    concepts={
        "sexually explicit content": 0.22,
        "nudity": 0.22,
        "graphic violence": 0.22,
        "gore and blood": 0.22,
        "hate symbol": 0.22,
        "a gun or other weapon": 0.22,
        "a knife used as a weapon": 0.23,
        "illegal drugs and drug paraphernalia": 0.22,
        "a syringe and needles": 0.23,
        "self-harm or cutting": 0.21,
        "a suicide scene": 0.21,
        "a political party symbol or campaign poster": 0.23,
        "a national flag at a political rally": 0.23,
        "extremist propaganda": 0.22,
        "a dead body": 0.22,
    },
    # Scores of omni-moderation categories above which we flag, well below where the endpoint flags.
    openai_thresholds={
        "harassment": 0.3,
        "harassment/threatening": 0.2,
        "hate": 0.2,
        "hate/threatening": 0.1,
        "illicit": 0.3,
        "illicit/violent": 0.2,
        "self-harm": 0.1,
        "self-harm/intent": 0.1,
        "self-harm/instructions": 0.1,
        "sexual": 0.2,
        "sexual/minors": 0.05,
        "violence": 0.3,
        "violence/graphic": 0.2,
    },
    openai_when_key=True,
)
PRESETS = {SOCIAL.name: SOCIAL}


def preset_moderator(
    preset: ModerationPreset,
    *,
    concepts: dict[str, float] | None = None,
    extra_concepts: dict[str, float] | None = None,
    prompt_blocklist: Sequence[str] = (),
    openai: LLMClient | None = None,
) -> Moderator:
    """The preset as a Moderator: `concepts` replaces its CLIP concepts, `extra_concepts` (the configured
    [moderation] ones) join them at whichever threshold is lower; `openai` turns the endpoint on."""
    merged = dict(preset.concepts if concepts is None else concepts)
    for name, threshold in (extra_concepts or {}).items():
        merged[name] = min(threshold, merged.get(name, threshold))
    checker = OpenAIModeration(openai, thresholds=preset.openai_thresholds) if openai is not None else None
    return Moderator(merged, list(prompt_blocklist), openai=checker)


def describe_flag(flag: Flag) -> str:
    """Why a flag was raised, in words for the report."""
    if flag.source == "prompt-blocklist":
        return f"the prompt contains the blocked word {flag.concept!r}"
    if flag.source == "openai":
        if flag.threshold:
            return f"OpenAI moderation scored {flag.concept!r} {flag.score:.2f}, at or above {flag.threshold:.2f}"
        return f"OpenAI moderation flagged {flag.concept!r} (score {flag.score:.2f})"
    return f"CLIP similarity to {flag.concept!r} is {flag.score:.3f}, at or above {flag.threshold:.3f}"
