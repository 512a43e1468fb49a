"""An image at each social platform's sizes: upscaled first, then cropped to each size.

`fit` is the one place a picture is resized and cropped for a platform. It uses the publishing
step's pieces: the Lanczos + unsharp upscale to a long side that covers the size (upscaling first
keeps the crop sharp), then the crop window that keeps the most salient part of the picture.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blogart.atomic import atomic_write_bytes
from blogart.values import CropSize


def fit(image: Any, width: int, height: int) -> Any:
    """A PIL image of exactly width x height: upscaled to cover it, the salient window kept."""
    from blogart.outputs.crops import choose_window, crop_to
    from blogart.outputs.upscale import lanczos

    size = CropSize("platform", width, height)
    picture = image.convert("RGB")
    # Cover both sides of the target from a square-ish picture: the long side of the upscale is at least
    # the target's long side, and large enough that the short side covers the target's short side too.
    short, long = sorted(picture.size)
    need = max(width, height, -(-min(width, height) * long // short))
    if max(picture.size) < need:
        picture = lanczos(picture, need)
    return crop_to(picture, choose_window(picture, size), size)


def png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def write_platform_images(image: Any, sizes: Sequence[tuple[str, int, int]], folder: Path, stem: str) -> list[Path]:
    """`image` at each (name, width, height), written atomically as `<folder>/<stem>-<name>.png`."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, width, height in sizes:
        path = folder / f"{stem}-{name}.png"
        atomic_write_bytes(path, png(fit(image, width, height)))
        written.append(path)
    return written
