"""Upscaling the chosen cover before it is cropped (cropping first would need ~9x per size).

Two backends: Lanczos plus an unsharp mask (the default: no weights, ~0.1 s), and Swin2SR through
transformers (`blogart models pull swin2sr`), used only when asked for and its weights are present.
Both take and return PIL images, so other stages (social posts) can reuse them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blogart.errors import UsageError

UPSCALERS = ("lanczos", "swin2sr")


def target_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(width, height) with the long side at `long_side`, the aspect ratio kept."""
    width, height = size
    scale = long_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def lanczos(image: Any, long_side: int = 1024) -> Any:
    """Lanczos resampling, then an unsharp mask to win back some of the edges the resampling softens."""
    from PIL import Image, ImageFilter

    resized = image.convert("RGB").resize(target_size(image.size, long_side), Image.Resampling.LANCZOS)
    return resized.filter(ImageFilter.UnsharpMask(radius=2, percent=60, threshold=2))


class Swin2SR:
    """A Swin2SR super-resolution model from a folder in the released transformers format."""

    def __init__(self, folder: str | Path):
        import torch
        from transformers import Swin2SRForImageSuperResolution, Swin2SRImageProcessor

        self.folder = Path(folder)
        try:
            self.model = Swin2SRForImageSuperResolution.from_pretrained(str(self.folder)).eval()
            self.processor = Swin2SRImageProcessor.from_pretrained(str(self.folder))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot load Swin2SR from {self.folder}: {exc}") from None
        self._torch = torch

    @property
    def scale(self) -> int:
        return int(self.model.config.upscale)

    def upscale(self, image: Any, long_side: int = 1024) -> Any:
        """The model's x2/x4, then Lanczos to the exact size (a x2 model on 256 pixels needs the last step)."""
        from PIL import Image

        rgb = image.convert("RGB")
        inputs = self.processor(rgb, return_tensors="pt")
        with self._torch.inference_mode():
            output = self.model(**inputs).reconstruction
        # The processor pads to a multiple of the window size (256 -> 264): crop the padding back off.
        width, height = rgb.size
        array = output[0, :, : height * self.scale, : width * self.scale].clamp(0, 1)
        pixels = (array.permute(1, 2, 0).numpy() * 255.0).round().astype("uint8")
        big = Image.fromarray(pixels)
        return big if max(big.size) == long_side else big.resize(target_size(big.size, long_side), Image.LANCZOS)


def upscale(image: Any, long_side: int = 1024, method: str = "lanczos", swin2sr: Swin2SR | None = None) -> Any:
    """The cover at `long_side` pixels by `method`; "swin2sr" needs the loaded model."""
    if method == "lanczos":
        return lanczos(image, long_side)
    if method == "swin2sr":
        if swin2sr is None:
            raise UsageError("the swin2sr upscaler needs its weights; run `blogart models pull swin2sr`")
        return swin2sr.upscale(image, long_side)
    raise UsageError(f"unknown upscaler {method!r}; use {' or '.join(UPSCALERS)}")
