"""`blogart vqgan check`: how well a VQGAN reproduces your images, and whether to fine-tune it.

Each image is centre-cropped to a square, resized to the VQGAN's resolution, encoded to codes and
decoded back (the same path `generate` decodes through). PSNR is reported per image and overall
(the PSNR of the mean squared error over all images, so one exact match does not make it infinite);
codebook usage is the share of the codebook the images use and the perplexity of their codes.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from blogart.atomic import atomic_write_bytes
from blogart.models.dalle.vqgan import VQGANBundle, decode_codes, encode_images, load_vqgan
from blogart.training.data import load_images
from blogart.training.vqgan_trainer import code_usage, psnr

DEFAULT_THRESHOLD = 24.0  # dB: below this, fine details (edges, small glyphs) visibly blur
BATCH = 8
SHEET_ROWS = 8


@dataclass(frozen=True)
class ImageScore:
    path: str
    psnr: float  # inf for an exact round trip
    mse: float


@dataclass(frozen=True)
class CheckReport:
    model: str
    resolution: int
    images: tuple[ImageScore, ...]
    psnr: float
    codes_used: int
    codebook_size: int
    perplexity: float
    threshold: float
    skipped: tuple[str, ...] = ()
    sheet: str | None = None

    @property
    def good_enough(self) -> bool:
        return self.psnr >= self.threshold

    @property
    def verdict(self) -> str:
        if self.good_enough:
            return f"good enough: {_db(self.psnr)} >= {self.threshold:g} dB"
        return f"fine-tune it: {_db(self.psnr)} < {self.threshold:g} dB (blogart vqgan train)"

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "resolution": self.resolution,
            "psnr": _finite(self.psnr),
            "threshold": self.threshold,
            "good_enough": self.good_enough,
            "verdict": self.verdict,
            "codes_used": self.codes_used,
            "codebook_size": self.codebook_size,
            "usage": self.codes_used / self.codebook_size,
            "perplexity": self.perplexity,
            "sheet": self.sheet,
            "skipped": list(self.skipped),
            # JSON has no infinity: an exact round trip has "psnr": null and "mse": 0
            "images": [{"path": s.path, "psnr": _finite(s.psnr), "mse": s.mse} for s in self.images],
        }


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


def _db(value: float) -> str:
    return f"{value:.2f} dB" if math.isfinite(value) else "inf dB (exact)"


def round_trip(bundle: VQGANBundle, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reconstructions (float32 in [0, 1]) and codes of float32 pixels (N, S, S, 3) in [0, 1]."""
    recons, codes = [], []
    for start in range(0, len(pixels), BATCH):
        _, indices = encode_images(bundle, pixels[start : start + BATCH])
        recons.append(decode_codes(bundle, indices))
        codes.append(indices)
    return np.concatenate(recons), np.concatenate(codes)


def score(
    bundle: VQGANBundle, pixels: np.ndarray, names: list[str], threshold: float = DEFAULT_THRESHOLD, model: str = ""
) -> tuple[CheckReport, np.ndarray]:
    """The check of float32 pixels (N, S, S, 3) in [0, 1], and their reconstructions."""
    pixels = np.asarray(pixels, dtype=np.float32)
    recons, codes = round_trip(bundle, pixels)
    errors = np.mean((recons.astype(np.float64) - pixels) ** 2, axis=(1, 2, 3))
    counts = np.bincount(codes.ravel(), minlength=bundle.config.n_embed)
    usage = code_usage(counts)
    report = CheckReport(
        model=model,
        resolution=pixels.shape[1],
        images=tuple(ImageScore(n, psnr(float(e)), float(e)) for n, e in zip(names, errors, strict=True)),
        psnr=psnr(float(errors.mean())),
        codes_used=usage["codes_used"],
        codebook_size=bundle.config.n_embed,
        perplexity=round(usage["perplexity"], 2),
        threshold=threshold,
    )
    return report, recons


def check(
    sources: list[str],
    model: str | Path,
    threshold: float = DEFAULT_THRESHOLD,
    sheet: str | Path | None = None,
) -> CheckReport:
    """Round-trip the images the sources name through the VQGAN in `model`; optionally write a sheet."""
    from dataclasses import replace

    bundle = load_vqgan(model)
    images = load_images(sources, bundle.config.resolution)
    pixels = images.pixels.astype(np.float32) / 255.0
    report, recons = score(bundle, pixels, [str(p) for p in images.paths], threshold, str(model))
    skipped = tuple(f"{p} ({why})" for p, why in images.skipped)
    if sheet is not None:
        write_sheet(Path(sheet), pixels, recons, [s.psnr for s in report.images])
    return replace(report, skipped=skipped, sheet=str(sheet) if sheet is not None else None)


def write_sheet(path: Path, originals: np.ndarray, recons: np.ndarray, scores: list[float]) -> None:
    """A PNG of up to SHEET_ROWS rows: original | reconstruction, the worst images first, PSNR written below."""
    from PIL import Image, ImageDraw

    order = np.argsort(scores)[:SHEET_ROWS]
    side, label, gap = originals.shape[1], 14, 4
    sheet = Image.new("RGB", (2 * side + 3 * gap, len(order) * (side + label + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    for row, i in enumerate(order):
        top = gap + row * (side + label + gap)
        for column, array in enumerate((originals[i], recons[i])):
            tile = Image.fromarray((np.clip(array, 0, 1) * 255 + 0.5).astype(np.uint8))
            sheet.paste(tile, (gap + column * (side + gap), top))
        draw.text((gap, top + side + 1), f"{_db(scores[i])}", fill="black")
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())
