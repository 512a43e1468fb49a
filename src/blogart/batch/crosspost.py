"""Round 1 of several posts in shared sampler batches, each post published as soon as its candidates are drawn.

posts (their text stages run ahead) -> `prepare_generate` per post -> the generator's `stream_many` fills
whole batches with candidates of as many posts as it takes -> as each post's last image is drawn:
`finish_generate` (ranking, moderation, round 2 when asked, publishing), the same code `blogart generate`
runs, so each post's images are byte-identical to drawing it alone.

A post is done only once published: drawings stay in memory until then, so a run killed mid-batch loses
only drawings, and the next run draws them again from the same seeds (the same images).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from blogart.batch.post import PostResult, post_result
from blogart.config import Settings
from blogart.errors import BlogartError
from blogart.values import LLMUsage

if TYPE_CHECKING:
    from blogart.pipeline.generate import FirstRound, PreparedPost


@dataclass(frozen=True)
class Finished:
    """One post of a cross-post run: its result, or why it failed."""

    post: str
    result: PostResult | None = None
    error: str | None = None


def batching_generator(settings: Settings) -> Any | None:
    """The run's generator (the one `prepare_generate` gets, under `plugins.reusing`) when it can draw several
    posts in one batch and `[batch] across_posts` is on; None: draw post by post."""
    if not settings.batch.across_posts:
        return None
    from blogart.pipeline.plan import open_session, plan_run

    plan = plan_run(settings)
    try:
        generator = open_session(plan.settings).create("generators", plan.generator)
    except BlogartError:  # missing weights, say: post by post, each post fails with the reason
        return None
    return generator if callable(getattr(generator, "stream_many", None)) else None


def draw_batch_size(settings: Settings) -> int:
    """Images per sampler batch for this process's accelerator: `[batch] draw_batch_gpu` on a GPU or TPU."""
    import jax

    return settings.batch.draw_batch_cpu if jax.default_backend() == "cpu" else settings.batch.draw_batch_gpu


def posts_per_batch(settings: Settings, batch_size: int) -> int:
    """Posts whose candidates fill one sampler batch."""
    return max(1, math.ceil(batch_size / settings.generate.n))


def run_across(
    posts: Iterable[str],
    settings: Settings,
    generator: Any,
    batch_size: int,
    text_usage: Callable[[str], LLMUsage] = lambda post: LLMUsage(),
) -> Iterator[Finished]:
    """Draw `posts` (read lazily, as the batches need them) and yield each one once published or failed.

    `text_usage(post)`: the cost of the post's text stages run ahead (it also waits for them to finish).
    A failure of one post is that post's; a failure of the sampler fails the posts it was drawing, and the
    rest go on in fresh batches.
    """
    from blogart.pipeline.generate import FirstRound, prepare_generate
    from blogart.pipeline.plan import plan_run

    plan = plan_run(settings)
    source = iter(posts)
    drawing: list[tuple[str, Any, float, LLMUsage]] = []  # posts handed to the sampler, by position
    failed: list[Finished] = []  # posts that failed before drawing, not yet reported

    pulled = [0]  # posts read from `posts` so far

    def requests() -> Iterator[Any]:
        for post in source:
            pulled[0] += 1
            usage = text_usage(post)
            clock = time.perf_counter()
            try:
                prepared = prepare_generate(post, plan)
            except BlogartError as exc:
                failed.append(Finished(post, error=_one_line(exc)))
                continue
            drawing.append((post, prepared, clock, usage))
            yield prepared.request

    while True:
        base, before = len(drawing), pulled[0]  # a fresh stream numbers its requests from 0
        stream = generator.stream_many(requests(), round=1, batch_size=batch_size)
        try:
            for done in stream:
                yield from _drain(failed)
                post, prepared, clock, usage = drawing[base + done.position]
                drawing[base + done.position] = (post, None, clock, usage)  # published next: let it go
                yield _finish(post, prepared, clock, usage, FirstRound(tuple(done.drawings), done.seconds))
        except BlogartError as exc:
            if pulled[0] == before:  # it failed before reading a post: a fresh stream would too
                raise
            reason = _one_line(exc)
            for post, prepared, _, _ in drawing[base:]:
                if prepared is not None:
                    yield Finished(post, error=reason)
            del drawing[base:]
            yield from _drain(failed)
            continue
        yield from _drain(failed)
        return


def _finish(post: str, prepared: PreparedPost, clock: float, usage: LLMUsage, first: FirstRound) -> Finished:
    from blogart.pipeline.generate import finish_generate

    try:
        with prepared.staged() as staged:
            run = finish_generate(prepared, staged, first)
        result = post_result(post, run, time.perf_counter() - clock)
    except BlogartError as exc:
        return Finished(post, error=_one_line(exc))
    return Finished(post, result=replace(result, usage=usage + result.usage))


def _drain(failed: list[Finished]) -> Iterator[Finished]:
    while failed:
        yield failed.pop(0)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())
