"""Publish-step speed: upscaling a 256x256 candidate to 1024 and cutting the four default crops.

    .venv/bin/python benchmarks/publish.py [--upscaler lanczos|swin2sr] [--swin2sr-dir DIR] [--repeats N] --json

Lanczos needs no weights. Swin2SR reads a folder in the transformers format (`blogart models pull swin2sr`,
then `blogart models path swin2sr`); without one, `--swin2sr-random x2|x4` builds the released
architecture (classical-sr-x2-64 / x4-64 shapes) with random weights: the compute is the same.
Crops use the saliency scorer (no CLIP). Output: {"upscaler", "upscale_seconds", "crop_seconds", ...};
each is the median of the repeats.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np
from PIL import Image

from blogart.outputs.crops import choose_window, crop_to
from blogart.outputs.upscale import Swin2SR, upscale
from blogart.values import DEFAULT_SIZES


def _random_swin2sr(scale: int, folder: str) -> Swin2SR:
    from transformers import Swin2SRConfig, Swin2SRForImageSuperResolution, Swin2SRImageProcessor

    config = Swin2SRConfig(upscale=scale, upsampler="pixelshuffle", embed_dim=180, depths=[6] * 6, num_heads=[6] * 6)
    Swin2SRForImageSuperResolution(config).save_pretrained(folder)
    Swin2SRImageProcessor().save_pretrained(folder)
    return Swin2SR(folder)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upscaler", default="lanczos", choices=["lanczos", "swin2sr"])
    parser.add_argument("--swin2sr-dir")
    parser.add_argument("--swin2sr-random", choices=["x2", "x4"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
    candidate = Image.fromarray(base).resize((256, 256), Image.BICUBIC)  # smooth, like a decoded image
    model = None
    if args.upscaler == "swin2sr":
        if args.swin2sr_dir:
            model = Swin2SR(args.swin2sr_dir)
        else:
            import tempfile

            model = _random_swin2sr(int((args.swin2sr_random or "x4")[1]), tempfile.mkdtemp())
    up_times, crop_times = [], []
    for _ in range(args.repeats):
        clock = time.perf_counter()
        big = upscale(candidate, 1024, args.upscaler, model)
        up_times.append(time.perf_counter() - clock)
        clock = time.perf_counter()
        for size in DEFAULT_SIZES:
            crop_to(big, choose_window(big, size), size)
        crop_times.append(time.perf_counter() - clock)
    result = {
        "upscaler": args.upscaler,
        "swin2sr": args.swin2sr_dir or args.swin2sr_random,
        "upscale_seconds": round(statistics.median(up_times), 3),
        "crop_seconds": round(statistics.median(crop_times), 3),
        "repeats": args.repeats,
        "machine": platform.machine(),
        "python": platform.python_version(),
    }
    print(json.dumps(result) if args.json else result)


if __name__ == "__main__":
    main()
