"""Synthetic covers with a known subject box: a shape drawn at a known place on a chosen background.

Used by tests/test_crops_subject.py and benchmarks/crops.py. Everything is seeded, so a cover is the
same pixels on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

BACKGROUNDS = ("plain", "noise", "gradient", "photo")
SHAPES = ("disc", "house", "star", "ring")


@dataclass(frozen=True)
class Cover:
    image: Image.Image
    box: tuple[int, int, int, int]  # (left, top, right, bottom) of the subject
    label: str


def background(kind: str, size: tuple[int, int], seed: int) -> Image.Image:
    """A plain, noisy, gradient or photo-like (1/f fields with a horizon) background."""
    width, height = size
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, 3).astype(np.float32)
    if kind == "plain":
        pixels = np.broadcast_to(base, (height, width, 3))
    elif kind == "noise":
        pixels = base + rng.normal(0, 28, (height, width, 3))
    elif kind == "gradient":
        other = rng.integers(30, 230, 3).astype(np.float32)
        angle = rng.uniform(0, np.pi)
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        t = xx / width * np.cos(angle) + yy / height * np.sin(angle)
        t = (t - t.min()) / (np.ptp(t) or 1.0)
        pixels = base + (other - base) * t[..., None]
    elif kind == "photo":
        pixels = _photo_like(rng, width, height)
    else:
        raise ValueError(f"unknown background {kind!r}")
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _photo_like(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Sky over ground split at a wavy horizon, each with soft blotches at several scales and grain."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height * rng.uniform(0.45, 0.7) + height * 0.04 * np.sin(xx / width * rng.uniform(2, 6))
    sky = np.array([150, 185, 225], np.float32) + (yy / height)[..., None] * np.array([40, 20, -30], np.float32)
    ground = np.array(rng.choice([[95, 120, 70], [140, 115, 80], [110, 110, 100]]), np.float32)
    pixels = np.where((yy < horizon)[..., None], sky, ground)
    for cells, amplitude in ((4, 28.0), (12, 14.0), (40, 7.0)):
        field = rng.normal(0, 1, (cells, cells, 3))
        smooth = Image.fromarray(((field - field.min()) / np.ptp(field) * 255).astype(np.uint8))
        smooth = np.asarray(smooth.resize((width, height), Image.BICUBIC), np.float32) / 255 - 0.5
        pixels = pixels + amplitude * 2 * smooth
    return pixels + rng.normal(0, 6, (height, width, 3))


def draw_subject(image: Image.Image, shape: str, box: tuple[int, int, int, int], seed: int) -> None:
    """An icon-like shape filling `box`, in a saturated colour with a darker outline."""
    rng = np.random.default_rng(seed + 1000)
    hue = rng.uniform(0, 1)
    colour = tuple(
        int(c) for c in np.asarray(Image.new("HSV", (1, 1), (int(hue * 255), 230, 235)).convert("RGB"))[0, 0]
    )
    outline = tuple(c // 3 for c in colour)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    line = max(2, w // 30)
    if shape == "disc":
        draw.ellipse(box, fill=colour, outline=outline, width=line)
    elif shape == "ring":
        draw.ellipse(box, fill=outline)
        draw.ellipse((left + w * 0.2, top + h * 0.2, right - w * 0.2, bottom - h * 0.2), fill=colour)
    elif shape == "house":
        draw.polygon([(left, top + h * 0.45), (left + w / 2, top), (right, top + h * 0.45)], fill=outline)
        draw.rectangle(
            (left + w * 0.1, top + h * 0.45, right - w * 0.1, bottom), fill=colour, outline=outline, width=line
        )
        draw.rectangle((left + w * 0.42, top + h * 0.7, right - w * 0.42, bottom), fill=outline)
    elif shape == "star":
        cx, cy = left + w / 2, top + h / 2
        points = []
        for i in range(10):
            radius = 0.5 if i % 2 == 0 else 0.22
            angle = -np.pi / 2 + i * np.pi / 5
            points.append((cx + radius * w * np.cos(angle), cy + radius * h * np.sin(angle)))
        draw.polygon(points, fill=colour, outline=outline)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def cover(
    kind: str,
    shape: str,
    centre: tuple[float, float],
    side: float = 0.3,
    size: tuple[int, int] = (1024, 1024),
    seed: int = 0,
) -> Cover:
    """A cover of `size` with `shape` of side `side` (share of the short side) centred at `centre` (shares)."""
    width, height = size
    s = round(min(size) * side)
    cx, cy = round(centre[0] * width), round(centre[1] * height)
    left, top = min(max(0, cx - s // 2), width - s), min(max(0, cy - s // 2), height - s)
    box = (left, top, left + s, top + s)
    image = background(kind, size, seed)
    draw_subject(image, shape, box, seed)
    if kind == "photo":  # a decoded image is soft: no hard aliasing at the shape's edge
        image = image.filter(ImageFilter.GaussianBlur(0.8))
    return Cover(image, box, f"{kind}/{shape}@{centre[0]:.2f},{centre[1]:.2f}/{size[0]}x{size[1]}/s{seed}")


def kept(window_box: tuple[int, int, int, int], subject: tuple[int, int, int, int]) -> float:
    """Share of the subject box inside the window box."""
    left, top = max(window_box[0], subject[0]), max(window_box[1], subject[1])
    right, bottom = min(window_box[2], subject[2]), min(window_box[3], subject[3])
    area = (subject[2] - subject[0]) * (subject[3] - subject[1])
    return max(0, right - left) * max(0, bottom - top) / area


def fits(image_size: tuple[int, int], aspect: float, subject: tuple[int, int, int, int]) -> bool:
    """Whether the subject box fits inside the largest window of `aspect` (else no window can keep it)."""
    width, height = image_size
    w, h = (height * aspect, height) if width / height > aspect else (width, width / aspect)
    return subject[2] - subject[0] <= w and subject[3] - subject[1] <= h
