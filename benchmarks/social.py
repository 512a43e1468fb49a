"""Speed of the social stage's own work: normalising a post, and writing one image at every platform size.

    .venv/bin/python benchmarks/social.py [--repeats N] --json

Normalisation runs over the sample posts in tests/data/social (first call, with wordsegment's word
counts loading, reported apart); platform images are one 256x256 picture resized and cropped to the
four platform sizes and written as PNG. Output: {"normalise_ms_per_post", "first_normalise_ms",
"platform_images_ms", "posts", "repeats"} (medians).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image

from blogart.outputs.platforms import write_platform_images
from blogart.social.normalise import normalise
from blogart.social.platforms import PLATFORMS
from blogart.social.read import read_post

POSTS = Path(__file__).resolve().parents[1] / "tests" / "data" / "social"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    texts = [read_post(str(p)).text for p in sorted(POSTS.iterdir())]

    clock = time.perf_counter()
    normalise(texts[0])
    first = (time.perf_counter() - clock) * 1000
    per_post = []
    for _ in range(args.repeats):
        clock = time.perf_counter()
        for text in texts:
            normalise(text)
        per_post.append((time.perf_counter() - clock) * 1000 / len(texts))

    # A smooth picture, as generated covers are: PNG time depends on content, and noise is a worst case.
    image = Image.merge(
        "RGB", [Image.linear_gradient("L"), Image.radial_gradient("L"), Image.linear_gradient("L").rotate(90)]
    )
    sizes = [(f"{p.name}-{s.name}", s.width, s.height) for p in PLATFORMS.values() for s in p.sizes]
    timings = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(max(args.repeats // 4, 3)):
            clock = time.perf_counter()
            write_platform_images(image, sizes, Path(folder), "01")
            timings.append((time.perf_counter() - clock) * 1000)
    result = {
        "normalise_ms_per_post": round(statistics.median(per_post), 3),
        "first_normalise_ms": round(first, 1),
        "platform_images_ms": round(statistics.median(timings), 1),
        "posts": len(texts),
        "repeats": args.repeats,
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
