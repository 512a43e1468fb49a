"""`blogart ci`: covers for the posts a push added or changed, with a summary a CI page shows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blogart.cli.batchrun import (
    Engine,
    Model,
    Num,
    Out,
    RayAddress,
    Seed,
    Workers,
    batch_settings,
    report,
    run_with_progress,
)

app = typer.Typer()


@app.command()
def ci(
    content_dir: Annotated[Path, typer.Argument(help="The folder of posts.")],
    since: Annotated[
        str | None,
        typer.Option("--since", help="Git ref: the posts added or changed since it (default: posts lacking a cover)."),
    ] = None,
    out: Out = None,
    model: Model = None,
    n: Num = None,
    seed: Seed = None,
    workers: Workers = 1,
    engine: Engine = "local",
    ray_address: RayAddress = None,
) -> None:
    """Generate and publish covers for new or changed posts; exit 0 done or nothing to do, 1 some failed."""
    from blogart.batch.backfill import plan_ci

    current = batch_settings(out, model, n, seed)
    plan = plan_ci(content_dir, current, since=since)
    result = run_with_progress(plan, current, engine=engine, workers=workers, ray_address=ray_address)
    report(plan, result, content_dir)
