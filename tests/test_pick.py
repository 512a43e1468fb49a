"""`pick` after a run on the bundled model: offline, with the ranker the manifest records (no CLIP configured or
pulled), and the gallery's `blogart pick` hint works pasted from the folder `generate` ran in and from the
output folder (tiny random bundled model, tests/tiny_bundled.py)."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blogart import assets
from blogart.cli import app

ROOT = Path(__file__).parent.parent
runner = CliRunner()
SMALL = {"BLOGART_PUBLISH__UPSCALE_SIZE": "128", "BLOGART_PUBLISH__SIZES": '{"og": "240x126"}'}


def _offline_env(tmp_path: Path, tiny_bundled: Path, own_metadata: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BLOGART_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(own_metadata)]),
        BLOGART_HOME=str(tmp_path / "home"),
        BLOGART_ASSETS=str(tiny_bundled),
        HF_HOME=str(tmp_path / "hf-home"),  # an empty cache: no LAION CLIP to fall back on
        HF_HUB_OFFLINE="1",
        HTTPS_PROXY="http://127.0.0.1:9",  # any download attempt fails instead of reaching out
        HTTP_PROXY="http://127.0.0.1:9",
        **SMALL,
    )
    return env


@pytest.mark.slow
def test_pick_after_a_bundled_run_uses_the_recorded_ranker_offline(tiny_bundled, own_metadata, tmp_path, monkeypatch):
    monkeypatch.setenv(assets.ENV, str(tiny_bundled))
    monkeypatch.syspath_prepend(str(own_metadata))
    for name, value in SMALL.items():  # small covers and one crop: the test is about which CLIP, not the pixels
        monkeypatch.setenv(name, value)
    site = tmp_path / "site"
    (site / "content" / "posts").mkdir(parents=True)
    (site / "hugo.toml").write_text('baseURL = "https://example.org/"\ntitle = "t"\n')
    post = site / "content" / "posts" / "sourdough.md"
    post.write_text((ROOT / "examples" / "sourdough.md").read_text())
    monkeypatch.chdir(site)  # relative paths, as a user types them
    args = ["generate", "content/posts/sourdough.md", "-n", "3", "--front-matter", "hugo", "--out", "out", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.stdout)
    assert manifest["models"]["ranker"] == "bundled-icons-clip" and manifest["settings"]["rank"]["model"] == "bundled"
    folder = Path(manifest["publish"]["gallery"]).parent.absolute()

    # No CLIP configured or pulled: the bundled one the run ranked with scores the crops again.
    picked = runner.invoke(app, ["pick", str(folder.relative_to(site)), "2", "--json"])
    assert picked.exit_code == 0, picked.output
    publish = json.loads(picked.stdout)["publish"]
    assert publish["number"] == 2 and {c["method"] for c in publish["crops"].values()} <= {"clip", "full"}
    second = next(c for c in manifest["candidates"] if c["rank"] == 2)
    assert Path(publish["source"]).name == Path(second["path"]).name

    # The manifest names the post by its absolute path and its place in the site, whatever the working folder.
    assert manifest["post"]["path"] == str(post) and manifest["post"]["site_path"] == "content/posts/sourdough.md"

    # The gallery's hint, pasted into a shell from the folder `generate` ran in and from the output folder.
    found = re.search(r"<code>blogart pick (.+?) N</code>", (folder / "index.html").read_text())
    assert found, "the gallery names no pick command"
    target = shlex.split(html.unescape(found.group(1)))
    assert len(target) == 1 and Path(target[0]) == folder
    env = _offline_env(tmp_path, tiny_bundled, own_metadata)
    for cwd, number in ((site, "3"), (site / "out", "1")):
        command = [sys.executable, "-m", "blogart", "pick", *target, number, "--json"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["publish"]["number"] == int(number)
        assert "images:" in post.read_text()


def test_the_gallery_hint_quotes_the_run_folder_for_a_shell(tmp_path, monkeypatch):
    from blogart.outputs.gallery import render_gallery
    from blogart.values import ImagePrompt, KeyTopics

    monkeypatch.chdir(tmp_path)
    folder = Path("out dir") / "it's <here>"
    page = render_gallery(
        title="t",
        folder_name=folder.name,
        generator="bundled",
        prompt=ImagePrompt("a crab", (), "", 2),
        key_topics=KeyTopics((), ""),
        items=[],
        cover=None,
        crops={},
        alt="",
        run_folder=folder,
    )
    found = re.search(r"<code>blogart pick (.+?) N</code>", page)
    assert found and "<here>" not in found.group(1)  # escaped for HTML
    assert shlex.split(html.unescape(found.group(1))) == [str(tmp_path / folder)]
