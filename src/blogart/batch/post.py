"""One post in a batch: its text stages ahead of time, then the whole run (draw, rank, publish).

`generate_post` is the one place a batch calls the pipeline's run, with the same arguments as
`blogart generate`; a post counts as done only after it returns, when all its files are written.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from blogart.config import Settings
from blogart.errors import NoCover
from blogart.values import LLMUsage

if TYPE_CHECKING:
    from blogart.pipeline.generate import GenerateRun

# A worker keeps these across posts (blogart.plugins.reusing): the generator with its weights, and the
# CLIP ranker. Topic extractors and prompt writers are light and hold the run's LLM client, so they are
# made per post and each post's LLM cost stays its own.
REUSED_KINDS = ("generators", "rankers")


@dataclass(frozen=True)
class PostResult:
    post: str
    cover: str | None
    score: float | None
    seconds: float
    usage: LLMUsage
    manifest_path: Path


def generate_post(post: str, settings: Settings) -> PostResult:
    """Generate and publish one post, exactly as `blogart generate POST` does; raises on failure."""
    from blogart.pipeline.generate import run_generate
    from blogart.pipeline.plan import plan_run

    clock = time.perf_counter()
    return post_result(post, run_generate(post, plan_run(settings)), time.perf_counter() - clock)


def post_result(post: str, result: GenerateRun, seconds: float) -> PostResult:
    """What the job table records of a published run; raises NoCover when moderation flagged every candidate."""
    cover = result.manifest["cover"]
    if cover is None:
        raise NoCover(f"all {len(result.candidates)} candidates were flagged by moderation")
    best = next((r for r in result.ranked if str(r.candidate.path) == cover), None)
    return PostResult(
        post=post,
        cover=cover,
        score=best.score if best is not None else None,
        seconds=seconds,
        usage=result.prompt_run.usage,
        manifest_path=result.manifest_path,
    )


def prepare_text(post: str, settings: Settings) -> LLMUsage:
    """The post's text stages (topics and prompt), run ahead so that `generate_post` finds them cached.

    Topics land in the stage cache and every LLM answer in the LLM cache, keyed exactly as the run will
    ask for them (the generator's own token budget), so the run repeats no LLM call. Returns their cost.
    """
    from blogart.pipeline.plan import open_session, plan_run
    from blogart.pipeline.prompt import run_prompt

    plan = plan_run(settings)
    session = open_session(plan.settings)
    session = session.for_generator(session.create("generators", plan.generator))
    return run_prompt(post, plan, session=session).usage


class TextAhead:
    """Runs the next posts' text stages on a thread while the current post draws its images.

    A post's text is only ever prepared by the worker that claimed it, and the run waits for its
    preparation to finish first, so no LLM question is asked twice at once.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blogart-text")
        self._pending: dict[str, Future[LLMUsage]] = {}

    def submit(self, post: str) -> None:
        if post not in self._pending:
            self._pending[post] = self._pool.submit(prepare_text, post, self.settings)

    def wait(self, post: str) -> LLMUsage:
        """The cost of the post's text stages if they ran ahead; a failure there is left for the run to meet."""
        future = self._pending.pop(post, None)
        if future is None:
            return LLMUsage()
        try:
            return future.result()
        except Exception:  # noqa: BLE001 - the run itself raises the same error with its post named
            return LLMUsage()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
