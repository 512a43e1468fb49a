"""`blogart config`: the effective configuration (the default) and the file it came from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from blogart.cli.common import print_json

app = typer.Typer(name="config", help="Show the effective configuration and where it came from.")


@app.callback(invoke_without_command=True)
def config(ctx: typer.Context) -> None:
    # Alone, `blogart config` shows the configuration.
    if ctx.invoked_subcommand is None:
        ctx.invoke(show)


@app.command("show")
def show(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False) -> None:
    """Print the effective configuration, secrets redacted."""
    from blogart.config import get_settings

    data = get_settings().redacted()
    if as_json:
        print_json(data)
        return
    import tomli_w

    typer.echo(tomli_w.dumps(_drop_none(data)), nl=False)


def _drop_none(value: Any) -> Any:
    # TOML has no null: an unset key is simply absent.
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


@app.command("path")
def path() -> None:
    """Print the config file in use (or say that only defaults and environment apply)."""
    from blogart.config import DEFAULT_CONFIG_NAME, config_path

    found = config_path()
    if found is None:
        typer.echo(f"no config file (looked for ./{DEFAULT_CONFIG_NAME}); defaults and environment apply")
    else:
        typer.echo(str(found.resolve()))
