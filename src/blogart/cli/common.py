"""What the command modules share: the settings with their flags on top, a progress spinner, JSON output,
and the text-stage flags `prompt` and `generate` both take."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from blogart.errors import UsageError


class State:
    config_file: Path | None = None  # --config, set by the root callback


def settings(**overrides: dict[str, Any]):
    """The settings with this command's flags on top (None means 'not given')."""
    from blogart.config import configure

    return configure(State.config_file, overrides)


@contextmanager
def progress() -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the current stage, only when stderr is a terminal (not in CI or pipes)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda stage: None
        return
    with console.status("starting") as status:
        yield lambda stage: status.update(f"{stage}...")


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


Backend = Annotated[str | None, typer.Option("--backend", "-b", help="Topic/prompt backend: openai, local or auto.")]
Style = Annotated[str | None, typer.Option("--style", "-s", help="Style preset (see `blogart styles`).")]
Negative = Annotated[
    list[str] | None, typer.Option("--negative", help="Extra negative word; repeat for more.", show_default=False)
]
LLMModel = Annotated[str | None, typer.Option("--llm-model", help="Chat model for the openai backend.")]
MaxTopics = Annotated[int | None, typer.Option("--max-topics", help="At most this many key topics.")]
Post = Annotated[str, typer.Argument(help="A Markdown, HTML or text file, or an http(s) URL.")]


def text_overrides(backend, style, negative, llm_model, max_topics) -> dict[str, dict[str, Any]]:
    if backend not in (None, "auto", "openai", "local"):
        raise UsageError(f"unknown backend {backend!r}; use openai, local or auto")
    return {
        "llm": {"backend": backend, "model": llm_model},
        "prompt": {"style": style, "negative": negative or None},
        "topics": {"max_key_topics": max_topics},
    }


# Publishing flags (`generate` and `pick`).
FrontMatter = Annotated[
    str | None,
    typer.Option(
        "--front-matter",
        help="Write the cover into the post's front matter: hugo, papermod, jekyll, astro, docusaurus or custom.",
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Replace a cover the post's front matter already names.")]
Sizes = Annotated[
    list[str] | None,
    typer.Option("--size", help="A published size NAME=WxH (e.g. og=1200x630); repeat; replaces the configured ones."),
]
Upscaler = Annotated[str | None, typer.Option("--upscaler", help="lanczos (default) or swin2sr.")]


def parse_sizes(sizes: list[str] | None) -> dict[str, str] | None:
    """`--size og=1200x630` flags as the [publish] sizes table (the settings check each value)."""
    if not sizes:
        return None
    table = {}
    for item in sizes:
        name, sep, size = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--size {item!r}: write it as NAME=WIDTHxHEIGHT, e.g. og=1200x630")
        table[name.strip()] = size.strip()
    return table
