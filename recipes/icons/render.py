"""Render the recipe's data set: emoji compositions with their captions, split so that the test
set's concept combinations never appear in training.

    python recipes/icons/render.py --out DATA [--size test|full|large] [--font F] [--seed S]

writes the data folder of the recipe (see README, "The bundled icon model"):
DATA/train and DATA/test (NNNNN.png + NNNNN.txt), concepts.json, templates/ (one clean render per
concept, named by its index in concepts.json) and meta.jsonl (concepts, boxes, background and layout
of every image). The same seed and size give the same files.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from catalogue import build_catalogue, choose, load_font  # noqa: E402

from blogart.prompts.icons import COLOURS, LAYOUTS, Background, Concept, caption, save_concepts  # noqa: E402

IMAGE_SIDE = 128
JITTER = 12  # per colour channel, so "blue" covers a range of blues
CELL = 8  # the VQGAN's downsampling: one code per 8x8 pixels
# Every emoji sits in a square slot on the code grid, at one size per slot: a concept then looks the
# same wherever it is drawn at that size (the VQGAN's convolutions give it the same codes), so a small
# DalleBart learns one code block per concept and size and where the caption puts it, instead of every
# sub-cell offset and scale. Slots are (x, y, side) in pixels, all multiples of CELL.
SINGLE = ((24, 24, 80),)
ROWS = {  # "left to right": evenly spaced on the centre line
    2: ((8, 40, 48), (72, 40, 48)),
    3: ((8, 48, 32), (48, 48, 32), (88, 48, 32)),
    4: ((8, 56, 24), (40, 56, 24), (72, 56, 24), (104, 56, 24)),
}
# "scatter" (no order in the caption): in caption order, a diagonal, a triangle, the four corners. Fixed,
# like the rows, so a caption names one picture: a small model that had to pick corners blurred them all.
SCATTERS = {
    2: ((8, 8, 48), (72, 72, 48)),
    3: ((8, 8, 48), (72, 8, 48), (40, 72, 48)),
    4: ((8, 8, 48), (72, 8, 48), (8, 72, 48), (72, 72, 48)),
}


@dataclass(frozen=True)
class DataSize:
    concepts: int | None  # None: the whole drawable catalogue
    singles: int  # training images of each concept alone
    multi: int  # training images of 2-4 concepts
    test: int  # held-out images (their captions and combinations never in train)


SIZES = {
    "test": DataSize(concepts=8, singles=4, multi=40, test=12),
    "full": DataSize(concepts=320, singles=8, multi=5600, test=200),
    # full's held-out set (the test plans come first from the seed) with three times the compositions:
    # the large DalleBart schedule's 128,000 examples would be ~16 passes over full's 8,160 renders
    "large": DataSize(concepts=320, singles=8, multi=16000, test=200),
}


@dataclass(frozen=True)
class Plan:
    """One image to draw: concept indices in caption order, background, layout and the seed of its placement."""

    concepts: tuple[int, ...]
    background: Background
    layout: str
    seed: int


def random_background(rng: random.Random) -> Background:
    names = sorted(COLOURS)
    colour = rng.choice(names)
    if rng.random() < 0.6:
        return Background(colour)
    return Background(colour, rng.choice([n for n in names if n != colour]))


def combos_within(indices: tuple[int, ...]) -> list[frozenset[int]]:
    """Every 2- and 3-concept set an image of these concepts shows."""
    return [frozenset(c) for k in (2, 3) for c in itertools.combinations(indices, k)]


def plan_split(count: int, size: DataSize, seed: int) -> tuple[list[Plan], list[Plan]]:
    """(train, test) plans. Test: 1/5 single concepts on a held-out background, the rest 2-3 concept
    sets; no training image shows a test set's concepts together, and no training caption is a test caption.
    Every concept appears alone in training."""
    rng = random.Random(seed)
    test: list[Plan] = []
    held_combos: set[frozenset[int]] = set()
    held_singles: set[tuple[int, Background]] = set()
    singles = size.test // 5
    tries = 0
    while len(test) < size.test and tries < 100 * size.test:
        tries += 1
        n = 1 if len(test) < singles else rng.choice((2, 3))
        if n > count:
            continue
        indices = tuple(rng.sample(range(count), n))
        background = random_background(rng)
        if n == 1:
            if (indices[0], background) in held_singles:
                continue
            held_singles.add((indices[0], background))
        else:
            key = frozenset(indices)
            if key in held_combos or any(c in held_combos for c in combos_within(indices)):
                continue
            held_combos.add(key)
        test.append(Plan(indices, background, rng.choice(LAYOUTS), rng.randrange(2**31)))

    train: list[Plan] = []
    for index in range(count):
        made = 0
        while made < size.singles:
            background = random_background(rng)
            if (index, background) in held_singles:
                continue
            train.append(Plan((index,), background, rng.choice(LAYOUTS), rng.randrange(2**31)))
            made += 1
    made = 0
    while made < size.multi:
        n = rng.choice((2, 2, 3, 3, 4))
        if n > count:
            continue
        indices = tuple(rng.sample(range(count), n))
        if any(c in held_combos for c in combos_within(indices)):
            continue
        train.append(Plan(indices, random_background(rng), rng.choice(LAYOUTS), rng.randrange(2**31)))
        made += 1
    rng.shuffle(train)
    return train, test


class Renderer:
    """Draws plans; each concept's glyph is rendered once from the font and resized per image."""

    def __init__(self, concepts: list[Concept], font):
        from PIL import Image, ImageDraw

        self.concepts = concepts
        self.glyphs = []
        for concept in concepts:
            canvas = Image.new("RGBA", (2 * font.size, int(1.4 * font.size)))
            ImageDraw.Draw(canvas).text((0, 0), concept.emoji, font=font, embedded_color=True)
            self.glyphs.append(canvas.crop(canvas.getbbox()))

    def glyph(self, index: int, side: int):
        """The glyph scaled so its longer edge is `side` pixels."""
        from PIL import Image

        glyph = self.glyphs[index]
        scale = side / max(glyph.size)
        size = (max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale)))
        return glyph.resize(size, Image.Resampling.LANCZOS)

    def background(self, background: Background, rng: random.Random):
        import numpy as np
        from PIL import Image

        def jittered(name: str) -> np.ndarray:
            return np.array([min(255, max(0, v + rng.randint(-JITTER, JITTER))) for v in COLOURS[name]], float)

        top = jittered(background.colour)
        bottom = jittered(background.to) if background.to else top
        t = np.linspace(0.0, 1.0, IMAGE_SIDE)[:, None, None]
        pixels = np.broadcast_to(top * (1 - t) + bottom * t, (IMAGE_SIDE, IMAGE_SIDE, 3))
        return Image.fromarray(pixels.round().astype("uint8"), "RGB")

    def draw(self, plan: Plan):
        """(image, boxes): boxes are (x0, y0, x1, y1) of each concept, in caption order."""
        rng = random.Random(plan.seed)
        image = self.background(plan.background, rng)
        boxes = []
        for index, (x, y, side) in zip(plan.concepts, slots(len(plan.concepts), plan.layout), strict=True):
            glyph = self.glyph(index, side)
            # a glyph narrower or shorter than its slot is centred in it (the same way every time)
            x += (side - glyph.width) // 2
            y += (side - glyph.height) // 2
            image.paste(glyph, (x, y), glyph)
            boxes.append((x, y, x + glyph.width, y + glyph.height))
        return image, boxes

    def template(self, index: int, side: int = 96):
        return self.glyph(index, side)


