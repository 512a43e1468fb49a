"""`blogart styles`: the style presets a prompt can use."""

from __future__ import annotations

from typing import Annotated

import typer

from blogart.cli.common import print_json

app = typer.Typer()


@app.command()
def styles(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the style presets (bundled ones plus `prompt.styles_file`)."""
    from rich.console import Console
    from rich.table import Table

    from blogart.config import get_settings
    from blogart.prompts.styles import load_styles
    from blogart.values import to_dict

    presets = load_styles(get_settings().prompt.styles_file or None)
    if as_json:
        print_json([to_dict(p) for p in presets.values()])
        return
    table = Table("name", "description", "suffix", "negative words")
    for preset in presets.values():
        table.add_row(preset.name, preset.description, preset.suffix, ", ".join(preset.negative))
    Console().print(table)
