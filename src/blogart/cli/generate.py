"""`blogart generate`: the whole job, from a post to ranked candidates and their manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from blogart.cli.common import (
    GENERATOR_HELP,
    Backend,
    Force,
    FrontMatter,
    LLMModel,
    MaxTopics,
    Negative,
    Post,
    Sizes,
    Style,
    Upscaler,
    parse_sizes,
    print_json,
    progress,
    report_dry_run,
    settings,
    text_overrides,
)
from blogart.errors import NoCover, UsageError

app = typer.Typer()


@app.command()
def generate(
    post: Post,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help=GENERATOR_HELP,
        ),
    ] = None,
    n: Annotated[int | None, typer.Option("-n", "--num", help="Number of candidates.", min=1)] = None,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            help="All images share the seed; image i folds its index into it, so image i is the same for any -n.",
        ),
    ] = None,
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
    front_matter: FrontMatter = None,
    force: Force = False,
    size: Sizes = None,
    upscaler: Upscaler = None,
    card: Annotated[
        bool,
        typer.Option(
            "--card",
            help="Also write card.png, the cover with the title set on it, as the social image; docs/cards.md.",
        ),
    ] = False,
    no_publish: Annotated[
        bool, typer.Option("--no-publish", help="Only candidates and manifest: no cover, crops or gallery.")
    ] = False,
    backend: Backend = None,
    style: Style = None,
    negative: Negative = None,
    llm_model: LLMModel = None,
    max_topics: MaxTopics = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show the chunks, LLM and image calls (cache hits excluded) and cost; call nothing."
        ),
    ] = False,
) -> None:
    """Read a post, write its prompt, generate candidates, rank them, publish the best as the cover."""
    from blogart.pipeline.auto import AUTO, DALLE_MINI
    from blogart.pipeline.generate import run_generate
    from blogart.pipeline.plan import plan_run

    overrides = text_overrides(backend, style, negative, llm_model, max_topics)
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
    generator_name = model or settings(**overrides).generate.model
    if generator_name == AUTO and checkpoint:
        generator_name = overrides["generate"]["model"] = DALLE_MINI  # a checkpoint folder is a DALL-E Mini one
    if checkpoint:
        if generator_name not in ("dalle-mini", "dalle-mega"):
            raise UsageError(f"--checkpoint is for dalle-mini and dalle-mega, not {generator_name}")
        overrides["models"] = {generator_name.replace("-", "_"): checkpoint}
    if vqgan:
        overrides.setdefault("models", {})["vqgan"] = vqgan
    overrides["publish"] = {
        "front_matter": front_matter,
        "upscaler": upscaler,
        "sizes": parse_sizes(size),
        "card": True if card else None,
    }
    plan = plan_run(settings(**overrides), rank=not no_rank, force=force, publish=False if no_publish else None)
    if plan.notice:
        typer.echo(plan.notice, err=True)
    if dry_run:
        report_dry_run(post, plan, generate=True, as_json=as_json)
        return
    from blogart.pipeline.post_control import PostSkipped

    try:
        with progress(bar=not as_json) as report:
            result = run_generate(post, plan, report=report, on_image=report.images)
    except PostSkipped as skipped:  # the post asked for it: said, and not a failure
        if as_json:
            print_json({"skipped": str(skipped)})
        else:
            typer.echo(f"skipped: {skipped}", err=True)
        return
    if as_json:
        print_json(result.manifest)
    else:
        from blogart.cli.show import show_generate_run

        show_generate_run(result)
        edit = (result.manifest.get("publish") or {}).get("front_matter")
        if edit:
            typer.echo(f"front matter: {edit['summary']}")
    if result.manifest["cover"] is None:
        # CI jobs must notice: nothing publishable came out of this run.
        raise NoCover(f"all {len(result.candidates)} candidates were flagged by moderation; see {result.manifest_path}")
