"""The local engine: N workers on this machine, each claiming jobs from the job table.

One worker runs on a thread of the calling process; more run as separate processes (one set of
models each, no GIL between them). Every worker builds its generator and ranker once and keeps
them (`blogart.plugins.reusing`), and prepares the next posts' text while the current ones draw. Where
the generator can (`stream_many`), candidates of several posts share each sampler batch
(`blogart.batch.crosspost`); otherwise a worker draws post by post.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from blogart import plugins
from blogart.batch.crosspost import batching_generator, draw_batch_size, posts_per_batch, run_across
from blogart.batch.jobs import JobTable, Outcome
from blogart.batch.post import REUSED_KINDS, TextAhead, generate_post
from blogart.config import Settings
from blogart.errors import BlogartError


def work(
    db: Path, settings: Settings, posts: list[str], stop: threading.Event | None = None, run_id: str | None = None
) -> None:
    """Claim and run jobs among `posts` for batch run `run_id` until none is queued (or `stop` is set)."""
    table = JobTable(db)
    ahead = TextAhead(settings)
    claimed: list[str] = []
    try:
        with plugins.reusing(*REUSED_KINDS):
            generator = batching_generator(settings)
            if generator is not None:
                _work_across(table, settings, posts, stop, run_id, ahead, claimed, generator)
                return
            current = table.claim(only=posts, run_id=run_id)
            while current is not None:
                claimed.append(current.post)
                # Claim the next post now, so that its text stages are this worker's to run ahead.
                upcoming = None if stop is not None and stop.is_set() else table.claim(only=posts, run_id=run_id)
                if upcoming is not None:
                    claimed.append(upcoming.post)
                    ahead.submit(upcoming.post)
                text_usage = ahead.wait(current.post)
                try:
                    result = generate_post(current.post, settings)
                except BlogartError as exc:
                    table.fail(current.post, " ".join(str(exc).split()))
                else:
                    usage = text_usage + result.usage
                    table.finish(current.post, Outcome(result.seconds, result.cover, result.score, usage.cost_usd))
                claimed.remove(current.post)
                current = upcoming
    finally:
        ahead.close()
        for post in claimed:  # interrupted (Ctrl-C, an unexpected error): back to the queue, not lost
            table.release(post)


def _work_across(
    table: JobTable,
    settings: Settings,
    posts: list[str],
    stop: threading.Event | None,
    run_id: str | None,
    ahead: TextAhead,
    claimed: list[str],
    generator: Any,
) -> None:
    """`work` with round 1 of several posts in each sampler batch (`blogart.batch.crosspost`)."""
    size = draw_batch_size(settings)
    # Posts claimed ahead of the sampler: their text stages run while the current batch draws.
    lead = posts_per_batch(settings, size) + 1
    queue: deque[str] = deque()

    def claims() -> Iterator[str]:
        while True:
            while len(queue) < lead and not (stop is not None and stop.is_set()):
                job = table.claim(only=posts, run_id=run_id)
                if job is None:
                    break
                claimed.append(job.post)
                ahead.submit(job.post)
                queue.append(job.post)
            if not queue:
                return
            yield queue.popleft()

    for finished in run_across(claims(), settings, generator, size, ahead.wait):
        if finished.result is None:
            table.fail(finished.post, finished.error or "failed")
        else:
            result = finished.result
            table.finish(finished.post, Outcome(result.seconds, result.cover, result.score, result.usage.cost_usd))
        claimed.remove(finished.post)


def _die_with_parent() -> None:
    """Linux: end this worker when the backfill that started it dies (even by kill -9)."""
    if sys.platform == "linux":
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _process_main(db: str, settings: Settings, posts: list[str], parent: int, run_id: str | None) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return
    work(Path(db), settings, posts, run_id=run_id)


def run_local(
    db: Path,
    settings: Settings,
    posts: list[str],
    workers: int,
    poll: Callable[[], None],
    every: float = 0.5,
    run_id: str | None = None,
) -> None:
    """Run the queued `posts` with `workers` workers; `poll` is called every `every` seconds (progress)."""
    if workers <= 1:
        stop = threading.Event()
        errors: list[BaseException] = []

        def target() -> None:
            try:
                work(db, settings, posts, stop, run_id)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread below
                errors.append(exc)

        thread = threading.Thread(target=target, name="blogart-worker", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(every)
                poll()
        except KeyboardInterrupt:
            stop.set()
            raise
        if errors:
            raise errors[0]
        return
    context = multiprocessing.get_context("spawn")  # jax and torch do not survive a fork
    procs = [
        context.Process(
            target=_process_main, args=(str(db), settings, posts, os.getpid(), run_id), name=f"blogart-worker-{i}"
        )
        for i in range(workers)
    ]
    for proc in procs:
        proc.start()
    try:
        while any(proc.is_alive() for proc in procs):
            for proc in procs:
                proc.join(every / len(procs))
            poll()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
    crashed = [proc.exitcode for proc in procs if proc.exitcode not in (0, None)]
    if crashed:
        raise BlogartError(f"{len(crashed)} of {workers} workers crashed (exit codes {crashed}); rerun to resume")
