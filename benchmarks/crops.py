"""Crop quality: how much of a known subject each crop keeps, over synthetic covers.

    .venv/bin/python benchmarks/crops.py [--seeds N] [--side 0.3] [--clip bundled|tiny|MODEL] [--weights W] --json

Covers come from tests/subject_covers.py: a shape (disc, house, star, ring) at seven places, centred and
off-centre, on plain, noisy, gradient and photo-like backgrounds, square (1024) and landscape (1024x768).
Each is cut to og, portrait (4:5), story (9:16) and wide (16:9) wherever the subject box fits the window.
`--clip` adds the CLIP path: `bundled` (blogart's own small CLIP), `tiny` (the tests' random CLIP: noise
scores, the worst case for the saliency gate) or an open_clip model name with `--weights`.
Output: {"crops", "saliency": {"kept_90", "mean_kept", "worst", "seconds_per_crop"}, "clip": {...}}.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from subject_covers import BACKGROUNDS, SHAPES, cover, fits, kept  # noqa: E402

from blogart.outputs.crops import choose_window  # noqa: E402
from blogart.values import CropSize  # noqa: E402

SIZES = (CropSize("og", 1200, 630), CropSize("portrait", 1080, 1350), CropSize("story", 1080, 1920))
SIZES += (CropSize("wide", 1600, 900),)
PLACES = ((0.5, 0.5), (0.5, 0.2), (0.5, 0.8), (0.2, 0.5), (0.8, 0.5), (0.25, 0.75), (0.75, 0.3))
PROMPT = "a flat icon"


def _scorer(name: str, weights: str | None):
    from blogart.models.clip import load_clip, set_threads
    from blogart.ranking.clip import ClipRanker

    set_threads(1)
    if name == "tiny":
        from tiny_clip import MODEL, make_tiny_checkpoint

        clip = load_clip(MODEL, str(make_tiny_checkpoint(Path(tempfile.mkdtemp()))))
    else:
        clip = load_clip(name, None if name == "bundled" else weights, None)
    ranker = ClipRanker(clip)
    return lambda crops: ranker.score_images(crops, PROMPT)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=1, help="cover sets (each 56 covers)")
    parser.add_argument("--side", type=float, default=0.3, help="the subject's side, a share of the short side")
    parser.add_argument("--clip", help="also score windows with this CLIP: bundled, tiny, or an open_clip model")
    parser.add_argument("--weights", help="with an open_clip model: a pretrained tag or a checkpoint file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    scorers = {"saliency": None}
    if args.clip:
        scorers["clip"] = _scorer(args.clip, args.weights)
    shares: dict[str, list[float]] = {name: [] for name in scorers}
    worst: dict[str, list[tuple[float, str]]] = {name: [] for name in scorers}
    seconds = {name: 0.0 for name in scorers}
    for seed in range(args.seeds):
        for kind in BACKGROUNDS:
            for i, place in enumerate(PLACES):
                for size in ((1024, 1024), (1024, 768)):
                    subject = cover(kind, SHAPES[(i + seed) % len(SHAPES)], place, args.side, size, seed * 100 + i)
                    for crop in SIZES:
                        if not fits(size, crop.aspect, subject.box):
                            continue
                        for name, scorer in scorers.items():
                            clock = time.perf_counter()
                            window = choose_window(subject.image, crop, scorer)
                            seconds[name] += time.perf_counter() - clock
                            share = kept(window.box, subject.box)
                            shares[name].append(share)
                            if share < 0.9:
                                worst[name].append((round(share, 3), f"{subject.label} {crop.name}"))
    result = {"crops": len(shares["saliency"]), "side": args.side, "seeds": args.seeds, "clip_model": args.clip}
    for name, values in shares.items():
        result[name] = {
            "kept_90": round(100 * sum(v >= 0.9 for v in values) / len(values), 2),
            "mean_kept": round(100 * sum(values) / len(values), 2),
            "worst": sorted(worst[name])[:5],
            "seconds_per_crop": round(seconds[name] / len(values), 4),
        }
    result |= {"machine": platform.machine(), "python": platform.python_version()}
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
