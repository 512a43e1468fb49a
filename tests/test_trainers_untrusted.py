"""`finetune` and `vqgan train` on hostile input, through the real CLI: out-of-range numbers, images no
trainer can use, the other trainer's run folder, a damaged saved run, and the default VQGAN.

Every refusal is one `error:` line with exit 2, before any model or data is loaded. Two real one-step
runs (a VQGAN fine-tuned from the bundled model's, a DalleBart fine-tuned from the bundled one) share
a folder of good and bad images; they must skip the same files for the same reasons.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from cli_checks import one_error_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from blogart.cli import app
from blogart.errors import UsageError
from blogart.training.dallebart_trainer import RunConfig
from blogart.training.images import MAX_PIXELS, UnusableImage, load_image, read_rgb
from blogart.training.vqgan_trainer import TrainOptions

runner = CliRunner()
VQGAN = Path(__file__).parent / "data" / "vqgan"


# -- numbers: finite and in range, refused before anything is read --------------------------------------

# The data folder does not exist: a number checked after the data is read would be refused with a
# message about the data instead, and one not checked at all would only fail after training.
NUMBERS = [
    ("finetune", ["--lr", "nan"], "--lr must be a finite number > 0 and <= 1, got nan"),
    ("finetune", ["--lr", "inf"], "--lr must be a finite number > 0 and <= 1, got inf"),
    ("finetune", ["--lr", "1e400"], "--lr must be a finite number"),
    ("finetune", ["--lr", "2"], "--lr must be a finite number > 0 and <= 1, got 2"),
    ("finetune", ["--test-fraction", "nan"], "--test-fraction must be a finite number >= 0 and < 1"),
    ("finetune", ["--text-dropout", "nan"], "--text-dropout must be a finite number >= 0 and < 1"),
    ("finetune", ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("vqgan", ["--lr", "nan"], "--lr must be a finite number > 0 and <= 1, got nan"),
    ("vqgan", ["--lr", "-inf"], "--lr must be a finite number > 0 and <= 1, got -inf"),
    ("vqgan", ["--disc-weight", "nan"], "--disc-weight must be a finite number >= 0, got nan"),
    ("vqgan", ["--disc-weight", "inf"], "--disc-weight must be a finite number >= 0, got inf"),
    ("vqgan", ["--max-minutes", "nan"], "--max-minutes must be a finite number > 0, got nan"),
    ("vqgan", ["--max-minutes", "inf"], "--max-minutes must be a finite number > 0, got inf"),
    ("vqgan", ["--max-minutes", "0"], "--max-minutes must be a finite number > 0, got 0"),
    ("vqgan", ["--seed", "-1"], "--seed must be an integer >= 0"),
    ("vqgan", ["--size", "4"], "--size must be an integer >= 16"),
]


@pytest.mark.parametrize(("trainer", "extra", "message"), NUMBERS, ids=[f"{c[0]} {' '.join(c[1])}" for c in NUMBERS])
def test_a_number_out_of_range_is_one_line_before_anything_is_read(tmp_path, trainer, extra, message):
    nowhere = str(tmp_path / "no-such-data")
    if trainer == "finetune":
        args = ["finetune", nowhere, "--model", str(tmp_path / "no-model"), "--vqgan", str(VQGAN)]
    else:
        args = ["vqgan", "train", nowhere, "--from", str(VQGAN)]
    one_error_line(runner.invoke(app, [*args, *extra, "--out", str(tmp_path / "out")]), 2, message)
    assert not (tmp_path / "out").exists()


ANY_FLOAT = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, -0.0, 1.0, 1e-300, 5e-324])


@settings(max_examples=150, deadline=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=ANY_FLOAT)
def test_a_learning_rate_is_accepted_iff_finite_and_in_range(value):
    wanted = math.isfinite(value) and 0 < value <= 1
    for make in (lambda: RunConfig(lr=value).check(), lambda: TrainOptions(data=("x",), out="o", lr=value).check()):
        try:
            make()
        except UsageError as exc:
            assert not wanted, exc
            assert str(exc).startswith("--lr must be a finite number")
        else:
            assert wanted, value


@settings(max_examples=150, deadline=200)
@given(value=ANY_FLOAT)
def test_shares_and_weights_are_accepted_iff_finite_and_in_range(value):
    finite = math.isfinite(value)
    checks = [
        (lambda: RunConfig(test_fraction=value).check(), finite and 0 <= value < 1),
        (lambda: RunConfig(text_dropout=value).check(), finite and 0 <= value < 1),
        (lambda: TrainOptions(data=("x",), out="o", disc_weight=value).check(), finite and value >= 0),
        (lambda: TrainOptions(data=("x",), out="o", max_minutes=value).check(), finite and value > 0),
    ]
    for check, wanted in checks:
        try:
            check()
        except UsageError:
            assert not wanted, value
        else:
            assert wanted, value


# -- images: one reader for both trainers ---------------------------------------------------------------


def _png(width: int, height: int, depth: int, colour_type: int, rows: bytes) -> bytes:
    """A PNG written by hand, so its header can say what the test needs (16-bit, or a size it lacks)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _rows(pixels: np.ndarray) -> bytes:
    return b"".join(b"\x00" + row.tobytes() for row in pixels)


