"""`blogart pick`: make another candidate the cover."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blogart.cli.common import Force, FrontMatter, print_json, progress, settings

app = typer.Typer()


# Unknown options pass through as arguments, so `pick RUN -1` reaches the number check instead of "no such option".
@app.command(context_settings={"ignore_unknown_options": True})
def pick(
    target: Annotated[str, typer.Argument(help="The post, or its run folder (or manifest.json).", metavar="POST")],
    number: Annotated[int, typer.Argument(help="The candidate's number in the gallery (index.html).")],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="The output folder `generate` wrote to (to find a post's run).")
    ] = None,
    front_matter: FrontMatter = None,
    force: Force = False,
    card: Annotated[
        bool, typer.Option("--card", help="Also redraw the title card (card.png) for the new cover; docs/cards.md.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the updated manifest as JSON.")] = False,
) -> None:
    """Make candidate N the cover: cover, crops, gallery, manifest and front matter, all updated together."""
    from blogart.errors import UsageError
    from blogart.pipeline.pick import run_pick
    from blogart.pipeline.plan import publish_options

    if number < 1:
        raise UsageError(f"there is no candidate {number}; candidates are numbered from 1, as in the gallery")
    current = settings(
        publish={"front_matter": front_matter, "card": True if card else None},
        generate={"out_dir": str(out) if out else None},
    )
    options = None
    if front_matter or force:
        options = publish_options(current, force=force)
    with progress() as report:
        result = run_pick(target, number, current, publish=options, report=report)
    if as_json:
        print_json(result.manifest)
        return
    typer.echo(f"cover: candidate {number} -> {result.manifest['publish']['cover']}")
    if result.front_matter:
        edit = result.manifest["publish"].get("front_matter") or {}
        typer.echo(f"front matter: {edit.get('summary') or result.front_matter}")
