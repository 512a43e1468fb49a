"""Where model weights are: the known models, lookup, download and checks.

Lookup never downloads: an explicit path (config or flag), then the Hugging Face cache (the
standard layout, so weights fetched by other tools count), else `MissingWeights` naming the one
command that downloads, `blogart models pull NAME`.

The cache location is read from the environment at call time (HF_HUB_CACHE, HF_HOME, ...), not
from huggingface_hub's constants, which freeze it when the library is first imported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blogart.errors import BlogartError, MissingWeights, UsageError

DALLEBART_FILES = ("config.json", "flax_model.msgpack", "vocab.json", "merges.txt")
DALLEBART_EXTRAS = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "enwiki-words-frequency.txt")
VQGAN_FILES = ("config.json", "flax_model.msgpack")  # also what a tree check needs of a DalleBart folder
CLIP_FILES = ("open_clip_config.json",)
CLIP_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True)
class KnownModel:
    name: str
    repo_id: str
    revision: str  # a commit hash where we know it, so a pull is reproducible
    kind: str  # "dallebart" | "vqgan" | "clip"
    required: tuple[str, ...]
    any_of: tuple[str, ...] = ()  # at least one of these (weights saved in either format)
    extras: tuple[str, ...] = ()  # pulled when the repo has them, never required
    pull_only: tuple[str, ...] = ()  # the any_of files a pull fetches (one format is enough)
    approx_bytes: int = 0

    @property
    def patterns(self) -> list[str]:
        return [*self.required, *(self.pull_only or self.any_of), *self.extras]


# Revisions: the VQGAN commit is the one dalle-mini's own inference notebook pins; the CLIP B/32
# commit is from its model card. The dalle-mini, dalle-mega and CLIP L/14 repos are pinned to
# "main" because no commit hash could be confirmed offline: replace them once checked on the hub.
_CLIP_BIN = ("open_clip_pytorch_model.bin",)  # every revision has it; safetensors came later

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
        ),
        KnownModel(
            name="dalle-mega",
            repo_id="dalle-mini/dalle-mega",
            revision="main",
            kind="dallebart",
            required=DALLEBART_FILES,
            extras=DALLEBART_EXTRAS,
            approx_bytes=10_400_000_000,
        ),
        KnownModel(
            name="vqgan",
            repo_id="dalle-mini/vqgan_imagenet_f16_16384",
            revision="e93a26e7707683d349bf5d5c41c5b0ef69b677a9",
            kind="vqgan",
            required=VQGAN_FILES,
            approx_bytes=290_000_000,
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
        ),
    )
}


@dataclass(frozen=True)
class InstalledModel:
    name: str
    path: Path
    size_bytes: int
    source: str  # "explicit" | "hf-cache"


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


def known(name: str) -> KnownModel:
    try:
        return KNOWN[name]
    except KeyError:
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
    return missing


def _repo_cache(model: KnownModel, cache_dir: str | Path | None) -> Path:
    return hf_cache_dir(cache_dir) / ("models--" + model.repo_id.replace("/", "--"))


def _cached_snapshots(model: KnownModel, cache_dir: str | Path | None) -> Iterator[Path]:
    """Snapshot folders to try, best first: the pinned revision, refs/main, then any other, newest first."""
    repo = _repo_cache(model, cache_dir)
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return
    seen: set[Path] = set()
    if (pinned := _pinned_snapshot(model, cache_dir)) is not None:
        seen.add(pinned)
        yield pinned
    ref = repo / "refs" / "main"
    if ref.is_file() and (main := snapshots / ref.read_text().strip()).is_dir() and main not in seen:
        seen.add(main)
        yield main
    others = sorted((p for p in snapshots.iterdir() if p.is_dir() and p not in seen), key=_mtime, reverse=True)
    yield from others


def _pinned_snapshot(model: KnownModel, cache_dir: str | Path | None) -> Path | None:
    # huggingface_hub resolves a branch name through refs/ itself; it raises when nothing is cached.
    from huggingface_hub import snapshot_download

    try:
        path = snapshot_download(
            model.repo_id, revision=model.revision, cache_dir=str(hf_cache_dir(cache_dir)), local_files_only=True
        )
    except Exception:  # noqa: BLE001 - any failure here only means "not cached at the pinned revision"
        return None
    return Path(path)


def _mtime(path: Path) -> float:
    return path.stat().st_mtime


def _locate(name: str, explicit: str | Path | None, cache_dir: str | Path | None) -> tuple[Path, str]:
    model = known(name)
    if explicit:
        path = Path(explicit).expanduser()
        if not path.exists():
            raise MissingWeights(f"{name}: the configured path {path} does not exist")
        if path.is_dir() and (missing := missing_files(model, path)):
            raise MissingWeights(f"{name}: {path} lacks {', '.join(missing)}")
        return path, "explicit"
    for snapshot in _cached_snapshots(model, cache_dir):
        if not missing_files(model, snapshot):
            return snapshot, "hf-cache"
    raise MissingWeights(
        f"{name} is not installed ({model.repo_id} is not in the Hugging Face cache at {hf_cache_dir(cache_dir)}); "
        f"run `blogart models pull {name}`"
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
            f"cannot pull {name} ({model.repo_id}@{model.revision[:12]}): {_one_line(_root_cause(exc))}; "
            "check the network (a rerun resumes where it stopped)"
        ) from exc
    if missing := missing_files(model, folder):
        raise BlogartError(f"pulled {name} but {folder} still lacks {', '.join(missing)}")
    return folder


def _root_cause(exc: BaseException) -> BaseException:
    # huggingface_hub wraps the connection error that says what actually went wrong.
    seen = {id(exc)}
    while (inner := exc.__cause__ or exc.__context__) is not None and id(inner) not in seen:
        seen.add(id(inner))
        exc = inner
    return exc


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


# -- verify -----------------------------------------------------------------------------------------------

MAX_LISTED = 8  # tensors named per kind of problem; the rest are counted


def verify(
    name_or_path: str | Path, explicit: str | Path | None = None, cache_dir: str | Path | None = None
) -> VerifyReport:
    """Check a model: files present; for DalleBart and VQGAN, the msgpack tree and shapes match its config.

    A known name is looked up as `find` does (MissingWeights when absent); anything else is a path.
    """
    name = str(name_or_path) if str(name_or_path) in KNOWN else None
    if name:
        path = find(name, explicit, cache_dir)
        kind = KNOWN[name].kind
    else:
        path = Path(name_or_path).expanduser()
        if not path.exists():
            raise UsageError(f"{path} does not exist and is not a known model ({', '.join(KNOWN)})")
        kind = detect_kind(path)
    if path.is_file():
        return VerifyReport(path, kind, ("a single file cannot be verified; give its folder",), name=name)
    if kind == "unknown":
        return VerifyReport(path, kind, (_why_unknown(path),), name=name)

    model = KNOWN[name] if name else next(m for m in KNOWN.values() if m.kind == kind)
    problems = [f"missing {f}" for f in missing_files(model, path)]
    warnings: list[str] = []
    tensors = 0
    if kind in ("dallebart", "vqgan") and all((path / f).is_file() for f in VQGAN_FILES):
        tensors = _check_tree(path, kind, problems, warnings)
    elif kind == "clip" and not problems:
        _check_json(path / "open_clip_config.json", problems)
        for weights in model.any_of:
            if (path / weights).is_file() and (problem := _check_clip_weights(path / weights)):
                problems.append(problem)
    return VerifyReport(path, kind, tuple(problems), tuple(warnings), tensors, name)


def _why_unknown(folder: Path) -> str:
    """A folder with a config.json we cannot use says so, rather than that the file is missing."""
    if not (folder / "config.json").is_file():
        return "no config.json or open_clip_config.json: not a model folder"
    problems: list[str] = []
    if _check_json(folder / "config.json", problems) is None:
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
            return f"{path.name} is not a readable safetensors file: {_one_line(exc)}"
        if size < 8 + length + end:
            return f"{path.name} is truncated ({size} of {8 + length + end} bytes)"
        return None
    import zipfile

    # torch.save writes a zip archive; its directory sits at the very end, so a cut file has none.
    if not zipfile.is_zipfile(path):
        return f"{path.name} is truncated or not a PyTorch checkpoint (no zip directory at its end)"
    return None


def detect_kind(path: Path) -> str:
    folder = path if path.is_dir() else path.parent
    if (folder / "open_clip_config.json").is_file():
        return "clip"
    try:
        config = json.loads((folder / "config.json").read_text())
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
        problems.append(f"{path.name} is not valid JSON: {_one_line(exc)}")
        return None
    if not isinstance(value, dict):
        problems.append(f"{path.name} is not a JSON object")
        return None
    return value


def _check_tree(folder: Path, kind: str, problems: list[str], warnings: list[str]) -> int:
    config = _check_json(folder / "config.json", problems)
    if config is None:
        return 0
    try:
        from blogart.generators.dalle.weights import read_msgpack_tree

        actual = read_msgpack_tree(folder / "flax_model.msgpack")
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign file can fail in many ways
        problems.append(f"flax_model.msgpack is not a readable Flax checkpoint: {_one_line(exc)}")
        return 0
    if kind == "vqgan" and actual and all(k.startswith("params/") for k in actual):
        actual = {k.removeprefix("params/"): v for k, v in actual.items()}  # load_vqgan accepts this wrapper too
    try:
        param_tree = _param_tree_function(kind)
    except (ImportError, AttributeError) as exc:
        warnings.append(f"tree not checked: the {kind} model code is not available ({_one_line(exc)})")
        return 0
    try:
        expected = {_join(k): (tuple(shape), str(dtype)) for k, (shape, dtype) in param_tree(config).items()}
    except Exception as exc:  # noqa: BLE001 - any config the model code rejects
        problems.append(f"config.json does not describe a {kind} model: {_one_line(exc)}")
        return 0
    problems.extend(compare_trees(actual, expected, warnings))
    return len(expected)


def _param_tree_function(kind: str):
    import importlib

    module = importlib.import_module("blogart.generators.dalle." + ("weights" if kind == "dallebart" else "vqgan"))
    return module.param_tree


def _join(key: Any) -> str:
    return "/".join(key) if isinstance(key, tuple) else str(key)


def compare_trees(
    actual: Mapping[str, tuple[tuple[int, ...], str]],
    expected: Mapping[str, tuple[tuple[int, ...], str]],
    warnings: list[str] | None = None,
) -> list[str]:
    """Problems of a checkpoint tree against the expected one: missing, unexpected and misshapen tensors.

    A different dtype is only a warning (weights saved in 16 bits load fine), added to `warnings`.
    """
    problems = []
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    shapes = [
        f"{k}: {_shape(actual[k][0])} where the config implies {_shape(expected[k][0])}"
        for k in sorted(set(actual) & set(expected))
        if tuple(actual[k][0]) != tuple(expected[k][0])
    ]
    dtypes = [f"{k} is {actual[k][1]}" for k in sorted(set(actual) & set(expected)) if actual[k][1] != expected[k][1]]
    for label, items in (("missing tensor", missing), ("unexpected tensor", extra), ("wrong shape", shapes)):
        problems.extend(f"{label}: {item}" for item in items[:MAX_LISTED])
        if len(items) > MAX_LISTED:
            problems.append(f"... and {len(items) - MAX_LISTED} more ({label})")
    if dtypes and warnings is not None:
        warnings.append(f"{len(dtypes)} tensors differ in dtype from the config's, e.g. {dtypes[0]}")
    return problems


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"