def make_zoo(folder: Path) -> dict[str, str | None]:
    """Good images, images that convert to RGB, and images no trainer can use; name -> expected reason
    (None: kept). Every image gets a caption, so the folder is a data set for both trainers."""
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True)
    expected: dict[str, str | None] = {}
    for i, colour in enumerate(("red", "blue", "green", "orange")):
        image = Image.new("RGB", (40, 40), "white")
        ImageDraw.Draw(image).ellipse([4 + i, 6, 30, 30 - i], fill=colour)
        image.save(folder / f"good{i}.png")
        expected[f"good{i}.png"] = None
    Image.new("CMYK", (40, 40), (0, 180, 200, 10)).save(folder / "cmyk.jpg")
    expected["cmyk.jpg"] = None
    ramp = (np.arange(40 * 40, dtype=">u2").reshape(40, 40) * 40).astype(">u2")
    (folder / "grey16.png").write_bytes(_png(40, 40, 16, 0, _rows(ramp)))
    expected["grey16.png"] = None
    rgb16 = np.broadcast_to(np.array([50000, 20000, 3000]), (40, 40, 3)).astype(">u2")
    (folder / "rgb16.png").write_bytes(_png(40, 40, 16, 2, _rows(rgb16.reshape(40, 120))))
    expected["rgb16.png"] = None
    palette = Image.new("P", (40, 40), 0)
    palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    ImageDraw.Draw(palette).rectangle([10, 10, 30, 30], fill=1)
    palette.save(folder / "palette.png", transparency=0)
    expected["palette.png"] = None

    (folder / "bomb.png").write_bytes(_png(20000, 20000, 8, 2, b"\x00" * 64))
    expected["bomb.png"] = "image too large"
    (folder / "big.png").write_bytes(_png(10000, 10000, 8, 0, b"\x00" * 64))
    expected["big.png"] = "image too large"
    whole = (folder / "good0.png").read_bytes()
    Image.open(folder / "good0.png").convert("RGB").save(folder / "cutjpeg.jpg", quality=95)
    (folder / "cutjpeg.jpg").write_bytes((folder / "cutjpeg.jpg").read_bytes()[:300])
    expected["cutjpeg.jpg"] = "unreadable image"
    (folder / "cut.png").write_bytes(whole[: len(whole) // 2])
    expected["cut.png"] = "unreadable image"
    (folder / "words.png").write_bytes(b"these are words, not a picture\n" * 20)
    expected["words.png"] = "unreadable image"
    Image.new("RGB", (8, 8), "red").save(folder / "tiny.png")
    expected["tiny.png"] = "tiny image"
    for number, name in enumerate(expected):
        (folder / name).with_suffix(".txt").write_text(f"picture {number}")
    return expected


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> tuple[Path, dict[str, str | None]]:
    folder = tmp_path_factory.mktemp("zoo") / "images"
    return folder, make_zoo(folder)


def test_the_reader_converts_what_is_an_image_and_names_why_for_the_rest(zoo):
    folder, expected = zoo
    for name, reason in expected.items():
        if reason is None:
            assert read_rgb(folder / name).mode == "RGB", name
            continue
        with pytest.raises(UnusableImage) as caught:
            read_rgb(folder / name)
        assert str(caught.value).startswith(reason + ":"), (name, str(caught.value))
    assert f"over {MAX_PIXELS} pixels" in str(pytest.raises(UnusableImage, read_rgb, folder / "big.png").value)
    # converted, not clipped or blackened: a 16-bit ramp stays a ramp, transparency is white
    grey = load_image(folder / "grey16.png", 40)
    assert grey.min() < 20 and 100 < grey.mean() < 160, (grey.min(), grey.mean())
    assert load_image(folder / "rgb16.png", 16)[0, 0].tolist() == [195, 78, 11]
    palette = load_image(folder / "palette.png", 40)
    assert palette[0, 0].tolist() == [255, 255, 255] and palette[20, 20].tolist() == [200, 30, 30]
    cmyk = load_image(folder / "cmyk.jpg", 16)
    assert cmyk[0, 0, 0] > 200 and cmyk[0, 0, 2] < 80  # CMY(0, 180, 200) is a red-orange


@pytest.fixture(scope="module")
def bundled(tiny_bundled) -> Path:
    return tiny_bundled  # conftest's, built once a session


# The tests that read `runs` share one worker (xdist_group), so its two trainer runs happen once.
with_runs = pytest.mark.xdist_group("trainer-runs")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, zoo, bundled) -> dict[str, object]:
    """One step of each trainer on the zoo, with no model named: both start from the bundled model."""
    root = tmp_path_factory.mktemp("runs")
    folder, _ = zoo
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BLOGART_GENERATE__COMPILE_CACHE", "false")  # the session's XLA cache (conftest.py)
        mp.setenv("BLOGART_ASSETS", str(bundled))
        mp.setenv("BLOGART_HOME", str(root / "home"))
        mp.setenv("HF_HOME", str(root / "hf"))
        vqgan = runner.invoke(
            app, ["vqgan", "train", str(folder), "--out", str(root / "vq"), "--steps", "1", "-b", "2", "--json"]
        )
        finetune = runner.invoke(
            app,
            ["finetune", str(folder), "--model", "bundled", "--out", str(root / "ft"), "--steps", "1", "-b", "2"]
            + ["--test-fraction", "0", "--json"],
        )
    assert vqgan.exit_code == 0, vqgan.output
    assert finetune.exit_code == 0, finetune.output
    return {
        "root": root,
        "vq": root / "vq",
        "ft": root / "ft",
        "vq_report": json.loads(vqgan.stdout),
        "vq_stderr": vqgan.stderr,
        "ft_report": json.loads(finetune.stdout),
    }


@pytest.mark.slow
@with_runs
def test_both_trainers_skip_the_same_images_for_the_same_reasons(runs, zoo, bundled):
    folder, expected = zoo
    vq = {Path(s["name"]).name: s["reason"] for s in runs["vq_report"]["skipped"]}
    ft = {s["name"]: s["reason"] for s in runs["ft_report"]["data"]["skipped"]}
    assert vq == ft
    assert {name: reason.split(":")[0] for name, reason in vq.items()} == {
        name: reason for name, reason in expected.items() if reason is not None
    }
    kept = sum(reason is None for reason in expected.values())
    assert runs["vq_report"]["train_images"] == runs["ft_report"]["train_examples"] == kept
    # listed on stderr in the line finetune prints: kept of found, the reasons counted, the first names
    line = runs["vq_stderr"].strip().splitlines()[-1]
    assert line.startswith(f"{kept} of {len(expected)} images usable in {folder}; skipped {len(vq)} (")
    # the default VQGAN is the one generate draws the bundled model with, for both trainers
    assert runs["vq_report"]["options"]["base"] == str(bundled / "vqgan")
    trainer = json.loads((runs["ft"] / "last" / "trainer.json").read_text())
    assert trainer["sources"]["vqgan"] == str(bundled / "vqgan")


# -- resuming: the other trainer's folder, another version's or a damaged saved run ----------------------


def _edit_trainer(run: Path, copy: Path, edit) -> Path:
    shutil.copytree(run, copy, symlinks=True)
    pointer = json.loads((copy / "checkpoint.json").read_text())
    path = copy / pointer["current"] / "trainer.json"
    trainer = json.loads(path.read_text())
    edit(trainer)
    path.write_text(json.dumps(trainer))
    return copy


RESUMES = [
    ("finetune", "vq", None, "holds a `blogart vqgan train` run, not a `blogart finetune` one"),
    ("vqgan", "ft", None, "holds a `blogart finetune` run, not a `blogart vqgan train` one"),
    ("finetune", "ft", lambda t: t["config"].update(lr="fast"), "its config key 'lr'"),
    ("finetune", "ft", lambda t: t["config"].update(lr=math.nan), "--lr must be a finite number"),
    ("finetune", "ft", lambda t: t["config"].update(momentum=0.9), "its config key 'momentum'"),
    ("finetune", "ft", lambda t: t.pop("sources"), "has no 'sources'"),
    ("finetune", "ft", lambda t: t["counters"].pop("micro_step"), "key 'micro_step'"),
    ("vqgan", "vq", lambda t: t["options"].update(momentum=0.9), "its saved option 'momentum'"),
    ("vqgan", "vq", lambda t: t["options"].update(batch_size="many"), "its saved option 'batch_size'"),
    ("vqgan", "vq", lambda t: t["options"].update(lr=math.inf), "--lr must be a finite number"),
    ("vqgan", "vq", lambda t: t.update(trainer="clip"), "a run this version of blogart does not know"),
]


@pytest.mark.slow
@with_runs
@pytest.mark.parametrize(("trainer", "run", "edit", "message"), RESUMES)
def test_resuming_a_foreign_or_damaged_run_is_one_line(runs, zoo, tmp_path, trainer, run, edit, message):
    folder = runs[run] if edit is None else _edit_trainer(runs[run], tmp_path / "copy", edit)
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    if trainer == "finetune":
        args = ["finetune", str(zoo[0]), "--out", str(folder), "--resume"]
    else:
        args = ["vqgan", "train", str(zoo[0]), "--out", str(folder), "--resume"]
    one_error_line(runner.invoke(app, args), 2, message)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before  # nothing written


# -- a run folder is a model folder ---------------------------------------------------------------------


@pytest.mark.slow
@with_runs
def test_a_run_folder_stands_where_a_model_folder_does(runs, tmp_path, monkeypatch):
    run = runs["ft"]
    newest = (run / "last").resolve()
    verified = runner.invoke(app, ["models", "verify", str(run), "--json"])
    assert verified.exit_code == 0, verified.output
    assert Path(json.loads(verified.stdout)[0]["path"]).resolve() == newest
    monkeypatch.setenv("BLOGART_MODELS__DALLE_MINI", str(run))
    found = runner.invoke(app, ["models", "path", "dalle-mini"])
    assert found.exit_code == 0 and Path(found.stdout.strip()).resolve() == newest, found.output
    assert runner.invoke(app, ["models", "verify", "dalle-mini"]).exit_code == 0
    # a run without a checkpoint yet, or a pointer leading out of the run, is one line too
    (tmp_path / "empty" / "checkpoints").mkdir(parents=True)
    (tmp_path / "empty" / "checkpoint.json").write_text('{"current": "../../etc", "step": 1}')
    monkeypatch.setenv("BLOGART_MODELS__DALLE_MINI", str(tmp_path / "empty"))
    one_error_line(runner.invoke(app, ["models", "path", "dalle-mini"]), 2, "names no checkpoint folder")
