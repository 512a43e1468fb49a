"""`blogart ci` on a git repository made by the test: exactly the new posts, then nothing; exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from batch_env import clip_folder, git, init_repo, tiny_bundled_model, write_posts
from typer.testing import CliRunner

from blogart.cli import app

runner = CliRunner()


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
    repo = init_repo(tmp_path / "blog")
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
    assert bad.output.startswith("error: --since 'no-such-ref': not a commit") and len(bad.output.splitlines()) == 1


@pytest.fixture(scope="session")
def bundled_model(tmp_path_factory):
    return tiny_bundled_model(tmp_path_factory)


@pytest.mark.slow
def test_ci_since_with_front_matter_on_draws_nothing_the_second_time(bundled_model, tmp_path, monkeypatch):
    """blogart's own front-matter edit is not a change: after the covers are committed, the same `--since`
    draws nothing (a real edit still counts: test_post_hash_ignores_only_the_keys_that_name_a_cover)."""
    from blogart import assets

    folder, metadata = bundled_model
    monkeypatch.setenv(assets.ENV, str(folder))
    monkeypatch.syspath_prepend(str(metadata))
    monkeypatch.setenv("BLOGART_GENERATE__N", "2")
    monkeypatch.setenv("BLOGART_PUBLISH__FRONT_MATTER", "hugo")
    repo = init_repo(tmp_path / "blog")
    (repo / "hugo.toml").write_text("baseURL = 'https://example.org/'\ntitle = 'Notes'\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "site")
    before = git(repo, "rev-parse", "HEAD").strip()
    posts = write_posts(repo / "content" / "posts", 2)
    # Per-post control: the second post sets its own seed; a draft asks to be passed over.
    posts[1].write_text(posts[1].read_text().replace("---\n\n", "blogart:\n  seed: 7\n---\n\n", 1))
    (repo / "content" / "posts" / "draft.md").write_text("---\ntitle: Draft\nblogart: {skip: true}\n---\n\nNot yet.\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "two posts and a draft")
    monkeypatch.chdir(repo)
    originals = [p.read_text() for p in posts]

    step_summary = tmp_path / "step-summary.md"  # what a GitHub job page shows; written with --json too
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    first = runner.invoke(app, ["ci", "content", "--since", before, "--out", "out", "--json"])
    assert first.exit_code == 0, first.output
    rows = {Path(row["post"]).name: row for row in json.loads(first.stdout)["posts"]}
    summary = step_summary.read_text()  # the Markdown summary, as a person reads it on the job page
    assert "2 of 2 posts got a cover, 0 failed, 0 already had one, 1 skipped" in summary
    assert "- skipped posts/draft.md: its front matter says blogart.skip: true" in summary
    assert all(p.read_text() != text for p, text in zip(posts, originals, strict=True))  # the cover is written in
    # Each post's line says where its cover went and what changed in which file, in the summary and --json.
    for post in posts:
        line = next(x for x in summary.splitlines() if x.startswith(f"- posts/{post.name}: cover copied to "))
        assert f"added images in {post}" in line and "(hugo static) as covers/" in line
        assert rows[post.name]["front_matter"] == line.split(": ", 1)[1]
    manifests = {m: m.stat().st_mtime_ns for m in (repo / "out").glob("*/manifest.json")}
    assert len(manifests) == 2
    seeded = [json.loads(m.read_text()) for m in manifests if "part-1" in m.parent.name][0]
    assert seeded["settings"]["generate"]["seed"] == 7 and seeded["text"]["post_control"] == {"seed": 7}
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "covers")

    second = runner.invoke(app, ["ci", "content", "--since", before, "--out", "out"])
    assert second.exit_code == 0, second.output
    assert "0 of 0 posts got a cover, 0 failed, 2 already had one, 1 skipped" in second.output
    assert {m: m.stat().st_mtime_ns for m in (repo / "out").glob("*/manifest.json")} == manifests


def test_post_hash_ignores_only_the_keys_that_name_a_cover(tmp_path, monkeypatch):
    from blogart.config import load_settings
    from blogart.pipeline.document import load_document
    from blogart.pipeline.post_hash import post_hash

    monkeypatch.setenv("BLOGART_PUBLISH__CUSTOM_IMAGE_KEY", "params.cover")
    current = load_settings()
    body = "\n# Tide pools\n\nWe watched the tide pools all week.\n"
    variants = {
        "bare": body.lstrip("\n"),
        "bare_hugo": f"---\nimages: [static/covers/tide-pools-1234abcd.png]\n---\n{body}",
        "plain": f"---\ntitle: Tide pools\n---\n{body}",
        "hugo": f"---\ntitle: Tide pools\nimages:\n  - static/covers/tide-pools-1234abcd.png\n---\n{body}",
        "papermod": f"---\ntitle: Tide pools\ncover:\n  image: c.png\n  alt: A pool\n---\n{body}",
        "toml": f'+++\ntitle = "Tide pools"\nheroImage = "./c.png"\nheroImageAlt = "A pool"\n+++\n{body}',
        "edited": f"---\ntitle: Tide pools\n---\n{body}More.\n",
        "control": f"---\ntitle: Tide pools\nblogart:\n  seed: 3\n---\n{body}",
        "tags": f"---\ntitle: Tide pools\ntags: [sea]\n---\n{body}",
        "custom": f"---\ntitle: Tide pools\nparams:\n  cover: c.png\n---\n{body}",
        "params": f"---\ntitle: Tide pools\nparams:\n  cover: c.png\n  math: true\n---\n{body}",
    }
    hashes = {}
    for name, text in variants.items():
        path = tmp_path / f"{name}.md"
        path.write_text(text)
        hashes[name] = post_hash(load_document(str(path)), current)
    assert hashes["plain"] == hashes["hugo"] == hashes["papermod"] == hashes["toml"] == hashes["custom"]
    assert hashes["bare"] == hashes["bare_hugo"]  # front matter blogart added to a post that had none
    assert len({hashes["plain"], hashes["edited"], hashes["control"], hashes["tags"], hashes["params"]}) == 5
