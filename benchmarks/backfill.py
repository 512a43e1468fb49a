"""Posts per hour for `blogart backfill`: local engine with 1 and 2 workers, and the Ray engine.

    PYTHONPATH=src .venv/bin/python benchmarks/backfill.py --posts 20 [--engines local-1,local-2,ray] --json

Models: `--model bundled` (the default: the icon model that ships in blogart.assets, with its CLIP) or
`--model tiny` (tiny random checkpoints in the released formats, tests/tiny_dalle.py and tiny_clip.py),
2 candidates per post, the local text backend (no LLM). Each
engine gets a fresh output folder and database; its time includes starting workers and loading and
compiling the models, which is what a backfill pays. Output: {"model", "posts", "results": [{"engine",
"workers", "seconds", "posts_per_hour", "done"}], "cpus", "load_average"}.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--model", choices=("bundled", "tiny"), default="bundled")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

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


if __name__ == "__main__":
    main()
