"""training/clip_trainer.py: open_clip trained contrastively on rendered pairs, resumable, loaded by the ranker."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from blogart.errors import MissingWeights
from blogart.training import clip_trainer
from blogart.values import Candidate, ImagePrompt

TINY = {
    "embed_dim": 16,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2, "layers": 1},
}
# Two concepts that differ in every way a tiny model can see: colour, shape, background.
CONCEPTS = {
    "a red square on a white background": ("square", (220, 30, 30), (245, 245, 245)),
    "a blue circle on a black background": ("circle", (40, 90, 230), (20, 20, 20)),
}


def _draw(kind: str, colour, background, rng, size: int = 64):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), background)
    side = int(rng.integers(20, 34))
    x, y = (int(v) for v in rng.integers(2, size - side - 2, size=2))
    draw = ImageDraw.Draw(image)
    (draw.rectangle if kind == "square" else draw.ellipse)([x, y, x + side, y + side], fill=colour)
    return image


def make_pairs(folder: Path, n: int = 24, seed: int = 0) -> Path:
    """NNNNN.png + NNNNN.txt pairs, alternating the two concepts (the recipe's folder format)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    captions = list(CONCEPTS)
    for i in range(n):
        text = captions[i % 2]
        _draw(*CONCEPTS[text], rng).save(folder / f"{i:05d}.png")
        (folder / f"{i:05d}.txt").write_text(text + "\n")
    return folder


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "tiny-icons-clip.json"
    path.write_text(json.dumps(TINY))
    return path


def _args(data: Path, out: Path, config: Path, steps: int, *extra: str) -> list[str]:
    return [str(data), "--out", str(out), "--config", str(config), "--steps", str(steps), "--batch-size", "8",
            "--lr", "3e-3", "--seed", "3", "--threads", "1", "--log-every", "1", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny CLIP trained for a short while on the two concepts (shared by the loading tests)."""
    root = tmp_path_factory.mktemp("clip-train")
    config = root / "tiny-icons-clip.json"
    config.write_text(json.dumps(TINY))
    data = make_pairs(root / "data" / "train")
    make_pairs(root / "data" / "test", n=8, seed=1)
    out = root / "out"
    assert clip_trainer.main(_args(data, out, config, 80, "--eval-pairs", "2")) == 0
    return out


def test_loss_falls_and_the_folder_is_open_clips_format(trained):
    from safetensors import safe_open

    losses = [json.loads(line)["loss"] for line in (trained / "log.jsonl").read_text().splitlines()]
    assert len(losses) == 80
    # Batches repeat each caption, so the floor is log(4) per side, not 0: falling by a quarter is learning.
    assert np.mean(losses[-10:]) < np.mean(losses[:5]) - 0.25
    saved = json.loads((trained / "open_clip_config.json").read_text())
    assert saved["model_cfg"] == TINY and saved["preprocess_cfg"]["mean"][0] == pytest.approx(0.48145466)
    with safe_open(str(trained / "open_clip_model.safetensors"), "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()}  # noqa: SIM118 - safe_open is no dict == {__import__("torch").float32}
    report = json.loads((trained / "report.json").read_text())
    assert report["steps"] == 80 and report["train_pairs"] == 24 and report["float16_bytes"] == 2 * report["parameters"]
    # Held-out pairs of two: a model that learned the concepts picks the right image for each caption.
    assert report["eval"]["caption_to_image_top1"] == 1.0


def test_the_trained_folder_ranks_the_matching_image_first(trained, tmp_path):
    from blogart.models.clip import load_clip
    from blogart.ranking.clip import ClipRanker

    rng = np.random.default_rng(7)
    paths = {}
    for i, (text, drawing) in enumerate(CONCEPTS.items()):
        paths[text] = tmp_path / f"{i}.png"
        _draw(*drawing, rng).save(paths[text])
    clip = load_clip(str(trained), None)
    assert clip.model_id == str(trained)
    candidates = [
        Candidate(p, seed=i, prompt="", negative_prompt="", generator="test") for i, p in enumerate(paths.values())
    ]
    for text, path in paths.items():
        ranked = ClipRanker(clip).rank(candidates, ImagePrompt(text, (), "", 8))
        assert ranked[0].candidate.path == path, text
        assert ranked[0].score > ranked[1].score
    again = ClipRanker(load_clip(f"local-dir:{trained}", None)).rank(candidates, ImagePrompt(text, (), "", 8))
    assert [r.score for r in again] == [
        r.score for r in ClipRanker(clip).rank(candidates, ImagePrompt(text, (), "", 8))
    ]


def test_float16_storage_loads_as_float32_with_the_same_scores(trained, tmp_path):
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from blogart.models.clip import load_clip

    half = tmp_path / "half"
    half.mkdir()
    shutil.copy(trained / "open_clip_config.json", half)
    tensors = load_file(str(trained / "open_clip_model.safetensors"))
    save_file({k: v.half() for k, v in tensors.items()}, str(half / "open_clip_model.safetensors"))
    full, small = load_clip(str(trained), None), load_clip(str(half), None)
    assert {p.dtype for p in small.model.parameters()} == {torch.float32}
    texts = list(CONCEPTS)
    np.testing.assert_allclose(small.encode_texts(texts), full.encode_texts(texts), atol=1e-2)


def test_bundled_names_the_packaged_folder(trained, tmp_path, monkeypatch):
    import shutil

    import blogart.assets
    from blogart.models.clip import load_clip, resolve_clip

    monkeypatch.setattr(blogart.assets, "bundled_dir", lambda: tmp_path / "icons")
    with pytest.raises(MissingWeights, match="no bundled CLIP"):
        resolve_clip("bundled", None)
    shutil.copytree(trained, tmp_path / "icons" / "clip")
    clip = load_clip("bundled", None)
    assert clip.model_id == "bundled-icons-clip"
    assert clip.encode_texts(list(CONCEPTS)).shape == (2, TINY["embed_dim"])


def test_the_bundled_folder_name_resolves_to_the_package_assets(monkeypatch):
    import blogart
    from blogart.assets import bundled_dir

    monkeypatch.delenv("BLOGART_ASSETS")  # conftest points it away from the package for every other test
    assert bundled_dir() == Path(blogart.__file__).resolve().parent / "assets" / "icons"


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: None, "CLIP folder not found"),
        (lambda d: d.mkdir(), "has no open_clip_config.json"),
        (lambda d: (d.mkdir(), (d / "open_clip_config.json").write_text("{broken")), "is not an open_clip config"),
        (lambda d: (d.mkdir(), (d / "open_clip_config.json").write_text('{"model_cfg": {}}')), "not an open_clip"),
        (
            lambda d: (d.mkdir(), (d / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY}))),
            "no checkpoint file",
        ),
    ],
)
def test_a_bad_folder_is_one_clean_error(tmp_path, make, message):
    from blogart.models.clip import resolve_clip

    folder = tmp_path / "clip"
    make(folder)
    with pytest.raises(MissingWeights, match=message):
        resolve_clip(str(folder), None)


def test_mismatched_weights_are_one_clean_error(trained, tmp_path):
    import shutil

    from blogart.models.clip import load_clip

    other = tmp_path / "other"
    shutil.copytree(trained, other)
    wider = {**TINY, "embed_dim": 24}
    (other / "open_clip_config.json").write_text(json.dumps({"model_cfg": wider}))
    with pytest.raises(MissingWeights, match="cannot load CLIP"):
        load_clip(str(other), None)


def test_bad_data_and_bad_resume_are_one_error_line(tmp_path, config, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert clip_trainer.main(_args(empty, tmp_path / "a", config, 5)) == 2
    assert "holds no NNNNN.png + NNNNN.txt pairs" in capsys.readouterr().err
    data = make_pairs(tmp_path / "data", n=4)
    assert clip_trainer.main(_args(data, tmp_path / "b", config, 5, "--resume")) == 2
    assert "nothing to resume" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text('{"embed_dim": 4}')
    assert clip_trainer.main(_args(data, tmp_path / "c", bad, 5)) == 2
    assert "not an open_clip model config" in capsys.readouterr().err
    for flag, value in (("--lr", "nan"), ("--lr", "inf"), ("--weight-decay", "nan")):
        assert clip_trainer.main(_args(data, tmp_path / "d", config, 5, flag, value)) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"error: {flag} must be a finite number") and err.count("\n") == 1, err
        assert not (tmp_path / "d").exists()


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_equals_the_uninterrupted_run(tmp_path, config):
    """A real SIGKILL after the first saved state, at whatever the run is doing then."""
    import signal
    import subprocess
    import sys
    import time

    data = make_pairs(tmp_path / "data", n=16)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    steps = 300
    trainer = [sys.executable, "-m", clip_trainer.__name__]
    process = subprocess.Popen([*trainer, *_args(data, killed, config, steps, "--save-every", "4")])
    state = killed / "train" / "state.pt"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None and not state.is_file():
        time.sleep(0.02)
    time.sleep(0.2)  # into the steps after the first save
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "report.json").exists()

    assert clip_trainer.main(_args(data, killed, config, steps, "--save-every", "4", "--resume")) == 0
    assert clip_trainer.main(_args(data, whole, config, steps, "--save-every", "4")) == 0
    assert (killed / "open_clip_model.safetensors").read_bytes() == (whole / "open_clip_model.safetensors").read_bytes()
    logged = [
        [json.loads(line)["loss"] for line in (d / "log.jsonl").read_text().splitlines()] for d in (killed, whole)
    ]
    assert logged[0] == logged[1] and len(logged[0]) == steps
    # A second run into a used folder without --resume is refused rather than overwriting it.
    assert clip_trainer.main(_args(data, whole, config, steps)) == 2
