"""`blogart social`: images, captions and alt text for social networks from an informal post."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blogart.cli.common import GENERATOR_HELP, Backend, Style, print_json, progress, settings, text_overrides
from blogart.errors import NoCover

app = typer.Typer()


@app.command()
def social(
    post: Annotated[
        str, typer.Argument(help='A text or Markdown file, a JSON export ({"text": ..., "platforms": [...]}), or -.')
    ],
    platform: Annotated[
        list[str] | None,
        typer.Option("--platform", "-p", help="instagram, linkedin, x or all; repeat for several.", show_default=False),
    ] = None,
    carousel: Annotated[
        int | None, typer.Option("--carousel", help="Images per post, 1 to 10: one per key topic first.", min=1)
    ] = None,
    num: Annotated[int | None, typer.Option("-n", "--num", help="Candidates drawn for each image.", min=1)] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help=GENERATOR_HELP)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of every topic's candidates.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder (one folder per post in it).")] = None,
    moderation: Annotated[
        str | None, typer.Option("--moderation", help="social (the stricter preset) or standard.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary a publisher script reads.")] = False,
    backend: Backend = None,
    style: Style = None,
) -> None:
    """Write images per platform, captions, alt texts and a manifest for a social post; nothing is posted."""
    from blogart.errors import UsageError
    from blogart.pipeline.social import run_social

    if carousel is not None and carousel > 10:
        raise UsageError("--carousel is at most 10 (Instagram's and LinkedIn's limit)")
    if moderation not in (None, "social", "standard"):
        raise UsageError(f"unknown moderation preset {moderation!r}; use social or standard")
    overrides = text_overrides(backend, style, None, None, None)
    overrides["generate"] = {"model": model, "seed": seed}
    overrides["social"] = {"out_dir": str(out) if out else None, "moderation": moderation}
    from blogart.pipeline.plan import plan_run

    plan = plan_run(settings(**overrides))  # "auto": DALL-E Mini when installed, else the bundled model
    if plan.notice:
        typer.echo(plan.notice, err=True)
    with progress() as report:
        result = run_social(post, plan, platforms=platform or (), carousel=carousel, per_topic=num, report=report)
    if as_json:
        print_json(result.summary)
    else:
        _show(result)
    if not result.slides:
        raise NoCover(f"every candidate was flagged or refused by moderation; see {result.manifest_path}")


def _show(result) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]normalised:[/bold] {result.normalised.text}")
    table = Table("#", "topic", "score", "prompt", title="Carousel", title_justify="left")
    for row in result.manifest["slides"]:
        score = "-" if row["score"] is None else f"{row['score']:.3f}"
        table.add_row(str(row["slide"]), row["topic"], score, row["prompt"])
    console.print(table)
    report = result.manifest["moderation"]
    for row in report["refused_prompts"]:
        console.print(f"refused prompt for {row['topic']!r}: {'; '.join(f['reason'] for f in row['flags'])}")
    for row in report["flagged"]:
        console.print(f"flagged {Path(row['image']).name}: {'; '.join(row['reasons'])}")
    for name, data in result.summary["platforms"].items():
        cut = " (caption shortened)" if data["caption_shortened"] else ""
        console.print(f"{name}: {len(data['images'])} images{cut}")
    console.print(f"folder: {result.out_dir}")
