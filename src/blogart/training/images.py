"""Images for the VQGAN as square pixel arrays.

Which files the sources name is `training.data.list_images` (folders, JSONL / CSV data sets with or
without captions, `.txt` lists, image files). Rows that name no image and images that cannot be used
(unreadable, smaller than MIN_SIDE) are skipped and counted, never fatal; an empty result is one
clean error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blogart.errors import UsageError
from blogart.training.data import MIN_SIDE, list_images


@dataclass
class ImageSet:
    """Images as uint8 arrays (N, size, size, 3), with the paths they came from and what was skipped."""

    pixels: np.ndarray
    paths: list[Path]
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why)

    def __len__(self) -> int:
        return len(self.paths)

    def skipped_summary(self, shown: int = 3) -> str:
        """'2 images skipped: a.png (unreadable), b.png (too small)', or '' when none were."""
        if not self.skipped:
            return ""
        names = ", ".join(f"{p.name} ({why})" for p, why in self.skipped[:shown])
        more = f" and {len(self.skipped) - shown} more" if len(self.skipped) > shown else ""
        return f"{len(self.skipped)} images skipped: {names}{more}"


def load_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 (size, size, 3): transparency over white, centre-cropped square, resized.

    Raises OSError/ValueError for files that are not usable images (the caller skips them).
    """
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        if min(image.size) < MIN_SIDE:
            raise ValueError("too small")
        return square_pixels(image, size)


def square_pixels(image, size: int) -> np.ndarray:
    """A PIL image as uint8 (size, size, 3): transparency over white, centre-cropped square, resized."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "P", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    image = image.convert("RGB")
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def load_images(sources: Iterable[str | Path], size: int) -> ImageSet:
    """Every usable image the sources name, as an ImageSet at `size` x `size`."""
    sources = list(sources)
    arrays, kept = [], []
    paths, rows = list_images(sources)
    skipped: list[tuple[Path, str]] = [(Path(row.name), row.reason) for row in rows]
    for path in paths:
        try:
            arrays.append(load_image(path, size))
        except FileNotFoundError:
            skipped.append((path, "missing"))
            continue
        except ValueError as exc:
            skipped.append((path, str(exc) if str(exc) == "too small" else "unreadable"))
            continue
        except OSError:
            skipped.append((path, "unreadable"))
            continue
        kept.append(path)
    if not kept:
        why = f" ({ImageSet(np.zeros((0, size, size, 3), np.uint8), [], skipped).skipped_summary()})" if skipped else ""
        raise UsageError(f"no usable images in {', '.join(str(s) for s in sources)}{why}")
    return ImageSet(np.stack(arrays), kept, skipped)