def slots(count: int, layout: str) -> list[tuple[int, int, int]]:
    """The (x, y, side) slot of each of `count` concepts, in caption order."""
    if count == 1:
        return list(SINGLE)
    return list((ROWS if layout == "row" else SCATTERS)[count])


_renderer: Renderer | None = None  # a worker process's own, built once by _start_worker


def _start_worker(concepts: list[Concept], font_path: str | None) -> None:
    global _renderer
    _renderer = Renderer(concepts, load_font(font_path))


def _write_image(job: tuple[Path, str, int, Plan]) -> dict:
    """Draw one plan into OUT/SPLIT/NNNNN.png + .txt; its meta.jsonl line."""
    out, split, number, plan = job
    concepts = _renderer.concepts
    image, boxes = _renderer.draw(plan)
    text = caption([concepts[i] for i in plan.concepts], plan.background, plan.layout)
    stem = out / split / f"{number:05d}"
    image.save(stem.with_suffix(".png"))
    (stem.with_suffix(".txt")).write_text(text + "\n", encoding="utf-8")
    return {
        "file": f"{split}/{number:05d}.png",
        "split": split,
        "concepts": [concepts[i].name for i in plan.concepts],
        "boxes": [list(b) for b in boxes],
        "background": asdict(plan.background),
        "layout": plan.layout,
        "caption": text,
    }


def write_data(out: Path, size: DataSize, seed: int = 0, font_path: str | None = None, workers: int = 1) -> dict:
    """Render the whole data folder; returns a summary (counts, concepts, seed). Each image depends on its
    plan alone, so `workers` processes draw the same files as one."""
    from blogart.atomic import atomic_write_bytes, atomic_write_json

    font = load_font(font_path)
    concepts = choose(build_catalogue(font), size.concepts)
    train, test = plan_split(len(concepts), size, seed)
    for folder in ("train", "test", "templates"):
        (out / folder).mkdir(parents=True, exist_ok=True)
    _start_worker(concepts, font_path)
    for index in range(len(concepts)):
        _renderer.template(index).save(out / "templates" / f"{index:04d}.png")
    splits = (("train", train), ("test", test))
    jobs = [(out, split, number, plan) for split, plans in splits for number, plan in enumerate(plans)]
    if workers > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        spawn = multiprocessing.get_context("spawn")  # a forked copy of a process running jax can deadlock
        with ProcessPoolExecutor(workers, spawn, _start_worker, (concepts, font_path)) as pool:
            lines = list(pool.map(_write_image, jobs, chunksize=64))
    else:
        lines = [_write_image(job) for job in jobs]
    save_concepts(concepts, out / "concepts.json")
    atomic_write_bytes(out / "meta.jsonl", "".join(json.dumps(line) + "\n" for line in lines).encode())
    summary = {"concepts": len(concepts), "train": len(train), "test": len(test), "seed": seed}
    atomic_write_json(out / "data.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--font", default=None)
    args = parser.parse_args(argv)
    print(json.dumps(write_data(args.out, SIZES[args.size], args.seed, args.font)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
