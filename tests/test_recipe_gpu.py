"""The icon recipe's GPU legs (recipes/icons/gpu.py, gpu.sh): the gpu size's asset budget, the results
folder a device command brings back, and the whole flow rehearsed at test size on this CPU."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
RECIPE = ROOT / "recipes" / "icons"
sys.path.insert(0, str(RECIPE))

import budget  # noqa: E402
import catalogue  # noqa: E402
import gpu  # noqa: E402
from settings import SIZES  # noqa: E402

FONT = Path(os.environ.get("BLOGART_EMOJI_FONT") or catalogue.DEFAULT_FONT)
needs_font = pytest.mark.skipif(not FONT.is_file(), reason=f"no emoji font at {FONT} (fonts-noto-color-emoji)")
BUNDLED = ROOT / "src" / "blogart" / "assets" / "icons"


def test_the_gpu_size_grows_the_vqgan_and_stays_within_the_asset_budget():
    from blogart.models.dalle.vqgan_config import VQGANConfig

    gpu_size, full = budget.budget(SIZES["gpu"]), budget.budget(SIZES["full"])
    assert gpu_size["fits"] and gpu_size["total_bytes"] <= budget.BUDGET_BYTES == 24_500_000
    assert full["fits"]  # the shipped shapes fit the budget they set
    assert gpu_size["params"]["vqgan"] > 1.3 * full["params"]["vqgan"]
    assert gpu_size["params"]["dallebart"] < full["params"]["dallebart"]
    # the counts are the shipped files' own: 2 bytes a weight plus a few kB of keys
    shipped = {"dallebart": BUNDLED / "dallebart/flax_model.msgpack", "vqgan": BUNDLED / "vqgan/flax_model.msgpack"}
    shipped["clip"] = BUNDLED / "clip/open_clip_model.safetensors"
    for part, path in shipped.items():
        if path.is_file():
            assert 0 <= path.stat().st_size - full["float16_bytes"][part] < 15_000, part
    # still 16x16 codes of at most the DalleBart's image vocabulary
    vq = VQGANConfig.from_dict(json.loads(SIZES["gpu"].vqgan.config_path().read_text()))
    bart = json.loads(SIZES["gpu"].dallebart.config_path().read_text())
    assert vq.num_codes == bart["image_length"] == 256 and vq.n_embed <= bart["image_vocab_size"]


def test_a_leg_sizes_its_run_to_the_clock():
    assert gpu.steps_that_fit(100.0, 0.5, ceiling=10_000) == 190  # 5% kept spare
    assert gpu.steps_that_fit(100.0, 0.01, ceiling=3000, done=50) == 3000
    assert gpu.steps_that_fit(-5.0, 0.5, ceiling=3000, done=50) == 50  # no time left: what is done
    # the DalleBart's first updates say whether its run reaches its ceiling, else how long a new one can be
    assert gpu.restart_steps(20, 0.025, left=400.0, startup=40.0, ceiling=12000) is None  # it fits
    assert gpu.restart_steps(20, 0.05, left=400.0, startup=40.0, ceiling=12000) == 6840
    assert gpu.restart_steps(3, 0.06, left=20.0, startup=100.0, ceiling=50000) is None  # too late to start again


def test_results_split_into_parts_within_the_device_limits_and_are_checked_back(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu, "PART_BYTES", 1000)
    files = {"model.tar": os.urandom(2500), "codes.npz": b"codes"}
    paths = gpu.pack(tmp_path / "out", files, {"leg": "vqgan"})
    assert sorted(p.name for p in paths) == sorted(
        ["model.tar.part0", "model.tar.part1", "model.tar.part2", "codes.npz", "manifest.json"]
    )
    manifest, back = gpu.unpack(tmp_path / "out")
    assert back == files and manifest["leg"] == "vqgan"
    (tmp_path / "out" / "model.tar.part1").write_bytes(b"x" * 1000)
    with pytest.raises(gpu.GpuError, match="damaged"):
        gpu.unpack(tmp_path / "out")
    with pytest.raises(gpu.GpuError, match="at most 8"):
        gpu.pack(tmp_path / "many", {f"f{i}": b"" for i in range(8)}, {})
    with pytest.raises(gpu.GpuError, match="no manifest.json"):
        gpu.unpack(tmp_path)


@needs_font
@pytest.mark.slow
def test_a_gpu_leg_renders_the_same_data_with_every_core(tmp_path):
    import render

    render.write_data(tmp_path / "one", render.SIZES["test"], seed=2, font_path=str(FONT))
    render.write_data(tmp_path / "three", render.SIZES["test"], seed=2, font_path=str(FONT), workers=3)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert len(files) > 100
    assert files == sorted(p.relative_to(tmp_path / "three") for p in (tmp_path / "three").rglob("*") if p.is_file())
    assert all((tmp_path / "one" / f).read_bytes() == (tmp_path / "three" / f).read_bytes() for f in files)


def device_limits(out: Path) -> list[Path]:
    """What the device tool brings back from $OUT: at most 8 plain files of at most 16 MiB, at most two
    folders deep, named with letters, digits and ._- only."""
    entries = sorted(out.rglob("*"))
    files = [p for p in entries if p.is_file()]
    assert files and len(files) <= 8, [p.name for p in files]
    for path in files:
        assert not path.is_symlink() and path.stat().st_size <= 16 * 2**20, path
        assert len(path.relative_to(out).parts) <= 3 and re.fullmatch(r"[A-Za-z0-9._-]+", path.name), path
    return files


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and lines and lines[-1].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[-1]


@needs_font
@pytest.mark.slow
def test_the_gpu_legs_rehearsed_at_test_size_finish_the_recipe_and_its_export_draws(tmp_path):
    work, carry = tmp_path / "work", tmp_path / "carry"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHON": sys.executable}
    env.pop("BLOGART_HOME", None)
    recipe = [sys.executable, str(RECIPE / "run.py"), "--out", str(work), "--size", "test", "--font", str(FONT)]

    def run(command: list[str], **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(command, env={**env, **extra}, capture_output=True, text=True, timeout=900)

    # a leg without a prepared carry folder, and results before any preparation, are one line each
    one_error_line(run(["bash", str(RECIPE / "gpu.sh"), "vqgan", str(carry)], OUT=str(tmp_path / "x")))
    one_error_line(run([*recipe, "--import-gpu", str(tmp_path)]))

    prepared = run([*recipe, "--prepare-gpu", str(carry), "--no-wheels"])
    assert prepared.returncode == 0, prepared.stderr
    assert f"gpu.sh vqgan {carry}" in prepared.stdout
    from run import data_hash

    plan = json.loads((carry / "plan.json").read_text())
    assert plan["data"]["sha256"] == data_hash(work / "data") and {"vocab.json", "merges.txt"} <= {
        p.name for p in (carry / "tokenizer").iterdir()
    }

    legs = {}
    for leg in ("vqgan", "dallebart"):
        out = tmp_path / f"results-{leg}"
        scratch = str(tmp_path / leg)
        done = run(["bash", str(RECIPE / "gpu.sh"), leg, str(carry)], OUT=str(out), BLOGART_GPU_WORK=scratch)
        assert done.returncode == 0, done.stderr
        device_limits(out)
        imported = run([*recipe, "--import-gpu", str(out)])
        assert imported.returncode == 0, imported.stderr
        legs[leg] = json.loads((out / "manifest.json").read_text())
        if leg == "vqgan":
            # both parts ran: the clock-stopped first one timed a step, the resumed one finished the schedule
            assert [p["steps"] for p in legs[leg]["phases"]] == [1, 11] and legs[leg]["steps"] == 12
            assert f"gpu.sh dallebart {carry}" in imported.stdout
            assert (carry / "vqgan" / "flax_model.msgpack").read_bytes() == (
                work / "vqgan" / "flax_model.msgpack"
            ).read_bytes()
            again = run([*recipe, "--import-gpu", str(out)])  # the same results twice: nothing changes
            assert again.returncode == 0 and "imported before" in again.stderr
    # the DalleBart trained on the carried codes: the leg encoded no image itself
    cached = list((tmp_path / "dallebart" / "home" / "cache" / "image-codes").iterdir())
    assert len(cached) == 1 and 0 < len(list(cached[0].rglob("*.npy"))) <= plan["data"]["train"]
    assert legs["dallebart"]["steps"] == 30 and not legs["dallebart"]["stopped_by_clock"]

    finished = run(recipe)
    assert finished.returncode == 0, finished.stderr
    for stage in ("data", "vqgan", "dallebart"):
        assert f"{stage}: done before, skipped" in finished.stderr
    report = (work / "REPORT.md").read_text()
    assert "gpu.sh vqgan" in report and "gpu.sh dallebart" in report  # where each stage ran
    recipe_json = json.loads((work / "assets" / "recipe.json").read_text())
    assert recipe_json["steps"]["vqgan"] == 12 and recipe_json["steps"]["dallebart"] == 30
    evaluation = json.loads((work / "evaluate.json").read_text())  # the exported model loaded and drew
    assert evaluation["generation"]["captions"] == 3 and 0 < evaluation["vqgan"]["psnr"] < 100
    # results from another work folder's data are refused
    other = run(
        [sys.executable, str(RECIPE / "run.py"), "--out", str(tmp_path / "w2"), "--size", "test"]
        + ["--font", str(FONT), "--prepare-gpu", str(tmp_path / "c2"), "--no-wheels", "--seed", "1"]
    )
    assert other.returncode == 0, other.stderr
    refused = run(
        [sys.executable, str(RECIPE / "run.py"), "--out", str(tmp_path / "w2"), "--size", "test"]
        + ["--import-gpu", str(tmp_path / "results-vqgan")]
    )
    assert "other data" in one_error_line(refused)
