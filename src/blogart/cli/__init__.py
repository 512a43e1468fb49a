"""The `blogart` command line. Thin: parse flags, call the pipeline, print.

Only light modules are imported here so that `blogart --help` starts fast; the pipeline and
its backends import jax, torch and friends when a command needs them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from blogart import __version__
from blogart.cli import config, generate, logs, models, paths, plugins, prompt, rank, styles
from blogart.cli.common import State
from blogart.errors import BlogartError


class _Group(TyperGroup):
    """Turns our errors into one line on stderr and an exit code, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BlogartError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=_Group,
    help="Turn a blog post into cover images, locally.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # -h everywhere, as in simonw/llm
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"blogart {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Config file (default: ./blogart.toml if present).")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    from blogart.config import configure

    State.config_file = config
    configure(config)


# Every command lives in its own module as a Typer `app`; the order here is the order `--help` lists.
COMMANDS = (prompt, generate, rank, styles, plugins, paths, config, models, logs)
for _module in COMMANDS:
    app.add_typer(_module.app)


def main() -> None:
    try:
        app()
    except BlogartError as exc:  # errors raised outside a command, e.g. in the root callback's config load
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
