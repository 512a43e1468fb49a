"""The `blogart` command line. Thin: parse flags, call the pipeline, print.

Only light modules are imported here so that `blogart --help` starts fast; the pipeline and
its backends import jax, torch and friends when a command needs them.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from blogart import __version__
from blogart.cli import (
    backfill,
    ci,
    config,
    finetune,
    generate,
    logs,
    models,
    paths,
    pick,
    plugins,
    prompt,
    rank,
    regenerate,
    social,
    styles,
    vqgan,
)
from blogart.cli.common import State


class _Group(TyperGroup):
    """Sends every error, from parsing the flags to the last file written, through cli.errors.report."""

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        with _funnel():  # errors in the root's own flags (`--bogus`)
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        with _funnel():  # the root callback, the subcommand's flags and the subcommand itself
            return super().invoke(ctx)


@contextmanager
def _funnel() -> Iterator[None]:
    from blogart.cli.errors import report

    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - report() picks what is ours; the rest is re-raised
        code = report(exc)
        if code is None:
            raise
        raise typer.Exit(code) from None


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
COMMANDS = (
    *(prompt, generate, pick, regenerate, social, ci, backfill, rank),
    *(finetune, vqgan, styles, plugins, paths, config, models, logs),
)
for _module in COMMANDS:
    app.add_typer(_module.app)


def main() -> None:
    from blogart.cli.errors import report

    try:
        app()
    except BaseException as exc:  # noqa: BLE001 - whatever escaped the group (rare): same funnel
        code = report(exc)
        if code is None:
            raise
        sys.exit(code)
