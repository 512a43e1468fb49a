"""Check a model folder without loading it: files present, and for DalleBart and VQGAN that the
checkpoint's tree and shapes match what its config.json implies (`blogart models verify`).

The tree check is `checkpoint.compare_trees`, the same comparison loading refuses on, so a folder
that verifies loads. Tensors are listed while the msgpack file is read, never kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogart import modelhub
from blogart.errors import UsageError
from blogart.models.dalle import checkpoint, vqgan
from blogart.models.dalle.checkpoint import CONFIG_NAME, WEIGHTS_NAME, TreeListing
from blogart.text import one_line

MAX_LISTED = 8  # tensors named per kind of problem; the rest are counted

# The tree a config implies, per model kind (eval_shape: nothing is allocated).
PARAM_TREES: dict[str, Callable[[dict[str, Any]], TreeListing]] = {
    "dallebart": checkpoint.param_tree,
    "vqgan": vqgan.param_tree,
}


@dataclass(frozen=True)
class VerifyReport:
    path: Path
    kind: str  # "dallebart" | "vqgan" | "clip" | "unknown"
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    tensors: int = 0  # tensors whose shape was checked
    name: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(
    name_or_path: str | Path, explicit: str | Path | None = None, cache_dir: str | Path | None = None
) -> VerifyReport:
    """Check a model: files present; for DalleBart and VQGAN, the msgpack tree and shapes match its config.

    A known name is looked up as `modelhub.find` does (MissingWeights when absent); anything else is a path.
    """
    name = str(name_or_path) if str(name_or_path) in modelhub.KNOWN else None
    if name:
        path = modelhub.find(name, explicit, cache_dir)
        kind = modelhub.KNOWN[name].kind
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise UsageError(f"{path} does not exist and is not a known model ({', '.join(modelhub.KNOWN)})")
        path = modelhub.run_model(path)
        kind = detect_kind(path)
    if path.is_file():
        return VerifyReport(path, kind, ("a single file cannot be verified; give its folder",), name=name)
    if kind == "unknown":
        return VerifyReport(path, kind, (_why_unknown(path),), name=name)

    model = modelhub.KNOWN[name] if name else next(m for m in modelhub.KNOWN.values() if m.kind == kind)
    problems = [f"missing {f}" for f in modelhub.missing_files(model, path)]
    warnings: list[str] = []
    tensors = 0
    if kind in PARAM_TREES and (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file():
        tensors = _check_tree(path, kind, problems, warnings)
    elif kind == "clip" and not problems:
        _check_json(path / "open_clip_config.json", problems)
        for weights in model.any_of:
            if (path / weights).is_file() and (problem := _check_clip_weights(path / weights)):
                problems.append(problem)
    return VerifyReport(path, kind, tuple(problems), tuple(warnings), tensors, name)


def _why_unknown(folder: Path) -> str:
    """A folder with a config.json we cannot use says so, rather than that the file is missing."""
    if not (folder / CONFIG_NAME).is_file():
        return "no config.json or open_clip_config.json: not a model folder"
    problems: list[str] = []
    if _check_json(folder / CONFIG_NAME, problems) is None:
        return problems[0]
    return "config.json describes neither a DalleBart nor a VQGAN model"


def _check_clip_weights(path: Path) -> str | None:
    """A cheap completeness check: an interrupted download is shorter than its own header says."""
    size = path.stat().st_size
    if size == 0:
        return f"{path.name} is empty"
    if path.suffix == ".safetensors":
        # Layout: 8-byte little-endian header length, a JSON header with each tensor's byte range, the data.
        try:
            with path.open("rb") as handle:
                length = int.from_bytes(handle.read(8), "little")
                if length > size - 8:
                    return f"{path.name} is truncated ({size} bytes, shorter than its header)"
                header = json.loads(handle.read(length))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            return f"{path.name} is not a readable safetensors file: {one_line(exc, named=True)}"
        if size < 8 + length + end:
            return f"{path.name} is truncated ({size} of {8 + length + end} bytes)"
        return None
    import zipfile

    # torch.save writes a zip archive; its directory sits at the very end, so a cut file has none.
    if not zipfile.is_zipfile(path):
        return f"{path.name} is truncated or not a PyTorch checkpoint (no zip directory at its end)"
    return None


def detect_kind(path: Path) -> str:
    """ "dallebart", "vqgan" or "clip" from a folder's config file; "unknown" when it has none we read."""
    folder = path if path.is_dir() else path.parent
    if (folder / "open_clip_config.json").is_file():
        return "clip"
    try:
        config = json.loads((folder / CONFIG_NAME).read_text())
    except (OSError, ValueError):
        return "unknown"
    if not isinstance(config, dict):
        return "unknown"
    if config.get("model_type") == "dallebart" or "image_vocab_size" in config:
        return "dallebart"
    if "n_embed" in config and "ch_mult" in config:
        return "vqgan"
    return "unknown"


def _check_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} is not valid JSON: {one_line(exc, named=True)}")
        return None
    if not isinstance(value, dict):
        problems.append(f"{path.name} is not a JSON object")
        return None
    return value


def _check_tree(folder: Path, kind: str, problems: list[str], warnings: list[str]) -> int:
    """Add the tree's problems (and dtype warnings); return how many tensors the config implies."""
    config = _check_json(folder / CONFIG_NAME, problems)
    if config is None:
        return 0
    try:
        found = checkpoint.read_msgpack_tree(folder / WEIGHTS_NAME)
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file can fail in many ways
        problems.append(f"{WEIGHTS_NAME} is not a readable Flax checkpoint: {one_line(exc, named=True)}")
        return 0
    if kind == "vqgan" and found and all(k.startswith("params/") for k in found):
        found = {k.removeprefix("params/"): v for k, v in found.items()}  # load_vqgan accepts this wrapper too
    try:
        expected = PARAM_TREES[kind](config)
    except Exception as exc:  # noqa: BLE001 - any config the model code rejects
        problems.append(f"config.json does not describe a {kind} model: {one_line(exc, named=True)}")
        return 0
    diff = checkpoint.compare_trees(found, expected)
    problems.extend(diff.problems(listed=MAX_LISTED))
    if retyped := diff.other_dtype:
        warnings.append(f"{len(retyped)} tensors differ in dtype from the config's, e.g. {retyped[0]}")
    return len(expected)
