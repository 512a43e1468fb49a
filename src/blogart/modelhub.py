"""Where model weights are: the known models, lookup and download.

Lookup never downloads: an explicit path (config or flag), then the Hugging Face cache (the
standard layout, so weights fetched by other tools count), else `MissingWeights` naming the one
command that downloads, `blogart models pull NAME`. Checking a folder's contents is the model
code's job (`blogart.models.dalle.verify`): this module sits below the model code and imports none of it.

The cache location is read from the environment at call time (HF_HUB_CACHE, HF_HOME, ...), not
from huggingface_hub's constants, which freeze it when the library is first imported.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from blogart import assets
from blogart.errors import BlogartError, MissingWeights, UsageError
from blogart.text import one_line, root_cause

DALLEBART_FILES = ("config.json", "flax_model.msgpack", "vocab.json", "merges.txt")
DALLEBART_EXTRAS = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "enwiki-words-frequency.txt")
VQGAN_FILES = ("config.json", "flax_model.msgpack")
CLIP_FILES = ("open_clip_config.json",)
SWIN2SR_FILES = ("config.json", "preprocessor_config.json")
CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class KnownModel:
    name: str
    repo_id: str
    revision: str  # a commit hash where we know it, so a pull is reproducible
    kind: str  # "dallebart" | "vqgan" | "clip" | "swin2sr" | "diffusers"
    required: tuple[str, ...]
    any_of: tuple[str, ...] = ()  # at least one of these (weights saved in either format)
    extras: tuple[str, ...] = ()  # pulled when the repo has them, never required
    pull_only: tuple[str, ...] = ()  # the any_of files a pull fetches (one format is enough)
    approx_bytes: int = 0
    licence: str = ""  # the weights' licence as the model card names it (`models list`)

    @property
    def patterns(self) -> list[str]:
        return [*self.required, *(self.pull_only or self.any_of), *self.extras]


# Revisions: the VQGAN commit is the one dalle-mini's own inference notebook pins; the CLIP B/32
# commit is from its model card. The dalle-mini, dalle-mega and CLIP L/14 repos are pinned to
# "main" because no commit hash could be confirmed offline: replace them once checked on the hub.
_CLIP_BIN = ("open_clip_pytorch_model.bin",)  # every revision has it; safetensors came later
# A diffusers pipeline folder: model_index.json names its components, one folder each (checked by missing_files).
DIFFUSERS_FILES = ("model_index.json",)
# SD-Turbo's full-precision files only: the repo also holds fp16 variants, which would double the download.
_SD_TURBO_FILES = (
    "*/config.json",
    "scheduler/scheduler_config.json",
    "tokenizer/*",
    "feature_extractor/*",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors",
)
_DIFFUSERS_PATTERNS = ("*.json", "*.safetensors", "*.txt", "*.model", "*.jinja")

KNOWN: dict[str, KnownModel] = {
    m.name: m
    for m in (
        KnownModel(
            name="dalle-mini",
            repo_id="dalle-mini/dalle-mini",
            revision="main",
            kind="dallebart",
            required=DALLEBART_FILES,
            extras=DALLEBART_EXTRAS,
            approx_bytes=1_750_000_000,
            licence="Apache-2.0",
        ),
        KnownModel(
            name="dalle-mega",
            repo_id="dalle-mini/dalle-mega",
            revision="main",
            kind="dallebart",
            required=DALLEBART_FILES,
            extras=DALLEBART_EXTRAS,
            approx_bytes=10_400_000_000,
            licence="Apache-2.0",
        ),
        KnownModel(
            name="vqgan",
            repo_id="dalle-mini/vqgan_imagenet_f16_16384",
            revision="e93a26e7707683d349bf5d5c41c5b0ef69b677a9",
            kind="vqgan",
            required=VQGAN_FILES,
            approx_bytes=290_000_000,
            licence="MIT",
        ),
        KnownModel(
            name="clip",
            repo_id="laion/CLIP-ViT-B-32-laion2B-s34B-b79K",
            revision="1a25a446712ba5ee05982a381eed697ef9b435cf",
            kind="clip",
            required=CLIP_FILES,
            any_of=CLIP_WEIGHTS,
            pull_only=_CLIP_BIN,
            approx_bytes=605_000_000,
            licence="MIT",
        ),
        KnownModel(
            name="clip-l14",
            repo_id="laion/CLIP-ViT-L-14-laion2B-s32B-b82K",
            revision="main",
            kind="clip",
            required=CLIP_FILES,
            any_of=CLIP_WEIGHTS,
            pull_only=_CLIP_BIN,
            approx_bytes=1_710_000_000,
            licence="MIT",
        ),
        KnownModel(
            # The cover upscaler (publish.upscaler = "swin2sr"); the classical x4 model, transformers format.
            name="swin2sr",
            repo_id="caidas/swin2SR-classical-sr-x4-64",
            revision="main",
            kind="swin2sr",
            required=SWIN2SR_FILES,
            any_of=("model.safetensors", "pytorch_model.bin"),
            pull_only=("pytorch_model.bin",),
            approx_bytes=48_000_000,
            licence="Apache-2.0",
        ),
        KnownModel(
            # One-step 512 px diffusion (SD 2.1 distilled by adversarial diffusion distillation): the CPU choice.
            name="sd-turbo",
            repo_id="stabilityai/sd-turbo",
            revision="b261bac6fd2cf515557d5d0707481eafa0485ec2",
            kind="diffusers",
            required=DIFFUSERS_FILES,
            extras=_SD_TURBO_FILES,
            approx_bytes=5_200_000_000,
            licence="Stability AI Community License (check its model card before commercial use)",
        ),
        KnownModel(
            # 8-step 1024 px diffusion transformer (6B, Qwen3-4B text encoder): the GPU choice.
            name="z-image-turbo",
            repo_id="Tongyi-MAI/Z-Image-Turbo",
            revision="f332072aa78be7aecdf3ee76d5c247082da564a6",
            kind="diffusers",
            required=DIFFUSERS_FILES,
            extras=_DIFFUSERS_PATTERNS,
            approx_bytes=20_500_000_000,
            licence="Apache-2.0",
        ),
        KnownModel(
            # The tiny autoencoder for SD latents: `[diffusion] tiny_vae` decodes with it.
            name="taesd",
            repo_id="madebyollin/taesd",
            revision="614f76814bbe30edbe2e627ace1c2234c81a2c0e",
            kind="vae",
            required=("config.json", "diffusion_pytorch_model.safetensors"),
            approx_bytes=10_000_000,
            licence="MIT",
        ),
    )
}

# `diffusers:<folder or repo id>`: any diffusers pipeline, used as it is (never pulled by a known name).
DIFFUSERS_PREFIX = "diffusers:"


def diffusers_model(name: str) -> KnownModel:
    """A KnownModel standing for `diffusers:<repo id>` (found in the HF cache at refs/main) or a known name."""
    if not name.startswith(DIFFUSERS_PREFIX):
        return known(name)
    repo_id = name.removeprefix(DIFFUSERS_PREFIX)
    if not repo_id:
        raise UsageError("diffusers: needs a pipeline folder or a Hugging Face repo id, e.g. diffusers:./my-pipeline")
    return KnownModel(name, repo_id, "main", "diffusers", DIFFUSERS_FILES, extras=_DIFFUSERS_PATTERNS)


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size_bytes: int
    source: str  # "explicit" | "hf-cache"; the bundled model: "package" | "BLOGART_ASSETS"


def known(name: str) -> KnownModel:
    try:
        return KNOWN[name]
    except KeyError:
        if name == assets.NAME:
            raise UsageError(
                "the bundled model ships with blogart and is never pulled; rebuild it with recipes/icons/run.sh"
            ) from None
        raise UsageError(f"unknown model {name!r}; known models: {', '.join(KNOWN)}") from None


def hf_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The Hugging Face hub cache: `cache_dir`, else HF_HUB_CACHE, else HF_HOME/hub, else the default."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if value := os.environ.get(var):
            return Path(value).expanduser()
    if home := os.environ.get("HF_HOME"):
        return Path(home).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def _offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in ("1", "on", "yes", "true")


def missing_files(model: KnownModel, folder: Path) -> list[str]:
    """The required files a folder lacks (an any_of group counts as one)."""
    missing = [f for f in model.required if not (folder / f).is_file()]
    if model.any_of and not any((folder / f).is_file() for f in model.any_of):
        missing.append(" or ".join(model.any_of))
    if model.kind == "diffusers" and not missing:
        missing += [f"{part}/" for part in pipeline_components(folder) if not (folder / part).is_dir()]
    return missing


def pipeline_components(folder: Path) -> list[str]:
    """The component folders a diffusers pipeline's model_index.json names (those set to a class, not null)."""
    import json

    try:
        index = json.loads((Path(folder) / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(index, dict):
        return []
    return [
        key
        for key, value in index.items()
        if not key.startswith("_") and isinstance(value, list) and len(value) == 2 and value[1] is not None
    ]


def _cached_snapshots(model: KnownModel, cache_dir: str | Path | None) -> list[Path]:
    """Snapshot folders to try, best first: the pinned revision, refs/main, then any other, newest first.

    Walked by hand, not with huggingface_hub.scan_cache_dir: a pull writes refs/main before its first
    file lands, and scan_cache_dir drops the whole repo while a ref names a missing snapshot, which
    would hide the complete older snapshot an interrupted pull leaves behind.
    """
    repo = hf_cache_dir(cache_dir) / ("models--" + model.repo_id.replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return []

    def commit(revision: str) -> str:
        # A branch name resolves through refs/<branch>; a commit hash names its snapshot folder.
        ref = repo / "refs" / revision
        return ref.read_text().strip() if ref.is_file() else revision

    preferred = [commit(model.revision), commit("main")]

    def rank(folder: Path) -> tuple[int, float]:
        place = preferred.index(folder.name) if folder.name in preferred else len(preferred)
        return place, -folder.stat().st_mtime

    return sorted((p for p in snapshots.iterdir() if p.is_dir()), key=rank)


# A training run's layout (blogart.training.checkpoints writes it): RUN/checkpoint.json names the newest
# folder under RUN/checkpoints/. Kept here, below the trainers, because every model lookup needs it.
RUN_POINTER = "checkpoint.json"
RUN_CHECKPOINTS = "checkpoints"


def run_model(path: str | Path) -> Path:
    """`path`, or when it is a training run folder (`blogart finetune --out RUN`) rather than a model folder,
    the run's newest checkpoint (the one RUN/last links to): a run folder stands wherever a model folder does."""
    path = Path(path)
    if not path.is_dir() or any((path / name).is_file() for name in ("config.json", *CLIP_FILES)):
        return path
    return run_checkpoint(path) or path


def run_checkpoint(run: Path) -> Path | None:
    """The checkpoint a run folder's pointer names (a whole model folder), or None when `run` holds no run."""
    import json

    pointer = Path(run) / RUN_POINTER
    if not pointer.is_file():
        return None
    try:
        folder = Path(run) / json.loads(pointer.read_text(encoding="utf-8"))["current"]
        inside = folder.resolve().is_relative_to((Path(run) / RUN_CHECKPOINTS).resolve())
    except (OSError, ValueError, KeyError, TypeError):
        inside = False
    if not inside or not folder.is_dir():
        raise UsageError(f"{run} is a training run whose {RUN_POINTER} names no checkpoint folder")
    return folder


def _locate(name: str, explicit: str | Path | None, cache_dir: str | Path | None) -> tuple[Path, str]:
    model = diffusers_model(name)
    if name.startswith(DIFFUSERS_PREFIX) and not explicit:
        # diffusers:<folder>: a path wins over a repo id of the same spelling.
        path = Path(model.repo_id).expanduser()
        if path.is_dir() or model.repo_id.startswith((".", "/", "~")) or model.repo_id.count("/") != 1:
            explicit = path
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise MissingWeights(f"{name}: the configured path {path} does not exist")
        path = run_model(path)
        if path.is_dir() and (missing := missing_files(model, path)):
            raise MissingWeights(f"{name}: {path} lacks {', '.join(missing)}")
        return path, "explicit"
    for snapshot in _cached_snapshots(model, cache_dir):
        if not missing_files(model, snapshot):
            return snapshot, "hf-cache"
    how = f"run `blogart models pull {name}`" if name in KNOWN else "download it, e.g. with `hf download`"
    raise MissingWeights(
        f"{name} is not installed ({model.repo_id} is not in the Hugging Face cache at {hf_cache_dir(cache_dir)}); "
        + how
    )


def find(name: str, explicit: str | Path | None = None, cache_dir: str | Path | None = None) -> Path:
    """The folder (or file) holding a model: explicit path, then the HF cache, else MissingWeights."""
    return _locate(name, explicit, cache_dir)[0]


def folder_size(path: Path) -> int:
    """Bytes on disk, following the cache's symlinks into blobs/ and counting each blob once."""
    if path.is_file():
        return path.stat().st_size
    seen: set[Path] = set()
    total = 0
    for item in path.rglob("*"):
        if item.is_file() and (target := item.resolve()) not in seen:
            seen.add(target)
            total += target.stat().st_size
    return total


def installed(
    explicit: Mapping[str, str | None] | None = None, cache_dir: str | Path | None = None
) -> list[InstalledModel]:
    """The known models that can be found, in KNOWN order."""
    found = []
    for name in KNOWN:
        try:
            path, source = _locate(name, (explicit or {}).get(name), cache_dir)
        except MissingWeights:
            continue
        found.append(InstalledModel(name, path, folder_size(path), source))
    return found


def bundled() -> InstalledModel | None:
    """The bundled icon model (`blogart.assets`) when all its files are there; it ships with blogart, never pulled."""
    model = assets.installed()
    if model is None:
        return None
    return InstalledModel(assets.NAME, model.root, model.size_bytes(), model.source)


def pull(name: str, cache_dir: str | Path | None = None, endpoint: str | None = None) -> Path:
    """Download a model at its pinned revision into the HF cache; a rerun resumes or does nothing."""
    model = known(name)
    cache = hf_cache_dir(cache_dir)
    if _offline():
        try:
            return _locate(name, None, cache_dir)[0]
        except MissingWeights:
            raise BlogartError(
                f"cannot pull {name}: offline mode is on (HF_HUB_OFFLINE) and {model.repo_id} is not in {cache}"
            ) from None
    from huggingface_hub import snapshot_download

    try:
        folder = Path(
            snapshot_download(
                model.repo_id,
                revision=model.revision,
                cache_dir=str(cache),
                allow_patterns=model.patterns,
                endpoint=endpoint,
            )
        )
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 - network, HTTP and disk errors all end the same way
        raise BlogartError(
            f"cannot pull {name} ({model.repo_id}@{model.revision[:12]}): {one_line(root_cause(exc), named=True)}; "
            "check the network (a rerun resumes where it stopped)"
        ) from exc
    if missing := missing_files(model, folder):
        raise BlogartError(f"pulled {name} but {folder} still lacks {', '.join(missing)}")
    return folder
