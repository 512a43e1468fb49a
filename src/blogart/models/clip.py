"""An open_clip model found on disk and loaded once per process: shared by the ranker, moderation, crops,
PEZ and the CLIP trainer's checks.

Weights are found, never fetched: a file path, a `local-dir:` folder, an `hf-hub:` repo or a
pretrained tag is resolved to files already on disk (explicit path, `blogart.modelhub`, the Hugging
Face cache), and open_clip is only ever handed those files, so it has nothing to download.
torch and open_clip are imported inside the functions that need them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blogart.errors import InputError, MissingWeights, UsageError
from blogart.text import one_line

DEFAULT_MODEL = "ViT-B-32"
DEFAULT_PRETRAINED = "laion2b_s34b_b79k"
# blogart.modelhub names for the tags it knows how to pull.
_MODELHUB_NAMES = {(DEFAULT_MODEL, DEFAULT_PRETRAINED): "clip", ("ViT-L-14", "laion2b_s32b_b82k"): "clip-l14"}
_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin", "open_clip_pytorch_model.pth")
_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
BUNDLED = "bundled"  # [rank] model = "bundled": the small CLIP that ships in blogart.assets


@dataclass(frozen=True)
class ClipSource:
    """What open_clip gets: a model name (maybe `local-dir:`) and a weights file, plus the id we report."""

    model_name: str
    checkpoint: str | None  # None only for `local-dir:` folders, where open_clip finds the file itself
    model_id: str
    preprocess: dict[str, Any] = field(default_factory=dict)  # mean/std/... of the pretrained tag
    quick_gelu: bool = False

    @property
    def weights(self) -> str:
        """Where the weights are, for the manifest's hashes: the file, or a `local-dir:` folder holding it."""
        return self.checkpoint or self.model_name.removeprefix("local-dir:")


def _looks_like_folder(model: str) -> bool:
    """A path rather than a model name: it names an existing folder, or is spelt like a path."""
    return model.startswith(("/", "./", "../", "~")) or Path(model).expanduser().is_dir()


def _checked_folder(folder: Path, model: str) -> Path:
    """`folder` when it holds a readable open_clip_config.json with a model_cfg and a weights file."""
    config = folder / "open_clip_config.json"
    if not folder.is_dir():
        raise MissingWeights(f"CLIP folder not found: {folder}")
    if not config.is_file():
        raise MissingWeights(f"{folder} has no open_clip_config.json (needed by {model})")
    try:
        model_cfg = json.loads(config.read_text(encoding="utf-8"))["model_cfg"]
        model_cfg["vision_cfg"], model_cfg["text_cfg"]  # noqa: B018 - open_clip needs both towers
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MissingWeights(f"{config} is not an open_clip config ({one_line(exc, named=True)})") from None
    if _checkpoint_in(folder) is None:
        raise MissingWeights(f"no checkpoint file in {folder}")
    return folder


def _pull_hint(model: str, pretrained: str) -> str:
    name = _MODELHUB_NAMES.get((model, pretrained), "clip")
    return f"run `blogart models pull {name}`, or point --pretrained (or [models] clip) at a checkpoint file"


def _from_hf_cache(repo_id: str, filenames: Sequence[str], cache_dir: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    from blogart.modelhub import hf_cache_dir

    # Read the cache location now: huggingface_hub's own default froze at its first import.
    cache = str(hf_cache_dir(cache_dir))
    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=cache)
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def _checkpoint_in(folder: Path) -> Path | None:
    for name in _WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix in _CHECKPOINT_SUFFIXES)
    return found[0] if found else None


def _from_modelhub(name: str, cache_dir: str | None) -> Path | None:
    from blogart import modelhub

    found = Path(modelhub.find(name, None, cache_dir))  # raises MissingWeights naming `blogart models pull`
    return _checkpoint_in(found) if found.is_dir() else found


