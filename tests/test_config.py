"""Settings precedence and the `config` commands."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blogart.cli import app
from blogart.config import Settings, load_settings
from blogart.errors import UsageError

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
runner = CliRunner()


def test_precedence_defaults_file_env_flags(tmp_path, monkeypatch):
    (tmp_path / "blogart.toml").write_text('[llm]\nmodel = "file"\ntimeout = 5\n[generate]\nn = 3\nseed = 9\n')
    assert load_settings().llm.model == "file"
    monkeypatch.setenv("BLOGART_LLM__MODEL", "env")
    monkeypatch.setenv("BLOGART_GENERATE__SEED", "11")
    settings = load_settings(overrides={"llm": {"model": "flag"}, "generate": {"n": None}})
    assert settings.llm.model == "flag"  # flag beats env
    assert settings.generate.seed == 11  # env beats file
    assert settings.generate.n == 3  # a flag left unset does not hide the file
    assert settings.llm.timeout == 5.0
    assert settings.chunking.max_tokens == 512  # default


def test_openai_env_is_below_blogart_env(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-openai-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    settings = load_settings()
    assert settings.llm.api_key.get_secret_value() == "sk-from-openai-env"
    monkeypatch.setenv("BLOGART_LLM__BASE_URL", "http://127.0.0.1:10/v1")
    assert load_settings().llm.base_url == "http://127.0.0.1:10/v1"


def test_explicit_config_file_and_errors(tmp_path):
    good = tmp_path / "other.toml"
    good.write_text('[prompt]\nstyle = "photo"\n')
    assert load_settings(good).prompt.style == "photo"
    with pytest.raises(UsageError, match="not found"):
        load_settings(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[llm\nmodel=1")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_settings(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('[llm]\nmodle = "x"\n')
    with pytest.raises(UsageError, match=r"llm\.modle"):
        load_settings(typo)


def test_example_config_is_valid_and_documents_every_key():
    Settings.model_validate(tomllib.loads(EXAMPLE.read_text()))
    text = EXAMPLE.read_text()
    for section, values in Settings().model_dump().items():
        assert f"[{section}]" in text
        for key in values:
            assert re.search(rf"^#?\s*{key} =", text, re.M) or f"[{section}.{key}]" in text, f"{section}.{key}"


def test_config_show_redacts_secrets_and_path(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "sk-very-secret" not in result.output
    assert 'api_key = "***"' in result.output
    result = runner.invoke(app, ["config", "path"])
    assert "no config file" in result.output
    (tmp_path / "blogart.toml").write_text("")
    result = runner.invoke(app, ["config", "path"])
    assert result.output.strip() == str((tmp_path / "blogart.toml").resolve())


def test_bad_config_is_one_line_exit_2(tmp_path):
    (tmp_path / "blogart.toml").write_text('[generate]\nn = "many"\n')
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert result.output.strip().startswith("error: bad setting generate.n")
    assert "Traceback" not in result.output


def test_sampling_settings_are_checked_before_any_work(tmp_path):
    post = tmp_path / "post.md"
    post.write_text("# Bees\n\nUrban beekeeping on rooftops is growing in popularity.\n")
    for flag, value in (("--top-k", "-1"), ("--top-p", "1.5"), ("--temperature", "0")):
        result = runner.invoke(app, ["generate", str(post), flag, value])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: bad setting generate.")
    assert load_settings(overrides={"generate": {"top_k": 0}}).generate.top_k == 0  # 0 turns top-k off
