"""A batch from start to end: which posts (plan), how much their LLM calls may cost, and running them.

`blogart backfill` plans from the posts that lack a cover, `blogart ci` from the posts changed since a
git ref; both queue their posts in the job table and hand them to an engine (local or Ray).

Two runs may share one database (two backfills, a backfill and a CI job): each claims jobs under its own
run id, so each reports as its own only what it drew. A planned post that another live run holds is waited
for; one whose owner is gone or exiting (a run killed a moment ago) is taken over.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from blogart.batch.jobs import DONE, FAILED, QUEUED, RUNNING, Job, JobTable
from blogart.batch.select import Post, changed_since, inspect, scan_posts
from blogart.config import Settings
from blogart.errors import UsageError

ENGINES = ("local", "ray")


@dataclass(frozen=True)
class Plan:
    todo: tuple[Post, ...]  # what will run, in order
    skipped: tuple[Post, ...]  # covered already, or made from this content
    passed_over: dict[Path, str] = field(default_factory=dict)  # input -> why it is not a post to draw

    def to_json(self) -> dict[str, Any]:
        return {
            "todo": self.posts,
            "covered": [str(p.path) for p in self.skipped],
            "skipped": [{"path": str(path), "reason": reason} for path, reason in self.passed_over.items()],
        }

    @property
    def posts(self) -> list[str]:
        return [str(p.path) for p in self.todo]


@dataclass(frozen=True)
class BatchResult:
    jobs: tuple[Job, ...]  # the planned posts' rows after the run, this run's own
    seconds: float
    others: tuple[Job, ...] = ()  # planned posts another run sharing the database drew meanwhile

    @property
    def failed(self) -> list[Job]:
        """Planned posts without a cover at the end, whoever ran them."""
        return [j for j in (*self.jobs, *self.others) if j.state != DONE]

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "posts": [{**job.to_json(), "front_matter": front_matter_report(job)} for job in self.jobs],
            "by_another_run": [job.to_json() for job in self.others],
            "failed": len(self.failed),
        }


def front_matter_report(job: Job) -> str | None:
    """The one line the post's run wrote about its front matter (where the cover went, which keys changed in
    which file), read back from the run's manifest; None when the run did not touch the post."""
    import json

    if job.state != DONE or not job.cover:
        return None
    try:
        manifest = json.loads((Path(job.cover).parent / "manifest.json").read_text(encoding="utf-8"))
        line = manifest["publish"]["front_matter"]["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return line if isinstance(line, str) else None


def job_table(settings: Settings) -> JobTable:
    return JobTable(settings.store.resolved())


def plan_backfill(
    content_dir: Path, settings: Settings, *, glob: str = "**/*", limit: int | None = None, force: bool = False
) -> Plan:
    """Posts under `content_dir` that lack a cover (all of them with `force`), plus any a killed run left."""
    found, passed_over = scan_posts(content_dir, glob)
    posts, unusable = inspect(found, Path(settings.generate.out_dir), settings)
    table = job_table(settings)
    unfinished = {j.post for j in table.jobs() if j.state in (QUEUED, RUNNING)}
    todo = [p for p in posts if force or not p.has_cover or str(p.path) in unfinished]
    skipped = [p for p in posts if p not in todo]
    if limit is not None:
        todo = todo[:limit]
    return Plan(tuple(todo), tuple(skipped), {**passed_over, **unusable})


def plan_ci(content_dir: Path, settings: Settings, *, since: str | None = None) -> Plan:
    """With `since`: the posts added or changed since that git ref, less those whose manifest was made from
    exactly their content. Without: the posts that lack a cover."""
    if since is None:
        return plan_backfill(content_dir, settings)
    posts, passed_over = inspect(changed_since(content_dir, since), Path(settings.generate.out_dir), settings)
    return Plan(tuple(p for p in posts if not p.up_to_date), tuple(p for p in posts if p.up_to_date), passed_over)


def estimate_cost(plan: Plan, settings: Settings) -> float | None:
    """Rough LLM cost of the planned posts in USD (no cache hits assumed); None when the model's price is
    unknown, 0 for the local text backend. Per chunk: its tokens plus instructions in, a topic out; then
    the combinator and the prompt writer."""
    from blogart.llm.pricing import chat_cost
    from blogart.pipeline.auto import choose_backend
    from blogart.pipeline.chunking import chunk_document
    from blogart.pipeline.document import load_document

    if choose_backend(settings) != "openai":
        return 0.0
    total = 0.0
    for post in plan.todo:
        chunks = chunk_document(
            load_document(str(post.path), max_bytes=settings.input.max_bytes),
            max_tokens=settings.chunking.max_tokens,
            overlap_tokens=settings.chunking.overlap_tokens,
            encoding=settings.chunking.encoding,
        )
        calls = [(c.tokens + 400, 120) for c in chunks] + [(150 * len(chunks) + 400, 250), (600, 80)]
        for prompt_tokens, completion_tokens in calls:
            cost = chat_cost(settings.llm.model, prompt_tokens, completion_tokens)
            if cost is None:
                return None
            total += cost
    return total


def execute(
    plan: Plan,
    settings: Settings,
    *,
    engine: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    poll: Callable[[], None] = lambda: None,
    every: float = 0.5,
) -> BatchResult:
    """Queue the plan's posts and run them; returns their rows once every one is done or failed.

    Jobs another live run holds are waited for (`poll` every `every` seconds); jobs whose owner is gone
    or exiting are taken over.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; use {' or '.join(ENGINES)}")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    if engine == "ray":
        from blogart.batch.ray_engine import import_ray

        import_ray()  # a missing extra fails before anything is queued
    clock = time.perf_counter()
    settings = _pinned(settings)
    table = job_table(settings)
    run_id = uuid.uuid4().hex
    table.requeue_orphans(idle=True)
    table.enqueue([(str(p.path), p.content_hash) for p in plan.todo], force=True)
    posts = plan.posts
    while True:
        states = {job.state for job in _rows(table, posts)}
        if QUEUED in states:
            _run_engine(engine, table, settings, posts, workers, poll, ray_address, run_id)
        elif RUNNING in states:  # held by another run: wait for it, or take over once its owner is gone
            if not table.requeue_orphans(idle=True):
                time.sleep(every)
                poll()
        else:
            break
    rows = _rows(table, posts)
    mine = tuple(j for j in rows if j.run_id == run_id)
    others = tuple(j for j in rows if j.run_id != run_id)
    return BatchResult(mine, time.perf_counter() - clock, others)


def _rows(table: JobTable, posts: list[str]) -> list[Job]:
    """The rows of `posts`, in their order, read in one query."""
    by_post = {job.post: job for job in table.jobs()}
    return [by_post[post] for post in posts if post in by_post]


def _run_engine(
    engine: str,
    table: JobTable,
    settings: Settings,
    posts: list[str],
    workers: int,
    poll: Callable[[], None],
    ray_address: str | None,
    run_id: str,
) -> None:
    if engine == "ray":
        from blogart.batch.ray_engine import run_ray

        run_ray(table.path, settings, posts, workers, poll, address=ray_address, run_id=run_id)
    else:
        from blogart.batch.local import run_local

        run_local(table.path, settings, posts, workers, poll, run_id=run_id)


def _pinned(settings: Settings) -> Settings:
    """The output folder and the database as absolute paths: workers elsewhere (Ray) resolve nothing anew."""
    generate = settings.generate.model_copy(update={"out_dir": str(Path(settings.generate.out_dir).resolve())})
    store = settings.store.model_copy(update={"path": str(settings.store.resolved())})
    return settings.model_copy(update={"generate": generate, "store": store})


@dataclass(frozen=True)
class Pace:
    """How fast a batch draws, and how long the posts left will take at that pace (None: not known yet)."""

    images_per_second: float | None
    seconds_left: float | None

    def describe(self) -> str:
        if self.images_per_second is None:
            return "- images/s"
        left = "" if self.seconds_left is None else f", {_duration(self.seconds_left)} left"
        return f"{self.images_per_second:.2f} images/s{left}"


def pace(done: int, seconds: float, left: int, images_per_post: int) -> Pace:
    """`done` posts in `seconds`, `left` posts to go, `images_per_post` candidates each (round 1)."""
    if done <= 0 or seconds <= 0:
        return Pace(None, None)
    rate = done * images_per_post / seconds
    return Pace(rate, left * images_per_post / rate)


def archive_pace(jobs: list[Job], images_per_post: int) -> Pace:
    """The job table's pace: the latest run's finished posts over its time so far, and every queued or
    running post left at that pace."""
    started = [j for j in jobs if j.run_id and j.started_at]
    if not started:
        return Pace(None, None)
    latest = max(started, key=lambda j: j.started_at or "").run_id
    mine = [j for j in started if j.run_id == latest]
    finished = [j for j in mine if j.state in (DONE, FAILED) and j.finished_at]
    begins = [t for j in mine if (t := _seconds(j.started_at)) is not None]
    ends = [t for j in finished if (t := _seconds(j.finished_at)) is not None]
    begin, end = min(begins, default=None), max(ends, default=None)
    left = sum(j.state in (QUEUED, RUNNING) for j in jobs)
    if begin is None or end is None:
        return Pace(None, None)
    return pace(sum(j.state == DONE for j in finished), end - begin, left, images_per_post)


def _seconds(stamp: str | None) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp).timestamp() if stamp else None
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{seconds:.0f}s"
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"


def progress_of(settings: Settings, posts: list[str]) -> tuple[int, int]:
    """(finished, failed) among `posts`, read from the job table."""
    counts = job_table(settings).counts(posts)
    return counts[DONE] + counts[FAILED], counts[FAILED]
