"""Crop windows: which part of the cover each published size keeps.

For each size, windows of its aspect ratio as large as the image allows slide across the free axis.
Saliency says where the subject is: how far each pixel's colour lies from the colours along the image's
border (the background prior of Wei et al. 2012 and Zhu et al. 2014: backgrounds reach the frame, subjects
rarely do), measured against each side separately and taking the second nearest side, so that a subject
touching one side stays salient and a gradient or a horizon, whose colours reach two sides, does not;
plus local contrast, for a subject's part that shares a colour with the frame. What lies below Otsu's
threshold (textures, soft blotches) is dropped and the rest widened by a margin.

Without a ranker, the window kept holds the most saliency, less a penalty for saliency under its edges
(cutting through the subject) and a mild one for leaving the subject off-centre. With a ranker, saliency
gates and CLIP chooses: only windows that keep the subject as well as the best window does are scored
(`Ranker.score_images`, which shows the model the whole window), and the best CLIP score, with a mild
centring prior, wins. A ranker that cannot tell the windows apart therefore never cuts a clear subject,
while one that can still picks among the framings that keep it, and chooses freely when nothing stands
out. Everything is deterministic: equal values go to the window nearest the centre.
Functions take and return PIL images and typed values, so the social-posts stage can reuse them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from blogart.values import CropSize, CropWindow

# Scores `images` (PIL) against the prompt, higher is better: a ranker's score_images bound to the prompt.
WindowScorer = Callable[[Sequence[Any]], Sequence[float]]

STEPS = 7  # evenly spaced window positions offered to a scorer, besides the most salient one

TIE = 0.002  # values within 0.2% of the best count as equally good (halos, rounding)

SALIENCY_SIDE = 64  # the saliency map's long side: subjects span many of its pixels, and a map takes ~20 ms

BORDER_SHARE = 0.05  # a pixel's distance to a side: the mean over its nearest 5% of that side's colours

SURROUND = 0.06  # local contrast: each pixel against the mean colour within ~6% of the long side

LOCAL = 1.0  # weight of local contrast beside the distance to the frame's colours

MARGIN = 0.04  # what stands out is widened by 4% of the image's long side, so crops keep a margin around it

KEEP = 0.003  # with a scorer: windows within 0.3% of the saliency the best window keeps (less cuts) are candidates

CENTRING = 0.02  # saliency share given up, at most, to move the subject from a window's edge to its centre

CUT = 0.3  # weight of the saliency under a window's edges: a window that cuts through the subject loses much

CLIP_CENTRING = 0.01  # the same prior in cosine units, against which CLIP's preferences are weighed


@dataclass(frozen=True)
class _Placement:
    offset: int  # pixels along the free axis
    share: float  # share of the image's saliency inside the window
    off_centre: float  # the saliency's centroid from the window's centre, -1 (one edge) to 1 (the other)
    cut: float  # saliency under the window's two edges, 0 (none) to 1 (both edges through the most salient line)


def window_positions(size: tuple[int, int], aspect: float, steps: int = STEPS) -> list[tuple[int, int, int, int]]:
    """(left, top, width, height) of the largest `aspect` windows, spread evenly over the free axis."""
    w, h, free_x, free_y = _largest_window(size, aspect)
    free = max(free_x, free_y)
    offsets = sorted({round(free * i / (steps - 1)) for i in range(steps)}) if free else [0]
    return [(o, 0, w, h) if free_x else (0, o, w, h) for o in offsets]


def _largest_window(size: tuple[int, int], aspect: float) -> tuple[int, int, int, int]:
    width, height = size
    if width / height > aspect:
        w, h = max(1, round(height * aspect)), height
    else:
        w, h = width, max(1, round(width / aspect))
    w, h = min(w, width), min(h, height)
    return w, h, width - w, height - h


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB (0-255) to CIELAB (D65), where Euclidean distance roughly follows perceived colour difference."""
    c = rgb / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    xyz = xyz / np.array([0.9505, 1.0, 1.089])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def saliency_map(image: Any, max_side: int = SALIENCY_SIDE) -> tuple[np.ndarray, float]:
    """A saliency map of `image` at most `max_side` pixels wide, and its scale relative to the image."""
    from PIL import Image, ImageFilter

    scale = min(1.0, max_side / max(image.size))
    small = image.convert("RGB")
    if scale < 1.0:
        small = small.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BOX)
    lab = _lab(np.asarray(small.filter(ImageFilter.GaussianBlur(1)), dtype=np.float32)).astype(np.float32)
    height, width, _ = lab.shape
    pixels = lab.reshape(-1, 3)
    squares = (pixels**2).sum(axis=1)[:, None]
    distances = []
    for side in (lab[0], lab[-1], lab[:, 0], lab[:, -1]):
        nearest = max(1, round(len(side) * BORDER_SHARE))
        d2 = np.maximum(squares + (side**2).sum(axis=1)[None] - 2 * pixels @ side.T, 0.0)
        distances.append(np.sqrt(np.partition(d2, nearest - 1, axis=1)[:, :nearest]).mean(axis=1))
    # The second nearest side: a colour found along two sides is background, along one it may be a subject.
    second = np.sort(np.stack(distances), axis=0)[1]
    # Local contrast too: a subject's part that shares a colour with the frame still stands out from its surround.
    surround = _lab(np.asarray(small.filter(ImageFilter.GaussianBlur(SURROUND * max(height, width))), np.float32))
    second = second + LOCAL * np.linalg.norm(lab - surround.astype(np.float32), axis=2).reshape(-1)
    # Only what stands out counts: textures and soft blotches below Otsu's threshold are background.
    standing_out = np.maximum(second - _otsu(second), 0.0).reshape(height, width)
    return _dilate(standing_out, max(1, round(MARGIN * max(height, width)))), scale


