"""Measure the bundled icon model: VQGAN PSNR, CLIP retrieval, concepts found in generations, speed.

    python recipes/icons/evaluate.py --work WORK [--assets DIR] [--pairs 100] [--json]

Reads the held-out renders in WORK/data/test and the exported models in DIR (default: WORK's export).
- VQGAN: reconstruction PSNR of the held-out renders through the exported (float16-stored) VQGAN.
- CLIP: caption -> image top-1 among the first `pairs` held-out pairs (chance 1/pairs).
- Generation: for each of those captions, `images` candidates from blogart's DalleBart generator,
  the best by the bundled CLIP, sampled with the model's own defaults (its generation_config.json,
  as `generate` does); the template detector (detect.py, no trained model) checks each
  named concept. Chance level: the same check of each caption's concepts in the best image of
  another caption that names none of them.
- `python -m blogart generate POST -n 8` in a fresh process with an empty user dir (cold start).
Writes WORK/evaluate.json.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from detect import Detector  # noqa: E402

from blogart.atomic import atomic_write_json  # noqa: E402

ROOT = HERE.parent.parent
POST = ROOT / "examples" / "sourdough.md"


def held_out(work: Path) -> list[dict]:
    lines = (work / "data" / "meta.jsonl").read_text(encoding="utf-8").splitlines()
    return [row for row in map(json.loads, lines) if row["split"] == "test"]


def vqgan_round_trips(assets: Path, work: Path, rows: list[dict]):
    """PSNR of the held-out renders through the exported VQGAN, with the renders and their round trips
    as uint8 (N, S, S, 3) for the detector's ceiling."""
    import numpy as np

    from blogart.models.dalle.vqgan import load_vqgan
    from blogart.training.images import load_image
    from blogart.training.vqgan_check import score

    bundle = load_vqgan(assets / "vqgan")
    paths = [work / "data" / row["file"] for row in rows]
    pixels = np.stack([load_image(p, bundle.config.resolution) for p in paths]).astype(np.float32) / 255.0
    report, recons = score(bundle, pixels, [str(p) for p in paths])
    renders, trips = ((np.clip(x, 0, 1) * 255).round().astype(np.uint8) for x in (pixels, np.asarray(recons)))
    return {"psnr": round(report.psnr, 2), "images": len(paths), "codes_used": report.codes_used}, renders, trips


def detector_ceiling(work: Path, rows: list[dict], renders, round_trips) -> dict:
    """The detector on the held-out renders themselves and on their VQGAN round trips: what a DalleBart
    that drew every caption perfectly, in this VQGAN's codes, would score."""
    from PIL import Image

    from blogart.prompts.icons import load_concepts

    names = [c.name for c in load_concepts(work / "data" / "concepts.json")]
    detector = Detector.from_folder(work / "data" / "templates", len(names))

    def share(images) -> float:
        hits = [
            detector.found(Image.fromarray(image), names.index(name))
            for row, image in zip(rows, images, strict=True)
            for name in row["concepts"]
        ]
        return round(sum(hits) / max(1, len(hits)), 4)

    return {"renders": share(renders), "vqgan_round_trips": share(round_trips)}


def load_clip(assets: Path):
    """The exported open_clip folder (open_clip's own local-dir layout) through blogart's CLIP wrapper."""
    from blogart.models.clip import ClipModel, ClipSource

    folder = assets / "clip"
    if not (folder / "open_clip_model.safetensors").is_file():
        return None
    return ClipModel.load(ClipSource(model_name=f"local-dir:{folder}", checkpoint=None, model_id="bundled"))


def clip_retrieval(clip, work: Path, rows: list[dict]) -> dict:
    import numpy as np

    texts = clip.encode_texts([row["caption"] for row in rows])
    images = clip.encode_images([work / "data" / row["file"] for row in rows])
    top1 = float(np.mean(np.argmax(texts @ images.T, axis=1) == np.arange(len(rows))))
    return {"top1": round(top1, 4), "pairs": len(rows), "chance": round(1 / len(rows), 4)}


def model_sampling(assets: Path) -> dict:
    """The exported model's own sampling defaults, as GenerationRequest fields: what `generate` draws with."""
    from blogart.models.dalle.generation_config import read_sampling

    values = read_sampling(assets / "dallebart")
    if values.get("top_k") == 0:  # the setting's "no filter"
        values["top_k"] = None
    return values


