"""What the user reads when a path or a file is wrong: one `error:` line in plain words, the right exit code,
and nothing done first. Table-driven through the CLI; add a row for each new case."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from blogart.cli import app

runner = CliRunner()
POST = Path(__file__).parent / "data" / "social" / "sourdough.txt"
# A class name in a message ("JSONDecodeError: ...", "BlogartError: ...") is for a developer, not a user.
CLASS_NAME = re.compile(r"\b[A-Z][a-z]+(?:[A-Z][a-z]*)*(?:Error|Exception)\b")


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    (tmp_path / "folder").mkdir()
    clip = tmp_path / "clip"
    clip.mkdir()
    (clip / "open_clip_model.safetensors").write_bytes(b"")
    image = tmp_path / "image.png"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(image)
    return {"file": a_file, "folder": tmp_path / "folder", "clip": clip, "image": image, "tmp": tmp_path}


# (case, argv with {file}/{folder}/{tmp}/{image}/{post} placeholders, environment, exit code, message pattern)
CASES = [
    ("generate --out a file", ["generate", "{post}", "--out", "{file}"], {}, 2, r"--out {file} is not a folder"),
    ("generate --out under a file", ["generate", "{post}", "-o", "{file}/x"], {}, 2, r"--out {file}/x is not a folder"),
    ("social --out a file", ["social", "{post}", "--out", "{file}"], {}, 2, r"--out {file} is not a folder"),
    ("ci --out a file", ["ci", "{tmp}", "--out", "{file}"], {}, 2, r"--out {file} is not a folder"),
    ("backfill --out a file", ["backfill", "{tmp}", "--out", "{file}"], {}, 2, r"--out {file} is not a folder"),
    ("pick --out a file", ["pick", "{post}", "1", "--out", "{file}"], {}, 2, r"{file} is not a folder"),
    ("regenerate --out a file", ["regenerate", "{folder}", "--out", "{file}"], {}, 2, r"{file} is not a folder"),
    (
        "BLOGART_HOME a file",
        ["prompt", "{post}", "--backend", "local"],
        {"BLOGART_HOME": "{file}"},
        2,
        r"BLOGART_HOME {file} is not a folder: it is a file",
    ),
    (
        "BLOGART_HOME under a file",
        ["generate", "{post}"],
        {"BLOGART_HOME": "{file}/home"},
        2,
        r"BLOGART_HOME {file}/home is not a folder: {file} is a file",
    ),
    (
        "the database under a file",
        ["prompt", "{post}", "--backend", "local"],
        {"BLOGART_STORE__PATH": "{file}/blogart.db"},
        2,
        r"the folder of the blogart database {file} is not a folder",
    ),
    (
        "the database a folder",
        ["prompt", "{post}", "--backend", "local"],
        {"BLOGART_STORE__PATH": "{folder}"},
        2,
        r"the blogart database {folder} is a folder; set \[store\] path to a file",
    ),
    (
        "a CLIP folder whose config is no JSON",
        ["rank", "{image}", "-p", "bread"],
        {"BLOGART_RANK__MODEL": "{clip}", "CLIP_CONFIG": "{"},
        1,
        r"open_clip_config.json is not an open_clip config \(Expecting property name",
    ),
    (
        "a CLIP folder whose config lacks model_cfg",
        ["rank", "{image}", "-p", "bread"],
        {"BLOGART_RANK__MODEL": "{clip}", "CLIP_CONFIG": '{"x": 1}'},
        1,
        r"open_clip_config.json is not an open_clip config \(missing key 'model_cfg'\)",
    ),
]


@pytest.mark.parametrize(("argv", "env", "code", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_plain_line_and_the_right_exit_code_before_any_work(paths, monkeypatch, argv, env, code, pattern):
    values = {"post": str(POST), **{k: str(v) for k, v in paths.items()}}

    def fill(text: str, escape=lambda value: value) -> str:
        return re.sub(r"\{(\w+)\}", lambda m: escape(values[m[1]]), text)

    for name, value in env.items():
        if name == "CLIP_CONFIG":
            (paths["clip"] / "open_clip_config.json").write_text(value)
        else:
            monkeypatch.setenv(name, fill(value))
    before = sorted(p.relative_to(paths["tmp"]) for p in paths["tmp"].rglob("*"))

    result = runner.invoke(app, [fill(a) for a in argv])

    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert re.search(fill(pattern, re.escape), lines[0]), lines[0]
    assert not CLASS_NAME.search(lines[0]) and "Errno" not in lines[0], lines[0]
    assert paths["file"].read_text() == "not a folder"
    after = sorted(p.relative_to(paths["tmp"]) for p in paths["tmp"].rglob("*"))
    assert after == before  # nothing made: no output folder, no database, no run


def test_plugin_and_library_errors_name_no_classes():
    from blogart.text import one_line

    assert one_line(json.JSONDecodeError("Expecting value", "x", 0), named=True).startswith("Expecting value")
    assert one_line(FileNotFoundError(2, "No such file or directory"), named=True).startswith("file not found error")
