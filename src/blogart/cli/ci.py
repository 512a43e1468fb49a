"""`blogart ci`: covers for the posts a push added or changed, with a summary a CI page shows.

Also what `blogart backfill` shares with it: the batch flags, the progress bar, and the summary with the
exit code a CI system acts on (0 done or nothing to do, 1 some posts failed).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer

from blogart.cli.common import GENERATOR_HELP, settings

Out = Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (default: the generate.out_dir setting).")]
Workers = Annotated[int, typer.Option("--workers", "-w", min=1, help="Workers, each with its own models.")]
Engine = Annotated[str, typer.Option("--engine", help="local, or ray (the blogart ray extra).")]
RayAddress = Annotated[
    str | None, typer.Option("--ray-address", help="Ray cluster to join (auto: the running one); default: start one.")
]
Model = Annotated[str | None, typer.Option("--model", "-m", help=GENERATOR_HELP)]
Num = Annotated[int | None, typer.Option("-n", "--num", min=1, help="Candidates per post.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Seed of every post's first image.")]
AsJson = Annotated[
    bool, typer.Option("--json", help="Print the result as JSON (each post's row, the skipped inputs with why).")
]


def batch_settings(out: Path | None, model: str | None, n: int | None, seed: int | None) -> Any:
    return settings(generate={"out_dir": str(out) if out else None, "model": model, "n": n, "seed": seed})


def run_with_progress(plan: Any, current: Any, *, engine: str, workers: int, ray_address: str | None) -> Any:
    """Run the plan with a progress bar (posts, posts/hour, images/s, time left) on stderr; in CI logs, one line
    per post."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from blogart.batch.backfill import execute, pace, progress_of

    console = Console(stderr=True)
    total = len(plan.todo)
    start = time.monotonic()
    seen = [0]

    def rate() -> str:
        seconds = time.monotonic() - start
        posts = f"{seen[0] / seconds * 3600:.0f} posts/h" if seen[0] and seconds > 0 else "- posts/h"
        return f"{posts}, {pace(seen[0], seconds, total - seen[0], current.generate.n).describe()}"

    with Progress(
        TextColumn("[bold]covers"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),  # with the time left for every planned post
        console=console,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("covers", total=total, rate=rate())

        def poll() -> None:
            finished, failed = progress_of(current, plan.posts)
            changed, seen[0] = finished != seen[0], finished
            if changed and not console.is_terminal:
                console.print(f"{finished}/{total} posts finished ({failed} failed), {rate()}", highlight=False)
            bar.update(task, completed=finished, rate=rate())

        result = execute(plan, current, engine=engine, workers=workers, ray_address=ray_address, poll=poll)
        poll()
    return result


def report(plan: Any, result: Any, content_dir: Path, as_json: bool = False) -> None:
    """Print the Markdown summary, or with `as_json` the result as JSON (the summary is appended to
    $GITHUB_STEP_SUMMARY either way); exit 1 when a post failed."""
    from blogart.batch.summary import markdown, write_step_summary
    from blogart.cli.common import print_json

    text = markdown(plan, result, base=content_dir)
    if as_json:
        print_json({**result.to_json(), **plan.to_json()})
    else:
        typer.echo(text, nl=False)
    write_step_summary(text)
    if result.failed:
        raise typer.Exit(1)


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
    as_json: AsJson = False,
) -> None:
    """Generate and publish covers for new or changed posts; exit 0 done or nothing to do, 1 some failed.

    A post whose front matter has `blogart: {skip: true}` is passed over; its `blogart:` prompt, style,
    negative and seed are honoured."""
    from blogart.batch.backfill import plan_ci

    current = batch_settings(out, model, n, seed)
    plan = plan_ci(content_dir, current, since=since)
    result = run_with_progress(plan, current, engine=engine, workers=workers, ray_address=ray_address)
    report(plan, result, content_dir, as_json)
