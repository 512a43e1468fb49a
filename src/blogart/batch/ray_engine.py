"""The Ray engine: the same jobs on a Ray cluster, through Ray Data.

posts (claimed from the job table) -> text stages as Ray tasks (`map`) -> generation, ranking and
publishing in `map_batches` on an actor pool (`ActorPoolStrategy`: each actor builds its generator and
ranker once, with one GPU each where the cluster has GPUs; each call gets enough posts to fill a
sampler batch, drawn together where the generator can: `blogart.batch.crosspost`) -> results written
to the same job table by the driver, so the local and Ray engines resume each other's runs.

The actors write the post's files and use the SQLite store (LLM and stage caches) by path: on a cluster
of several machines, the output folder and the blogart database must be on storage they all share.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from blogart.batch.jobs import JobTable, Outcome
from blogart.config import Settings
from blogart.errors import BlogartError, UsageError


def import_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the extra installs ray[data]; a bare ray lacks it
    except ImportError:
        raise UsageError("the ray engine needs Ray: pip install 'blogart[ray]'") from None
    return ray


def _text_stage(row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """A Ray task: the post's topics and prompt, into the shared caches; errors ride along to the run."""
    from blogart.batch.post import prepare_text

    try:
        usage = prepare_text(row["post"], settings)
        return {**row, "text_cost": float(usage.cost_usd)}
    except Exception:  # noqa: BLE001 - the generation stage meets the same error with its post named
        return {**row, "text_cost": 0.0}


class PostActor:
    """One actor of the pool: models built on its first post and kept (`plugins.reusing`) until it ends."""

    def __init__(self, settings: Settings) -> None:
        from blogart import plugins
        from blogart.batch.post import REUSED_KINDS

        self.settings = settings
        self._reuse = plugins.reusing(*REUSED_KINDS)
        self._reuse.__enter__()  # for the actor's lifetime

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        from blogart.batch.crosspost import batching_generator

        generator = batching_generator(self.settings)
        if generator is not None:
            return self._across(batch, generator)
        from blogart.batch.post import generate_post

        out: dict[str, list[Any]] = {k: [] for k in ("post", "ok", "reason", "seconds", "cover", "score", "cost")}
        for post, text_cost in zip(batch["post"], batch["text_cost"], strict=True):
            post = str(post)
            out["post"].append(post)
            try:
                result = generate_post(post, self.settings)
            except BlogartError as exc:
                out["ok"].append(False)
                out["reason"].append(" ".join(str(exc).split()))
                out["seconds"].append(0.0)
                out["cover"].append("")
                out["score"].append(float("nan"))
                out["cost"].append(float(text_cost))
                continue
            out["ok"].append(True)
            out["reason"].append("")
            out["seconds"].append(result.seconds)
            out["cover"].append(result.cover or "")
            out["score"].append(float("nan") if result.score is None else result.score)
            out["cost"].append(float(text_cost) + result.usage.cost_usd)
        return out

    def _across(self, batch: dict[str, Any], generator: Any) -> dict[str, Any]:
        """The batch's posts with their candidates in shared sampler batches (`blogart.batch.crosspost`)."""
        from blogart.batch.crosspost import draw_batch_size, run_across

        costs = {str(post): float(cost) for post, cost in zip(batch["post"], batch["text_cost"], strict=True)}
        out: dict[str, list[Any]] = {k: [] for k in ("post", "ok", "reason", "seconds", "cover", "score", "cost")}
        size = draw_batch_size(self.settings)
        for finished in run_across(list(costs), self.settings, generator, size):
            result = finished.result
            out["post"].append(finished.post)
            out["ok"].append(result is not None)
            out["reason"].append(finished.error or "")
            out["seconds"].append(result.seconds if result is not None else 0.0)
            out["cover"].append((result.cover or "") if result is not None else "")
            out["score"].append(float("nan") if result is None or result.score is None else result.score)
            out["cost"].append(costs[finished.post] + (result.usage.cost_usd if result is not None else 0.0))
        return out


def run_ray(
    db: Path,
    settings: Settings,
    posts: list[str],
    workers: int,
    poll: Callable[[], None],
    address: str | None = None,
    run_id: str | None = None,
) -> None:
    """Run the queued `posts` on Ray; the driver claims them and records every result in the job table."""
    ray = import_ray()
    from ray.data import ActorPoolStrategy

    from blogart.batch.crosspost import posts_per_batch

    if not ray.is_initialized():
        ray.init(address=address, log_to_driver=False, include_dashboard=False)
    table = JobTable(db)
    claimed = []
    while (job := table.claim(only=posts, run_id=run_id)) is not None:
        claimed.append(job.post)
    if not claimed:
        return
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    # An actor gets enough posts at once to fill its sampler batches (one at a time where it cannot batch).
    draw = settings.batch.draw_batch_gpu if gpus else settings.batch.draw_batch_cpu
    per_call = posts_per_batch(settings, draw) if settings.batch.across_posts else 1
    pending = set(claimed)
    try:
        ds = ray.data.from_items([{"post": post} for post in claimed], override_num_blocks=len(claimed))
        ds = ds.map(_text_stage, fn_kwargs={"settings": settings})
        ds = ds.map_batches(
            PostActor,
            fn_constructor_kwargs={"settings": settings},
            batch_size=per_call,
            compute=ActorPoolStrategy(min_size=1, max_size=max(1, min(workers, len(claimed)))),
            num_gpus=gpus,
        )
        for row in ds.iter_rows():
            post = str(row["post"])
            if row["ok"]:
                score = None if row["score"] != row["score"] else float(row["score"])  # NaN: no score
                table.finish(post, Outcome(float(row["seconds"]), row["cover"] or None, score, float(row["cost"])))
            else:
                table.fail(post, str(row["reason"]))
            pending.discard(post)
            poll()
    finally:
        for post in pending:  # the driver stopped early: those go back to the queue
            table.release(post)
