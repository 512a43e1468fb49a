"""A worked fine-tune: teach a small DalleBart a shape it has never seen, and measure that it learnt it.

    .venv/bin/python benchmarks/finetune_demo.py --work /tmp/ft-demo --json

Stages (each is skipped when its result is already in --work, and a training stage that was
interrupted is continued with --resume, so the script is resumable end to end):

1. data (Pillow, seeded): 48x48 images of circles and squares in six named colours at nine named
   positions ("a red circle at the top left") for the base model; stars for the new concept, drawn
   only for 45 of the 54 (colour, position) pairs. The other 9 pairs are the held-out captions.
2. `blogart vqgan train` a small VQGAN (12x12 codes of 128) on all three shapes, from scratch.
3. `blogart finetune --init` a base DalleBart (d_model 128, 2+2 layers) with its own BPE tokenizer on
   circles and squares only: it has never seen the word "star" or a star.
4. `blogart finetune --model BASE` on 222 star pairs (--test-fraction 0.1: 200 train, 22 held out
   for the held-out loss in its log).
5. Sample 4 images for each of the 9 held-out captions from the base and the fine-tuned model and
   classify the shape in each with `shape_of` below: plain geometry on the pixels (the largest
   non-white blob's fill of its bounding box and of its convex hull), no trained model involved. The
   same check is run on the real drawings and on their VQGAN round trips, to show what it can see.

Training runs through `python -m blogart` (the same commands a user runs), so jax picks the device:
the script runs unchanged on a GPU. `--scale` multiplies every step count (0.2 for a quick look).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

SIZE = 48
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 60, 220),
    "orange": (245, 140, 0),
    "purple": (140, 40, 180),
    "black": (20, 20, 20),
}
POSITIONS = {  # name -> centre
    "top left": (12, 12),
    "top": (24, 12),
    "top right": (36, 12),
    "left": (12, 24),
    "centre": (24, 24),
    "right": (36, 24),
    "bottom left": (12, 36),
    "bottom": (24, 36),
    "bottom right": (36, 36),
}
N_BASE = 2000
N_STARS = 222  # with --test-fraction 0.1: 200 to train on, 22 held out
SAMPLES = 4  # images per held-out caption and model
MATCH = 0.5  # intersection over union with the best template that names a shape

VQGAN_CONFIG = {
    "ch": 16,
    "ch_mult": [1, 2, 2],
    "num_res_blocks": 1,
    "attn_resolutions": [],
    "resolution": SIZE,
    "z_channels": 16,
    "embed_dim": 8,
    "n_embed": 128,
    "norm_groups": 4,
    "l2_codes": True,
}
DALLE_CONFIG = {
    "d_model": 128,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 256,
    "decoder_ffn_dim": 256,
    "encoder_vocab_size": 400,
    "image_vocab_size": 128,
    "decoder_start_token_id": 128,
    "bos_token_id": 128,
    "eos_token_id": 128,
    "pad_token_id": 128,
    "image_length": (SIZE // 4) ** 2,
    "max_text_length": 16,
    "normalize_text": False,
    "use_scan": True,
    "ln_positions": "normformer",
    "use_glu": True,
    "use_bias": False,
    "use_final_ln_encoder": True,
    "use_final_ln_decoder": True,
    "activation_function": "gelu",
}
STEPS = {"vqgan": 800, "base": 600, "finetune": 60}


# -- 1. data ------------------------------------------------------------------------------------------------


def star_points(cx: float, cy: float, r: float, turn: float) -> list[tuple[float, float]]:
    angles = turn + np.pi * np.arange(10) / 5 - np.pi / 2
    radii = np.where(np.arange(10) % 2 == 0, r, r * 0.42)
    return [(cx + a * np.cos(t), cy + a * np.sin(t)) for a, t in zip(radii, angles, strict=True)]


def draw(shape: str, colour: str, position: str, rng: np.random.Generator):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (SIZE, SIZE), (255, 255, 255))
    pen = ImageDraw.Draw(image)
    cx, cy = (c + float(rng.uniform(-2, 2)) for c in POSITIONS[position])
    fill = COLOURS[colour]
    if shape == "circle":
        r = float(rng.uniform(6, 8.5))
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    elif shape == "square":
        r = float(rng.uniform(5.5, 7.5))
        pen.rectangle((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        pen.polygon(star_points(cx, cy, float(rng.uniform(9, 11)), float(rng.uniform(-0.2, 0.2))), fill=fill)
    return image


def held_out_pairs() -> list[tuple[str, str]]:
    """9 (colour, position) pairs never drawn as stars: one per position, colours spread."""
    colours, positions = list(COLOURS), list(POSITIONS)
    return [(colours[(2 * i) % len(colours)], p) for i, p in enumerate(positions)]


def caption(shape: str, colour: str, position: str) -> str:
    where = "in the centre" if position == "centre" else f"at the {position}"
    return f"a {colour} {shape} {where}"


def make_data(root: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    held = set(held_out_pairs())
    star_pairs = [(c, p) for c in COLOURS for p in POSITIONS if (c, p) not in held]
    sets = {
        "base": [
            (str(rng.choice(["circle", "square"])), str(rng.choice(list(COLOURS))), str(rng.choice(list(POSITIONS))))
            for _ in range(N_BASE)
        ],
        "stars": [("star", *star_pairs[int(i)]) for i in rng.integers(0, len(star_pairs), N_STARS)],
        # real drawings of every shape, to show what the shape check sees (not trained on)
        "check": [(s, c, p) for s in ("circle", "square", "star") for c, p in held_out_pairs() for _ in range(2)],
    }
    for name, rows in sets.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, (shape, colour, position) in enumerate(rows):
            draw(shape, colour, position, rng).save(folder / f"{i:05d}.png")
            (folder / f"{i:05d}.txt").write_text(caption(shape, colour, position) + "\n")
    (root / "done.json").write_text(json.dumps({k: len(v) for k, v in sets.items()}))


# -- 2.-4. training through the CLI -------------------------------------------------------------------------


def blogart(args: list[str], log: Path) -> dict:
    """Run `python -m blogart ARGS --json`; its JSON report, or exit with its error."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    t0 = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "blogart", *args, "--json"], capture_output=True, text=True, env=env)
    log.write_text(result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"error: blogart {' '.join(args[:2])} failed ({result.returncode}): {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    report["wall_seconds"] = round(time.perf_counter() - t0, 1)
    return report


def stage(work: Path, out: str, args: list[str], resume: list[str]) -> dict:
    """A training stage: its saved report when done, else run it (`resume` instead after an interruption)."""
    done = work / out / "stage.json"
    if done.is_file():
        return json.loads(done.read_text())
    started = (work / out / "checkpoint.json").is_file()  # both trainers keep the same checkpoint layout
    report = blogart(resume if started else args, work / f"{out}.stderr.txt")
    done.write_text(json.dumps(report))
    return report


def loss_curve(out: Path) -> list[dict]:
    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]
    return [{"step": x["step"], "loss": round(x["loss"], 4)} for x in lines if x["kind"] == "eval"]


