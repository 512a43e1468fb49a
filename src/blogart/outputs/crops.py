"""Crop windows: which part of the cover each published size keeps.

For each size, windows of its aspect ratio as large as the image allows slide across the free axis;
the window kept is the one that best shows the subject. With a ranker, "best" is the CLIP score of the
window against the prompt (`Ranker.score_images`); without one, the share of the image's saliency the
window holds (frequency-tuned saliency: distance of each blurred pixel's colour from the image's mean
colour, Achanta et al. 2009). Equal scores go to the window nearest the centre.
Functions take and return PIL images and typed values, so the social-posts stage can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from blogart.values import CropSize, CropWindow

# Scores `images` (PIL) against the prompt, higher is better: a ranker's score_images bound to the prompt.
WindowScorer = Callable[[Sequence[Any]], Sequence[float]]

STEPS = 7  # window positions tried along the free axis

TIE = 0.002  # scores within 0.2% of the best count as equally good (halos, rounding)


def window_positions(size: tuple[int, int], aspect: float, steps: int = STEPS) -> list[tuple[int, int, int, int]]:
    """(left, top, width, height) of the largest `aspect` windows, spread evenly over the free axis."""
    width, height = size
    if width / height > aspect:
        w, h = max(1, round(height * aspect)), height
    else:
        w, h = width, max(1, round(width / aspect))
    w, h = min(w, width), min(h, height)
    free_x, free_y = width - w, height - h
    free = max(free_x, free_y)
    offsets = sorted({round(free * i / (steps - 1)) for i in range(steps)}) if free else [0]
    return [(o, 0, w, h) if free_x else (0, o, w, h) for o in offsets]


def saliency_map(image: Any, max_side: int = 256) -> tuple[np.ndarray, float]:
    """A saliency map of `image` at most `max_side` pixels wide, and its scale relative to the image."""
    from PIL import Image, ImageFilter

    scale = min(1.0, max_side / max(image.size))
    small = image.convert("RGB")
    if scale < 1.0:
        small = small.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)
    blurred = np.asarray(small.filter(ImageFilter.GaussianBlur(2)), dtype=np.float32)
    mean = blurred.reshape(-1, 3).mean(axis=0)
    return np.linalg.norm(blurred - mean, axis=2), scale


def _window_sums(saliency: np.ndarray, scale: float, windows: list[tuple[int, int, int, int]]) -> list[float]:
    integral = np.pad(saliency, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    total = float(integral[-1, -1]) or 1.0
    sums = []
    for left, top, w, h in windows:
        x0, y0 = round(left * scale), round(top * scale)
        x1 = min(integral.shape[1] - 1, x0 + max(1, round(w * scale)))
        y1 = min(integral.shape[0] - 1, y0 + max(1, round(h * scale)))
        sums.append(float(integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]) / total)
    return sums


def choose_window(image: Any, size: CropSize, scorer: WindowScorer | None = None) -> CropWindow:
    """The window of `size`'s aspect ratio that keeps the subject of `image`."""
    windows = window_positions(image.size, size.aspect)
    if len(windows) == 1:
        left, top, w, h = windows[0]
        return CropWindow(left, top, w, h, 1.0, "full")
    if scorer is not None:
        scores = [float(s) for s in scorer([image.crop((x, y, x + w, y + h)) for x, y, w, h in windows])]
        method = "clip"
    else:
        saliency, scale = saliency_map(image)
        scores = _window_sums(saliency, scale, windows)
        method = "saliency"
    # Windows that keep the subject equally well score within a hair of each other (edge halos, rounding):
    # among those, the one nearest the centre wins, so a centred subject stays centred.
    centre = (len(windows) - 1) / 2
    top = max(scores)
    near_best = [i for i in range(len(windows)) if scores[i] >= top - TIE * abs(top)]
    best = min(near_best, key=lambda i: abs(i - centre))
    left, top, w, h = windows[best]
    return CropWindow(left, top, w, h, scores[best], method)


def crop_to(image: Any, window: CropWindow, size: CropSize) -> Any:
    """The window cut out and resampled to exactly `size` (Lanczos)."""
    from PIL import Image

    return image.crop(window.box).resize((size.width, size.height), Image.Resampling.LANCZOS)


def parse_size(name: str, text: str) -> CropSize:
    """`og`, `1200x630` -> CropSize (the settings validate the form)."""
    width, height = (int(part) for part in text.lower().split("x"))
    return CropSize(name, width, height)
