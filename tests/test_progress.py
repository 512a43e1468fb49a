"""`generate`'s progress on stderr: a bar of images drawn on a terminal, nothing on a pipe or with --json.

The command runs as a real process against the fake OpenAI server (dall-e-3: one image per request),
its stderr a pseudo-terminal or a pipe.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

POSTS = Path(__file__).parent / "data" / "posts"
SRC = Path(__file__).parent.parent / "src"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _env(fake_openai) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(SRC.resolve()),
        OPENAI_API_KEY="sk-test",
        OPENAI_BASE_URL=fake_openai.base_url,
        TERM="xterm-256color",
        COLUMNS="120",
    )
    env.pop("NO_COLOR", None)
    return env


def _args(tmp_path: Path, *extra: str) -> list[str]:
    post = str(POSTS / "tidepools.txt")
    out = ["--out", str(tmp_path / "out"), "--no-rank", "--no-publish", "--backend", "local"]
    return [sys.executable, "-m", "blogart", "generate", post, "-m", "openai-images", "-n", "3", *out, *extra]


def _slow_images(fake_openai, n: int) -> None:
    for _ in range(n):  # slow enough for the bar to be drawn between images
        fake_openai.queue("/v1/images/generations", delay=0.4)


def _run_on_pty(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """stderr on a pseudo-terminal (what a user's shell gives), stdout on a pipe; returns code, stdout, stderr."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            piece = os.read(leader, 65536)
        except OSError:  # EIO: the process closed its end
            break
        if not piece:
            break
        seen += piece
    os.close(leader)
    stdout = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=60), stdout, ANSI.sub("\n", seen.decode(errors="replace"))


def test_generate_draws_a_progress_bar_on_a_terminal(fake_openai, tmp_path):
    _slow_images(fake_openai, 3)
    code, _, stderr = _run_on_pty(_args(tmp_path), _env(fake_openai))
    assert code == 0, stderr
    assert "drawing 3 candidates" in stderr  # the stage spinner, as before
    for done in (1, 2, 3):
        assert f"{done}/3" in stderr, stderr  # images drawn of n
    assert re.search(r"\d+\.\d s/image", stderr), stderr  # per-image time
    assert re.search(r"\d:\d\d:\d\d", stderr), stderr  # time left
    assert len(fake_openai.calls("/v1/images/generations")) == 3


def test_generate_on_a_terminal_with_json_shows_no_bar(fake_openai, tmp_path):
    _slow_images(fake_openai, 3)
    code, stdout, stderr = _run_on_pty(_args(tmp_path, "--json"), _env(fake_openai))
    assert code == 0, stderr
    assert stdout.lstrip().startswith("{")
    assert "/3" not in stderr and "s/image" not in stderr


@pytest.mark.parametrize("as_json", [False, True])
def test_generate_on_a_pipe_prints_no_progress(fake_openai, tmp_path, as_json):
    _slow_images(fake_openai, 3)
    args = _args(tmp_path, *(["--json"] if as_json else []))
    result = subprocess.run(args, env=_env(fake_openai), capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stderr  # no spinner, no bar, no cursor movement
    assert "/3" not in result.stderr and "s/image" not in result.stderr and "drawing" not in result.stderr


def test_progress_reports_each_image_of_a_real_generator(fake_openai, monkeypatch, tmp_path):
    """The pipeline passes the generator's per-image reports on as (done, n)."""
    from blogart.config import configure
    from blogart.pipeline.generate import run_generate
    from blogart.pipeline.plan import plan_run

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    overrides = {
        "llm": {"backend": "local"},
        "generate": {"model": "openai-images", "n": 3, "out_dir": str(tmp_path / "out")},
        "publish": {"enabled": False},
    }
    seen: list[tuple[int, int]] = []
    run_generate(
        str(POSTS / "tidepools.txt"),
        plan_run(configure(None, overrides), rank=False),
        on_image=lambda done, n: seen.append((done, n)),
    )
    assert seen == [(0, 3), (1, 3), (2, 3), (3, 3)]
