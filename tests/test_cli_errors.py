"""Bad input through the real CLI: one `error:` line, a non-zero exit, nothing overwritten."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from blogart.cli import app

runner = CliRunner()


def _one_line_error(result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0].lower()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("name", "content", "needle"),
    [
        ("empty.md", b"", "empty"),
        ("blank.md", b"   \n\n  ", "empty"),
        ("binary.md", bytes(range(256)) * 4, "binary"),
        ("latin1.md", "caf\xe9 au lait, a long enough post about coffee".encode("latin-1"), "utf-8"),
        ("broken.md", b"---\ntitle: [unclosed\n---\n\nSome text here.\n", "front matter"),
    ],
)
def test_bad_posts(tmp_path, name, content, needle):
    post = tmp_path / name
    post.write_bytes(content)
    result = runner.invoke(app, ["prompt", str(post), "--backend", "local"])
    _one_line_error(result, 2, needle)
    assert post.read_bytes() == content  # the user's file is untouched


def test_huge_post_is_refused(tmp_path):
    post = tmp_path / "huge.md"
    with post.open("wb") as handle:
        handle.truncate(5 * 1024 * 1024)
    result = runner.invoke(app, ["prompt", str(post)])
    _one_line_error(result, 2, "limit")


def test_missing_file_and_unreachable_url(tmp_path):
    _one_line_error(runner.invoke(app, ["prompt", str(tmp_path / "nope.md")]), 2)
    url = f"http://127.0.0.1:{_free_port()}/post"
    _one_line_error(runner.invoke(app, ["prompt", url]), 2)


def test_openai_backend_without_key(tmp_path):
    post = tmp_path / "post.md"
    post.write_text("# Bees\n\nUrban beekeeping on rooftops is growing in popularity.\n")
    _one_line_error(runner.invoke(app, ["prompt", str(post), "--backend", "openai"]), 2, "openai_api_key")


def test_unknown_style_and_backend(tmp_path):
    post = tmp_path / "post.md"
    post.write_text("# Bees\n\nUrban beekeeping on rooftops is growing in popularity.\n")
    _one_line_error(runner.invoke(app, ["prompt", str(post), "--style", "no-such-style"]), 2, "style")
    result = runner.invoke(app, ["prompt", str(post), "--backend", "gpt9"])
    assert result.exit_code == 2


def test_llm_returning_invalid_json_twice(tmp_path, fake_openai, monkeypatch):
    fake_openai.on_chat(lambda request: "this is {not json")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    post = tmp_path / "post.md"
    post.write_text("# Bees\n\nUrban beekeeping on rooftops is growing in popularity.\n")
    result = runner.invoke(app, ["prompt", str(post), "--backend", "openai"])
    _one_line_error(result, 1)
    assert len(fake_openai.calls("/v1/chat/completions")) == 2
