"""What the command modules share: the settings with their flags on top, a progress spinner and bar, JSON
output, and the text-stage flags and `--dry-run` report `prompt` and `generate` both take."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from blogart.errors import UsageError

if TYPE_CHECKING:
    from blogart.pipeline.plan import RunPlan

GENERATOR_HELP = (
    "sd-turbo, z-image-turbo, diffusers:<folder>, dalle-mini, dalle-mega, bundled or openai-images; "
    "default: a pulled diffusion model, else dalle-mini when installed, else bundled (docs/generators.md)."
)


class State:
    config_file: Path | None = None  # --config, set by the root callback


def settings(**overrides: dict[str, Any]):
    """The settings with this command's flags on top (None means 'not given').

    The folders a command would write to must be folders: checked here, before any work."""
    from blogart.config import configure

    current = configure(State.config_file, overrides)
    check_folders(current, overrides)
    return current


def check_folders(current: Any, overrides: dict[str, dict[str, Any]]) -> None:
    """`--out` and the per-user folder (BLOGART_HOME) and database, each a folder or absent; one line if not."""
    import os

    from blogart.config import user_dir
    from blogart.outputs.files import check_folder

    for section in ("generate", "social"):
        if out := (overrides.get(section) or {}).get("out_dir"):
            check_folder(Path(out), "--out")
    home = "BLOGART_HOME" if os.environ.get("BLOGART_HOME") else "the blogart data folder"
    check_folder(user_dir(), home)
    store = current.store.resolved()
    if store.is_dir():
        raise UsageError(f"the blogart database {store} is a folder; set [store] path to a file")
    check_folder(store.parent, "the folder of the blogart database")


class Progress:
    """The `report` a command hands the pipeline: the current stage (a spinner) and images drawn of n (a bar).

    Silent when stderr is not a terminal (CI, pipes); `images` is silent too without a bar (`--json`).
    """

    def __init__(self, live: Any = None, bar: bool = False) -> None:
        self._live = live  # a rich Progress, or None: say nothing
        self._bar = bar
        self._stage = live.add_task("starting", total=None) if live is not None else None
        self._images = None

    def __call__(self, stage: str) -> None:
        if self._live is not None:
            self._live.update(self._stage, description=f"{stage}...")

    def images(self, done: int, total: int) -> None:
        """`done` of `total` images drawn (called at 0 when drawing starts, then after each image or batch)."""
        if self._live is None or not self._bar:
            return
        if self._images is None or done == 0:
            if self._images is not None:  # a second round: a fresh bar and clock
                self._live.remove_task(self._images)
            self._images = self._live.add_task("images", total=total)
        self._live.update(self._images, completed=done, total=total)


@contextmanager
def progress(bar: bool = True) -> Iterator[Progress]:
    """A spinner on stderr naming the current stage, and with `bar` a bar of images drawn (images of n,
    seconds per image, time left), only when stderr is a terminal."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield Progress()
        return
    from rich.progress import Progress as RichProgress
    from rich.progress import SpinnerColumn, TextColumn

    columns = [SpinnerColumn(), TextColumn("{task.description}"), *_image_columns()]
    with RichProgress(*columns, console=console, transient=True) as live:
        yield Progress(live, bar=bar)


def _image_columns() -> list[Any]:
    """Bar, "3/8", "4.1 s/image", time left: shown on the images task only (the stage task has no total)."""
    from rich.progress import BarColumn, MofNCompleteColumn, ProgressColumn, TimeRemainingColumn
    from rich.text import Text

    class PerImage(ProgressColumn):
        def render(self, task: Any) -> Text:
            if not task.completed or not task.elapsed:
                return Text("-- s/image", style="progress.elapsed")
            return Text(f"{task.elapsed / task.completed:.1f} s/image", style="progress.elapsed")

    class ImagesOnly(ProgressColumn):
        def __init__(self, inner: ProgressColumn) -> None:
            super().__init__()
            self.inner = inner

        def render(self, task: Any) -> Any:
            return self.inner.render(task) if task.total is not None else Text("")

    inner = [BarColumn(), MofNCompleteColumn(), PerImage(), TimeRemainingColumn()]
    return [ImagesOnly(column) for column in inner]


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


# --- `--dry-run` of `prompt` and `generate`: the chunks, the calls a run would make, their cost -------------


def report_dry_run(post: str, plan: RunPlan, *, generate: bool, as_json: bool) -> None:
    from blogart.pipeline.dryrun import dry_run

    result = dry_run(post, plan, generate=generate)
    if as_json:
        print_json(result.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]{result.document.title}[/bold]  ({result.backend} backend, dry run: nothing was called)")
    chunks = Table("chunk", "under", "tokens", title=f"{len(result.chunks)} chunks", title_justify="left")
    for chunk in result.chunks:
        chunks.add_row(str(chunk.index), " > ".join(chunk.heading_path) or "-", str(chunk.tokens))
    console.print(chunks)
    if result.topics_cached:
        typer.echo("topics: in the stage cache from an earlier run, so no topic call is made")
    if not result.calls:
        console.print("LLM calls: none (the local backend runs offline); estimated cost: $0")
        return
    calls = Table(
        "call", "model", "cache", "tokens in", "tokens out", "cost (USD)", title="calls", title_justify="left"
    )
    for call in result.calls:
        what = call.kind if call.chunk is None else f"{call.kind} {call.chunk}"
        if call.images:
            what = f"{call.images} images"
        cache = {True: "hit", False: "miss", None: "miss*"}[call.cached]
        calls.add_row(
            what, call.model, cache, str(call.prompt_tokens), str(call.completion_tokens), _usd(call.cost_usd)
        )
    console.print(calls)
    if any(call.cached is None for call in result.calls):
        typer.echo("* asked from answers not in the cache yet: its request is sized from stand-in answers")
    hits = len(result.calls) - len(result.to_make)
    typer.echo(
        f"{len(result.to_make)} calls to make, {hits} cache hits; estimated cost: {_usd(result.cost_usd)}"
        " (token counts of answers are guesses; check your own bill)"
    )


def _usd(value: float | None) -> str:
    return "unknown (model not in the price table)" if value is None else f"${value:.4f}"
