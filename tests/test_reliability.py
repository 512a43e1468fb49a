"""Reliability through the real CLI: every class of error is one `error:` line and a known exit code,
no secret is ever printed or stored, numbers are finite, files honour the umask, images do not depend on -n.

Exit codes: 1 a run failed, 2 the command line / settings / input is wrong, 130 interrupted.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import threading
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_error_line
from typer.testing import CliRunner

from blogart.cli import app
from blogart.cli.errors import report
from blogart.config import load_settings
from blogart.redact import redact_text, redact_url, remember

POSTS = Path(__file__).parent / "data" / "posts"
POST = POSTS / "tidepools.txt"
runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def post(tmp_path) -> Path:
    path = tmp_path / "post.md"
    path.write_text("# Bees\n\nUrban beekeeping on rooftops is growing in popularity.\n")
    return path


@pytest.fixture
def openai_images(fake_openai, monkeypatch):
    """openai-images against the fake server: a real generate run that writes files, with no model to load."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    return fake_openai


def generate_args(out: Path, *extra: str) -> list[str]:
    return [
        "generate",
        str(POST),
        "-m",
        "openai-images",
        "-n",
        "2",
        "--backend",
        "local",
        "--no-rank",
        "--out",
        str(out),
        *extra,
    ]


# -- settings ------------------------------------------------------------------------------------------------


def test_list_and_table_settings_from_the_environment_name_the_variable(monkeypatch):
    monkeypatch.setenv("BLOGART_PROMPT__NEGATIVE", "people, text")
    line = one_error_line(run("config", "show"), 2, "BLOGART_PROMPT__NEGATIVE", "prompt.negative", "JSON")
    assert '["a", "b"]' in line
    monkeypatch.setenv("BLOGART_PROMPT__NEGATIVE", '["people", "text"]')
    assert load_settings().prompt.negative == ["people", "text"]
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", "nudity=0.3")
    one_error_line(run("config", "show"), 2, "BLOGART_MODERATION__CONCEPTS", "moderation.concepts")


@pytest.mark.parametrize(
    ("flag", "value", "key"),
    [
        ("--condition-scale", "inf", "generate.condition_scale"),
        ("--temperature", "inf", "generate.temperature"),
        ("--top-p", "nan", "generate.top_p"),
    ],
)
def test_infinite_and_nan_flags_are_refused_before_any_work(tmp_path, flag, value, key):
    result = run("generate", str(POST), flag, value, "--out", str(tmp_path / "out"))
    one_error_line(result, 2, key, "finite")
    assert not (tmp_path / "out").exists()


def test_every_float_setting_must_be_finite(monkeypatch):
    monkeypatch.setenv("BLOGART_RANK__NEGATIVE_WEIGHT", "nan")
    one_error_line(run("config", "show"), 2, "rank.negative_weight", "finite")
    monkeypatch.delenv("BLOGART_RANK__NEGATIVE_WEIGHT")
    monkeypatch.setenv("BLOGART_MODERATION__CONCEPTS", '{"nudity": NaN}')
    one_error_line(run("config", "show"), 2, "moderation.concepts.nudity", "finite")
    monkeypatch.delenv("BLOGART_MODERATION__CONCEPTS")
    settings = load_settings()
    floats = [
        f"{section}.{key}"
        for section, values in settings.model_dump().items()
        for key, value in values.items()
        if isinstance(value, float)
    ]
    assert floats  # the loop below would prove nothing otherwise
    for dotted in floats:
        section, key = dotted.split(".")
        with pytest.raises(Exception, match="finite"):
            load_settings(overrides={section: {key: float("inf")}})


def test_config_file_that_is_a_folder_not_utf8_or_endless(tmp_path):
    one_error_line(run("--config", str(tmp_path), "config", "show"), 2, "is a directory")
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes('[prompt]\nstyle = "caf\xe9"\n'.encode("latin-1"))
    one_error_line(run("--config", str(latin1), "config", "show"), 2, "not UTF-8", "0xe9")
    if Path("/dev/zero").exists():
        one_error_line(run("--config", "/dev/zero", "config", "show"), 2, "/dev/zero")


