"""`--dry-run` of `prompt` and `generate`: the chunks, the LLM calls a run would make, and their estimated cost."""

from __future__ import annotations

from typing import Any

import typer


def report_dry_run(post: str, settings: Any, *, generate: bool, as_json: bool, publish: bool | None = None) -> None:
    from blogart.cli.common import print_json
    from blogart.pipeline.dryrun import plan

    result = plan(post, settings, generate=generate, publish=publish)
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
        typer.echo("* asked from earlier answers: cannot be in the cache before they are; its size is estimated")
    hits = len(result.calls) - len(result.to_make)
    typer.echo(
        f"{len(result.to_make)} calls to make, {hits} cache hits; estimated cost: {_usd(result.cost_usd)}"
        " (token counts of answers are guesses; check your own bill)"
    )


def _usd(value: float | None) -> str:
    return "unknown (model not in the price table)" if value is None else f"${value:.4f}"
