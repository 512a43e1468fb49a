"""`blogart regenerate`: draw a run's images again from its manifest and compare them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blogart.cli.common import print_json, progress, settings
from blogart.errors import BlogartError

app = typer.Typer()


@app.command()
def regenerate(
    manifest: Annotated[Path, typer.Argument(help="A run's manifest.json (or its folder).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Also write the redrawn images here.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Redraw a run's images from its manifest (same model, seeds, prompts, settings); say if they match."""
    from blogart.pipeline.regenerate import run_regenerate
    from blogart.values import to_dict

    path = manifest / "manifest.json" if manifest.is_dir() else manifest
    with progress() as report:
        results = run_regenerate(path, settings(), out=out, report=report)
    if as_json:
        print_json(to_dict(results))
    else:
        for r in results:
            verdict = "same bytes" if r.same_bytes else ("same pixels" if r.same_pixels else "DIFFERENT")
            typer.echo(f"{r.name}: {verdict}")
    different = [r.name for r in results if not r.same_pixels]
    if different:
        raise BlogartError(f"{len(different)} of {len(results)} images differ: {', '.join(different)}")
    if not as_json:
        typer.echo(f"all {len(results)} images reproduced")
