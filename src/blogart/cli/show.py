"""Human-readable output of `blogart prompt` and `blogart generate` (rich tables)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from blogart.pipeline.generate import GenerateRun
from blogart.pipeline.prompt import PromptRun

console = Console()


def show_prompt_run(run: PromptRun) -> None:
    doc = run.document
    console.print(f"[bold]{doc.title or doc.source}[/bold]  ({doc.format}, {len(run.chunks)} chunks, {run.backend})")

    topics = Table("chunk", "tokens", "topic", "idea", title="Per-chunk topics", title_justify="left")
    for ct in run.chunk_topics:
        for topic in ct.topics:
            topics.add_row(str(ct.chunk_index), str(run.chunks[ct.chunk_index].tokens), topic.phrase, topic.abstraction)
    console.print(topics)

    key = Table("weight", "key topic", title="Key topics", title_justify="left")
    for topic in run.key_topics.topics:
        key.add_row(f"{topic.weight:.2f}", topic.phrase)
    console.print(key)

    console.print(f"[bold]Summary[/bold]  {run.key_topics.summary}")
    console.print(
        f"[bold]Prompt[/bold]   {run.prompt.text}  [dim]({run.prompt.tokens} tokens, {run.prompt.style})[/dim]"
    )
    console.print(f"[bold]Negative[/bold] {run.prompt.negative_prompt}")
    if run.prompt.note:
        console.print(f"[yellow]Note[/yellow]     {run.prompt.note}")
    if run.optimized:
        best = max(run.optimize_history) if run.optimize_history else float("nan")
        console.print(f"[bold]PEZ[/bold]      {run.optimized.text}  [dim](best similarity {best:.3f})[/dim]")
    usage = run.usage
    if usage.calls or usage.cached:
        console.print(
            f"[dim]LLM: {usage.calls} calls ({usage.cached} cached), "
            f"{usage.prompt_tokens}+{usage.completion_tokens} tokens, ~${usage.cost_usd:.4f}[/dim]"
        )


def show_generate_run(run: GenerateRun) -> None:
    show_prompt_run(run.prompt_run)
    table = Table("#", "score", "prompt", "file", "flags", title="Candidates", title_justify="left")
    if run.ranked:
        for i, r in enumerate(run.ranked, 1):
            flags = ", ".join(f"{f.concept} {f.score:.2f}" for f in r.flags)
            table.add_row(str(i), f"{r.score:.3f}", f"{r.prompt_score:.3f}", str(r.candidate.path), flags)
    else:
        for i, c in enumerate(run.candidates, 1):
            table.add_row(str(i), "-", "-", str(c.path), "")
    console.print(table)
    console.print(f"cover: {run.manifest.get('cover') or 'none (all candidates flagged)'}")
    console.print(f"manifest: {run.manifest_path}")
