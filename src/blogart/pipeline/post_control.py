"""Per-post control from the post's own front matter: a `blogart:` mapping.

    blogart:
      skip: true          # ci and backfill pass the post over; generate says so and draws nothing (--force draws)
      prompt: "a lighthouse at dusk, flat vector"   # used as the image prompt, word for word
      style: watercolor   # a style preset, for this post only
      negative: [text, watermark]                   # negative words added to the configured ones
      seed: 42            # the first image's seed

A post's front matter is outside input: the mapping is validated here (strict types, known keys only) and
a bad value is one line naming the post and the key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, ValidationError

from blogart.config import Settings
from blogart.errors import BlogartError, InputError, UsageError

KEY = "blogart"
MAX_SEED = 2**64 - 1  # the generate.seed setting's bound
MAX_PROMPT_CHARS = 2000
MAX_NEGATIVE_WORDS = 64


def _words(value: Any) -> Any:
    """`negative: text, watermark` (one string) or `negative: [text, watermark]`; a string list either way."""
    if isinstance(value, str):
        return tuple(w for w in (part.strip() for part in value.split(",")) if w)
    return tuple(value) if isinstance(value, list) else value


# One line of text: a prompt or a word never carries control characters into a generator or a log.
Line = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029]*$")
]


class PostControl(BaseModel):
    """What a post's `blogart:` mapping asks for; every field is optional."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    skip: bool = False
    prompt: Annotated[Line, StringConstraints(max_length=MAX_PROMPT_CHARS)] | None = None
    style: Annotated[Line, StringConstraints(max_length=100)] | None = None
    negative: Annotated[tuple[Annotated[Line, StringConstraints(max_length=200)], ...], BeforeValidator(_words)] = (
        Field(default=(), max_length=MAX_NEGATIVE_WORDS)
    )
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None

    def recorded(self) -> dict[str, Any] | None:
        """The keys the post set, for the manifest; None when it set none."""
        data = self.model_dump(exclude_defaults=True, mode="json")
        return data or None

    def apply(self, settings: Settings, source: str = "") -> Settings:
        """`settings` with this post's style, negative words and seed; a one-line InputError for an unknown style."""
        if self.style is None and not self.negative and self.seed is None:
            return settings
        prompt = settings.prompt
        if self.style is not None:
            from blogart.prompts.styles import get_style, load_styles

            try:
                name = get_style(self.style, load_styles(settings.prompt.styles_file or None)).name
            except UsageError as exc:
                raise InputError(f"{source}: front matter {KEY}.style: {exc}") from None
            prompt = prompt.model_copy(update={"style": name})
        if self.negative:
            seen = {w.lower() for w in prompt.negative}
            extra = [w for w in self.negative if w.lower() not in seen]
            prompt = prompt.model_copy(update={"negative": [*prompt.negative, *extra]})
        generate = settings.generate
        if self.seed is not None:
            generate = generate.model_copy(update={"seed": self.seed})
        return settings.model_copy(update={"prompt": prompt, "generate": generate})


NO_CONTROL = PostControl()


class PostSkipped(BlogartError):
    """The post asks not to be drawn (`blogart.skip: true`): not a failure."""

    exit_code = 0


def read_control(front_matter: dict[str, Any], source: str) -> PostControl:
    """The `blogart:` mapping of a post's front matter; a one-line InputError naming the post and key."""
    data = front_matter.get(KEY) if isinstance(front_matter, dict) else None
    if data is None:
        return NO_CONTROL
    if not isinstance(data, dict):
        raise InputError(f"{source}: front matter {KEY}: must be a mapping of {', '.join(PostControl.model_fields)}")
    try:
        return PostControl.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = KEY
        for part in first["loc"]:
            if isinstance(part, str) and re.fullmatch(r"[A-Za-z_][\w-]{0,40}", part):
                where += f".{part}"
            else:  # an index, or a key that is no plain word: quoted, so the message stays one line
                where += f"[{part!r}]" if len(str(part)) <= 40 else "[...]"
        if first["type"] == "extra_forbidden":
            message = f"not a key blogart reads (it reads {', '.join(PostControl.model_fields)})"
        elif first["type"] == "string_pattern_mismatch":
            message = "must be one line of text, without control characters"
        else:
            message = first["msg"]
        raise InputError(f"{source}: front matter {where}: {message}") from None
