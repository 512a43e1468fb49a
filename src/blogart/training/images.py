"""Images for training: the one reader both trainers use, and images as square pixel arrays.

`read_rgb` decides for `finetune` and `vqgan train` alike which files are images: CMYK, 16-bit,
greyscale and palette images (with or without transparency) are converted to RGB; a file that is
missing, not an image, truncated or damaged, larger than MAX_PIXELS (a decompression bomb: the
header alone is read before refusing it) or smaller than MIN_SIDE raises `UnusableImage`, whose
message is the reason the trainers list it under.

Which files the sources name, and the set of images read from them, is `training.data` (`list_images`,
`load_images`).
"""

from __future__ import annotations

import io
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MIN_SIDE = 16  # pixels: anything smaller carries no picture worth learning
# Pillow's default limit, fixed here so that no other code changing Pillow's global moves it; the largest
# training image is resized to a few hundred pixels, so nothing near this size is worth decoding.
MAX_PIXELS = 89_478_485
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")


class UnusableImage(ValueError):
    """A file no trainer can use; the message is the reason it is listed under."""


def read_rgb(source: Path | bytes, min_side: int = MIN_SIDE):
    """The picture in a file (or its bytes) as an RGB PIL image, transparency over white.

    Raises UnusableImage (see the module docstring); never anything else for a bad file.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(source, Path) and source.exists() and not source.is_file():
        raise UnusableImage("unreadable image: not a regular file")  # a FIFO would block, a folder fail later
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise UnusableImage(f"image too large: {width}x{height}, over {MAX_PIXELS} pixels")
                if min(width, height) < min_side:
                    raise UnusableImage(f"tiny image: {width}x{height}, under {min_side} px")
                image.load()  # decode it all: a truncated file fails here, not during training
                rgb = to_rgb(image)
                return rgb.copy() if rgb is image else rgb  # closing the file closes `image` too
    except UnusableImage:
        raise
    except FileNotFoundError:
        raise UnusableImage("unreadable image: file not found") from None
    except Image.DecompressionBombError:
        raise UnusableImage(f"image too large: over {MAX_PIXELS} pixels") from None
    except UnidentifiedImageError:
        raise UnusableImage("unreadable image: not a picture Pillow can decode") from None
    except MemoryError:
        raise UnusableImage("image too large: out of memory decoding it") from None
    except Exception:  # noqa: BLE001 - Pillow raises many types for truncated and damaged files
        raise UnusableImage("unreadable image: truncated or damaged") from None


def to_rgb(image):
    """A PIL image of any mode as RGB: transparency composited over white, 16-bit scaled to 8 bits."""
    from PIL import Image

    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        # Pillow's own conversion clips these at 255 (a 16-bit picture turns white): scale them instead.
        values = np.asarray(image, dtype=np.float64)
        if mode != "F" and (mode in _SIXTEEN_BIT or values.max(initial=0) > 255):
            values = values / 257.0
        grey = np.clip(np.nan_to_num(values) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    try:
        if mode in ("RGBA", "LA", "PA", "RGBa", "La", "P") or "transparency" in image.info:
            rgba = image.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(background, rgba).convert("RGB")
        return image.convert("RGB")
    except (ValueError, OSError):
        raise UnusableImage(f"unreadable image: mode {mode} cannot be converted to RGB") from None


def square_pixels(image, size: int) -> np.ndarray:
    """A PIL image as uint8 (size, size, 3): RGB as `to_rgb` makes it, centre-cropped square, resized."""
    from PIL import Image

    image = to_rgb(image)
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS if side > size else Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


def load_image(path: Path, size: int) -> np.ndarray:
    """One image as uint8 (size, size, 3), read by `read_rgb`; UnusableImage when it cannot be used."""
    return square_pixels(read_rgb(Path(path)), size)


def skipped_line(skipped: Sequence[tuple[str, str]], first: int = 5) -> str:
    """'skipped 2 (unreadable image 1, tiny image 1): a.png, b.png' for (name, reason) pairs; '' for none.

    The one way both trainers list what they left out (a reason's kind is the part before its colon).
    """
    if not skipped:
        return ""
    kinds = Counter(reason.split(":")[0] for _, reason in skipped)
    why = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    names = ", ".join(name for name, _ in skipped[:first])
    more = f" and {len(skipped) - first} more" if len(skipped) > first else ""
    return f"skipped {len(skipped)} ({why}): {names}{more}"
