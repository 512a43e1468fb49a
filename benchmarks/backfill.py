"""Posts per hour for `blogart backfill`: local engine with 1 and 2 workers, and the Ray engine.

    PYTHONPATH=src .venv/bin/python benchmarks/backfill.py --posts 20 [--engines local-1,local-2,ray] --json

Models: `--model bundled` (the default: the icon model that ships in blogart.assets, with its CLIP) or
`--model tiny` (tiny random checkpoints in the released formats, tests/tiny_dalle.py and tiny_clip.py),
2 candidates per post, the local text backend (no LLM). Each
engine gets a fresh output folder and database; its time includes starting workers and loading and
compiling the models, which is what a backfill pays. Output: {"model", "posts", "results": [{"engine",
"workers", "seconds", "posts_per_hour", "done"}], "cpus", "load_average"}.

Cross-post batches (`--batch-across-posts`): `--model mini` (random weights in the released DALL-E Mini
shape, benchmarks/generate.py, and in the released VQGAN shape, benchmarks/vqgan.py; tiny CLIP), one
local worker, `--n` candidates a post, run twice: post by post (each post's candidates one sampler
batch, `[batch] across_posts = false`) and across posts (`--draw-batch` images a batch). Posts per hour
and images per second of each, and their ratio. `--device gpu` runs on the GPU (jax[cuda] installed):

    PYTHONPATH=src .venv/bin/python benchmarks/backfill.py --batch-across-posts --model mini --posts 4 --json
    PYTHONPATH=src .venv/bin/python benchmarks/backfill.py --batch-across-posts --model mini --device gpu \
        --posts 64 --draw-batch 64 --n 8
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--engines", default="local-1,local-2,ray")
    parser.add_argument("--model", choices=("bundled", "tiny", "mini"), default="bundled")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--batch-across-posts", action="store_true", help="post by post against cross-post batches")
    parser.add_argument("--n", type=int, default=8, help="candidates a post (--batch-across-posts)")
    parser.add_argument("--draw-batch", type=int, default=None, help="images a cross-post batch (default: [batch])")
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="bfloat16")
    args = parser.parse_args()
    if args.batch_across_posts:
        across_posts(args)
        return
    if args.model == "mini":
        parser.error("--model mini is for --batch-across-posts")

    from batch_env import clip_folder, model_env, write_posts
    from tiny_clip import make_tiny_checkpoint
    from tiny_dalle import make_tiny_dalle

    root = Path(tempfile.mkdtemp(prefix="blogart-bench-"))
    if args.model == "tiny":
        (root / "dalle").mkdir()
        (root / "clip").mkdir()
        dalle = make_tiny_dalle(root / "dalle")
        clip = clip_folder(make_tiny_checkpoint(root / "clip"), root)
        models = model_env(dalle, clip)
    else:  # the defaults a fresh install gets; an empty HF cache so DALL-E Mini is never picked up
        models = {"BLOGART_GENERATE__N": "2", "BLOGART_GENERATE__BATCH_SIZE": "2", "HF_HOME": str(root / "hf")}
        models |= {"BLOGART_RANK__THREADS": "1"}
    write_posts(root / "content", args.posts)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BLOGART_")}
    base_env = {**environ, **models, "BLOGART_LLM__BACKEND": "local"}
    base_env["PYTHONPATH"] = str(ROOT / "src")

    results = []
    for spec in args.engines.split(","):
        engine, _, workers = spec.partition("-")
        workers = workers or "1"
        home = root / f"home-{spec}"
        env = {**base_env, "BLOGART_HOME": str(home)}
        command = [sys.executable, "-m", "blogart", "backfill", "content", "--out", f"out-{spec}", "--seed", "1"]
        command += ["--engine", engine, "--workers", workers]
        clock = time.perf_counter()
        run = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - clock
        done = len(list((root / f"out-{spec}").glob("*/manifest.json")))
        if run.returncode != 0:
            print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
        results.append(
            {
                "engine": engine,
                "workers": int(workers),
                "seconds": round(seconds, 1),
                "posts_per_hour": round(done / seconds * 3600),
                "done": done,
            }
        )
    report = {
        "model": "tiny random DalleBart + tiny CLIP (tests/), n=2" if args.model == "tiny" else "bundled icons, n=2",
        "posts": args.posts,
        "results": results,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=2 if not args.json else None))


def mini_models(root: Path) -> dict[str, str]:
    """Random weights in the released DALL-E Mini and VQGAN shapes, saved as checkpoint folders, and tiny CLIP."""
    import jax
    from flax.serialization import to_bytes
    from tokenizers import ByteLevelBPETokenizer

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from batch_env import clip_folder
    from generate import CONFIGS, random_params
    from tiny_clip import make_tiny_checkpoint
    from vqgan import random_bundle

    from blogart.models.dalle.dallebart import DalleBart, DalleBartConfig

    bart = root / "mini"
    bart.mkdir()
    config = {**CONFIGS["mini"], "normalize_text": False}
    (bart / "config.json").write_text(json.dumps(config))
    params = random_params(DalleBart(DalleBartConfig.from_dict(config)), "bfloat16")
    (bart / "flax_model.msgpack").write_bytes(to_bytes(params))
    del params
    bpe = ByteLevelBPETokenizer()  # any tokenizer: the text only sets which embeddings are read
    corpus = [" notes on tide pools", " sourdough bread", " kelp forests", " a notebook on a table"] * 4
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1, special_tokens=["<s>", "<pad>", "</s>", "<unk>"])
    bpe.save_model(str(bart))
    vqgan = root / "vqgan"
    vqgan.mkdir()
    bundle = random_bundle("float32")
    (vqgan / "config.json").write_text(json.dumps(dataclasses.asdict(bundle.config)))
    (vqgan / "flax_model.msgpack").write_bytes(to_bytes(jax.device_get(bundle.params)))
    (root / "clip").mkdir()
    clip = clip_folder(make_tiny_checkpoint(root / "clip"), root)
    return {
        "BLOGART_MODELS__DALLE_MINI": str(bart),
        "BLOGART_MODELS__VQGAN": str(vqgan),
        "BLOGART_RANK__MODEL": f"local-dir:{clip}",
        "BLOGART_RANK__PRETRAINED": "",
        "BLOGART_RANK__THREADS": "1",
        "BLOGART_MODERATION__CONCEPTS": "{}",
        "BLOGART_GENERATE__COMPILE_CACHE": "false",
    }


def across_posts(args: argparse.Namespace) -> None:
    """Post by post against cross-post batches: one local worker each, a fresh output folder and database."""
    from batch_env import clip_folder, model_env, write_posts
    from tiny_clip import make_tiny_checkpoint
    from tiny_dalle import make_tiny_dalle

    root = Path(tempfile.mkdtemp(prefix="blogart-bench-"))
    if args.model == "mini":
        models = mini_models(root)
    elif args.model == "tiny":
        (root / "dalle").mkdir()
        (root / "clip").mkdir()
        models = model_env(make_tiny_dalle(root / "dalle"), clip_folder(make_tiny_checkpoint(root / "clip"), root))
    else:  # the defaults a fresh install gets; an empty HF cache so DALL-E Mini is never picked up
        models = {"HF_HOME": str(root / "hf"), "BLOGART_RANK__THREADS": "1"}
    write_posts(root / "content", args.posts)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BLOGART_")}
    base = {**environ, **models, "BLOGART_LLM__BACKEND": "local", "PYTHONPATH": str(ROOT / "src")}
    base |= {"BLOGART_GENERATE__N": str(args.n), "BLOGART_GENERATE__DTYPE": args.dtype}
    base["JAX_PLATFORMS"] = "cuda" if args.device == "gpu" else "cpu"
    draw = args.draw_batch or (64 if args.device == "gpu" else 16)
    modes = {
        # each post's candidates are one sampler batch, as `blogart generate` draws them
        "post-by-post": {"BLOGART_BATCH__ACROSS_POSTS": "false", "BLOGART_GENERATE__BATCH_SIZE": str(args.n)},
        "cross-post": {
            "BLOGART_BATCH__ACROSS_POSTS": "true",
            "BLOGART_GENERATE__BATCH_SIZE": str(args.n),  # the VQGAN decodes a post at a time either way
            f"BLOGART_BATCH__DRAW_BATCH_{args.device.upper()}": str(draw),
        },
    }
    results = []
    for mode, extra in modes.items():
        env = {**base, **extra, "BLOGART_HOME": str(root / f"home-{mode}")}
        command = [sys.executable, "-m", "blogart", "backfill", "content", "--out", f"out-{mode}", "--seed", "1"]
        load = os.getloadavg()[0]
        clock = time.perf_counter()
        run = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - clock
        manifests = sorted((root / f"out-{mode}").glob("*/manifest.json"))
        if run.returncode != 0:
            print(run.stdout[-2000:], run.stderr[-2000:], file=sys.stderr)
        results.append(
            {
                "mode": mode,
                "batch": draw if mode == "cross-post" else args.n,
                "seconds": round(seconds, 1),
                "posts_per_hour": round(len(manifests) / seconds * 3600, 1),
                "images_per_second": round(len(manifests) * args.n / seconds, 3),
                "done": len(manifests),
                "load_average_before": round(load, 2),
            }
        )
    same = _same_images(root, [p.parent.name for p in (root / "out-post-by-post").glob("*/manifest.json")])
    report = {
        "model": {"mini": "random DALL-E Mini + VQGAN shapes", "tiny": "tiny random (tests/)"}.get(
            args.model, "bundled icons"
        ),
        "dtype": args.dtype,
        "device": args.device,
        "posts": args.posts,
        "n": args.n,
        "results": results,
        "speedup": round(results[1]["posts_per_hour"] / max(results[0]["posts_per_hour"], 1e-9), 2),
        "byte_identical": same,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(report, indent=2 if not args.json else None))


def _same_images(root: Path, folders: list[str]) -> bool:
    """Every image of every post the same in both runs."""
    for name in folders:
        a, b = root / "out-post-by-post" / name, root / "out-cross-post" / name
        pngs = sorted(p.name for p in a.glob("*.png"))
        if not pngs or pngs != sorted(p.name for p in b.glob("*.png")):
            return False
        if any((a / p).read_bytes() != (b / p).read_bytes() for p in pngs):
            return False
    return bool(folders)


if __name__ == "__main__":
    main()