def test_path_settings_expand_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "blogart.toml").write_text('[generate]\nout_dir = "~/covers"\n[store]\npath = "~/b.db"\n')
    settings = load_settings()
    assert settings.generate.out_dir == str(tmp_path / "home" / "covers")
    assert settings.store.resolved() == tmp_path / "home" / "b.db"
    flagged = load_settings(overrides={"models": {"vqgan": "~/vq"}, "prompt": {"styles_file": "~/s.toml"}})
    assert flagged.models.vqgan == str(tmp_path / "home" / "vq")
    assert flagged.prompt.styles_file == str(tmp_path / "home" / "s.toml")
    assert load_settings().generate.model == "auto"  # not a path: left alone


# -- the command line ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["generate", str(POST), "-n", "0"], "-n"),
        (["generate", str(POST), "--rounds", "3"], "--rounds"),
        (["generate", str(POST), "--bogus"], "--bogus"),
        (["--bogus", "config", "show"], "--bogus"),
        (["generate"], "post"),
        (["no-such-command"], "no-such-command"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args, needle):
    line = one_error_line(run(*args), 2, needle)
    assert "--help" in line
    assert "╭" not in line


def test_bare_blogart_still_prints_its_help():
    result = run()
    assert "error:" not in result.output
    assert "generate" in result.output and "Usage" in result.output


def test_seed_help_says_what_happens():
    result = run("generate", "--help")
    assert "All images share the seed" in " ".join(result.output.split())


# -- the file system, memory, interrupts ---------------------------------------------------------------------