# -- 5. the shape check -------------------------------------------------------------------------------------


def _template(shape: str, cx: float, cy: float, r: float, turn: float = 0.0) -> np.ndarray:
    from PIL import Image, ImageDraw

    image = Image.new("L", (SIZE, SIZE), 0)
    pen = ImageDraw.Draw(image)
    if shape == "circle":
        pen.ellipse((cx - r, cy - r, cx + r, cy + r), fill=1)
    elif shape == "square":
        pen.rectangle((cx - r, cy - r, cx + r, cy + r), fill=1)
    else:
        pen.polygon(star_points(cx, cy, r, turn), fill=1)
    return np.asarray(image, bool)


def shape_of(pixels: np.ndarray) -> str:
    """'star', 'circle', 'square', 'none' or 'other' for an RGB uint8 image, by template matching only.

    The ink (clearly non-white pixels) is compared with a circle, a square and a five-pointed star
    drawn at the ink's centroid, over a range of sizes (and star turns); the best intersection over
    union names the shape when it reaches MATCH, else 'other'. No trained model is involved.
    """
    ink = (255 - pixels.astype(np.int16)).max(axis=-1) > 90
    if ink.sum() < 20:
        return "none"
    ys, xs = np.nonzero(ink)
    cx, cy = float(xs.mean()) + 0.5, float(ys.mean()) + 0.5
    best, name = 0.0, "other"
    for shape, radii, turns in (
        ("circle", np.arange(4, 12, 0.5), [0.0]),
        ("square", np.arange(3.5, 10, 0.5), [0.0]),
        ("star", np.arange(6, 14, 0.5), [-0.2, -0.1, 0.0, 0.1, 0.2]),
    ):
        for r in radii:
            for turn in turns:
                t = _template(shape, cx, cy, float(r), turn)
                iou = (t & ink).sum() / (t | ink).sum()
                if iou > best:
                    best, name = iou, shape
    return name if best >= MATCH else "other"


def rates(shapes: list[str]) -> dict:
    counts = {s: shapes.count(s) for s in ("star", "circle", "square", "other", "none")}
    return {"images": len(shapes), "star_rate": round(counts["star"] / max(1, len(shapes)), 3), "shapes": counts}


