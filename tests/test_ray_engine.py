"""The Ray engine on a local Ray cluster started here (one for the module): same covers as the local engine."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from batch_env import clip_folder, model_env, write_posts
from typer.testing import CliRunner

from blogart.cli import app

ray = pytest.importorskip("ray", reason="the ray extra is not installed")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # one Ray cluster, on one worker
runner = CliRunner()


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _covers(out: Path) -> dict[str, str]:
    """post folder -> sha256 of its cover image."""
    found = {}
    for manifest in out.glob("*/manifest.json"):
        cover = json.loads(manifest.read_text())["cover"]
        found[manifest.parent.name] = hashlib.sha256(Path(cover).read_bytes()).hexdigest()
    return found


@pytest.mark.slow
def test_ray_covers_equal_the_local_engines_and_share_its_job_table(
    cluster, tiny_dalle, tiny_checkpoint, tmp_path, monkeypatch
):
    for name, value in model_env(tiny_dalle, clip_folder(tiny_checkpoint, tmp_path)).items():
        monkeypatch.setenv(name, value)
    write_posts(tmp_path / "content", 3)

    local = runner.invoke(app, ["backfill", "content", "--seed", "7", "--out", "out-local"])
    assert local.exit_code == 0, local.output
    remote = runner.invoke(app, ["backfill", "content", "--seed", "7", "--out", "out-ray", "--engine", "ray"])
    assert remote.exit_code == 0, remote.output
    assert "3 of 3 posts got a cover" in remote.output

    expected = _covers(tmp_path / "out-local")
    assert len(expected) == 3
    assert _covers(tmp_path / "out-ray") == expected

    # The same job table: Ray's results are rows a local rerun reads (nothing left to do).
    jobs = json.loads(runner.invoke(app, ["backfill", "status", "--json"]).output)
    assert len(jobs) == 3 and all(j["state"] == "done" and j["attempts"] == 2 for j in jobs)
    assert all(j["cover"].startswith(str(tmp_path / "out-ray")) for j in jobs)
    dry = runner.invoke(app, ["backfill", "content", "--out", "out-ray", "--dry-run"])
    assert dry.output.startswith("0 posts would run, 3 have a cover")
