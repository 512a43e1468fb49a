"""Candidates of many posts in one sampler batch: each post's images as its own `generate` draws them."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from blogart.errors import UsageError
from blogart.values import GenerationRequest

REQUESTS = [
    GenerationRequest(prompt="a cat on a mat", negative_prompt="blurry text", n=3, seed=7),
    GenerationRequest(prompt="the blog about art", n=2, seed=7),
    GenerationRequest(prompt="cover images for a post", negative_prompt="a cat", n=3, seed=11),
]


def test_mixed_batches_draw_each_post_as_its_own_generate(tiny_dalle):
    from blogart.generators.dalle.generator import DalleGenerator

    gen = DalleGenerator("dalle-mini", *tiny_dalle, batch_size=2)
    done: list[int] = []
    # batches of 2 over 8 images: [A0 A1] [A2 B0] [B1 C0] [C1 C2]: posts mixed, B split over two batches
    many = gen.generate_many(REQUESTS, round=2, batch_size=2, progress=done.append)
    assert done == [2, 4, 6, 8]
    for request, drawings in zip(REQUESTS, many, strict=True):
        alone = gen.generate(request, round=2)
        assert [(d.index, d.seed, d.round, d.prompt) for d in drawings] == [
            (d.index, d.seed, d.round, d.prompt) for d in alone
        ]
        assert [d.png for d in drawings] == [d.png for d in alone]
    assert len({d.png for drawings in many for d in drawings}) == 8  # every image its own


def test_requests_with_other_filters_draw_in_their_own_batches(tiny_dalle):
    from blogart.generators.dalle.generator import DalleGenerator

    gen = DalleGenerator("dalle-mini", *tiny_dalle, batch_size=2)
    hot = GenerationRequest(prompt="a cat on a mat", n=1, seed=3, temperature=3.0)
    cold = GenerationRequest(prompt="a cat on a mat", n=1, seed=3, condition_scale=1.0)
    many = gen.generate_many([hot, cold], batch_size=2)
    assert [d.png for d in many[0]] == [d.png for d in gen.generate(hot)]
    assert [d.png for d in many[1]] == [d.png for d in gen.generate(cold)]
    assert many[0][0].png != many[1][0].png
    assert gen.generate_many([]) == []
    with pytest.raises(UsageError):
        gen.generate_many([hot], batch_size=0)
    with pytest.raises(UsageError):
        gen.generate_many([hot, GenerationRequest("x", n=0)])


def _tiny_env(monkeypatch, tiny_dalle, tiny_checkpoint, tmp_path, **extra: str) -> None:
    from batch_env import clip_folder, model_env

    env = {**model_env(tiny_dalle, clip_folder(tiny_checkpoint, tmp_path)), "BLOGART_LLM__BACKEND": "local", **extra}
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def _images(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.png"))}


@pytest.mark.slow
def test_a_cross_post_backfill_publishes_each_post_as_generate_alone(
    tiny_dalle, tiny_checkpoint, tmp_path, monkeypatch
):
    """Two posts, two candidates each, sampler batches of three: [A0 A1 B0] [B1]."""
    from batch_env import write_posts
    from typer.testing import CliRunner

    from blogart.cli import app

    runner = CliRunner()
    _tiny_env(monkeypatch, tiny_dalle, tiny_checkpoint, tmp_path, BLOGART_BATCH__DRAW_BATCH_CPU="3")
    posts = write_posts(tmp_path / "content", 2)
    result = runner.invoke(app, ["backfill", "content", "--out", "out", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "2 of 2 posts got a cover" in result.output
    folders = sorted(p.parent for p in (tmp_path / "out").glob("*/manifest.json"))
    assert len(folders) == 2
    for post in posts:
        alone = runner.invoke(app, ["generate", str(post), "--out", "alone", "--seed", "3"])
        assert alone.exit_code == 0, alone.output
    for folder in folders:
        images = _images(folder)
        assert {"r1-00-s3.png", "r1-01-s3.png", "cover.png"} <= set(images)
        assert images == _images(tmp_path / "alone" / folder.name), folder.name
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["timings"]["generate_round1"] > 0  # its share of the batches' time


@pytest.mark.slow
def test_a_backfill_killed_mid_batch_loses_nothing(tiny_dalle, tiny_checkpoint, tmp_path):
    """kill -9 while batches mixing posts are drawn: published posts stay done, every other post is drawn
    again by the rerun (its drawings were never recorded), to the same images as `generate` alone."""
    import os
    import signal
    import subprocess
    import sys

    from batch_env import clip_folder, model_env, write_posts

    write_posts(tmp_path / "content", 6)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("BLOGART_")},
        **model_env(tiny_dalle, clip_folder(tiny_checkpoint, tmp_path)),
        "BLOGART_HOME": str(tmp_path / "home"),
        "BLOGART_LLM__BACKEND": "local",
        "BLOGART_BATCH__DRAW_BATCH_CPU": "3",  # two candidates a post: [A0 A1 B0] [B1 C0 C1] ...
        "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src"),
        "JAX_PLATFORMS": "cpu",
    }
    command = [sys.executable, "-m", "blogart", "backfill", "content", "--seed", "3", "--out", "out"]
    with open(tmp_path / "run1.log", "w") as log:
        proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while not list((tmp_path / "out").glob("*/manifest.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "run1.log").read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)  # the first post is published; the next batch is being drawn
        assert proc.wait(timeout=60) == -signal.SIGKILL

    def status() -> list[dict]:
        out = subprocess.run([*command[:4], "status", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True)
        return json.loads(out.stdout)

    before = status()
    published = {p.parent.name for p in (tmp_path / "out").glob("*/manifest.json")}
    done_before = [j for j in before if j["state"] == "done"]
    assert 1 <= len(published) < 6, before
    # The kill can land between a post's publishing and its row's "done": that post is drawn again, to the
    # same files (seen under load), so one published post may still be "running".
    assert len(published) - 1 <= len(done_before) <= len(published), (before, published)
    assert any(j["state"] == "running" for j in before)  # held by the killed run, drawn or not

    rerun = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    left = 6 - len(done_before)
    assert f"{left} of {left} posts got a cover" in rerun.stdout
    after = status()
    assert len(after) == 6 and all(j["state"] == "done" for j in after)
    assert {j["post"]: j["attempts"] for j in after if j in done_before} == {j["post"]: 1 for j in done_before}
    folders = sorted(p.parent for p in (tmp_path / "out").glob("*/manifest.json"))
    assert len(folders) == 6
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no staging left over
    redrawn = next(f for f in folders if f.name not in published)
    post = json.loads((redrawn / "manifest.json").read_text())["text"]["source"]
    alone = subprocess.run(
        [*command[:3], "generate", post, "--seed", "3", "--out", "alone"], cwd=tmp_path, env=env, capture_output=True
    )
    assert alone.returncode == 0, alone.stderr
    assert _images(redrawn) == _images(tmp_path / "alone" / redrawn.name)


def test_pace_images_per_second_and_time_left():
    from blogart.batch.backfill import pace

    assert pace(0, 10.0, 5, 8).describe() == "- images/s"
    p = pace(3, 60.0, 9000, 8)  # 24 images a minute: 0.4 a second; 72000 images left: 50 hours
    assert p.images_per_second == pytest.approx(0.4) and p.seconds_left == pytest.approx(180000)
    assert p.describe() == "0.40 images/s, 50h 00m left"
    assert pace(1, 8.0, 1, 8).describe() == "1.00 images/s, 8s left"


def test_backfill_status_shows_the_last_runs_pace_over_the_archive_left(tmp_path):
    from typer.testing import CliRunner

    from blogart.batch.jobs import JobTable, Outcome
    from blogart.cli import app
    from blogart.config import load_settings

    table = JobTable(load_settings().store.resolved())
    table.enqueue([(f"post-{i}.md", f"h{i}") for i in range(5)])
    for run in ("old", "new"):
        job = table.claim(run_id=run)
        time.sleep(0.01)  # the stamps are milliseconds: the run takes some time
        table.finish(job.post, Outcome(1.0, f"out/{job.post}/cover.png", 0.5, 0.0))
    runner = CliRunner()
    result = runner.invoke(app, ["backfill", "status"])
    assert result.exit_code == 0, result.output
    assert "2 done, 0 failed, 0 running, 3 queued" in result.output
    assert re.search(r"last run: [\d.]+ images/s, \S+ left", result.output), result.output


def test_a_post_that_fails_and_a_sampler_that_fails_fail_only_their_posts(
    tiny_dalle, tiny_checkpoint, tmp_path, monkeypatch
):
    """A post that asks to be skipped fails alone; a sampler that cannot draw (its VQGAN does not fit)
    fails the posts it was given, and the run ends rather than retrying forever."""
    import shutil

    from batch_env import write_posts
    from tiny_dalle import save_params

    from blogart.batch.crosspost import run_across
    from blogart.config import load_settings
    from blogart.generators.dalle.generator import DalleGenerator

    _tiny_env(monkeypatch, tiny_dalle, tiny_checkpoint, tmp_path)
    posts = write_posts(tmp_path / "content", 2)
    posts[1].write_text("---\ntitle: Skip me\nblogart:\n  skip: true\n---\n\nNot this one.\n")
    bart, vqgan = tiny_dalle
    other = tmp_path / "bart"
    shutil.copytree(bart, other)
    config = json.loads((other / "config.json").read_text())
    config["image_length"] = 64  # 8x8 tokens: not what the 16x16 VQGAN decodes
    save_params(other, config)
    broken = DalleGenerator("dalle-mini", other, vqgan, batch_size=2)
    settings = load_settings(overrides={"generate": {"out_dir": str(tmp_path / "out")}})
    finished = list(run_across([str(p) for p in posts], settings, broken, 3))
    assert sorted(f.post for f in finished) == sorted(str(p) for p in posts)
    assert all(f.result is None for f in finished)
    reasons = {Path(f.post).name: f.error for f in finished}
    assert "skip" in reasons["post-01.md"]
    assert "does not fit" in reasons["post-00.md"]
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
