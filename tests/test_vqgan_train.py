"""`blogart vqgan check | train` on tiny VQGANs: PSNR, code usage, falling loss, restarts, resume, format."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from blogart.cli import app
from blogart.models.dalle.vqgan import decode_codes, encode_images, load_vqgan
from blogart.models.dalle.vqgan_config import VQGANConfig
from blogart.training import vqgan_check, vqgan_trainer
from blogart.training.vqgan_model import init_params, save_vqgan

runner = CliRunner()
POSTS = Path(__file__).parent.parent / "examples"
REFERENCE_VQGAN = Path(__file__).parent / "data" / "vqgan"  # 32 px, 16x16 codes of 64: fits tiny_dalle

TINY = {
    "ch": 16,
    "ch_mult": [1, 2],
    "num_res_blocks": 1,
    "attn_resolutions": [],
    "resolution": 16,
    "z_channels": 8,
    "embed_dim": 4,
    "n_embed": 32,
    "norm_groups": 4,
    "l2_codes": True,
}


def shapes(folder: Path, count: int = 12, size: int = 16, seed: int = 0) -> Path:
    """PNG images of coloured rectangles on coloured backgrounds."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image = Image.new("RGB", (size, size), tuple(int(v) for v in rng.integers(0, 256, 3)))
        x, y = (int(v) for v in rng.integers(0, size // 2, 2))
        ImageDraw.Draw(image).rectangle(
            (x, y, x + size // 2, y + size // 2), fill=tuple(int(v) for v in rng.integers(0, 256, 3))
        )
        image.save(folder / f"{i:02d}.png")
    return folder


@pytest.fixture
def tiny_config(tmp_path) -> Path:
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY))
    return path


def options(tmp_path: Path, config: Path, out: str = "out", **changes) -> vqgan_trainer.TrainOptions:
    values = {"steps": 30, "batch_size": 4, "lr": 3e-3, "warmup": 2, "log_every": 5, "save_every": 10, "seed": 1}
    values.update(changes)
    return vqgan_trainer.TrainOptions(
        data=(str(tmp_path / "images"),), out=str(tmp_path / out), init=str(config), **values
    )


def log_lines(out: Path, kind: str = "train") -> list[dict]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [line for line in lines if line["kind"] == kind]


# -- check ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_check_of_a_decoded_code_grid_is_exact(tmp_path):
    # A decoder with zero kernels draws its output bias whatever the codes: the image a code grid decodes
    # to is then reproduced exactly by the round trip, so its PSNR must be infinite.
    import jax

    config = VQGANConfig.from_dict(TINY)
    params = jax.tree_util.tree_map(np.asarray, init_params(config, seed=0))
    params["decoder"] = jax.tree_util.tree_map_with_path(
        lambda path, x: np.zeros_like(x) if path[-1].key == "kernel" else x, params["decoder"]
    )
    params["decoder"]["conv_out"]["bias"] = np.array([0.25, 0.5, 0.75], np.float32)
    save_vqgan(tmp_path / "vq", config, params)
    bundle = load_vqgan(tmp_path / "vq")
    codes = np.random.default_rng(0).integers(0, config.n_embed, (1, config.num_codes))
    image = decode_codes(bundle, codes)

    report, recon = vqgan_check.score(bundle, image, ["grid"])
    assert report.images[0].mse == 0 and math.isinf(report.psnr) and report.good_enough
    assert 1 <= report.codes_used <= config.n_embed and report.codebook_size == 32
    assert report.perplexity >= 1.0
    data = report.to_json()
    assert data["psnr"] is None and data["images"][0]["mse"] == 0  # valid JSON: no Infinity
    json.dumps(data, allow_nan=False)

    # Through PNG files (8-bit rounding) and the CLI: the grid is still very close; a noisy copy scores the
    # PSNR of its own error (the reconstruction is the clean image), below the threshold.
    from PIL import Image

    Image.fromarray((image[0] * 255 + 0.5).astype(np.uint8)).save(tmp_path / "grid.png")
    noisy = np.clip(image[0] * 255 + np.random.default_rng(1).normal(0, 40, image.shape[1:]), 0, 255)
    Image.fromarray((noisy + 0.5).astype(np.uint8)).save(tmp_path / "noisy.png")
    expected = vqgan_check.psnr(
        float(np.mean((np.asarray(Image.open(tmp_path / "noisy.png")) / 255.0 - image[0]) ** 2))
    )
    result = runner.invoke(
        app,
        ["vqgan", "check", str(tmp_path / "grid.png"), "--model", str(tmp_path / "vq"), "--json", "--sheet", "s.png"],
    )
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert checked["psnr"] > 40 and checked["verdict"].startswith("good enough")
    assert Path("s.png").is_file()
    result = runner.invoke(
        app, ["vqgan", "check", str(tmp_path / "noisy.png"), "--model", str(tmp_path / "vq"), "--json"]
    )
    assert result.exit_code == 0, result.output
    checked = json.loads(result.stdout)
    assert checked["psnr"] == pytest.approx(expected, abs=0.2) and checked["psnr"] < 24
    result = runner.invoke(app, ["vqgan", "check", str(tmp_path), "--model", str(tmp_path / "vq")])
    assert result.exit_code == 0, result.output
    assert "fine-tune it" in result.output and "24 dB" in result.output and "codebook:" in result.output


def test_check_psnr_formula():
    assert vqgan_check.psnr(0.01) == pytest.approx(20.0)
    assert math.isinf(vqgan_check.psnr(0.0))
    usage = vqgan_trainer.code_usage(np.array([5, 5, 0, 0]))
    assert usage == {"codes_used": 2, "usage": 0.5, "perplexity": pytest.approx(2.0)}


# -- train ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_loss_falls_and_the_folder_is_a_released_format_vqgan(tmp_path, tiny_config):
    shapes(tmp_path / "images")
    result = vqgan_trainer.train(options(tmp_path, tiny_config, steps=40))
    lines = log_lines(result.out)
    assert lines[-1]["loss"] < 0.6 * lines[0]["loss"]
    assert lines[-1]["psnr"] > lines[0]["psnr"] + 3
    assert result.report["steps"] == 40 and (result.out / "report.json").is_file()

    bundle = load_vqgan(result.out)  # the released loader, with its tree check
    assert bundle.config == VQGANConfig.from_dict(TINY)
    _, codes = encode_images(bundle, np.zeros((1, 16, 16, 3), np.float32))
    assert decode_codes(bundle, codes).shape == (1, 16, 16, 3)
    verified = runner.invoke(app, ["models", "verify", str(result.out)])
    assert verified.exit_code == 0, verified.output


@pytest.mark.slow
def test_dead_code_restarts_raise_codebook_usage(tmp_path, tiny_config):
    shapes(tmp_path / "images")
    without = vqgan_trainer.train(options(tmp_path, tiny_config, "without", steps=20, restart_every=0))
    restarted = vqgan_trainer.train(options(tmp_path, tiny_config, "with", steps=20, restart_every=5))
    used_without = log_lines(without.out)[-1]["codes_used"]
    used_with = log_lines(restarted.out)[-1]["codes_used"]
    assert log_lines(restarted.out)[0]["restarted"] > 0
    assert used_with >= 2 * used_without, (used_with, used_without)


@pytest.mark.slow
def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path, tiny_config):
    shapes(tmp_path / "images")
    whole = vqgan_trainer.train(options(tmp_path, tiny_config, "whole", steps=16, save_every=4))

    def interrupt(event):
        if event.done == 7:  # the last checkpoint is step 4: steps 5-7 are lost and computed again
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        vqgan_trainer.train(options(tmp_path, tiny_config, "parts", steps=16, save_every=4), progress=interrupt)
    with pytest.raises(Exception, match="--resume"):
        vqgan_trainer.train(options(tmp_path, tiny_config, "parts", steps=16, save_every=4))
    parts = vqgan_trainer.train(options(tmp_path, tiny_config, "parts", steps=16, save_every=4), resume=True)
    assert parts.report["resumed_from"] == 4
    assert (whole.out / "flax_model.msgpack").read_bytes() == (parts.out / "flax_model.msgpack").read_bytes()
    state = "checkpoints/step-00000016/train_state.msgpack"
    assert (whole.out / state).read_bytes() == (parts.out / state).read_bytes()
    assert sorted(p.name for p in (parts.out / "checkpoints").iterdir()) == ["step-00000012", "step-00000016"]
    strip = [{k: v for k, v in line.items() if k != "seconds"} for line in log_lines(whole.out)]
    assert [{k: v for k, v in line.items() if k != "seconds"} for line in log_lines(parts.out)] == strip


