"""`blogart backfill`: covers for a whole archive, resumable; `blogart backfill status`: the job table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from blogart.cli.ci import (
    AsJson,
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
from blogart.cli.common import print_json, settings
from blogart.errors import UsageError


class _Group(TyperGroup):
    """`backfill status` runs the subcommand; anything else is the CONTENT_DIR of a backfill run."""

    allow_interspersed_args = True  # `backfill DIR --dry-run`: flags after the folder, as on any command

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] in self.commands:  # a folder called "status" is still reachable as ./status
            super().parse_args(ctx, [])
            ctx._protected_args, ctx.args = args[:1], args[1:]
            return ctx.args
        return super().parse_args(ctx, args)


app = typer.Typer(name="backfill", cls=_Group, help="Covers for every post that lacks one; resumable.")


@app.callback(invoke_without_command=True)
def backfill(
    ctx: typer.Context,
    content_dir: Annotated[Path | None, typer.Argument(help="The folder of posts.", show_default=False)] = None,
    glob: Annotated[str, typer.Option("--glob", help="Which files under CONTENT_DIR are posts.")] = "**/*",
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many posts this run.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would run and its estimated LLM cost.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Also the posts that have a cover.")] = False,
    out: Out = None,
    model: Model = None,
    n: Num = None,
    seed: Seed = None,
    workers: Workers = 1,
    engine: Engine = "local",
    ray_address: RayAddress = None,
    as_json: AsJson = False,
) -> None:
    """Generate covers for every post under CONTENT_DIR that lacks one; killed and rerun, it resumes."""
    if ctx.invoked_subcommand is not None:
        return
    if content_dir is None:
        raise UsageError("give the folder of posts: blogart backfill CONTENT_DIR (or `blogart backfill status`)")
    from blogart.batch.backfill import estimate_cost, plan_backfill

    current = batch_settings(out, model, n, seed)
    plan = plan_backfill(content_dir, current, glob=glob, limit=limit, force=force)
    if dry_run:
        cost = estimate_cost(plan, current)
        if as_json:
            print_json({**plan.to_json(), "llm_cost_usd": cost})
            return
        for post in plan.todo:
            typer.echo(str(post.path))
        for path, reason in plan.passed_over.items():
            typer.echo(f"skipped {path}: {reason}", err=True)
        priced = "unknown (no price for this model)" if cost is None else f"about ${cost:.4f}"
        typer.echo(f"{len(plan.todo)} posts would run, {len(plan.skipped)} have a cover; LLM cost {priced}")
        return
    result = run_with_progress(plan, current, engine=engine, workers=workers, ray_address=ray_address)
    report(plan, result, content_dir, as_json)


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print every job as JSON.")] = False,
) -> None:
    """Show the job table: each post's state, attempts, reason, cover and time."""
    from blogart.batch.jobs import JobTable

    path = settings().store.resolved()
    jobs = JobTable(path).jobs() if path.exists() else []
    if as_json:
        print_json([job.to_json() for job in jobs])
        return
    if not jobs:
        typer.echo(f"no backfill jobs yet in {path}")
        return
    from collections import Counter

    from rich.console import Console
    from rich.table import Table

    table = Table("post", "state", "attempts", "seconds", "cover", "reason")
    for job in jobs:
        seconds = "" if job.seconds is None else f"{job.seconds:.1f}"
        table.add_row(job.post, job.state, str(job.attempts), seconds, job.cover or "", job.reason or "")
    Console().print(table)
    counts = Counter(job.state for job in jobs)
    typer.echo(", ".join(f"{counts[state]} {state}" for state in ("done", "failed", "running", "queued")))
    from blogart.batch.backfill import archive_pace

    typer.echo(f"last run: {archive_pace(jobs, settings().generate.n).describe()}")
