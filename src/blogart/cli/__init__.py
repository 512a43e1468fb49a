"""The `blogart` command line. Thin: parse flags, call the pipeline, print.

Only light modules are imported here so that `blogart --help` starts fast; the pipeline and
its backends import jax, torch and friends when a command needs them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from blogart import __version__
from blogart.errors import BlogartError, NoCover, UsageError


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
)
config_app = typer.Typer(help="Show the effective configuration and where it came from.", no_args_is_help=True)
app.add_typer(config_app, name="config")


class _State:
    config_file: Path | None = None


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

    _State.config_file = config
    configure(config)


def _settings(**overrides: dict[str, Any]):
    """The settings with this command's flags on top (None means 'not given')."""
    from blogart.config import configure

    return configure(_State.config_file, overrides)


@contextmanager
def _progress() -> Iterator[Callable[[str], None]]:
    """A spinner on stderr naming the current stage, only when stderr is a terminal (not in CI or pipes)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda stage: None
        return
    with console.status("starting") as status:
        yield lambda stage: status.update(f"{stage}...")


def _print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


# -- prompt ---------------------------------------------------------------------------------------------

Backend = Annotated[str | None, typer.Option("--backend", "-b", help="Topic/prompt backend: openai, local or auto.")]
Style = Annotated[str | None, typer.Option("--style", "-s", help="Style preset (see `blogart styles`).")]
Negative = Annotated[
    list[str] | None, typer.Option("--negative", help="Extra negative word; repeat for more.", show_default=False)
]
LLMModel = Annotated[str | None, typer.Option("--llm-model", help="Chat model for the openai backend.")]
MaxTopics = Annotated[int | None, typer.Option("--max-topics", help="At most this many key topics.")]


def _text_overrides(backend, style, negative, llm_model, max_topics) -> dict[str, dict[str, Any]]:
    if backend not in (None, "auto", "openai", "local"):
        raise UsageError(f"unknown backend {backend!r}; use openai, local or auto")
    return {
        "llm": {"backend": backend, "model": llm_model},
        "prompt": {"style": style, "negative": negative or None},
        "topics": {"max_key_topics": max_topics},
    }


@app.command()
def prompt(
    post: Annotated[str, typer.Argument(help="A Markdown, HTML or text file, or an http(s) URL.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    optimize: Annotated[bool, typer.Option("--optimize", help="Also optimise the prompt with CLIP (PEZ).")] = False,
    backend: Backend = None,
    style: Style = None,
    negative: Negative = None,
    llm_model: LLMModel = None,
    max_topics: MaxTopics = None,
) -> None:
    """Read a post and print its topics and the image prompt; nothing is generated."""
    from blogart.pipeline.run import run_prompt

    settings = _settings(**_text_overrides(backend, style, negative, llm_model, max_topics))
    with _progress() as report:
        result = run_prompt(post, settings, optimize=optimize, report=report)
    if as_json:
        _print_json(result.to_json())
        return
    from blogart.cli.show import show_prompt_run

    show_prompt_run(result)


# -- generate -------------------------------------------------------------------------------------------


@app.command()
def generate(
    post: Annotated[str, typer.Argument(help="A Markdown, HTML or text file, or an http(s) URL.")],
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Generator: dalle-mini, dalle-mega, openai-images.")
    ] = None,
    n: Annotated[int | None, typer.Option("-n", "--num", help="Number of candidates.", min=1)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the first candidate; i-th uses seed+i.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output folder.")] = None,
    rounds: Annotated[
        int | None, typer.Option("--rounds", help="2: a second round with the PEZ-optimised prompt.", min=1, max=2)
    ] = None,
    condition_scale: Annotated[float | None, typer.Option("--condition-scale", help="Super-conditioning.")] = None,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Sample from the k likeliest tokens.")] = None,
    top_p: Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling mass.")] = None,
    temperature: Annotated[float | None, typer.Option("--temperature")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="float32, bfloat16 or float16 weights.")] = None,
    checkpoint: Annotated[
        str | None, typer.Option("--checkpoint", help="DalleBart checkpoint folder (else config, then HF cache).")
    ] = None,
    vqgan: Annotated[str | None, typer.Option("--vqgan", help="VQGAN checkpoint folder.")] = None,
    no_rank: Annotated[bool, typer.Option("--no-rank", help="Skip CLIP ranking and moderation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the manifest as JSON.")] = False,
    backend: Backend = None,
    style: Style = None,
    negative: Negative = None,
    llm_model: LLMModel = None,
    max_topics: MaxTopics = None,
) -> None:
    """Read a post, write its prompt, generate candidates, rank them and write a manifest."""
    from blogart.pipeline.run import run_generate

    overrides = _text_overrides(backend, style, negative, llm_model, max_topics)
    overrides["generate"] = {
        "model": model,
        "n": n,
        "seed": seed,
        "out_dir": str(out) if out else None,
        "rounds": rounds,
        "condition_scale": condition_scale,
        "top_k": top_k,
        "top_p": top_p,
        "temperature": temperature,
        "dtype": dtype,
    }
    generator_name = model or _settings(**overrides).generate.model
    if checkpoint:
        if generator_name not in ("dalle-mini", "dalle-mega"):
            raise UsageError(f"--checkpoint is for dalle-mini and dalle-mega, not {generator_name}")
        overrides["models"] = {generator_name.replace("-", "_"): checkpoint}
    if vqgan:
        overrides.setdefault("models", {})["vqgan"] = vqgan
    settings = _settings(**overrides)
    with _progress() as report:
        result = run_generate(post, settings, rank=not no_rank, report=report)
    if as_json:
        _print_json(result.manifest)
    else:
        from blogart.cli.show import show_generate_run

        show_generate_run(result)
    if result.manifest["cover"] is None:
        # CI jobs must notice: nothing publishable came out of this run.
        raise NoCover(f"all {len(result.candidates)} candidates were flagged by moderation; see {result.manifest_path}")


# -- config ---------------------------------------------------------------------------------------------


@config_app.command("show")
def config_show(as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of TOML.")] = False) -> None:
    """Print the effective configuration, secrets redacted."""
    from blogart.config import get_settings

    data = get_settings().redacted()
    if as_json:
        _print_json(data)
        return
    import tomli_w

    typer.echo(tomli_w.dumps(_drop_none(data)), nl=False)


def _drop_none(value: Any) -> Any:
    # TOML has no null: an unset key is simply absent.
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


@config_app.command("path")
def config_path_cmd() -> None:
    """Print the config file in use (or say that only defaults and environment apply)."""
    from blogart.config import DEFAULT_CONFIG_NAME, config_path

    path = config_path()
    if path is None:
        typer.echo(f"no config file (looked for ./{DEFAULT_CONFIG_NAME}); defaults and environment apply")
    else:
        typer.echo(str(path.resolve()))


# -- commands that live in their own modules ---------------------------------------------------------


def _register_all() -> None:
    from blogart.cli import logs, models, rank, styles, vqgan

    for module in (models, rank, logs, styles, vqgan):
        module.register(app)


_register_all()


def main() -> None:
    try:
        app()
    except BlogartError as exc:  # errors raised outside a command, e.g. in the root callback's config load
        typer.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
