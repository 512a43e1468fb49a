"""`blogart rank`: score images from anywhere against a prompt with CLIP, best first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from blogart.cli.common import print_json
from blogart.errors import InputError

app = typer.Typer()


@app.command()
def rank(
    images: Annotated[list[Path], typer.Argument(help="Image files (PNG, JPEG, ...).", show_default=False)],
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="The prompt the images should match.")],
    topic: Annotated[
        list[str] | None, typer.Option("--topic", "-t", help="A key topic to score against; repeat for more.")
    ] = None,
    negative: Annotated[
        list[str] | None, typer.Option("--negative", help="A word to penalise; repeat for more.", show_default=False)
    ] = None,
    top_k: Annotated[
        int | None, typer.Option("--top-k", "-k", help="Show the best k, then any flagged images.", min=1)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    model: Annotated[
        str | None, typer.Option("--model", help="open_clip model, hf-hub:ORG/REPO or local-dir:PATH.")
    ] = None,
    pretrained: Annotated[str | None, typer.Option("--pretrained", help="Pretrained tag or checkpoint file.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", help="Torch CPU threads.", min=1)] = None,
    no_moderation: Annotated[bool, typer.Option("--no-moderation", help="Skip the safety checks.")] = False,
) -> None:
    """Rank images by CLIPScore against a prompt and topics; flagged images come last."""
    from blogart.config import get_settings
    from blogart.ranking.factory import build_ranker
    from blogart.values import Candidate, ImagePrompt, KeyTopics, Topic, to_dict

    settings = get_settings()
    for path in images:
        if not path.is_file():
            raise InputError(f"image not found: {path}")
    ranker = build_ranker(
        settings, model=model, pretrained=pretrained, top_k=top_k, threads=threads, moderate=not no_moderation
    )
    negatives = tuple(negative or ())
    candidates = [
        Candidate(path=p, seed=0, prompt=prompt, negative_prompt=", ".join(negatives), generator="external")
        for p in images
    ]
    key_topics = KeyTopics(tuple(Topic(t, t) for t in topic), summary="") if topic else None
    ranked = ranker.rank(candidates, ImagePrompt(prompt, negatives, style="", tokens=0, writer="user"), key_topics)

    if as_json:
        data: dict[str, Any] = {
            "model": ranker.model_id,
            "prompt": prompt,
            "ranked": [_row(r, to_dict) for r in ranked],
        }
        print_json(data)
        return
    _print_table(ranked, ranker.model_id)


def _row(ranked: Any, to_dict: Any) -> dict[str, Any]:
    row = to_dict(ranked)
    candidate = row.pop("candidate")
    return {"path": candidate["path"], **row, "flagged": ranked.flagged}


def _print_table(ranked: list[Any], model_id: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"CLIP ranking ({model_id})")
    for name in ("#", "score", "prompt", "topics", "penalty", "flags", "image"):
        text = name in ("flags", "image")
        table.add_column(name, justify="left" if text else "right", overflow="fold" if text else "ellipsis")
    for i, r in enumerate(ranked, 1):
        topics = sum(r.topic_scores.values()) / len(r.topic_scores) if r.topic_scores else None
        flags = ", ".join(f"{f.concept} {f.score:.2f}>={f.threshold:.2f} ({f.source})" for f in r.flags)
        table.add_row(
            str(i),
            f"{r.score:.4f}",
            f"{r.prompt_score:.4f}",
            "-" if topics is None else f"{topics:.4f}",
            f"{r.negative_penalty:.4f}",
            flags or "-",
            str(r.candidate.path),
        )
    Console().print(table)
