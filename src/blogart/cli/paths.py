"""`blogart path`: the folder blogart keeps its state in."""

from __future__ import annotations

import typer

app = typer.Typer()


@app.command()
def path() -> None:
    """Print the folder blogart keeps its state in (BLOGART_HOME): the SQLite log, the compile cache."""
    from blogart.config import user_dir

    typer.echo(str(user_dir()))
