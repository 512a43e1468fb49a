"""What the manifest records to reproduce a run beyond its settings: the weights' hashes and library versions."""

from __future__ import annotations

import hashlib
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from blogart.store import Store

LIBRARIES = (
    "jax",
    "flax",
    "transformers",
    "torch",
    "open_clip_torch",
    "openai",
    "pillow",
    "numpy",
    "ruamel.yaml",
    "tomlkit",
)
WEIGHT_SUFFIXES = (".msgpack", ".safetensors", ".bin", ".pt", ".pth", ".ckpt")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _sha256(path: Path, store: Store | None) -> str:
    """A weights file's sha256. The Hugging Face cache names each large file's blob by it; other files are
    hashed once and remembered by path, size and modification time (a 10 GB checkpoint takes a minute)."""
    target = path.resolve()
    if _SHA256.match(target.name):
        return target.name
    stat = target.stat()
    key = f"sha256:{target}:{stat.st_size}:{stat.st_mtime_ns}"
    if store is not None and (known := store.stage_get(key)):
        return str(known)
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    if store is not None:
        store.stage_put(key, value)
    return value


def weight_hashes(locations: dict[str, str], store: Store | None = None) -> dict[str, dict[str, str]]:
    """{model: {weights file name: sha256}} for each file or folder named in `locations`."""
    hashes: dict[str, dict[str, str]] = {}
    for model, location in locations.items():
        path = Path(location)
        if not path.exists():
            continue
        files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
        hashes[model] = {f.name: _sha256(f, store) for f in files if f.is_file()}
    return hashes


def describe_provenance(
    locations: dict[str, str], timings: dict[str, float], store: Store | None = None
) -> dict[str, Any]:
    return {
        "timings": {stage: round(seconds, 4) for stage, seconds in timings.items()},
        "weights_sha256": weight_hashes(locations, store),
        "libraries": library_versions(),
    }
