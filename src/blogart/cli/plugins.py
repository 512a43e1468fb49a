"""`blogart plugins`: every registered backend by kind, and where it comes from."""

from __future__ import annotations

from typing import Annotated

import typer

from blogart.cli.common import print_json

app = typer.Typer()


@app.command()
def plugins(as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False) -> None:
    """List the backends (generators, topic extractors, prompt writers, rankers): built-in or a plugin's."""
    from blogart import plugins as registry

    rows = [
        {"kind": kind, "name": b.name, "source": b.source, "factory": b.entry_point.value}
        for kind in registry.KINDS
        for b in registry.backends(kind)
    ]
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("kind", "name", "source")
    table.add_column("factory", overflow="fold")
    for row in rows:
        table.add_row(row["kind"], row["name"], row["source"], row["factory"])
    Console().print(table)
