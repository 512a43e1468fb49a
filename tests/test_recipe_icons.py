"""The bundled icon model's recipe (recipes/icons): split rules, the detector, and the whole recipe
at test size, killed mid-run and finished by a rerun, with its exported files loaded back by generate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).parent.parent
RECIPE = ROOT / "recipes" / "icons"
sys.path.insert(0, str(RECIPE))

import catalogue  # noqa: E402
import detect  # noqa: E402
import render  # noqa: E402
from detect import Detector  # noqa: E402
from settings import SAMPLING  # noqa: E402

from blogart.cli import app  # noqa: E402
from blogart.prompts.icons import LAYOUTS, Background, Concept, caption  # noqa: E402

FONT = Path(os.environ.get("BLOGART_EMOJI_FONT") or catalogue.DEFAULT_FONT)
needs_font = pytest.mark.skipif(not FONT.is_file(), reason=f"no emoji font at {FONT} (fonts-noto-color-emoji)")
runner = CliRunner()


def test_the_split_holds_out_combinations_and_shows_every_concept_alone():
    size = render.DataSize(concepts=12, singles=2, multi=300, test=30)
    train, test = render.plan_split(12, size, seed=3)
    concepts = [Concept(name=f"thing{i}", emoji="x") for i in range(12)]

    def text(plan):
        return caption([concepts[i] for i in plan.concepts], plan.background, plan.layout)

    held = [frozenset(p.concepts) for p in test if len(p.concepts) > 1]
    assert len(test) == 30 and len(held) == 24 and all(2 <= len(c) <= 3 for c in held)
    assert len(train) == 12 * 2 + 300
    for plan in train:  # no training image shows a held-out set together, nor has a held-out caption
        assert not any(combo <= set(plan.concepts) for combo in held), plan
    assert not {text(p) for p in train} & {text(p) for p in test}
    assert {p.concepts[0] for p in train if len(p.concepts) == 1} == set(range(12))
    assert (train, test) == render.plan_split(12, size, seed=3)  # seeded
    assert (train, test) != render.plan_split(12, size, seed=4)


def test_more_compositions_keep_the_held_out_set_and_every_earlier_training_image():
    """A bigger data size draws more of the same seeded stream: models trained on the smaller one are
    judged on the same held-out captions, and its training images are all still there."""
    small = render.DataSize(concepts=12, singles=2, multi=100, test=30)
    big = render.DataSize(concepts=12, singles=2, multi=300, test=30)
    train_small, test_small = render.plan_split(12, small, seed=5)
    train_big, test_big = render.plan_split(12, big, seed=5)
    assert test_big == test_small
    assert set(train_small) < set(train_big) and len(train_big) == 12 * 2 + 300
    full, large = render.SIZES["full"], render.SIZES["large"]
    assert (full.concepts, full.singles, full.test) == (large.concepts, large.singles, large.test)
    assert large.multi > full.multi


def test_a_new_measurement_replaces_the_reports_measure_section_and_keeps_its_figures(tmp_path):
    from report import MEASURE_HEADING, refresh_measure

    def measured(date: str, minutes: float) -> Path:
        path = tmp_path / f"measure-{date}.json"
        row = {"part": "DalleBart train step", "wall": 4.5, "cpu": 4.6, "per": "step, batch 16"}
        device = "cpu: cpu x1, 2 CPUs, load average 1.0 at the end"
        plan = {"date": date, "device": device, "cores": 2, "rows": [row]}
        path.write_text(json.dumps({**plan, "planned_minutes": minutes, "plan": "DalleBart train step 1 min"}))
        return path

    report = tmp_path / "REPORT.md"
    refresh_measure(report, measured("2026-01-01", 40.0))  # no report yet: the measurement alone
    assert "has not been run" in report.read_text() and "2026-01-01" in report.read_text()
    figures = "# The bundled icon model: recipe report\n\n## Figures\n\n| VQGAN PSNR | 22.36 dB |\n"
    report.write_text(figures + "\n" + MEASURE_HEADING + "\n\nMeasured ... (2026-01-01):\n")
    refresh_measure(report, measured("2026-02-02", 45.0))
    text = report.read_text()
    assert text.startswith(figures) and "22.36 dB" in text and text.count(MEASURE_HEADING) == 1
    assert "2026-02-02" in text and "2026-01-01" not in text and "between 45 minutes" in text
    assert "wall-clock" not in text  # older measurements have no wall-clock plan
    plan = json.loads(measured("2026-03-03", 45.0).read_text())
    (tmp_path / "measure-wall.json").write_text(json.dumps({**plan, "wall_minutes": 61.7}))
    refresh_measure(report, tmp_path / "measure-wall.json")
    assert "wall-clock times the same work takes 62 minutes" in report.read_text()


def test_captions_say_an_before_a_vowel():
    robot = Concept(name="robot", emoji="🤖")
    owl = Concept(name="owl", emoji="🦉")
    assert caption([robot, owl], Background("orange", "blue"), "row") == (
        "a robot and an owl on an orange to blue gradient, left to right"
    )


@needs_font
def test_the_catalogue_has_the_concepts_blog_posts_need():
    concepts = catalogue.build_catalogue(catalogue.load_font(FONT))
    names = [c.name for c in concepts]
    assert len(names) == len(set(names)) >= 300
    chosen = catalogue.choose(concepts, 320)
    categories = {c.category for c in chosen}
    assert len(chosen) == 320 and {"objects", "tools", "vehicles", "food", "places", "tech"} <= categories
    assert {"people at work", "symbols", "activities", "nature"} <= categories
    by_name = {c.name: c for c in chosen}
    assert "contract" in by_name["balance scale"].keywords and by_name["programmer"].emoji == "🧑\u200d💻"


@needs_font
def test_the_detector_finds_a_pasted_emoji_and_not_an_absent_one():
    from PIL import Image

    font = catalogue.load_font(FONT)
    concepts = [c for c in catalogue.build_catalogue(font) if c.name in ("robot", "bread", "rocket")]
    renderer = render.Renderer(concepts, font)
    detector = Detector([renderer.template(i) for i in range(3)])
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(90, 110, (128, 128, 3)).astype("uint8"))
    image.paste(renderer.glyph(0, 48), (60, 30), renderer.glyph(0, 48))  # a 48 px robot, off the code grid
    best = detector.best(image, 0)
    assert best.score > 0.9 and abs(best.x - 60) <= 4 and abs(best.y - 30) <= 4
    assert detector.found(image, 0)
    assert not detector.found(image, 1) and not detector.found(image, 2)


def test_every_emoji_sits_in_a_fixed_slot_on_the_code_grid():
    for count in (1, 2, 3, 4):
        for layout in LAYOUTS:
            chosen = render.slots(count, layout)
            assert len(chosen) == count
            assert all(v % render.CELL == 0 for slot in chosen for v in slot)
            assert all(x + side <= render.IMAGE_SIDE and y + side <= render.IMAGE_SIDE for x, y, side in chosen)
            boxes = [(x, y, x + side, y + side) for x, y, side in chosen]
            assert all(  # no two slots overlap
                a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                for i, a in enumerate(boxes)
                for b in boxes[i + 1 :]
            )
    row = render.slots(3, "row")
    assert [x for x, _, _ in row] == sorted(x for x, _, _ in row)  # "left to right" is caption order
    every_slot = [*render.SINGLE, *(s for group in (render.ROWS, render.SCATTERS) for v in group.values() for s in v)]
    assert {side for *_, side in every_slot} == set(detect.SIDES)  # the detector tries every drawn size


@needs_font
def test_the_data_folder_is_the_same_for_the_same_seed(tmp_path):
    first = render.write_data(tmp_path / "a", render.SIZES["test"], seed=1, font_path=str(FONT))
    render.write_data(tmp_path / "b", render.SIZES["test"], seed=1, font_path=str(FONT))
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert first["train"] == len(list((tmp_path / "a" / "train").glob("*.png")))
    meta = [json.loads(line) for line in (tmp_path / "a" / "meta.jsonl").read_text().splitlines()]
    assert meta[0]["caption"] == (tmp_path / "a" / meta[0]["file"]).with_suffix(".txt").read_text().strip()
    assert len(list((tmp_path / "a" / "templates").glob("*.png"))) == first["concepts"]


def _first_last(path: Path, key: str) -> tuple[float, float]:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    values = [line[key] for line in lines if line.get("kind", "train") == "train" and key in line]
    return values[0], values[-1]


@pytest.mark.slow
@needs_font
def test_the_recipe_at_test_size_killed_then_rerun_finishes_and_generate_loads_it(tmp_path):
    work = tmp_path / "work"
    command = [sys.executable, str(RECIPE / "run.py"), "--out", str(work), "--size", "test", "--font", str(FONT)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = work / "dallebart" / "checkpoint.json"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None and not pointer.is_file():
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert pointer.is_file(), "the DalleBart stage wrote no checkpoint in time"
    assert process.wait() == -signal.SIGKILL, "the recipe ended before it could be killed"
    assert not (work / "done" / "dallebart.json").exists()
    vqgan_marker = (work / "done" / "vqgan.json").read_bytes()

    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "data: done before, skipped" in done.stderr and "vqgan: done before, skipped" in done.stderr
    assert (work / "done" / "vqgan.json").read_bytes() == vqgan_marker
    bart = json.loads((work / "dallebart" / "report.json").read_text())
    assert bart["steps"] == 30 and bart["resumed_from"] is not None  # the rerun continued the killed run

    # losses fall
    first, last = _first_last(work / "vqgan" / "log.jsonl", "loss")
    assert last < first
    first, last = _first_last(work / "dallebart" / "log.jsonl", "loss")
    assert last < first

    # the exported folders: float16 leaves, the contract layout, and generate draws with them
    assets = work / "assets"
    assert {p.name for p in (assets / "dallebart").iterdir()} >= {"config.json", "flax_model.msgpack", "vocab.json"}
    assert {p.name for p in (assets / "vqgan").iterdir()} == {"config.json", "flax_model.msgpack"}
    from blogart.llm.embeddings import model_id
    from blogart.prompts.icons import load_concepts
    from blogart.prompts.icons_writer import load_concept_vectors

    concepts = load_concepts(assets / "concepts.json")
    assert load_concept_vectors(assets / "concept_vectors.npz", concepts, model_id()).shape == (len(concepts), 384)
    recipe = json.loads((assets / "recipe.json").read_text())
    assert recipe["size"] == "test" and recipe["steps"]["dallebart"] == 30 and len(recipe["data_sha256"]) == 64
    # the recipe's sampling defaults ship with the DalleBart, in transformers' file
    from blogart.models.dalle.generation_config import read_sampling

    sampling = {"condition_scale": SAMPLING.condition_scale, "top_k": SAMPLING.top_k}
    assert read_sampling(assets / "dallebart") == sampling
    assert recipe["settings"]["sampling"] == sampling
    from flax.serialization import msgpack_restore
    from jax.tree_util import tree_leaves

    leaves = tree_leaves(msgpack_restore((assets / "vqgan" / "flax_model.msgpack").read_bytes()))
    assert {np.asarray(leaf).dtype for leaf in leaves} == {np.dtype("float16")}

    # the decoder stage trained the decoder only, and its VQGAN is the one shipped
    assert recipe["steps"]["decoder"] == 6
    stage1, tuned, shipped = (
        msgpack_restore((folder / "flax_model.msgpack").read_bytes())
        for folder in (work / "vqgan", work / "decoder", assets / "vqgan")
    )
    for a, b in zip(tree_leaves(stage1["encoder"]), tree_leaves(tuned["encoder"]), strict=True):
        assert np.array_equal(a, b)
    pairs = zip(tree_leaves(stage1["decoder"]), tree_leaves(tuned["decoder"]), strict=True)
    assert not all(np.array_equal(a, b) for a, b in pairs)
    for a, b in zip(tree_leaves(tuned["decoder"]), tree_leaves(shipped["decoder"]), strict=True):
        assert np.array_equal(np.asarray(a, np.float16), b)
    post = ROOT / "examples" / "sourdough.md"
    args = ["generate", str(post), "--checkpoint", str(assets / "dallebart"), "--vqgan", str(assets / "vqgan")]
    result = runner.invoke(app, [*args, "-n", "2", "--no-rank", "--out", str(tmp_path / "covers"), "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["candidates"]) == 2

    # evaluate ran and wrote its JSON; REPORT.md quotes it
    evaluation = json.loads((work / "evaluate.json").read_text())
    assert 0 < evaluation["vqgan"]["psnr"] < 100
    assert evaluation["generation"]["captions"] == 3 and 0 <= evaluation["generation"]["found"] <= 1
    assert evaluation["generation"]["sampling"] == sampling  # drawn as generate draws with the model
    ceiling = evaluation["generation"]["ceiling"]
    assert ceiling["renders"] >= ceiling["vqgan_round_trips"] >= 0  # a round trip only loses detail
    assert ceiling["renders"] > 0.5  # the detector finds the concepts in their own renders
    report = (work / "REPORT.md").read_text()
    assert f"{evaluation['vqgan']['psnr']:.2f} dB" in report and "VQGAN round trips" in report
    evaluate = [sys.executable, str(RECIPE / "evaluate.py"), "--work", str(work), "--pairs", "2", "--images", "1"]
    again = subprocess.run([*evaluate, "--no-timing", "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["generation"]["captions"] == 2

    # the sampling sweep scores held-out captions past the evaluation's, and skips what it has measured
    sweep = [sys.executable, str(RECIPE / "sampling.py"), "--work", str(work), "--assets", str(assets)]
    sweep += ["--first", "3", "--count", "2", "--images", "2", "--try", "top_k=4,temperature=0.7"]
    tried = subprocess.run([*sweep, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert tried.returncode == 0, tried.stderr
    scored = json.loads(tried.stdout)["temperature=0.7,top_k=4"]
    assert scored["rows"] == "3:5" and scored["captions"] == 2 and 0 <= scored["found"] <= 1
    rerun = subprocess.run(sweep, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and "found" not in rerun.stderr  # measured before: nothing ran
    bad = subprocess.run([*sweep[:-1], "top_k=four"], env=env, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "top_k" in bad.stderr.strip().splitlines()[-1]


@needs_font
def test_an_open_clip_folder_exports_in_float16_and_evaluates_retrieval(tmp_path, tiny_checkpoint):
    """The CLIP half of export and evaluate, on a tiny open_clip model in open_clip's local-dir layout."""
    import shutil

    import evaluate
    from export import half_safetensors
    from safetensors.numpy import load_file
    from tiny_clip import CONFIG

    trained = tmp_path / "clip"
    trained.mkdir()
    model_cfg = json.loads(CONFIG.read_text())
    (trained / "open_clip_config.json").write_text(json.dumps({"model_cfg": model_cfg, "preprocess_cfg": {}}))
    shutil.copyfile(tiny_checkpoint, trained / "open_clip_model.safetensors")
    assets = tmp_path / "assets" / "clip"
    assets.mkdir(parents=True)
    shutil.copyfile(trained / "open_clip_config.json", assets / "open_clip_config.json")
    half_safetensors(trained / "open_clip_model.safetensors", assets / "open_clip_model.safetensors")
    halved = load_file(str(assets / "open_clip_model.safetensors"))
    assert {str(v.dtype) for v in halved.values() if v.dtype.kind == "f"} == {"float16"}

    work = tmp_path / "work"
    render.write_data(work / "data", render.SIZES["test"], seed=0, font_path=str(FONT))
    clip = evaluate.load_clip(tmp_path / "assets")
    rows = evaluate.held_out(work)[:5]
    result = evaluate.clip_retrieval(clip, work, rows)
    assert result["pairs"] == 5 and result["chance"] == 0.2 and 0 <= result["top1"] <= 1
    assert evaluate.load_clip(tmp_path / "nothing") is None
