"""The backfill job table: one row per post, in the same SQLite file as `blogart.store` (its own table).

States: queued -> running -> done | failed. A worker claims a job by setting it running under its process
id (with the process's start time, so a reused id is not mistaken for it) and its run's id; a post is done
only once `batch.post.generate_post` has returned, that is, once all its files are written. A worker killed
at any point leaves its jobs running under a dead process: the next run puts them back in the queue
(`requeue_orphans`), so nothing is lost and nothing that was done is done again. A process that was sent
SIGKILL, or is a zombie, counts as dead already: a rerun straight after `kill -9` takes its jobs over.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from blogart.processes import alive, process_started
from blogart.store import now
from blogart.store.database import connect
from blogart.store.migrations import Table

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATES = (QUEUED, RUNNING, DONE, FAILED)


def _since(started_at: str | None) -> float | None:
    """A claim's time in seconds since the epoch, for `alive` where a process cannot be asked."""
    try:
        return datetime.fromisoformat(started_at).timestamp() if started_at else None
    except ValueError:
        return None


@dataclass(frozen=True)
class Job:
    post: str  # the post's path as given (absolute)
    content_hash: str
    state: str
    attempts: int = 0
    reason: str | None = None
    owner_pid: int | None = None
    queued_at: str = ""
    started_at: str | None = None
    finished_at: str | None = None
    seconds: float | None = None
    cover: str | None = None
    score: float | None = None
    cost_usd: float | None = None
    owner_started: str | None = None  # the owner process's start time (Linux), against a reused pid
    run_id: str | None = None  # the batch run that claimed it last

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    """What a finished post reports back to the table."""

    seconds: float
    cover: str | None
    score: float | None
    cost_usd: float | None


class JobTable(Table):
    """The `batch_jobs` table; every method is one short transaction, safe across threads and processes."""

    immediate = True  # one writer at a time: two workers never claim the same job

    def enqueue(self, posts: list[tuple[str, str]], *, force: bool = False) -> list[str]:
        """Queue (post, content hash) pairs; returns the posts now queued.

        A post already done with the same content is left alone unless `force`; a running one is left to
        its worker (or to `requeue_orphans`); a failed one, or a done one whose post changed, is queued again.
        """
        queued = []
        with self._connect() as conn:
            for post, content_hash in posts:
                row = conn.execute("SELECT state, content_hash FROM batch_jobs WHERE post = ?", (post,)).fetchone()
                if row is None:
                    conn.execute(
                        "INSERT INTO batch_jobs (post, content_hash, state, queued_at) VALUES (?,?,?,?)",
                        (post, content_hash, QUEUED, now()),
                    )
                elif row[0] == QUEUED:
                    conn.execute("UPDATE batch_jobs SET content_hash = ? WHERE post = ?", (content_hash, post))
                elif row[0] == RUNNING or (row[0] == DONE and row[1] == content_hash and not force):
                    continue
                else:
                    conn.execute(
                        "UPDATE batch_jobs SET state = ?, content_hash = ?, reason = NULL, owner_pid = NULL,"
                        " queued_at = ? WHERE post = ?",
                        (QUEUED, content_hash, now(), post),
                    )
                queued.append(post)
        return queued

    def requeue_orphans(self, *, idle: bool = False) -> int:
        """Jobs left running by a process that is gone or exiting go back to the queue; returns how many.

        `idle`: this process runs no worker now, so a job it holds was left by an earlier run in it.
        """
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT post, owner_pid, owner_started, started_at FROM batch_jobs WHERE state = ?", (RUNNING,)
            ).fetchall()
            dead = [
                post
                for post, pid, started, started_at in rows
                if not alive(pid, started=started, since=_since(started_at)) or (idle and pid == os.getpid())
            ]
            for post in dead:
                conn.execute(
                    "UPDATE batch_jobs SET state = ?, owner_pid = NULL, owner_started = NULL WHERE post = ?",
                    (QUEUED, post),
                )
        return len(dead)

    def claim(self, pid: int | None = None, only: list[str] | None = None, run_id: str | None = None) -> Job | None:
        """Take the oldest queued job (among `only`, if given) for process `pid` of batch run `run_id`;
        None when there is none."""
        pid = os.getpid() if pid is None else pid
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT post FROM batch_jobs WHERE state = ? ORDER BY queued_at, post", (QUEUED,)
            ).fetchall()
            wanted = set(only) if only is not None else None
            post = next((r[0] for r in rows if wanted is None or r[0] in wanted), None)
            if post is None:
                return None
            conn.execute(
                "UPDATE batch_jobs SET state = ?, owner_pid = ?, owner_started = ?, run_id = ?,"
                " attempts = attempts + 1, started_at = ?, reason = NULL WHERE post = ?",
                (RUNNING, pid, process_started(pid), run_id, now(), post),
            )
            return self._get(conn, post)

    def finish(self, post: str, outcome: Outcome) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE batch_jobs SET state = ?, owner_pid = NULL, owner_started = NULL, finished_at = ?,"
                " seconds = ?, cover = ?,"
                " score = ?, cost_usd = ? WHERE post = ?",
                (DONE, now(), outcome.seconds, outcome.cover, outcome.score, outcome.cost_usd, post),
            )

    def fail(self, post: str, reason: str) -> None:
        with self._connect() as conn:
            conn.execute(
                "UPDATE batch_jobs SET state = ?, owner_pid = NULL, owner_started = NULL, finished_at = ?,"
                " reason = ? WHERE post = ?",
                (FAILED, now(), reason, post),
            )

    def release(self, post: str) -> None:
        """Give a claimed job back to the queue untouched (a worker stopping early)."""
        with self._connect() as conn:
            conn.execute(
                "UPDATE batch_jobs SET state = ?, owner_pid = NULL, owner_started = NULL,"
                " attempts = MAX(attempts - 1, 0)"
                " WHERE post = ? AND state = ?",
                (QUEUED, post, RUNNING),
            )

    def get(self, post: str) -> Job | None:
        with self._connect() as conn:
            return self._get(conn, post)

    def _get(self, conn: sqlite3.Connection, post: str) -> Job | None:
        cursor = conn.execute("SELECT * FROM batch_jobs WHERE post = ?", (post,))
        row = cursor.fetchone()
        if row is None:
            return None
        return Job(**dict(zip([c[0] for c in cursor.description], row, strict=True)))

    def jobs(self, state: str | None = None) -> list[Job]:
        with self._connect() as conn:
            query = "SELECT * FROM batch_jobs" + (" WHERE state = ?" if state else "") + " ORDER BY queued_at, post"
            cursor = conn.execute(query, (state,) if state else ())
            names = [c[0] for c in cursor.description]
            return [Job(**dict(zip(names, row, strict=True))) for row in cursor.fetchall()]

    def counts(self, posts: Sequence[str] | None = None) -> dict[str, int]:
        """Jobs in each state, of `posts` only when given; counted by SQLite, without the write lock: a
        progress poll of a 10,000-post run costs ~20 ms, not the ~120 ms of reading every row."""
        query, args = "SELECT state, COUNT(*) FROM batch_jobs", ()
        if posts is not None:
            query, args = query + " WHERE post IN (SELECT value FROM json_each(?))", (json.dumps(list(posts)),)
        with connect(self.path) as conn:
            rows = dict(conn.execute(query + " GROUP BY state", args).fetchall())
        return {state: int(rows.get(state, 0)) for state in STATES}