def _dilate(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey-level dilation by a (2 radius + 1) square: thin tips and outlines get a margin the blur took away."""
    out = values
    for _ in range(radius):
        padded = np.pad(out, 1, mode="edge")
        out = np.max(
            [padded[dy : dy + out.shape[0], dx : dx + out.shape[1]] for dy in range(3) for dx in range(3)], axis=0
        )
    return out


def _otsu(values: np.ndarray, bins: int = 64) -> float:
    """The threshold that best splits `values` in two classes (Otsu 1979: largest between-class variance)."""
    hist, edges = np.histogram(values, bins=bins)
    p = hist / max(1, hist.sum())
    mids = (edges[:-1] + edges[1:]) / 2
    below = np.cumsum(p)
    above = 1.0 - below
    mean_below = np.cumsum(p * mids) / np.maximum(below, 1e-12)
    mean_above = (np.sum(p * mids) - np.cumsum(p * mids)) / np.maximum(above, 1e-12)
    return float(edges[1:][np.argmax(below * above * (mean_below - mean_above) ** 2)])


def _placements(image: Any, aspect: float, offsets: Sequence[int]) -> list[_Placement]:
    """Saliency share and centring of the windows at `offsets` along the free axis."""
    w, h, free_x, _ = _largest_window(image.size, aspect)
    saliency, scale = saliency_map(image)
    along_x = free_x > 0
    profile = saliency.sum(axis=0 if along_x else 1).astype(np.float64)
    length = w if along_x else h
    # Cumulative mass and first moment over the profile, read at fractional map positions by interpolation.
    edges = np.arange(len(profile) + 1, dtype=np.float64)
    mass = np.concatenate([[0.0], np.cumsum(profile)])
    moment = np.concatenate([[0.0], np.cumsum(profile * (edges[:-1] + 0.5))])
    total = mass[-1] or 1.0
    peak = float(profile.max()) or 1.0
    placements = []
    for offset in offsets:
        start, stop = offset * scale, (offset + length) * scale
        inside = float(np.interp(stop, edges, mass) - np.interp(start, edges, mass))
        if inside > 1e-9:
            centroid = float(np.interp(stop, edges, moment) - np.interp(start, edges, moment)) / inside
            off_centre = (centroid - (start + stop) / 2) / ((stop - start) / 2)
        else:
            off_centre = 0.0
        # An edge on the image's own border cuts nothing away.
        inner_edges = [x for x in (start, stop) if 0.5 < x < len(profile) - 0.5]
        cut = float(np.interp(inner_edges, edges[:-1] + 0.5, profile).sum()) / (2 * peak) if inner_edges else 0.0
        placements.append(_Placement(offset, inside / total, max(-1.0, min(1.0, off_centre)), cut))
    return placements


def _nearest_centre(values: Sequence[float], offsets: Sequence[int], free: int) -> int:
    """Index of the best value; values within TIE of it go to the offset nearest the centre."""
    top = max(values)
    near_best = [i for i, v in enumerate(values) if v >= top - TIE * abs(top)]
    return min(near_best, key=lambda i: (abs(2 * offsets[i] - free), offsets[i]))


def choose_window(image: Any, size: CropSize, scorer: WindowScorer | None = None) -> CropWindow:
    """The window of `size`'s aspect ratio that keeps the subject of `image`."""
    w, h, free_x, free_y = _largest_window(image.size, size.aspect)
    free = max(free_x, free_y)
    if free == 0:
        return CropWindow(0, 0, w, h, 1.0, "full")

    def window(offset: int) -> tuple[int, int, int, int]:
        return (offset, 0, w, h) if free_x else (0, offset, w, h)

    # Every position the saliency map can tell apart, and the scorer's evenly spaced ones.
    stride = max(1, int(max(image.size) / SALIENCY_SIDE))
    evenly = sorted({round(free * i / (STEPS - 1)) for i in range(STEPS)})
    offsets = sorted(set(range(0, free + 1, stride)) | {free} | set(evenly))
    placements = _placements(image, size.aspect, offsets)
    values = [p.share - CENTRING * p.off_centre**2 - CUT * p.cut for p in placements]
    best = placements[_nearest_centre(values, offsets, free)]
    if scorer is None:
        return CropWindow(*window(best.offset), best.share, "saliency")

    # Windows that keep the subject as well as the best one does, whether or not they centre it.
    keeps = {p.offset: p.share - CUT * p.cut for p in placements}
    floor = max(keeps.values()) - KEEP
    candidates = [p for p in placements if p.offset in set(evenly) | {best.offset} and keeps[p.offset] >= floor]
    boxes = [window(p.offset) for p in candidates]
    scores = [float(s) for s in scorer([image.crop((x, y, x + cw, y + ch)) for x, y, cw, ch in boxes])]
    weighed = [s - CLIP_CENTRING * p.off_centre**2 for s, p in zip(scores, candidates, strict=True)]
    chosen = _nearest_centre(weighed, [p.offset for p in candidates], free)
    return CropWindow(*window(candidates[chosen].offset), scores[chosen], "clip")


def crop_to(image: Any, window: CropWindow, size: CropSize) -> Any:
    """The window cut out and resampled to exactly `size` (Lanczos)."""
    from PIL import Image

    return image.crop(window.box).resize((size.width, size.height), Image.Resampling.LANCZOS)


def parse_size(name: str, text: str) -> CropSize:
    """`og`, `1200x630` -> CropSize (the settings validate the form)."""
    width, height = (int(part) for part in text.lower().split("x"))
    return CropSize(name, width, height)
