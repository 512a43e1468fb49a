"""Speed of CLIP ranking (images/s) and PEZ (seconds per 100 iterations) with random weights.

Random weights of the real architecture (ViT-B-32 by default) cost the same time as trained ones,
so this needs no download. Not a test: run it by hand.

    .venv/bin/python benchmarks/rank.py --json
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="ViT-B-32", help="open_clip architecture (random weights)")
    parser.add_argument("--images", type=int, default=32, help="candidates to rank")
    parser.add_argument("--size", type=int, default=256, help="candidate side in pixels (DALL-E Mini: 256)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--iterations", type=int, default=100, help="PEZ iterations to time")
    parser.add_argument("--prompt-len", type=int, default=16)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    import numpy as np
    import open_clip
    import torch
    from PIL import Image

    from blogart.models.clip import ClipModel, set_threads
    from blogart.prompts.optimize import optimize_prompt
    from blogart.ranking.clip import ClipRanker
    from blogart.ranking.moderation import Moderator
    from blogart.values import Candidate, ImagePrompt, KeyTopics, Topic

    set_threads(args.threads)
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(args.model, pretrained=None)
    clip = ClipModel(model, preprocess, open_clip.get_tokenizer(args.model), f"{args.model}/random", args.batch_size)

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.images):
            path = Path(folder) / f"{i}.png"
            Image.fromarray(rng.integers(0, 256, (args.size, args.size, 3), dtype=np.uint8)).save(path)
            paths.append(path)
        candidates = [Candidate(p, i, "p", "", "bench") for i, p in enumerate(paths)]
        prompt = ImagePrompt("a lighthouse on a cliff at sunset, flat vector illustration", ("blurry", "text"), "", 16)
        topics = KeyTopics(tuple(Topic(t, t) for t in ("lighthouse", "coastal storms", "maritime history")), "")
        concepts = {"nudity": 0.27, "graphic violence": 0.27, "gore and blood": 0.27, "hate symbol": 0.27}
        ranker = ClipRanker(clip, moderator=Moderator(concepts=concepts))
        ranker.rank(candidates[: args.batch_size], prompt, topics)  # warm-up, and text embeddings cached
        start = time.perf_counter()
        ranker.rank(candidates, prompt, topics)
        rank_seconds = time.perf_counter() - start

        optimize_prompt(clip, init_prompt=prompt.text, topics=["x"], iterations=2, prompt_len=args.prompt_len)
        start = time.perf_counter()
        result = optimize_prompt(
            clip,
            init_prompt=prompt.text,
            topics=[t.phrase for t in topics.topics],
            negative=list(prompt.negative),
            iterations=args.iterations,
            prompt_len=args.prompt_len,
        )
        pez_seconds = time.perf_counter() - start

    report = {
        "model": f"{args.model} (random weights)",
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "images": args.images,
        "image_size": args.size,
        "batch_size": args.batch_size,
        "rank_seconds": round(rank_seconds, 3),
        "rank_images_per_second": round(args.images / rank_seconds, 2),
        "pez_iterations": args.iterations,
        "pez_prompt_len": args.prompt_len,
        "pez_seconds": round(pez_seconds, 3),
        "pez_seconds_per_100_iterations": round(pez_seconds * 100 / max(args.iterations, 1), 3),
        "pez_objective_first_best": [round(result.score_history[0], 4), round(result.best_score, 4)],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>32}: {value}")


if __name__ == "__main__":
    main()
