"""Checking a diffusers pipeline folder without loading its weights (`blogart models verify`).

model_index.json names the components; each model component's tensors are read from the safetensors
headers (names, shapes, byte ranges: a few KB per file) and compared with the model its config.json
builds on PyTorch's meta device, which allocates nothing. A truncated file, a missing or misshapen
tensor, or a component folder that is absent is a problem; the weights themselves are never read.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from blogart import modelhub
from blogart.models.dalle.verify import VerifyReport

KIND = "diffusers"
INDEX = "model_index.json"
# The weight files each library writes for a component, single or sharded.
WEIGHTS = {
    "diffusers": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.safetensors.index.json"),
    "transformers": ("model.safetensors", "model.safetensors.index.json"),
}
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit


def is_pipeline(folder: Path) -> bool:
    return (Path(folder) / INDEX).is_file()


def read_index(folder: Path) -> dict[str, Any]:
    data = json.loads((Path(folder) / INDEX).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{INDEX} is not a JSON object")
    return data


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from one safetensors file's header; ValueError for a broken or truncated file."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path.name} is too short to be a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > min(MAX_HEADER_BYTES, size - 8):
            raise ValueError(f"{path.name}: header length {length} does not fit the file")
        header = json.loads(f.read(length))
    shapes, end = {}, 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        shapes[name] = tuple(int(n) for n in info["shape"])
        end = max(end, int(info["data_offsets"][1]))
    if 8 + length + end > size:
        raise ValueError(f"{path.name} is truncated ({size} bytes, its header needs {8 + length + end})")
    return shapes


def component_shapes(folder: Path, library: str) -> dict[str, tuple[int, ...]] | None:
    """Every tensor of a component folder (sharded or not); None when it has no safetensors weights."""
    single, index = WEIGHTS[library]
    if (folder / single).is_file():
        return safetensors_shapes(folder / single)
    if (folder / index).is_file():
        weight_map = json.loads((folder / index).read_text(encoding="utf-8"))["weight_map"]
        shapes: dict[str, tuple[int, ...]] = {}
        for shard in sorted(set(weight_map.values())):
            shapes.update(safetensors_shapes(folder / Path(shard).name))
        return shapes
    return None


def expected_shapes(folder: Path, library: str, class_name: str) -> tuple[dict[str, tuple[int, ...]], set[str], str]:
    """(state-dict shapes of the model the config builds, names that may be absent from the file as tied weights,
    the base-model prefix a checkpoint may or may not carry), built on the meta device: no memory, no weights."""
    import importlib

    import torch

    cls = getattr(importlib.import_module(library), class_name)
    with torch.device("meta"):
        if library == "diffusers":
            model = cls.from_config(cls.load_config(folder))
        else:
            from transformers import AutoConfig

            model = cls(AutoConfig.from_pretrained(folder))
    tied = getattr(model, "_tied_weights_keys", None) or ()
    tied_names = set(tied.keys() if isinstance(tied, dict) else tied)
    prefix = getattr(model, "base_model_prefix", "") or ""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}, tied_names, prefix


def _has_weights(library: str, class_name: str) -> bool:
    """Whether a component class is a model with tensors (not a scheduler, tokenizer or processor)."""
    import importlib

    if library not in WEIGHTS:
        return False
    cls = getattr(importlib.import_module(library), class_name, None)
    if library == "diffusers":
        from diffusers import ModelMixin as base
    else:
        from transformers import PreTrainedModel as base
    return isinstance(cls, type) and issubclass(cls, base)


def verify_pipeline(folder: str | Path, name: str | None = None) -> VerifyReport:
    """Files, components and tensor shapes of a diffusers pipeline folder, against its configs."""
    folder = Path(folder)
    problems: list[str] = []
    warnings: list[str] = []
    try:
        index = read_index(folder)
    except (OSError, ValueError) as exc:
        return VerifyReport(folder, KIND, (f"unreadable {INDEX}: {exc}",), name=name)
    tensors = 0
    for part in modelhub.pipeline_components(folder):
        library, class_name = index[part]
        where = folder / part
        if not where.is_dir():
            problems.append(f"missing {part}/ ({class_name})")
            continue
        if not _has_weights(library, class_name):
            # A scheduler, tokenizer or processor: configuration files only.
            if not any(where.glob("*.json")) and not any(where.glob("*.txt")):
                problems.append(f"{part}/ has no configuration file")
            continue
        if not (where / "config.json").is_file():
            problems.append(f"missing {part}/config.json")
            continue
        try:
            found = component_shapes(where, library)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{part}: {exc}")
            continue
        if found is None:
            problems.append(f"{part}/ has no {WEIGHTS[library][0]} (nor a sharded index)")
            continue
        try:
            want, tied, prefix = expected_shapes(where, library, class_name)
        except Exception as exc:  # noqa: BLE001 - a config the library refuses is a finding, not a crash
            warnings.append(f"{part}: shapes not checked ({class_name} from its config: {exc})")
            continue
        tensors += _compare(part, _renamed(found, want, prefix), want, tied, problems, warnings)
    return VerifyReport(folder, KIND, tuple(problems), tuple(warnings), tensors, name)


def _renamed(found: dict[str, tuple[int, ...]], want: dict[str, tuple[int, ...]], prefix: str) -> dict:
    """The file's names as the model has them: a checkpoint saved with or without the base-model prefix loads
    either way (transformers adds or strips it), so it is compared either way."""
    if not prefix:
        return found
    out = {}
    for key, shape in found.items():
        if key not in want and key.startswith(prefix + ".") and key.removeprefix(prefix + ".") in want:
            key = key.removeprefix(prefix + ".")
        elif key not in want and f"{prefix}.{key}" in want:
            key = f"{prefix}.{key}"
        out[key] = shape
    return out


def _compare(
    part: str,
    found: dict[str, tuple[int, ...]],
    want: dict[str, tuple[int, ...]],
    tied: set[str],
    problems: list[str],
    warnings: list[str],
) -> int:
    checked = 0
    for key, shape in want.items():
        if key not in found:
            if key not in tied:
                problems.append(f"{part}: missing tensor {key} {list(shape)}")
            continue
        checked += 1
        if found[key] != shape:
            problems.append(f"{part}: {key} is {list(found[key])}, its config says {list(shape)}")
    extra = sorted(set(found) - set(want))
    if extra:  # loading ignores them (old checkpoints carry buffers such as position_ids): worth a word only
        warnings.append(f"{part}: {len(extra)} tensors its config does not use, first {extra[0]}")
    return checked
