"""Image data sets for the VQGAN: which files DATA names, and those files as square pixel arrays.

DATA is a folder of images (searched recursively), a text file with one image path per line, or a
JSONL / CSV file whose first column (the first value of each JSON object or array) is an image path.
Relative paths in a list file are relative to that file. Images that cannot be used (unreadable,
smaller than MIN_SIDE) are skipped and counted, never fatal; an empty result is one clean error.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from blogart.errors import UsageError
from blogart.training.data import IMAGE_SUFFIXES, MIN_SIDE

LIST_SUFFIXES = (".txt", ".jsonl", ".csv")


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


def image_paths(sources: Iterable[str | Path]) -> list[Path]:
    """The image files the sources name, in a stable order (folders sorted, list files in their order)."""
    paths: list[Path] = []
    for source in sources:
        path = Path(source).expanduser()
        if path.is_dir():
            paths.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            paths.extend(_listed(path))
        elif path.is_file():
            paths.append(path)
        else:
            raise UsageError(f"{path} does not exist")
    if not paths:
        raise UsageError(f"no images found in {', '.join(str(s) for s in sources)}")
    return paths


def _listed(path: Path) -> list[Path]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if suffix == ".jsonl":
        names = [_first_value(line, path, n) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    elif suffix == ".csv":
        rows = [row for row in csv.reader(text.splitlines()) if row and row[0].strip()]
        if rows and not _looks_like_image(rows[0][0]):  # a header row
            rows = rows[1:]
        names = [row[0].strip() for row in rows]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return [p if p.is_absolute() else path.parent / p for p in map(Path, names)]


def _first_value(line: str, path: Path, number: int) -> str:
    try:
        value = json.loads(line)
    except ValueError:
        raise UsageError(f"{path}:{number} is not JSON") from None
    if isinstance(value, dict) and value:
        value = value.get("image", value.get("path", next(iter(value.values()))))
    elif isinstance(value, list) and value:
        value = value[0]
    if not isinstance(value, str) or not value.strip():
        raise UsageError(f"{path}:{number} does not start with an image path")
    return value.strip()


def _looks_like_image(name: str) -> bool:
    return Path(name.strip()).suffix.lower() in IMAGE_SUFFIXES


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
    arrays, kept, skipped = [], [], []
    for path in image_paths(sources):
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
