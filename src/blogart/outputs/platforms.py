"""An image at each social platform's sizes: scaled up to cover the size, then cropped to it.

`fit` is the one place a picture is resized and cropped for a platform: for now a Lanczos resize and
a crop window centred on the picture. The publishing work (`outputs/` crop-window choice and the
upscaler) replaces the body of `fit`; callers and files stay the same.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from blogart.atomic import atomic_write_bytes


def fit(image: Any, width: int, height: int) -> Any:
    """A PIL image of exactly width x height: scaled to cover it (Lanczos), the centred window kept."""
    from PIL import Image, ImageOps

    return ImageOps.fit(image.convert("RGB"), (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))


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