def evaluate(work: Path, seed: int) -> dict:
    from PIL import Image

    from blogart.generators.dalle.generator import DalleGenerator
    from blogart.models.dalle.vqgan import decode_codes, encode_images, load_vqgan
    from blogart.values import GenerationRequest

    # the check on real drawings and on what the VQGAN makes of them
    check = sorted((work / "data" / "check").glob("*.png"))
    truth = [p.with_suffix(".txt").read_text().split()[2] for p in check]
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in check])
    vq = load_vqgan(work / "vqgan")
    rebuilt = (decode_codes(vq, encode_images(vq, pixels.astype(np.float32) / 255.0)[1]) * 255).round()
    seen = {
        "drawn": [shape_of(p) for p in pixels],
        "vqgan_round_trip": [shape_of(p.astype(np.uint8)) for p in rebuilt],
    }
    accuracy = {k: round(float(np.mean([a == b for a, b in zip(v, truth, strict=True)])), 3) for k, v in seen.items()}
    for shape in ("circle", "square", "star"):
        hits = [a == b for a, b in zip(seen["vqgan_round_trip"], truth, strict=True) if b == shape]
        accuracy[f"vqgan_round_trip_{shape}"] = round(float(np.mean(hits)), 3)

    captions = [caption("star", c, p) for c, p in held_out_pairs()]
    result = {"check_accuracy": accuracy, "held_out_captions": captions, "models": {}}
    sheet = []
    for name in ("base", "tuned"):
        generator = DalleGenerator(name, work / name / "last", work / "vqgan", batch_size=SAMPLES)
        shapes, row = [], []
        for i, text in enumerate(captions):
            request = GenerationRequest(text, n=SAMPLES, seed=seed + i, condition_scale=4.0, top_k=8)
            for drawing in generator.generate(request):
                image = np.asarray(Image.open(__import__("io").BytesIO(drawing.png)).convert("RGB"))
                shapes.append(shape_of(image))
                row.append(image)
        result["models"][name] = rates(shapes)
        sheet.append(np.concatenate(row[: 2 * len(captions) : 2], axis=1))
    Image.fromarray(np.concatenate(sheet, axis=0)).save(work / "sheet.png")  # base row over fine-tuned row
    return result


# -- the run ------------------------------------------------------------------------------------------------

SRC = Path(__file__).resolve().parents[1] / "src"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/blogart-finetune-demo"), help="stage folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every step count (0.2: a quick look)")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    steps = {k: max(2, round(v * args.scale)) for k, v in STEPS.items()}
    started = time.perf_counter()
    say = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))

    data = work / "data"
    if not (data / "done.json").is_file():
        say("drawing the data")
        make_data(data, args.seed)
    (work / "vqgan.json").write_text(json.dumps(VQGAN_CONFIG))
    (work / "dallebart.json").write_text(json.dumps(DALLE_CONFIG))
    seed = ["--seed", str(args.seed)]

    say(f"vqgan train: {steps['vqgan']} steps")
    images = [str(data / "base"), str(data / "stars")]
    vq_out = ["--out", str(work / "vqgan")]
    vq = stage(
        work,
        "vqgan",
        ["vqgan", "train", *images, "--init", str(work / "vqgan.json"), *vq_out, "--steps", str(steps["vqgan"])]
        + ["-b", "16", "--lr", "1e-3", "--save-every", "100", *seed],
        ["vqgan", "train", *images, *vq_out, "--resume"],
    )
    say(f"base model from scratch: {steps['base']} steps")
    base_out = ["--out", str(work / "base")]
    base = stage(
        work,
        "base",
        ["finetune", str(data / "base"), "--init", str(work / "dallebart.json"), "--train-tokenizer", *base_out]
        + ["--vqgan", str(work / "vqgan"), "--steps", str(steps["base"]), "-b", "32", "--lr", "2e-3"]
        + ["--save-every", "100", "--test-fraction", "0.05", *seed],
        ["finetune", str(data / "base"), *base_out, "--resume"],
    )
    say(f"fine-tune on {N_STARS} star pairs: {steps['finetune']} steps")
    tuned_out = ["--out", str(work / "tuned")]
    tuned = stage(
        work,
        "tuned",
        ["finetune", str(data / "stars"), "--model", str(work / "base" / "last"), *tuned_out]
        + ["--vqgan", str(work / "vqgan"), "--steps", str(steps["finetune"]), "-b", "32", "--lr", "5e-4"]
        + ["--save-every", "20", "--test-fraction", "0.1", *seed],
        ["finetune", str(data / "stars"), *tuned_out, "--resume"],
    )
    evaluation_file = work / "evaluation.json"
    if evaluation_file.is_file():
        evaluation = json.loads(evaluation_file.read_text())
    else:
        say("sampling and checking shapes")
        evaluation = evaluate(work, args.seed)
        evaluation_file.write_text(json.dumps(evaluation))

    import jax

    result = {
        "device": f"{jax.devices()[0].platform}:{getattr(jax.devices()[0], 'device_kind', '')}",
        "steps": steps,
        "vqgan": {"seconds": vq["seconds"], **{k: vq["last"].get(k) for k in ("psnr", "eval_psnr", "codes_used")}},
        "base": {"seconds": base["seconds"], "train_loss": base["train_loss"], "eval_loss": base["eval_loss"]},
        "finetune": {
            "seconds": tuned["seconds"],
            "train_examples": tuned["train_examples"],
            "test_examples": tuned["test_examples"],
            "held_out_loss": loss_curve(work / "tuned"),
        },
        **evaluation,
        "seconds_this_run": round(time.perf_counter() - started, 1),
        "sheet": str(work / "sheet.png"),
    }
    if not args.json:
        print(json.dumps(result, indent=2), file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
