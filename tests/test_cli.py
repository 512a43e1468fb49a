"""The command line: fast start-up (no heavy imports) and one-line errors."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import blogart.cli
from blogart.cli import COMMANDS, app
from blogart.cli.docs import _commands, command_table

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
    for command in ("prompt", "generate", "rank", "models", "styles", "logs", "config", "plugins", "path"):
        assert command in result.output
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage:" in sub.output, command


def test_python_dash_m_entry_point():
    result = subprocess.run([sys.executable, "-m", "blogart", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("blogart ")


def _every_command_path() -> list[list[str]]:
    root = typer.main.get_command(app)
    return [ctx.command_path.split()[1:] for _, ctx in _commands(root, root.context_class(root, info_name="blogart"))]


def test_dash_h_is_help_everywhere():
    paths = _every_command_path()
    assert ["models", "verify"] in paths and ["logs"] in paths and len(paths) >= 16
    for path in [[], *paths]:
        result = runner.invoke(app, [*path, "-h"])
        assert result.exit_code == 0 and "Usage:" in result.output and "Show this message" in result.output, path


def test_groups_alone_run_their_default():
    assert runner.invoke(app, ["models"]).output == runner.invoke(app, ["models", "list"]).output
    assert "HF cache:" in runner.invoke(app, ["models"]).output
    config = runner.invoke(app, ["config"])
    assert (
        config.exit_code == 0
        and "[llm]" in config.output
        and config.output == runner.invoke(app, ["config", "show"]).output
    )
    logs = runner.invoke(app, ["logs"])
    assert logs.exit_code == 0 and logs.output.startswith("no calls logged yet")


def test_every_state_file_has_a_path_command(tmp_path, monkeypatch):
    monkeypatch.setenv("BLOGART_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("BLOGART_MODELS__CACHE_DIR", str(tmp_path / "hf"))
    assert runner.invoke(app, ["path"]).output.strip() == str(tmp_path / "state")
    assert runner.invoke(app, ["logs", "path"]).output.strip() == str(tmp_path / "state" / "blogart.db")
    assert runner.invoke(app, ["models", "path"]).output.strip() == str(tmp_path / "hf")
    assert "no config file" in runner.invoke(app, ["config", "path"]).output


def test_every_command_module_registers_the_same_way():
    """Each module in cli/ that holds commands exposes a Typer `app`, and cli/__init__ lists it once."""
    helpers = {"common", "show", "docs", "errors"}
    modules = [m.name for m in pkgutil.iter_modules(blogart.cli.__path__) if m.name not in helpers]
    for name in modules:
        assert isinstance(importlib.import_module(f"blogart.cli.{name}").app, typer.Typer), name
    assert sorted(m.__name__.rsplit(".", 1)[1] for m in COMMANDS) == sorted(modules)


README = Path(__file__).parent.parent / "README.md"


def test_readme_command_table_is_the_apps_help():
    text = README.read_text()
    generated = text.split("]]] -->\n", 1)[1].split("<!-- [[[end]]] -->", 1)[0]
    assert generated == command_table(), "run `cog -r README.md` to regenerate the command table"


def test_cog_check_passes_on_the_readme():
    cogapp = pytest.importorskip("cogapp")  # in the dev extra; the test above checks the same without it
    assert cogapp.Cog().main(["cog", "--check", str(README)]) == 0
