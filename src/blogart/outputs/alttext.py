"""Alt text for the cover: one sentence of at most 125 characters (what screen readers read whole).

From the LLM backend when one is configured (the call logged and cached in the SQLite store like every
other), else from a template over the prompt's subject and the post's key topics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from blogart.values import ImagePrompt, KeyTopics

if TYPE_CHECKING:
    from blogart.llm.client import LLMClient

MAX_CHARS = 125

SYSTEM = (
    "You write alt text for the cover image of a blog post. Write one plain sentence of at most "
    f"{MAX_CHARS} characters that says what the picture shows, in the post's own terms. Do not start "
    "with 'Image of' or 'Picture of', do not mention the blog, and use no quotes or emoji."
)


class AltTextOut(BaseModel):
    alt: str = Field(description=f"One sentence, at most {MAX_CHARS} characters.")


def fit(text: str, limit: int = MAX_CHARS) -> str:
    """One sentence, one line, at most `limit` characters, cut at a word and closed with a full stop."""
    text = " ".join(text.replace('"', "").split()).strip()
    if len(text) > limit:
        text = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-")
    text = text.rstrip(".")
    return (text[:1].upper() + text[1:] + ".") if text else ""


def _subject(prompt: ImagePrompt) -> str:
    """The prompt's subject: the phrases before the style words the builder appends."""
    parts = [p.strip() for p in prompt.text.split(",") if p.strip()]
    return parts[0] if parts else prompt.text


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def template_alt_text(prompt: ImagePrompt, key_topics: KeyTopics, style: str = "") -> str:
    """'Illustration of <subject>, about <topic> and <topic>.', shortened until it fits."""
    kind = style.replace("-", " ").strip().capitalize() or "Image"
    subject = _subject(prompt)
    topics = [t.phrase for t in key_topics.topics if t.phrase.lower() not in subject.lower()]
    for count in range(min(2, len(topics)), -1, -1):
        about = f", about {_join(topics[:count])}" if count else ""
        text = f"{kind} of {subject}{about}"
        if len(text) + 1 <= MAX_CHARS:
            return fit(text)
    return fit(f"{kind} of {subject}")


def llm_alt_text(client: LLMClient, prompt: ImagePrompt, key_topics: KeyTopics, title: str) -> str:
    """One structured call (cached by the client); a reply over the limit is cut at a word."""
    user = "\n".join(
        [
            f"Post title: {title}",
            f"Key topics: {'; '.join(t.phrase for t in key_topics.topics)}",
            f"Summary: {key_topics.summary}",
            f"The image was drawn from this prompt: {prompt.text}",
        ]
    )
    reply, _ = client.structured(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}], AltTextOut, "alt_text"
    )
    return fit(reply.alt) or template_alt_text(prompt, key_topics, prompt.style)
