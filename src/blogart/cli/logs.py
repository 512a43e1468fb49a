"""`blogart logs`: the recent LLM and image API calls from the SQLite log; `blogart logs path`: where it is."""

from __future__ import annotations

from typing import Annotated

import typer

from blogart.cli.common import print_json


def _db_path():
    from blogart.config import get_settings

    return get_settings().store.resolved()


app = typer.Typer(name="logs", help="Recent LLM calls: model, tokens, estimated cost, duration, cache hits.")


@app.callback(invoke_without_command=True)
def logs(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="How many calls to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (one object per call).")] = False,
) -> None:
    """Show the most recent calls, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    path = _db_path()
    calls = []
    if path.exists():  # reading the log must not create it
        from blogart.store import Store

        calls = Store(path).recent_calls(count)
    if as_json:
        print_json([call.summary() for call in calls])
        return
    if not calls:
        typer.echo(f"no calls logged yet in {path}")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("time", "kind", "model", "tokens in/out", "cost $", "seconds", "cached", "error")
    for call in calls:
        tokens = "" if call.prompt_tokens is None else f"{call.prompt_tokens}/{call.completion_tokens or 0}"
        cost = "?" if call.cost_usd is None else f"{call.cost_usd:.4f}"
        seconds = "" if call.duration_s is None else f"{call.duration_s:.2f}"
        table.add_row(
            call.time[:19].replace("T", " "),
            call.kind,
            call.model,
            tokens,
            cost,
            seconds,
            "yes" if call.cached else "",
            call.error or "",
        )
    Console().print(table)
    known = [c.cost_usd for c in calls if c.cost_usd is not None]
    unpriced = any(c.cost_usd is None and c.error is None for c in calls)  # a failed call costs nothing
    typer.echo(f"{len(calls)} calls, estimated cost ${sum(known):.4f}" + (" (some unpriced)" if unpriced else ""))


@app.command("path")
def path() -> None:
    """Print where the SQLite log is."""
    typer.echo(str(_db_path()))
