"""Image codes: every image resized to the VQGAN's size, encoded once, and the codes kept on disk.

The cache is keyed by the VQGAN (a hash of its config and weights) and by the image bytes (their
sha256), so a second epoch or a second run with the same VQGAN never encodes an image again, and a
different VQGAN never reads codes that are not its own. One small `.npy` file per image, written
atomically, so an interrupted run leaves only whole entries.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from blogart.atomic import atomic_write_bytes
from blogart.errors import InputError
from blogart.training.data import Example

HASH_CHUNK = 1 << 20


def default_cache_root() -> Path:
    """Codes shared by every run of this user: `<user dir>/cache/image-codes`."""
    from blogart.config import user_dir  # settings (pydantic) only when the cache is used

    return user_dir() / "cache" / "image-codes"


def load_pixels(path: Path, size: int) -> np.ndarray:
    """An image as float32 RGB pixels in [0, 1], shape (size, size, 3), read and prepared exactly as the
    VQGAN trainer reads its images (`training.images.load_image`), so the codes a DalleBart learns are
    those of the pictures the VQGAN learned."""
    from blogart.training.images import UnusableImage, load_image

    try:
        pixels = load_image(path, size)
    except UnusableImage as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None
    return pixels.astype(np.float32) / 255.0


def vqgan_fingerprint(folder: Path) -> str:
    """sha256 of a VQGAN folder's config.json and flax_model.msgpack: which model made a code."""
    digest = hashlib.sha256()
    for name in ("config.json", "flax_model.msgpack"):
        digest.update(name.encode())
        with (Path(folder) / name).open("rb") as f:
            while chunk := f.read(HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


PIXELS_VERSION = 3  # bump when load_pixels changes: codes made the old way are not reused


class CodeCache:
    """Codes of one VQGAN: `<root>/v<pixels version>-<vqgan hash[:16]>/<image sha[:2]>/<image sha>.npy`."""

    def __init__(self, root: Path, vqgan_hash: str):
        self.folder = Path(root) / f"v{PIXELS_VERSION}-{vqgan_hash[:16]}"

    def _path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str) -> np.ndarray | None:
        path = self._path(sha256)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # a damaged entry is encoded again

    def put(self, sha256: str, codes: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(codes, dtype=np.int32), allow_pickle=False)
        atomic_write_bytes(self._path(sha256), buffer.getvalue())


def image_codes(
    examples: Sequence[Example],
    vqgan_folder: Path,
    cache_root: Path | None = None,
    batch_size: int = 16,
    report: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """(len(examples), codes per image) int32: cached codes, and the missing ones encoded and cached.

    The VQGAN is loaded only when some image is not cached yet. `report(done, total)` follows the
    encoding of the missing ones.
    """
    from blogart.models.dalle import vqgan as vq

    cache = CodeCache(cache_root or default_cache_root(), vqgan_fingerprint(vqgan_folder))
    found = [cache.get(e.sha256) for e in examples]
    missing = [i for i, codes in enumerate(found) if codes is None]
    if missing:
        bundle = vq.load_vqgan(vqgan_folder)
        size = bundle.config.resolution
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            pixels = np.zeros((batch_size, size, size, 3), np.float32)  # one shape: one compile
            for row, i in enumerate(chunk):
                pixels[row] = load_pixels(examples[i].image, size)
            _, indices = vq.encode_images(bundle, pixels)
            for i, codes in zip(chunk, indices[: len(chunk)], strict=True):
                cache.put(examples[i].sha256, codes)
                found[i] = codes
            if report:
                report(min(start + batch_size, len(missing)), len(missing))
    lengths = {len(c) for c in found}
    if len(lengths) > 1:
        raise InputError(f"cached codes of different lengths {sorted(lengths)} under {cache.folder}")
    return np.stack(found).astype(np.int32) if found else np.zeros((0, 0), np.int32)