def resolve_clip(
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    weights: str | Path | None = None,
    cache_dir: str | None = None,
) -> ClipSource:
    """Map (model, pretrained tag or file, explicit weights) to files on disk, or raise MissingWeights.

    `weights` is an explicit checkpoint (file, or folder holding one) from config or a flag; it wins.
    `model` may also be "bundled" or a folder holding open_clip_config.json and its weights (what
    blogart.training.clip_trainer writes); `pretrained` is then ignored.
    """
    import open_clip

    if model == BUNDLED:
        from blogart.assets import bundled_dir

        folder = bundled_dir() / "clip"
        if not folder.is_dir():
            raise MissingWeights(f"this install has no bundled CLIP ({folder}); rebuild it with recipes/icons/")
        return ClipSource(f"local-dir:{_checked_folder(folder, model)}", None, "bundled-icons-clip")
    if model.startswith("local-dir:") or _looks_like_folder(model):
        folder = Path(model.removeprefix("local-dir:")).expanduser()
        return ClipSource(f"local-dir:{_checked_folder(folder, model)}", None, model)

    if model.startswith("hf-hub:"):
        repo = model.removeprefix("hf-hub:")
        config = _from_hf_cache(repo, ["open_clip_config.json"], cache_dir)
        if config is None or _checkpoint_in(config.parent) is None:
            raise MissingWeights(f"{repo} is not in the Hugging Face cache; download it first (huggingface-cli)")
        # The snapshot folder holds the config and the weights: load it as a local folder, offline.
        return ClipSource(f"local-dir:{config.parent}", None, model)

    if open_clip.get_model_config(model) is None:
        raise UsageError(f"unknown CLIP model {model!r}; see open_clip.list_models() or use hf-hub:/local-dir:")
    tag_cfg = open_clip.get_pretrained_cfg(model, pretrained) if pretrained else {}
    preprocess = {k: tag_cfg[k] for k in ("mean", "std", "interpolation", "resize_mode") if k in tag_cfg}
    quick_gelu = bool(tag_cfg.get("quick_gelu", False))
    tag = pretrained if tag_cfg else None

    if weights:
        path = Path(weights).expanduser()
        path = _checkpoint_in(path) if path.is_dir() else path
        if path is None or not path.is_file():
            raise MissingWeights(f"CLIP weights not found at {weights}")
        return ClipSource(model, str(path), f"{model}/{tag or path.name}", preprocess, quick_gelu)
    if pretrained and not tag_cfg:
        path = Path(pretrained).expanduser()
        if path.is_file():
            return ClipSource(model, str(path), f"{model}/{path.name}", preprocess, quick_gelu)
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(model)) or "none"
        raise UsageError(f"{pretrained!r} is neither a checkpoint file nor a pretrained tag of {model} (tags: {tags})")
    if not tag:
        raise UsageError(f"no weights given for CLIP model {model}: pass a pretrained tag or a checkpoint file")

    hint = _pull_hint(model, tag)
    if (model, tag) in _MODELHUB_NAMES:
        found = _from_modelhub(_MODELHUB_NAMES[(model, tag)], cache_dir)
        if found is not None and found.is_file():
            return ClipSource(model, str(found), f"{model}/{tag}", preprocess, quick_gelu)
    hub = tag_cfg.get("hf_hub", "")
    if not hub:
        raise MissingWeights(f"CLIP {model}/{tag} has no Hugging Face repo to look in; {hint}")
    parts = hub.split("/")
    repo, filename = "/".join(parts[:2]), "/".join(parts[2:])
    names = [filename] if filename else list(_WEIGHT_FILES)
    if filename.endswith((".bin", ".pth")):
        names.insert(0, filename[:-4] + ".safetensors")
    found = _from_hf_cache(repo, names, cache_dir)
    if found is None:
        raise MissingWeights(f"CLIP weights {model}/{tag} are not installed; {hint}")
    return ClipSource(model, str(found), f"{model}/{tag}", preprocess, quick_gelu)


