"""The Markdown summary of a batch: what a CI page shows (appended to $GITHUB_STEP_SUMMARY when set)."""

from __future__ import annotations

import os
from pathlib import Path

from blogart.batch.backfill import BatchResult, Plan
from blogart.batch.jobs import DONE


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def markdown(plan: Plan, result: BatchResult, base: Path | None = None) -> str:
    """A heading line with the totals, then one table row per post: state, cover, score, time, LLM cost."""

    def name(path: str | Path) -> str:
        path = Path(path)
        if base is not None:
            try:
                return str(path.resolve().relative_to(Path(base).resolve()))
            except ValueError:
                pass
        return str(path)

    done = [j for j in result.jobs if j.state == DONE]
    costs = [j.cost_usd for j in result.jobs if j.cost_usd is not None]
    lines = [
        "## blogart covers",
        "",
        f"{len(done)} of {len(result.jobs)} posts got a cover, {len(result.failed)} failed, "
        f"{len(plan.skipped)} already had one; {result.seconds:.1f} s, LLM cost {_money(sum(costs))}.",
    ]
    if result.jobs:
        lines += ["", "| post | result | cover | score | seconds | LLM cost |", "|---|---|---|---|---|---|"]
        for job in result.jobs:
            state = "done" if job.state == DONE else f"{job.state}: {job.reason or ''}".strip()
            score = "" if job.score is None else f"{job.score:.3f}"
            seconds = "" if job.seconds is None else f"{job.seconds:.1f}"
            cover = name(job.cover) if job.cover else ""
            lines.append(
                f"| {_cell(name(job.post))} | {_cell(state)} | {_cell(cover)} | {score} | {seconds} "
                f"| {_money(job.cost_usd)} |"
            )
    for path, reason in plan.unreadable.items():
        lines.append(f"\n- skipped {_cell(name(path))}: {_cell(reason)}")
    return "\n".join(lines) + "\n"


def write_step_summary(text: str) -> Path | None:
    """Append to the file GitHub Actions names in $GITHUB_STEP_SUMMARY; None when not set."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    with open(target, "a", encoding="utf-8") as handle:  # appending: other steps write there too
        handle.write(text)
    return Path(target)
