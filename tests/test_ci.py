"""`blogart ci` on a git repository made by the test: exactly the new posts, then nothing; exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from batch_env import clip_folder, write_posts
from typer.testing import CliRunner

from blogart.cli import app

runner = CliRunner()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def site(tmp_path, fake_openai, tiny_checkpoint, monkeypatch):
    """A blog in git with three posts committed; images drawn by the fake Images API, ranked by tiny CLIP."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("BLOGART_LLM__BACKEND", "local")
    monkeypatch.setenv("BLOGART_GENERATE__MODEL", "openai-images")
    monkeypatch.setenv("BLOGART_GENERATE__N", "2")
    monkeypatch.setenv("BLOGART_RANK__MODEL", f"local-dir:{clip_folder(tiny_checkpoint, tmp_path)}")
    monkeypatch.setenv("BLOGART_RANK__PRETRAINED", "")
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", "{}")
    repo = tmp_path / "blog"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    write_posts(repo / "content", 3)
    (repo / "README.md").write_text("not a post\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "three posts")
    monkeypatch.chdir(repo)
    return repo


def _folders(repo: Path) -> set[str]:
    return {m.parent.name for m in (repo / "out").glob("*/manifest.json")}


def test_ci_since_a_ref_covers_exactly_the_new_posts_and_a_rerun_does_nothing(site, fake_openai, monkeypatch):
    before = git(site, "rev-parse", "HEAD").strip()
    write_posts(site / "content", 2, start=3)
    (site / "content" / "post-00.md").write_text((site / "content" / "post-00.md").read_text() + "\nAn edit.\n")
    (site / "content" / "post-01.md").unlink()  # deleted: nothing to draw
    git(site, "add", "-A")
    git(site, "commit", "-qm", "two new posts, one edit, one deletion")
    summary = site / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))

    result = runner.invoke(app, ["ci", "content", "--since", before, "--out", "out"])
    assert result.exit_code == 0, result.output
    assert _folders(site) == {"notes-on-tide-pools-part-0", "notes-on-city-bees-part-3", "notes-on-night-trains-part-4"}
    assert len(fake_openai.calls("/v1/images/generations")) == 3 * 2  # dall-e-3 draws one image a request
    text = summary.read_text()
    assert "3 of 3 posts got a cover, 0 failed" in text
    assert text.count("| done |") == 3 and "post-03.md" in text and "post-02.md" not in text
    assert result.output.endswith(text)  # stdout and the CI page say the same (progress lines go first)

    again = runner.invoke(app, ["ci", "content", "--since", before, "--out", "out"])
    assert again.exit_code == 0, again.output
    assert "0 of 0 posts got a cover, 0 failed, 3 already had one" in again.output
    assert len(fake_openai.calls("/v1/images/generations")) == 3 * 2  # nothing drawn again


def test_ci_without_since_covers_the_posts_lacking_one(site, fake_openai):
    (site / "content" / "post-02.md").write_text("---\ntitle: T\nimage: /covers/t.png\n---\n\nHas its cover.\n")
    result = runner.invoke(app, ["ci", "content", "--out", "out"])
    assert result.exit_code == 0, result.output
    assert _folders(site) == {"notes-on-tide-pools-part-0", "notes-on-sourdough-bread-part-1"}
    again = runner.invoke(app, ["ci", "content", "--out", "out"])
    assert again.exit_code == 0 and "0 of 0 posts" in again.output


def test_ci_exits_1_when_a_post_fails_and_2_on_a_bad_ref(site, monkeypatch):
    # A concept every tiny-CLIP image matches: every candidate is flagged, no post gets a cover.
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", '{"a concept every tiny-CLIP image matches": 0.0}')
    failed = runner.invoke(app, ["ci", "content", "--out", "out"])
    assert failed.exit_code == 1, failed.output
    assert "0 of 3 posts got a cover, 3 failed" in failed.output and "flagged" in failed.output
    status = json.loads(runner.invoke(app, ["backfill", "status", "--json"]).output)
    assert {j["state"] for j in status} == {"failed"} and all(j["reason"] for j in status)

    bad = runner.invoke(app, ["ci", "content", "--since", "no-such-ref", "--out", "out"])
    assert bad.exit_code == 2
    assert bad.output.startswith("error: git diff:") and len(bad.output.strip().splitlines()) == 1
