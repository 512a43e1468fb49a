"""Choose the bundled model's sampling settings on validation captions the evaluation never scores.

    python recipes/icons/sampling.py --work WORK --assets DIR [--try "top_k=8,temperature=0.8" ...]
        [--first 100] [--count 100] [--images 4] [--json]

The evaluation scores the first 100 held-out captions; tuning on those would flatter the figure, so
this sweep uses held-out captions from `--first` on (default: the ones after them). Each `--try` is
one setting of GenerationRequest's sampling fields (condition_scale, top_k, temperature, top_p) over
blogart's defaults (condition scale 10, top-k 50), not the model's own generation_config.json; each
is scored as evaluate.py scores generation (best of `--images` by the bundled CLIP, then the template
detector). Results go to WORK/sampling.json as they come, keyed by setting, so a rerun skips the
settings already measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from evaluate import generation, held_out, load_clip  # noqa: E402

from blogart.atomic import atomic_write_json  # noqa: E402

FIELDS = {"condition_scale": float, "top_k": int, "temperature": float, "top_p": float}
DEFAULT_TRIES = tuple(f"condition_scale={scale}" for scale in (10, 5, 3, 2, 1)) + ("condition_scale=2,top_k=4",)


def parse_setting(text: str) -> dict:
    """'top_k=8,temperature=0.8' -> {'top_k': 8, 'temperature': 0.8}."""
    setting = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            setting[name] = FIELDS[name](value)
        except (KeyError, ValueError):
            raise SystemExit(f"error: bad setting {part!r}; use NAME=NUMBER, NAME one of {', '.join(FIELDS)}") from None
    return setting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--assets", required=True, type=Path)
    parser.add_argument("--try", dest="tries", action="append", default=None, help="a setting; repeatable")
    parser.add_argument("--first", type=int, default=100, help="first held-out row used (the evaluation's end)")
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    settings = [parse_setting(text) for text in args.tries or DEFAULT_TRIES]
    if not (args.work / "data" / "meta.jsonl").is_file():
        parser.error(f"{args.work} has no rendered data (data/meta.jsonl); run the recipe first")
    rows = held_out(args.work)[args.first : args.first + args.count]
    if not rows:
        parser.error(f"no held-out rows from {args.first} on")
    out = args.work / "sampling.json"
    results = json.loads(out.read_text()) if out.is_file() else {}
    clip = load_clip(args.assets)
    for setting in settings:
        key = ",".join(f"{k}={v}" for k, v in sorted(setting.items()))
        if key in results:
            continue
        scored = generation(args.assets, args.work, rows, args.images, clip, samples=False, **setting)
        results[key] = {"rows": f"{args.first}:{args.first + len(rows)}", **scored}
        atomic_write_json(out, results)
        print(f"{key}: found {scored['found']:.1%} of {scored['named_concepts']}", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