class ClipModel:
    """A loaded open_clip model with its preprocessing and tokenizer; encodes to L2-normalised numpy."""

    def __init__(
        self,
        model: Any,
        preprocess: Any,
        tokenizer: Any,
        model_id: str,
        batch_size: int = 16,
        source: ClipSource | None = None,
    ):
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.model_id = model_id
        self.batch_size = batch_size
        self.source = source  # the files it was loaded from; None for a model built in memory
        self._text_cache: dict[str, np.ndarray] = {}

    @classmethod
    def load(cls, source: ClipSource, batch_size: int = 16) -> ClipModel:
        import open_clip

        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                source.model_name,
                pretrained=source.checkpoint,
                force_quick_gelu=source.quick_gelu,
                image_mean=source.preprocess.get("mean"),
                image_std=source.preprocess.get("std"),
                image_interpolation=source.preprocess.get("interpolation"),
                image_resize_mode=source.preprocess.get("resize_mode"),
                pretrained_text=False,  # a full checkpoint follows; never fetch tower weights
            )
            tokenizer = open_clip.get_tokenizer(source.model_name)
        except Exception as exc:  # a corrupt or mismatched file fails in torch, safetensors or open_clip
            raise MissingWeights(f"cannot load CLIP {source.model_id}: {one_line(exc)}") from exc
        # The bundled weights are stored as float16; compute in float32 whatever the file held.
        return cls(model.float(), preprocess, tokenizer, source.model_id, batch_size, source)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised text embeddings, one row per text (cached per text: concepts and topics repeat)."""
        import torch

        missing = [t for t in dict.fromkeys(texts) if t not in self._text_cache]
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            with torch.inference_mode():
                features = self.model.encode_text(self.tokenizer(batch), normalize=True)
            for text, row in zip(batch, features.float().numpy(), strict=True):
                self._text_cache[text] = row
        width = self.embed_dim
        return np.stack([self._text_cache[t] for t in texts]) if texts else np.zeros((0, width), np.float32)

    def encode_images(self, images: Sequence[Path | Any]) -> np.ndarray:
        """Normalised image embeddings for image paths or PIL images, in batches."""
        import torch

        rows = []
        for start in range(0, len(images), self.batch_size):
            batch = torch.stack([self.preprocess(_open_image(im)) for im in images[start : start + self.batch_size]])
            with torch.inference_mode():
                rows.append(self.model.encode_image(batch, normalize=True).float().numpy())
        return np.concatenate(rows) if rows else np.zeros((0, self.embed_dim), np.float32)

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[-1]) if hasattr(self.model, "text_projection") else 0


def _open_image(image: Path | Any) -> Any:
    from PIL import Image, UnidentifiedImageError

    if not isinstance(image, (str, Path)):
        return image.convert("RGB")
    try:
        with Image.open(image) as opened:
            return opened.convert("RGB")
    except FileNotFoundError:
        raise InputError(f"image not found: {image}") from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise InputError(f"not a readable image: {image} ({exc})") from None


_loaded: dict[tuple[str, str | None, int], ClipModel] = {}
_lock = threading.Lock()


def load_clip(
    model: str = DEFAULT_MODEL,
    pretrained: str | None = DEFAULT_PRETRAINED,
    weights: str | Path | None = None,
    cache_dir: str | None = None,
    batch_size: int = 16,
) -> ClipModel:
    """Resolve and load a CLIP model once per process (the ranker, moderation and PEZ share it)."""
    source = resolve_clip(model, pretrained, weights, cache_dir)
    key = (source.model_name, source.checkpoint, batch_size)
    with _lock:
        if key not in _loaded:
            _loaded[key] = ClipModel.load(source, batch_size)
        return _loaded[key]


def set_threads(threads: int | None) -> None:
    """Torch intra-op threads; 0 or None keeps torch's default."""
    if threads:
        import torch

        torch.set_num_threads(threads)
