"""The Markdown summary of a batch: what a CI page shows (appended to $GITHUB_STEP_SUMMARY when set)."""

from __future__ import annotations

import os
from pathlib import Path

from blogart.batch.backfill import BatchResult, Plan, front_matter_report
from blogart.batch.jobs import DONE


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _resolved(path: Path) -> Path:
    """`path` with its folder's links resolved, its own name kept: a link is listed by its name, never followed
    (it may point nowhere, or at itself)."""
    path = path.absolute()
    try:
        return path.parent.resolve() / path.name
    except (OSError, RuntimeError):
        return path


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def markdown(plan: Plan, result: BatchResult, base: Path | None = None) -> str:
    """A heading line with the totals, then one table row per post: state, cover, score, time, LLM cost."""

    def name(path: str | Path) -> str:
        path = Path(path)
        if base is not None:
            try:
                return str(_resolved(path).relative_to(Path(base).resolve()))
            except ValueError:
                pass
        return str(path)

    done = [j for j in result.jobs if j.state == DONE]
    costs = [j.cost_usd for j in result.jobs if j.cost_usd is not None]
    others = f", {len(result.others)} drawn by another blogart run" if result.others else ""
    passed_over = f", {len(plan.passed_over)} skipped" if plan.passed_over else ""
    lines = [
        "## blogart covers",
        "",
        f"{len(done)} of {len(result.jobs)} posts got a cover, {len(result.jobs) - len(done)} failed, "
        f"{len(plan.skipped)} already had one{others}{passed_over}; {result.seconds:.1f} s, "
        f"LLM cost {_money(sum(costs))}.",
    ]
    if result.jobs or result.others:
        lines += ["", "| post | result | cover | score | seconds | LLM cost |", "|---|---|---|---|---|---|"]
        for job in (*result.jobs, *result.others):
            state = "done" if job.state == DONE else f"{job.state}: {job.reason or ''}".strip()
            if job in result.others:
                state = f"{state} (by another run)"
            score = "" if job.score is None else f"{job.score:.3f}"
            seconds = "" if job.seconds is None else f"{job.seconds:.1f}"
            cover = name(job.cover) if job.cover else ""
            lines.append(
                f"| {_cell(name(job.post))} | {_cell(state)} | {_cell(cover)} | {score} | {seconds} "
                f"| {_money(job.cost_usd)} |"
            )
    edits = [(job, line) for job in result.jobs if (line := front_matter_report(job))]
    if edits:
        lines.append("")
        lines += [f"- {_cell(name(job.post))}: {_cell(line)}" for job, line in edits]
    for path, reason in plan.passed_over.items():
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
