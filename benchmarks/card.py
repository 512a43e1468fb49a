"""How long a title card takes: one 1200x630 card per script, drawn the way `generate --card` draws it.

The picture is a 1024x1024 cover; the crop window is the one the publish step already chose for the og
crop (passed in), so the time is the card's own: text setting (fallback fonts, RAQM shaping, line
breaking, shrinking), the panel and its contrast check, compositing. Reported per title:
- `first_ms`: the first card of the process for that script (its fonts looked up and their cmaps read),
- `ms`: the median of `--repeat` more cards with other titles in the same script (what a batch pays),
and the median over all titles, with the crop window chosen by saliency as well (`with_window_ms`).

    .venv/bin/python benchmarks/card.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The test suite's titles: one per script the card must set.
TITLES = json.loads((ROOT / "tests" / "data" / "card_titles.json").read_text(encoding="utf-8"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np
    from PIL import Image

    from blogart.outputs.card import OG_SIZE, CardText, render_card
    from blogart.outputs.card_template import load_template
    from blogart.outputs.crops import choose_window

    rng = np.random.default_rng(0)
    pixels = np.zeros((1024, 1024, 3), np.uint8)
    pixels[..., 0] = np.linspace(30, 250, 1024)[None, :]
    pixels[..., 2] = np.linspace(250, 30, 1024)[:, None]
    pixels[300:700, 350:650] = (250, 220, 40)
    pixels = np.clip(pixels + rng.integers(-20, 20, pixels.shape), 0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels)

    started = time.perf_counter()
    template = load_template()
    window = choose_window(picture, OG_SIZE)
    setup_ms = (time.perf_counter() - started) * 1000
    text = dict(site="example.org", date="2026-12-07", tags=("build", "ci"))
    rows = {}
    for script, title in TITLES.items():
        clock = time.perf_counter()
        render_card(picture, CardText(title, **text), template, window=window)
        first = (time.perf_counter() - clock) * 1000
        times = []
        for i in range(args.repeat):
            clock = time.perf_counter()
            render_card(picture, CardText(f"{title} {i + 2}", **text), template, window=window)
            times.append((time.perf_counter() - clock) * 1000)
        rows[script] = {"first_ms": round(first, 1), "ms": round(statistics.median(times), 1)}
    with_window = []
    for title in TITLES.values():
        clock = time.perf_counter()
        render_card(picture, CardText(title, **text), template)
        with_window.append((time.perf_counter() - clock) * 1000)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "template_and_window_ms": round(setup_ms, 1),
        "scripts": rows,
        "median_ms": round(statistics.median(r["ms"] for r in rows.values()), 1),
        "max_first_ms": max(r["first_ms"] for r in rows.values()),
        "with_window_median_ms": round(statistics.median(with_window), 1),
    }
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
        return
    for script, row in rows.items():
        print(f"{script:>11}  first {row['first_ms']:7.1f} ms   then {row['ms']:7.1f} ms")
    print(f"median {result['median_ms']} ms; with the crop window chosen too {result['with_window_median_ms']} ms")


if __name__ == "__main__":
    main()
