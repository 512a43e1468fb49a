"""`blogart prompt`: a post's topics and image prompt, nothing drawn."""

from __future__ import annotations

from typing import Annotated

import typer

from blogart.cli.common import (
    Backend,
    LLMModel,
    MaxTopics,
    Negative,
    Post,
    Style,
    print_json,
    progress,
    report_dry_run,
    settings,
    text_overrides,
)

app = typer.Typer()


@app.command()
def prompt(
    post: Post,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    optimize: Annotated[bool, typer.Option("--optimize", help="Also optimise the prompt with CLIP (PEZ).")] = False,
    backend: Backend = None,
    style: Style = None,
    negative: Negative = None,
    llm_model: LLMModel = None,
    max_topics: MaxTopics = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the chunks, LLM calls (cache hits excluded) and cost; call nothing.")
    ] = False,
) -> None:
    """Read a post and print its topics and the image prompt; nothing is generated."""
    from blogart.pipeline.plan import plan_run
    from blogart.pipeline.prompt import run_prompt

    plan = plan_run(settings(**text_overrides(backend, style, negative, llm_model, max_topics)))
    if dry_run:
        report_dry_run(post, plan, generate=False, as_json=as_json)
        return
    with progress() as report:
        result = run_prompt(post, plan, optimize=optimize, report=report)
    if as_json:
        print_json(result.to_json())
        return
    from blogart.cli.show import show_prompt_run

    show_prompt_run(result)
