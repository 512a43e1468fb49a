"""The command line: fast start-up (no heavy imports) and one-line errors."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from blogart.cli import app

runner = CliRunner()
HEAVY = ("jax", "flax", "torch", "open_clip", "transformers", "sentence_transformers", "openai", "tiktoken")


def test_help_imports_no_heavy_library():
    code = (
        "import sys, blogart.cli\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(blogart.cli.app, ['--help'])\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == ""


def test_every_command_has_help():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("prompt", "generate", "rank", "models", "styles", "logs", "config"):
        assert command in result.output
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage:" in sub.output, command


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "blogart", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("blogart ")