def generation(assets: Path, work: Path, rows: list[dict], images: int, clip, samples: bool = True, **sampling) -> dict:
    """Best-of-`images` generations of each caption; the share of named concepts the detector finds.
    `sampling` overrides GenerationRequest's sampling fields (condition_scale, top_k, temperature);
    `samples` keeps the first 16 best images in WORK/eval-samples."""
    import numpy as np
    from PIL import Image

    from blogart.generators.dalle.generator import DalleGenerator
    from blogart.prompts.icons import load_concepts
    from blogart.values import GenerationRequest

    names = [c.name for c in load_concepts(work / "data" / "concepts.json")]
    detector = Detector.from_folder(work / "data" / "templates", len(names))
    generator = DalleGenerator("bundled", assets / "dallebart", assets / "vqgan", batch_size=images)
    best = []
    start = time.monotonic()
    for i, row in enumerate(rows):
        drawings = generator.generate(GenerationRequest(prompt=row["caption"], n=images, seed=i, **sampling))
        pictures = [Image.open(io.BytesIO(d.png)).convert("RGB") for d in drawings]
        if clip is not None:
            scores = clip.encode_images(pictures) @ clip.encode_texts([row["caption"]])[0]
            pictures = [pictures[int(np.argmax(scores))]]
        best.append(pictures[0])
    seconds = time.monotonic() - start
    if samples:
        folder = work / "eval-samples"
        folder.mkdir(exist_ok=True)
        for i, picture in enumerate(best[:16]):
            picture.save(folder / f"{i:02d}.png")

    def found_share(pairs: list[tuple[dict, Image.Image]]) -> tuple[float, int]:
        hits = [detector.found(image, names.index(name)) for row, image in pairs for name in row["concepts"]]
        return (sum(hits) / len(hits) if hits else 0.0), len(hits)

    found, named = found_share(list(zip(rows, best, strict=True)))
    others = []
    for i, row in enumerate(rows):  # the best image of the next caption that names none of these concepts
        for k in range(1, len(rows)):
            other = rows[(i + k) % len(rows)]
            if not set(other["concepts"]) & set(row["concepts"]):
                others.append((row, best[(i + k) % len(rows)]))
                break
    chance, _ = found_share(others)
    return {
        "captions": len(rows),
        "images_per_caption": images,
        "ranked_by": "bundled CLIP" if clip is not None else "none (no CLIP yet: the first image)",
        "named_concepts": named,
        "found": round(found, 4),
        "chance": round(chance, 4),
        "detector_threshold": detector.threshold,
        "seconds_per_caption": round(seconds / max(1, len(rows)), 2),
    }


def generate_timing(assets: Path) -> dict:
    """`python -m blogart generate POST -n 8` in a fresh process with an empty user dir."""
    bundled = (ROOT / "src" / "blogart" / "assets" / "__init__.py").is_file() and assets.resolve() == (
        ROOT / "src" / "blogart" / "assets" / "icons"
    ).resolve()
    with tempfile.TemporaryDirectory() as home:
        args = [sys.executable, "-m", "blogart", "generate", str(POST), "-n", "8", "--out", str(Path(home) / "out")]
        if not bundled:  # no bundled defaults in this tree: name the weights, skip ranking (no default CLIP)
            args += ["--checkpoint", str(assets / "dallebart"), "--vqgan", str(assets / "vqgan"), "--no-rank"]
        env = {**os.environ, "BLOGART_HOME": str(Path(home) / "home"), "HF_HUB_OFFLINE": "1"}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
        env.pop("OPENAI_API_KEY", None)
        start = time.monotonic()
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        seconds = time.monotonic() - start
    result = {"seconds": round(seconds, 1), "ok": done.returncode == 0, "defaults": bundled, "command": args[3:]}
    if done.returncode != 0:
        result["error"] = done.stderr.strip().splitlines()[-1:] or [""]
    return result


def evaluate(work: Path, assets: Path, pairs: int = 100, images: int = 4, psnr_images: int = 200, timing: bool = True):
    rows = held_out(work)
    vqgan, renders, trips = vqgan_round_trips(assets, work, rows[:psnr_images])
    result: dict = {"vqgan": vqgan}
    clip = load_clip(assets)
    chosen = rows[:pairs]
    skipped = {"skipped": "no CLIP in the assets yet"}
    result["clip"] = clip_retrieval(clip, work, chosen) if clip is not None else skipped
    sampling = model_sampling(assets)
    result["generation"] = {**generation(assets, work, chosen, images, clip, **sampling), "sampling": sampling}
    n = min(len(chosen), len(renders))  # the round trips above are of the first held-out renders too
    result["generation"]["ceiling"] = detector_ceiling(work, chosen[:n], renders[:n], trips[:n])
    result["generate_command"] = generate_timing(assets) if timing else {"skipped": "not timed at this size"}
    atomic_write_json(work / "evaluate.json", result)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--assets", type=Path, default=None, help="exported models (default: WORK's done/export)")
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--no-timing", action="store_true", help="skip the fresh-process generate timing")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    assets = args.assets
    if assets is None:
        marker = args.work / "done" / "export.json"
        if not marker.is_file():
            parser.error(f"{args.work} has no export yet; run the recipe or pass --assets")
        assets = Path(json.loads(marker.read_text())["result"]["dest"])
    result = evaluate(args.work, assets, args.pairs, args.images, timing=not args.no_timing)
    print(json.dumps(result, indent=2) if args.json else f"written: {args.work / 'evaluate.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
