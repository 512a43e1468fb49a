"""The LLM prompt writer: few-shot from the prompt library, a subject-first prompt that fits the token limit."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from blogart.llm.client import LLMClient
from blogart.llm.schemas import PromptOut
from blogart.prompts.builder import TokenCounter, counter_or_estimate, merge_negative
from blogart.prompts.library import select_examples
from blogart.text import collapse_whitespace
from blogart.values import ImagePrompt, KeyTopics, LLMUsage, StylePreset

SYSTEM = (
    "You write prompts for a text-to-image model (DALL-E Mini) that draws the cover image of a blog post. "
    "The model reads only the first {max_tokens} tokens and weighs early words most, so put the concrete "
    "visual subject first, then a few details, as short comma-separated phrases. Show ideas as things a "
    "camera or an illustrator could draw; avoid abstract words, brand names, people's names, and any text, "
    "letters or logos in the image. Do not add style words: the style is appended for you. List in "
    "`negative` only extra things this particular image must not show."
)

# A diffusion model reads sentences (its CLIP or LLM text encoder saw captions) and uses the negative prompt.
SYSTEM_SENTENCES = (
    "You write prompts for a text-to-image diffusion model that draws the cover image of a blog post. "
    "It reads only the first {max_tokens} tokens, so describe the picture in one or two plain sentences, "
    "the concrete visual subject first, then the setting and a few details. Show ideas as things a camera "
    "or an illustrator could draw; avoid abstract words, brand names, people's names, and any text, letters "
    "or logos in the image. Do not add style words: the style is appended for you. List in `negative` the "
    "things this particular image must not show; the model steers away from them."
)

MAX_EXAMPLES = 4


def _parts(text: str) -> list[str]:
    return [part for part in (collapse_whitespace(p).strip(" .") for p in text.split(",")) if part]


def fit_to_tokens(subject: str, suffix: str, count_tokens: Callable[[str], int], max_tokens: int) -> str:
    """Subject then style suffix, cut at comma boundaries until it fits.

    Subject phrases go from the end first (the first is the subject itself), then the style's phrases;
    a single phrase still too long is cut word by word.
    """
    subject_parts, suffix_parts = _parts(subject), _parts(suffix)
    while True:
        text = ", ".join(subject_parts + suffix_parts)
        if count_tokens(text) <= max_tokens or not text:
            return text
        if len(subject_parts) > 1:
            subject_parts.pop()
        elif suffix_parts:
            suffix_parts.pop()
        else:
            words = subject_parts[0].split()
            if len(words) <= 1:
                return ""
            subject_parts[0] = " ".join(words[:-1])


def describe(topics: Sequence[str], summary: str, style: str, title: str = "") -> str:
    """The user turn, in the same shape for the few-shot examples and the real post."""
    lines = [f"Title: {title}"] if title else []
    lines += [f"Key topics: {'; '.join(topics)}", f"Summary: {summary}", f"Style: {style}"]
    return "\n".join(lines)


class OpenAIPromptWriter:
    name = "openai"

    def __init__(
        self,
        client: LLMClient,
        examples: Sequence[Any] | None = None,
        count_tokens: TokenCounter | None = None,
        sentences: bool = False,
    ) -> None:
        """examples: PromptExample-like objects (topics, summary, style, prompt); None loads the library."""
        if examples is None:
            from blogart.prompts.library import load_examples

            examples = load_examples()
        self.client = client
        self.examples = list(examples)
        self.count_tokens = counter_or_estimate(count_tokens)  # None from the generator: estimate
        self.system = SYSTEM_SENTENCES if sentences else SYSTEM
        self.usage = LLMUsage()

    def messages(self, key_topics: KeyTopics, title: str, style: StylePreset, max_tokens: int) -> list[dict]:
        messages = [{"role": "system", "content": self.system.format(max_tokens=max_tokens)}]
        # The examples closest to this post, then in its style: the model copies the shape of what it is shown.
        phrases = [t.phrase for t in key_topics.topics]
        for example in select_examples(self.examples, phrases, style.name, MAX_EXAMPLES):
            messages.append({"role": "user", "content": describe(example.topics, example.summary, example.style)})
            messages.append(
                {"role": "assistant", "content": PromptOut(prompt=example.prompt, negative=[]).model_dump_json()}
            )
        style_text = f"{style.name} ({style.description})" if style.description else style.name
        topics = [f"{t.phrase} ({t.abstraction})" if t.abstraction else t.phrase for t in key_topics.topics]
        messages.append({"role": "user", "content": describe(topics, key_topics.summary, style_text, title)})
        return messages

    def write(
        self, key_topics: KeyTopics, title: str, style: StylePreset, extra_negative: Sequence[str], max_tokens: int
    ) -> ImagePrompt:
        out, usage = self.client.structured(
            self.messages(key_topics, title, style, max_tokens), PromptOut, "image_prompt"
        )
        self.usage += usage
        subject = out.prompt
        # The model was told to leave style words out; drop the suffix if it added it anyway, we append it once.
        if style.suffix and style.suffix.casefold() in subject.casefold():
            at = subject.casefold().index(style.suffix.casefold())
            subject = subject[:at] + subject[at + len(style.suffix) :]
        if not _parts(subject):  # an empty answer, or the style words alone, would draw no subject at all
            subject = ", ".join(t.phrase for t in key_topics.topics) or title
        text = fit_to_tokens(subject, style.suffix, self.count_tokens, max_tokens)
        negative = merge_negative(style, [*extra_negative, *out.negative[:6]])
        return ImagePrompt(
            text=text, negative=negative, style=style.name, tokens=self.count_tokens(text), writer="openai"
        )
