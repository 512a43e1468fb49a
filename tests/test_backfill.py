"""`blogart backfill`: the job table, choosing posts, dry run, status, and a real kill -9 halfway then a rerun."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from batch_env import clip_folder, model_env, write_posts
from fake_openai import schema_name
from typer.testing import CliRunner

from blogart.batch.jobs import DONE, FAILED, QUEUED, RUNNING, JobTable, Outcome
from blogart.batch.select import front_matter_cover, manifest_index
from blogart.cli import app

SRC = Path(__file__).resolve().parents[1] / "src"
TESTS = Path(__file__).resolve().parent
runner = CliRunner()


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_job_table_claims_each_job_once_and_requeues_a_dead_workers_jobs(tmp_path):
    table = JobTable(tmp_path / "blogart.db")
    assert table.enqueue([("a.md", "h1"), ("b.md", "h2"), ("c.md", "h3")]) == ["a.md", "b.md", "c.md"]
    first = table.claim(pid=os.getpid())
    second = table.claim(pid=_dead_pid())
    assert (first.post, second.post) == ("a.md", "b.md")
    assert first.state == RUNNING and first.attempts == 1
    table.finish("a.md", Outcome(1.5, "out/a/r1-00-s0.png", 0.4, 0.001))
    assert table.claim(only=["a.md", "b.md"]) is None  # a is done, b is running

    assert table.requeue_orphans() == 1  # b's worker is gone; ours (a's) is alive
    assert table.get("b.md").state == QUEUED
    again = table.claim(only=["b.md"])
    assert again.post == "b.md" and again.attempts == 2
    table.fail("b.md", "every candidate was flagged")
    assert table.counts() == {QUEUED: 1, RUNNING: 0, DONE: 1, FAILED: 1}
    assert table.counts(["a.md", "b.md", "elsewhere.md"]) == {QUEUED: 0, RUNNING: 0, DONE: 1, FAILED: 1}
    assert table.counts(['c.md", "a.md']) == dict.fromkeys((QUEUED, RUNNING, DONE, FAILED), 0)  # a name, not JSON

    # Done with the same content stays done; a failed one, or a changed post, is queued again.
    assert table.enqueue([("a.md", "h1"), ("b.md", "h2")]) == ["b.md"]
    assert table.enqueue([("a.md", "h1-edited")]) == ["a.md"]
    assert table.enqueue([("a.md", "h1-edited")]) == ["a.md"]  # still queued: listed, not duplicated
    assert len(table.jobs()) == 3
    assert table.get("b.md").reason is None


def test_front_matter_cover_keys():
    assert front_matter_cover({"cover": {"image": "c.png", "alt": "x"}}) == "c.png"
    assert front_matter_cover({"cover": "c.png"}) == "c.png"
    assert front_matter_cover({"images": ["", "i.png"]}) == "i.png"
    assert front_matter_cover({"heroImage": "/h.jpg"}) == "/h.jpg"
    assert front_matter_cover({"image": "  "}) is None
    assert front_matter_cover({"title": "t"}) is None


def test_manifest_index_ignores_broken_manifests(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "manifest.json").write_text(json.dumps({"text": {"content_hash": "h"}, "cover": "a/c.png"}))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "manifest.json").write_text("{not json")
    assert manifest_index(tmp_path) == {"h": "a/c.png"}
    assert manifest_index(tmp_path / "absent") == {}


def test_dry_run_lists_posts_lacking_a_cover_and_prices_them(tmp_path, monkeypatch):
    posts = write_posts(tmp_path / "content", 3)
    covered = tmp_path / "content" / "covered.md"
    covered.write_text("---\ntitle: Has one\ncover:\n  image: /img/c.png\n---\n\nA post that has a cover already.\n")
    (tmp_path / "content" / ".draft.md").write_text("# hidden\n\nNot a post to cover.\n")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("BLOGART_LLM__MODEL", "gpt-4o")
    result = runner.invoke(app, ["backfill", str(tmp_path / "content"), "--dry-run", "--limit", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[:2] == [str(posts[0].resolve()), str(posts[1].resolve())]
    cost = float(re.search(r"about \$([0-9.]+)", lines[-1]).group(1))
    assert lines[-1].startswith("2 posts would run, 1 have a cover") and 0 < cost < 0.1
    assert json.loads(runner.invoke(app, ["backfill", "status", "--json"]).output) == []  # nothing queued


def test_backfill_usage_errors(tmp_path):
    missing = runner.invoke(app, ["backfill", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a folder" in missing.output
    bare = runner.invoke(app, ["backfill"])
    assert bare.exit_code == 2 and "CONTENT_DIR" in bare.output
    ray = runner.invoke(app, ["backfill", str(tmp_path), "--engine", "spark"])
    assert ray.exit_code == 2 and "unknown engine" in ray.output


def _answer(request: dict) -> dict:
    """A cooperative model: evidence quoted from the chunk it was sent."""
    name = schema_name(request)
    user = request["messages"][-1]["content"]
    if name == "chunk_topic":
        sentence = next(s for s in re.split(r"(?<=[.!?])\s+", user) if "every morning" in s)
        return {"phrase": "morning notes", "abstraction": "Watching something change.", "evidence": [sentence]}
    if name == "key_topics":
        return {
            "topics": [{"phrase": "morning notes", "abstraction": "Notes.", "sources": [1], "weight": 1.0}],
            "summary": "Notes taken every morning.",
        }
    if name == "image_prompt":
        return {"prompt": "a notebook on a table at dawn", "negative": ["text"]}
    if name == "alt_text":  # the publish step's alt text, asked of the LLM with the openai backend
        return {"alt": "A notebook on a table at dawn."}
    raise AssertionError(name)


@pytest.mark.slow
def test_backfill_killed_halfway_resumes_with_every_post_once_and_no_llm_call_repeated(
    fake_openai, tiny_dalle, tiny_checkpoint, tmp_path, isolated_env
):
    posts = 10
    write_posts(tmp_path / "content", posts)
    env = {
        **os.environ,
        **model_env(tiny_dalle, clip_folder(tiny_checkpoint, tmp_path)),
        "PYTHONPATH": str(SRC),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "BLOGART_LLM__BACKEND": "openai",
        "JAX_PLATFORMS": "cpu",
    }
    command = [sys.executable, "-m", "blogart", "backfill", "content", "--seed", "3", "--out", "out"]
    running: dict[str, subprocess.Popen] = {}
    killed = threading.Event()
    lock = threading.Lock()
    prompts = [0]
    answered: set[str] = set()  # questions answered before the kill (the next post's text is asked ahead)

    def answer(request: dict) -> dict:
        with lock:
            if schema_name(request) == "image_prompt":
                prompts[0] += 1
            if prompts[0] == posts // 2 + 1 and not killed.is_set():
                # The next post's prompt is being asked for: about half the posts are drawn. Let the
                # other threads store what they were answered, then kill the backfill before this is answered.
                killed.set()
                time.sleep(0.5)
                running["proc"].send_signal(signal.SIGKILL)
            elif not killed.is_set():
                answered.add(json.dumps(request, sort_keys=True))
        return _answer(request)

    fake_openai.on_chat(answer)
    with open(tmp_path / "run1.log", "w") as log:
        running["proc"] = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        assert running["proc"].wait(timeout=600) == -signal.SIGKILL, (tmp_path / "run1.log").read_text()
    first_run = [json.dumps(r.json, sort_keys=True) for r in fake_openai.calls("/v1/chat/completions")]
    assert answered and len(answered) < len(first_run)

    status = subprocess.run([*command[:4], "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    jobs = json.loads(status.stdout)
    done_before = sum(j["state"] == DONE for j in jobs)
    assert 1 <= done_before < posts, jobs
    assert any(j["state"] == RUNNING for j in jobs)  # what the killed worker held

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert f"{posts - done_before} of {posts - done_before} posts got a cover" in rerun.stdout

    status = subprocess.run([*command[:4], "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
    jobs = json.loads(status.stdout)
    assert len(jobs) == posts and all(j["state"] == DONE for j in jobs)
    assert sum(j["attempts"] for j in jobs) <= posts + 2  # only the posts the killed worker held ran twice
    manifests = sorted((tmp_path / "out").glob("*/manifest.json"))
    assert len(manifests) == posts
    covers = [json.loads(m.read_text())["cover"] for m in manifests]
    assert all(cover and (tmp_path / cover).is_file() for cover in covers)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no staging left over

    second_run = [json.dumps(r.json, sort_keys=True) for r in fake_openai.calls("/v1/chat/completions")][
        len(first_run) :
    ]
    assert answered.isdisjoint(second_run)  # no answered LLM question was asked again
    assert len(second_run) == len(set(second_run))
    # The log says the same: each question was answered by the server once.
    logs = subprocess.run(
        [sys.executable, "-m", "blogart", "logs", "-n", "1000", "--json"], cwd=tmp_path, env=env, capture_output=True
    )
    rows = [r for r in json.loads(logs.stdout) if not r["cached"] and not r["error"]]
    assert len(rows) == len(answered) + len(second_run)


def test_ray_engine_without_ray_is_one_clear_line(tmp_path):
    write_posts(tmp_path / "content", 1)
    # `import ray` fails in this process as it does where the extra is not installed.
    code = "import sys; sys.modules['ray'] = None; from blogart.cli import main; main()"
    argv = ["backfill", "content", "--engine", "ray"]
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    result = subprocess.run([sys.executable, "-c", code, *argv], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip() == "error: the ray engine needs Ray: pip install 'blogart[ray]'"


def test_llm_retries_wait_as_long_as_retry_after_asks(fake_openai, tmp_path):
    from pydantic import BaseModel

    from blogart.llm.client import LLMClient
    from blogart.store import Store

    class Answer(BaseModel):
        topic: str
        score: float

    fake_openai.on_chat(lambda request: {"topic": "t", "score": 0.5})
    fake_openai.queue("/v1/chat/completions", status=429, headers={"retry-after": "1.5"})
    store = Store(tmp_path / "db")
    client = LLMClient("gpt-4o", "sk-test", base_url=fake_openai.base_url, store=store, backoff_initial=0.01)
    clock = time.monotonic()
    answer, _ = client.structured([{"role": "user", "content": "q"}], Answer, "answer")
    assert answer.topic == "t"
    assert time.monotonic() - clock >= 1.5  # the server's 1.5 s, not our 0.01 s backoff
    assert len(fake_openai.calls("/v1/chat/completions")) == 2