def test_full_disk_after_drawing_is_one_line_naming_the_file(openai_images, tmp_path, monkeypatch):
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    out = tmp_path / "out"
    line = one_error_line(run(*generate_args(out)), 1, os.strerror(errno.ENOSPC))
    assert str(out) in line and ".tmp" not in line  # the file the user asked for, not our temporary
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder_is_one_line(openai_images, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        one_error_line(run(*generate_args(out)), 1)
    finally:
        out.chmod(0o755)


@pytest.mark.parametrize(
    ("exc", "code", "needle"),
    [
        (MemoryError(), 1, "out of memory"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (PermissionError(errno.EACCES, "Permission denied", "/srv/covers/a.png"), 1, "/srv/covers/a.png"),
    ],
)
def test_memory_interrupt_and_os_errors_from_inside_a_run(post, monkeypatch, exc, code, needle):
    import blogart.pipeline.prompt

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(blogart.pipeline.prompt, "run_prompt", fail)
    one_error_line(run("prompt", str(post), "--backend", "local"), code, needle)


def test_report_covers_settings_errors_directly(capsys):
    from pydantic import BaseModel, ValidationError
    from pydantic_settings import SettingsError

    class Model(BaseModel):
        n: int

    with pytest.raises(ValidationError) as info:
        Model(n="many")
    assert report(info.value) == 2
    assert report(SettingsError('error parsing value for field "prompt"')) == 2
    assert report(RuntimeError("a bug")) is None  # not ours: keeps its traceback
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("error: bad setting n:") and lines[1].startswith("error: bad setting")
    assert len(lines) == 2


# -- the post ------------------------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_character_device_is_capped():
    one_error_line(run("prompt", "/dev/zero", "--backend", "local"), 2, "limit")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.parametrize("size", [100, 5000])
def test_a_pipe_is_read_up_to_the_limit(tmp_path, monkeypatch, size):
    monkeypatch.setenv("BLOGART_INPUT__MAX_BYTES", "1000")
    fifo = tmp_path / "post.md"
    os.mkfifo(fifo)
    body = ("# Bees\n\n" + "Urban beekeeping on rooftops is growing. " * 200)[:size].encode()

    def write() -> None:
        # BrokenPipeError: the reader stopped at the limit, as it should.
        with fifo.open("wb") as handle, contextlib.suppress(BrokenPipeError):
            handle.write(body)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    result = run("prompt", str(fifo), "--backend", "local", "--json")
    writer.join(timeout=10)
    if size > 1000:
        one_error_line(result, 2, "limit")
    else:
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["title"] == "Bees"


# -- numbers, secrets and modes in what is written -----------------------------------------------------------


def test_json_writes_refuse_nan_and_keep_the_old_file(tmp_path):
    from blogart.atomic import atomic_write_json

    path = tmp_path / "run" / "manifest.json"
    atomic_write_json(path, {"score": 1.0})
    with pytest.raises(ValueError):
        atomic_write_json(path, {"score": float("nan")})
    assert json.loads(path.read_text()) == {"score": 1.0}
    assert [p.name for p in path.parent.iterdir()] == ["manifest.json"]


def _strict_json(text: str):
    def refuse(name: str):
        raise AssertionError(f"{name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_credentials_in_the_base_url_are_never_written(openai_images, tmp_path, monkeypatch):
    host = openai_images.base_url.split("://", 1)[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://alice:hunter2-pass@{host}")
    shown = run("config", "show", "--json")
    assert shown.exit_code == 0, shown.output
    assert "hunter2" not in shown.output
    assert _strict_json(shown.stdout)["llm"]["base_url"] == f"http://***@{host}"
    result = run(*generate_args(tmp_path / "out"))
    assert result.exit_code == 0, result.output
    manifest_text = next((tmp_path / "out").glob("*/manifest.json")).read_text()
    assert "hunter2" not in manifest_text and "sk-test" not in manifest_text
    assert _strict_json(manifest_text)["settings"]["llm"]["base_url"] == f"http://***@{host}"


def test_a_server_that_echoes_the_key_gets_it_masked(fake_openai, post, monkeypatch):
    from blogart.store import Store

    key = "office-key-0123456789"  # not sk- shaped: masked because it is the configured key
    message = f"Incorrect API key provided: {key}; also sk-proj-abcdefgh123456 and Bearer {key}"
    fake_openai.on("/v1/chat/completions", lambda request: (401, {"error": {"message": message, "type": "auth"}}))
    monkeypatch.setenv("OPENAI_API_KEY", key)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    result = run("prompt", str(post), "--backend", "openai")
    line = one_error_line(result, 1, "HTTP 401")
    assert key not in result.output and "abcdefgh123456" not in result.output
    assert "***" in line
    errors = [call.error for call in Store().recent_calls() if call.error]
    assert errors and all(key not in e and "abcdefgh123456" not in e for e in errors)


def test_redaction_rules():
    assert redact_url("http://user:pass@host/v1") == "http://***@host/v1"
    assert redact_url("https://host/v1?api-version=1&api-key=abc") == "https://host/v1?api-version=1&api-key=***"
    assert redact_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"
    assert redact_url(None) is None
    remember("a-remembered-secret")
    text = "Authorization: Bearer abc.def; key sk-abcdefghij; a-remembered-secret; https://u:p@x/y?sig=Z&se=1"
    assert redact_text(text) == "Authorization: Bearer ***; key sk-***; ***; https://***@x/y?sig=***&se=1"
    assert redact_text("an ordinary sentence with a-dash") == "an ordinary sentence with a-dash"


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_honour_the_umask(tmp_path, umask):
    from blogart import atomic

    old = os.umask(umask)
    atomic._umask.cache_clear()
    try:
        atomic.atomic_write_bytes(tmp_path / "cover.png", b"png")
        assert stat.S_IMODE((tmp_path / "cover.png").stat().st_mode) == 0o666 & ~umask
    finally:
        os.umask(old)
        atomic._umask.cache_clear()


def test_generated_files_are_readable_by_others(openai_images, tmp_path):
    from blogart import atomic

    old = os.umask(0o022)
    atomic._umask.cache_clear()
    try:
        result = run(*generate_args(tmp_path / "out"))
    finally:
        os.umask(old)
        atomic._umask.cache_clear()
    assert result.exit_code == 0, result.output
    manifest = next((tmp_path / "out").glob("*/manifest.json"))
    assert stat.S_IMODE(manifest.stat().st_mode) == 0o644


# -- models verify -------------------------------------------------------------------------------------------


def test_verify_a_truncated_clip_file_and_an_invalid_config(tiny_checkpoint, tmp_path):
    from blogart.models.dalle import verify

    folder = tmp_path / "clip"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {}, "preprocess_cfg": {}}))
    shutil.copy(tiny_checkpoint, folder / "open_clip_model.safetensors")
    assert verify.verify(folder).ok
    data = (folder / "open_clip_model.safetensors").read_bytes()
    (folder / "open_clip_model.safetensors").write_bytes(data[: len(data) // 2])  # an interrupted copy
    problems = verify.verify(folder).problems
    assert len(problems) == 1 and "truncated" in problems[0], problems
    result = run("models", "verify", str(folder))
    assert result.exit_code == 1 and "truncated" in result.output

    bin_folder = tmp_path / "clip-bin"
    bin_folder.mkdir()
    (bin_folder / "open_clip_config.json").write_text("{}")
    (bin_folder / "open_clip_pytorch_model.bin").write_bytes(b"PK\x03\x04 half of a zip")
    assert "truncated" in verify.verify(bin_folder).problems[0]

    broken = tmp_path / "vq"
    broken.mkdir()
    (broken / "config.json").write_text('{"n_embed": 64,')
    assert verify.verify(broken).problems[0].startswith("config.json is not valid JSON")
    (broken / "config.json").write_text('{"hello": 1}')
    assert verify.verify(broken).problems == ("config.json describes neither a DalleBart nor a VQGAN model",)


# -- image i is the same for any -n ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_vqgan_decode_does_not_depend_on_the_batch(dtype):
    from blogart.models.dalle import vqgan

    bundle = vqgan.load_vqgan(Path(__file__).parent / "data" / "vqgan", dtype)
    codes = np.random.default_rng(0).integers(0, bundle.config.n_embed, (4, bundle.config.num_codes))

    def pixels(n: int) -> np.ndarray:
        return (vqgan.decode_codes(bundle, codes[:n]) * 255.0).round().astype(np.uint8)

    # Decoded as one batch, bfloat16 on a CPU already rounds ~1000 of these bytes differently for 3 and 4.
    np.testing.assert_array_equal(pixels(3), pixels(4)[:3])
    np.testing.assert_array_equal(pixels(1), pixels(4)[:1])


# -- cheap checks before any LLM call ------------------------------------------------------------------------


def _broken_checkpoint(tiny_dalle, tmp_path) -> Path:
    """A copy of the tiny DalleBart whose config.json no longer fits its tensors."""
    folder = tmp_path / "broken"
    shutil.copytree(tiny_dalle[0], folder)
    config = json.loads((folder / "config.json").read_text())
    config["d_model"] *= 2
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("case", ["seed", "checkpoint", "out-is-a-file"])
def test_cheap_checks_fail_before_any_llm_call(case, fake_openai, tiny_dalle, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    out = tmp_path / "out"
    args = ["generate", str(POST), "--backend", "openai", "--no-rank", "--vqgan", str(tiny_dalle[1])]
    args += ["--checkpoint", str(tiny_dalle[0]), "--out", str(out)]
    if case == "seed":
        args += ["--seed", "-1"]
        code, needle = 2, "seed"
    elif case == "checkpoint":
        args[args.index("--checkpoint") + 1] = str(_broken_checkpoint(tiny_dalle, tmp_path))
        code, needle = 1, "models verify"
    else:
        out.write_text("not a folder")
        code, needle = 2, "not a folder"
    one_error_line(run(*args), code, needle)
    assert fake_openai.calls("/v1/chat/completions") == []  # nothing paid for
    assert case == "out-is-a-file" or not out.exists()  # and no empty folder left behind


def test_a_nan_score_is_written_as_null_and_never_becomes_the_cover(tmp_path):
    from blogart.outputs.manifest import build_manifest
    from blogart.ranking.clip import sort_ranked
    from blogart.values import Candidate, Ranked

    def ranked(name: str, score: float) -> Ranked:
        candidate = Candidate(tmp_path / name, seed=1, prompt="p", negative_prompt="", generator="g")
        return Ranked(candidate, score=score, prompt_score=score, topic_scores={"bees": score})

    order = sort_ranked([ranked("a.png", float("nan")), ranked("b.png", 0.3)])
    manifest = build_manifest({}, [r.candidate for r in order], order, load_settings(), {"generator": "g"}, "0")
    json.dumps(manifest, allow_nan=False)  # strict JSON
    assert manifest["cover"].endswith("b.png")
    nan_row = next(row for row in manifest["candidates"] if row["path"].endswith("a.png"))
    assert nan_row["score"] is None and nan_row["topic_scores"] == {"bees": None}


def test_openai_images_without_a_key_says_how_to_draw_locally(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    line = one_error_line(run(*generate_args(tmp_path / "out")), 2, "OPENAI_API_KEY", "-m dalle-mini")
    assert "--backend local" not in line  # the text backend's hint would not help with drawing
