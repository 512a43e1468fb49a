"""What we ask the LLM to return: pydantic models sent as strict JSON schemas (structured outputs).

Strict mode supports few validation keywords, so limits (phrase length, topic count) are stated in the
field descriptions for the model and enforced in code after parsing.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChunkTopicOut(_Out):
    phrase: str = Field(description="The chunk's one key idea as a short noun phrase of 1 to 6 words.")
    abstraction: str = Field(description="One sentence saying what the idea is, in plain words.")
    evidence: list[str] = Field(
        description="One to three sentences copied verbatim from the chunk that the idea rests on."
    )


class KeyTopicOut(_Out):
    phrase: str = Field(description="A short noun phrase of 1 to 6 words.")
    abstraction: str = Field(description="One sentence saying what the idea is.")
    sources: list[int] = Field(description="The numbers of the chunk topics this key topic merges.")
    weight: float = Field(description="The share of the whole post this topic covers, between 0 and 1.")


class KeyTopicsOut(_Out):
    topics: list[KeyTopicOut] = Field(description="The key topics, most important first, duplicates merged.")
    summary: str = Field(description="A one-line summary of the whole post.")


class PromptOut(_Out):
    prompt: str = Field(
        description="The image prompt: the concrete visual subject first, then details, comma-separated, "
        "no style words, no text or letters in the image."
    )
    negative: list[str] = Field(description="Extra words for things the image must not show, 0 to 6 items.")