@pytest.mark.slow
def test_cli_fine_tune_with_a_discriminator_then_generate_uses_it(tmp_path, tiny_dalle):
    shapes(tmp_path / "images", count=6, size=40)  # resized and cropped to the model's 32 px
    out = tmp_path / "tuned"
    args = ["vqgan", "train", str(tmp_path / "images"), "--from", str(REFERENCE_VQGAN), "--out", str(out)]
    result = runner.invoke(app, [*args, "--steps", "4", "-b", "2", "--disc-start", "2", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["steps"] == 4 and "g_loss" in report["last"] and "d_loss" in report["last"]
    assert load_vqgan(out).config == load_vqgan(REFERENCE_VQGAN).config

    checkpoint, _ = tiny_dalle
    generate = ["generate", str(POSTS / "sourdough.md"), "--checkpoint", str(checkpoint), "--vqgan", str(out)]
    result = runner.invoke(app, [*generate, "-n", "1", "--no-rank", "--out", str(tmp_path / "covers"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["models"]["weights"]["vqgan"] == str(out)


def _round_trip(folder: Path, pixels: np.ndarray) -> tuple[np.ndarray, float]:
    """The codes of `pixels` under the VQGAN in `folder` and the PSNR of their decoded images."""
    bundle = load_vqgan(folder)
    _, codes = encode_images(bundle, pixels)
    mse = float(np.mean((np.clip(decode_codes(bundle, codes), 0, 1) - pixels) ** 2))
    return np.asarray(codes), vqgan_trainer.psnr(mse)


@pytest.mark.slow
def test_decoder_only_keeps_every_code_and_sharpens_the_pictures(tmp_path, tiny_config):
    from blogart.training.data import load_images

    shapes(tmp_path / "images", count=16)
    base = vqgan_trainer.train(options(tmp_path, tiny_config, "base", steps=20)).out
    pixels = load_images((str(tmp_path / "images"),), 16).pixels.astype(np.float32) / 255.0
    codes_before, psnr_before = _round_trip(base, pixels)

    args = ["vqgan", "train", str(tmp_path / "images"), "--from", str(base), "--out", str(tmp_path / "dec")]
    result = runner.invoke(app, [*args, "--decoder-only", "--steps", "80", "-b", "4", "--lr", "3e-3", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["options"]["decoder_only"] is True
    codes_after, psnr_after = _round_trip(tmp_path / "dec", pixels)
    assert np.array_equal(codes_before, codes_after)  # a DalleBart trained on these codes still fits
    assert psnr_after > psnr_before + 0.2, (psnr_before, psnr_after)
    lines = log_lines(tmp_path / "dec")
    assert lines[-1]["l1"] + lines[-1]["l2"] < lines[0]["l1"] + lines[0]["l2"]

    before, after = load_vqgan(base).params, load_vqgan(tmp_path / "dec").params
    for part in ("encoder", "quant_conv"):  # bit for bit: no weight decay either
        assert all(np.array_equal(a, b) for a, b in zip(_leaves(before[part]), _leaves(after[part]), strict=True))
    # the codebook is saved re-normalised to unit length, which may move the last bit
    assert np.allclose(_leaves(before["quantize"])[0], _leaves(after["quantize"])[0], atol=1e-6)
    for part in ("decoder", "post_quant_conv"):
        assert not all(np.allclose(a, b) for a, b in zip(_leaves(before[part]), _leaves(after[part]), strict=True))


@pytest.mark.slow
def test_a_grown_decoder_starts_as_the_trained_one_keeps_the_codes_and_resumes(tmp_path, tiny_config):
    from blogart.training.data import load_images

    shapes(tmp_path / "images", count=16)
    base = vqgan_trainer.train(options(tmp_path, tiny_config, "base", steps=20)).out
    pixels = load_images((str(tmp_path / "images"),), 16).pixels.astype(np.float32) / 255.0
    codes_before, psnr_before = _round_trip(base, pixels)

    # step 0 of the grown model decodes exactly what the trained one decodes
    grow = {"decoder_only": True, "decoder_blocks": (3, 4), "base": str(base)}
    config, params = vqgan_trainer._model_config(replace(options(tmp_path, tiny_config, "g0"), init=None, **grow))
    assert config.decoder_blocks == (3, 4) and config.blocks_at(1) == 4
    start = load_vqgan(base)
    codes = np.asarray(codes_before[:4])
    grown_pixels = decode_codes(type(start)(config, params, vqgan_trainer.make_module(config)), codes)
    assert np.allclose(grown_pixels, decode_codes(start, codes), atol=1e-5)

    args = ["vqgan", "train", str(tmp_path / "images"), "--from", str(base), "--out", str(tmp_path / "grown")]
    args += ["--decoder-only", "--decoder-blocks", "3,4", "-b", "4", "--lr", "3e-3", "--save-every", "20"]
    assert runner.invoke(app, [*args, "--steps", "40"]).exit_code == 0
    result = runner.invoke(app, [*args, "--steps", "80", "--resume", "--json"])  # resumes with the grown tree
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "grown" / "config.json").read_text())
    assert saved["decoder_blocks"] == [3, 4]
    assert "decoder_blocks" not in json.loads((base / "config.json").read_text())  # released configs stay as they were
    codes_after, psnr_after = _round_trip(tmp_path / "grown", pixels)
    assert np.array_equal(codes_before, codes_after)
    assert psnr_after > psnr_before + 0.2, (psnr_before, psnr_after)
    assert "block_3" in load_vqgan(tmp_path / "grown").params["decoder"]["up_1"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--decoder-blocks", "3"], "needs 2 counts"),
        (["--decoder-blocks", "1,1"], "can only add blocks"),
        (["--decoder-blocks", "3,x"], "counts separated by commas"),
    ],
)
def test_bad_decoder_blocks_are_one_error_line(tmp_path, extra, message):
    shapes(tmp_path / "images", count=2)
    args = ["vqgan", "train", str(tmp_path / "images"), "--from", str(REFERENCE_VQGAN), "--decoder-only", *extra]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and message in lines[0], result.output


def _leaves(tree) -> list[np.ndarray]:
    import jax

    return [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(tree)]


def test_decoder_only_needs_a_trained_vqgan(tmp_path, tiny_config):
    shapes(tmp_path / "images", count=2)
    args = ["vqgan", "train", str(tmp_path / "images"), "--init", str(tiny_config), "--decoder-only"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--decoder-only" in result.output and "--from" in result.output, result.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root / "nowhere", "does not exist"),
        (lambda root: (root / "empty").mkdir() or root / "empty", "no images found"),
        (lambda root: _broken(root), "no usable images"),
        (lambda root: _listing(root), "not JSON"),
    ],
)
def test_bad_data_is_one_error_line(tmp_path, tiny_config, make, message):
    data = make(tmp_path)
    result = runner.invoke(app, ["vqgan", "train", str(data), "--init", str(tiny_config), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def test_from_and_init_together_is_an_error(tmp_path, tiny_config):
    shapes(tmp_path / "images", count=2)
    args = ["vqgan", "train", str(tmp_path / "images"), "--init", str(tiny_config), "--from", str(REFERENCE_VQGAN)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not both" in result.output


def _broken(root: Path) -> Path:
    folder = root / "broken"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"not a png")
    return folder


def _listing(root: Path) -> Path:
    path = root / "list.jsonl"
    path.write_text("{broken\n")
    return path


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_equals_the_uninterrupted_run(tmp_path, tiny_config):
    """A real SIGKILL once the run has saved twice, at whatever it is doing then."""
    import signal
    import subprocess
    import sys
    import time

    images = shapes(tmp_path / "images")
    args = ["vqgan", "train", str(images), "--init", str(tiny_config), "--steps", "60", "-b", "4"]
    args += ["--lr", "3e-3", "--save-every", "5", "--seed", "1"]
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "blogart", *args, "--out", str(killed)])
    state = killed / "checkpoint.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        # the second checkpoint: the run is past its first save, with 50 steps still to go
        if state.is_file() and json.loads(state.read_text())["step"] >= 10:
            break
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert json.loads(state.read_text())["step"] < 60

    resumed = runner.invoke(app, ["vqgan", "train", str(images), "--out", str(killed), "--resume", "--json"])
    whole = runner.invoke(app, [*args, "--out", str(tmp_path / "whole")])
    assert resumed.exit_code == 0, resumed.output
    assert whole.exit_code == 0, whole.output
    assert json.loads(resumed.stdout)["resumed_from"] >= 10
    for name in ("flax_model.msgpack", "checkpoints/step-00000060/train_state.msgpack", "last/config.json"):
        assert (killed / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
