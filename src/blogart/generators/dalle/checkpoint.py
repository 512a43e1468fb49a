"""Flax msgpack checkpoints (DalleBart, and the VQGAN loader uses the same reading and checks).

The msgpack file is streamed: each tensor is turned into a device array (and cast) as soon as it is
read, so loading never holds the file bytes and the params at once. Light at import time (the CLI's
`models verify` imports this): jax and flax are imported inside the functions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from blogart.errors import BlogartError, MissingWeights

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "flax_model.msgpack"
DTYPES = ("float32", "bfloat16", "float16")

# flax.serialization's msgpack extension codes and its marker for arrays split into chunks
_EXT_NDARRAY = 1
_EXT_COMPLEX = 2
_EXT_NPSCALAR = 3
_CHUNKED = "__msgpack_chunked_array__"

TreeListing = dict[str, tuple[tuple[int, ...], str]]


@dataclass
class DalleBartBundle:
    config: Any  # model.DalleBartConfig
    params: dict
    module: Any  # model.DalleBart
    dtype: str = "float32"
    # set by the sampler on first use: the decoder layers moved out of `params` into per-layer buffers
    sampler_layers: list | None = None


def read_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise MissingWeights(f"no {CONFIG_NAME} in {folder}")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise BlogartError(f"cannot read {path}: {err}") from err
    if not isinstance(config, dict):
        raise BlogartError(f"cannot read {path}: not a JSON object")
    return config


def param_tree(config: dict[str, Any]) -> TreeListing:
    """The params a checkpoint for this config must hold: path "a/b/c" -> (shape, dtype), without allocating."""
    import jax

    from blogart.generators.dalle.dallebart import DalleBart, DalleBartConfig, init_params

    module = DalleBart(DalleBartConfig.from_dict(config))
    shapes = jax.eval_shape(lambda rng: init_params(module, rng), jax.random.PRNGKey(0))
    return {path: (tuple(leaf.shape), str(leaf.dtype)) for path, leaf in _flatten(shapes).items()}


def read_msgpack_tree(path: str | Path) -> TreeListing:
    """List a flax msgpack checkpoint (path -> (shape, dtype)) while reading it, without keeping the tensors."""

    def describe(shape: tuple[int, ...], dtype: str, data: bytes) -> tuple[tuple[int, ...], str]:
        return shape, dtype

    tree = _stream(Path(path), describe)
    out: TreeListing = {}
    for key, leaf in _flatten(tree, chunk_marker=True).items():
        if isinstance(leaf, dict):  # a chunked array: its header carries the full shape
            first = next(iter(leaf["chunks"].values()))
            out[key] = (_as_tuple(leaf["shape"]), first[1])
        else:
            out[key] = leaf
    return out


def load_msgpack(path: Path, dtype: str = "float32") -> dict:
    """Stream a flax msgpack file into device arrays, floating tensors cast to `dtype`."""
    import jax.numpy as jnp

    if dtype not in DTYPES:
        raise BlogartError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    target = jnp.dtype(dtype)

    def to_device(shape: tuple[int, ...], dt: str, data: bytes):
        arr = np.frombuffer(data, dtype=np.dtype(dt)).reshape(shape)
        # jnp.issubdtype, not np's: numpy does not count bfloat16 (saved by 16-bit checkpoints) as floating
        return jnp.asarray(arr, dtype=target if jnp.issubdtype(arr.dtype, jnp.floating) else arr.dtype)

    return _unchunk(_stream(path, to_device))


def load_params(folder: str | Path, config: dict[str, Any], dtype: str = "float32") -> dict:
    """The checkpoint's params as device arrays cast to `dtype`, checked against the config's tree."""
    path = Path(folder) / WEIGHTS_NAME
    if not path.is_file():
        raise MissingWeights(f"no {WEIGHTS_NAME} in {folder}")
    tree = load_msgpack(path, dtype)
    check_tree(listing(tree), param_tree(config), str(path), dtype=dtype)
    return tree


def load_dallebart(folder: str | Path, dtype: str = "float32") -> DalleBartBundle:
    """Config, params (cast to `dtype`) and module of a DalleBart checkpoint folder."""
    from blogart.generators.dalle.dallebart import DalleBart, DalleBartConfig

    raw = read_config(folder)
    config = DalleBartConfig.from_dict(raw)
    params = load_params(folder, raw, dtype)
    return DalleBartBundle(config=config, params=params, module=DalleBart(config), dtype=dtype)


def check_tree(found: TreeListing, expected: TreeListing, where: str, dtype: str | None = None) -> None:
    """Raise a one-line BlogartError naming the first differences between two listings."""
    problems = [f"missing {k}" for k in sorted(expected.keys() - found.keys())]
    problems += [f"unexpected {k}" for k in sorted(found.keys() - expected.keys())]
    for key in sorted(expected.keys() & found.keys()):
        shape, want_dtype = expected[key]
        if found[key][0] != shape:
            problems.append(f"{key} has shape {found[key][0]}, expected {shape}")
        elif dtype is None and found[key][1] != want_dtype:
            problems.append(f"{key} has dtype {found[key][1]}, expected {want_dtype}")
    if problems:
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BlogartError(f"{where} does not match its config: {'; '.join(problems[:3])}{more}")


def listing(tree: dict) -> TreeListing:
    """path -> (shape, dtype) of a loaded tree."""
    return {k: (tuple(v.shape), str(v.dtype)) for k, v in _flatten(tree).items()}


def _flatten(tree: Any, prefix: str = "", chunk_marker: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(tree, dict) and not (chunk_marker and tree.get(_CHUNKED)):
        for key, value in tree.items():
            out.update(_flatten(value, f"{prefix}/{key}" if prefix else str(key), chunk_marker))
    else:
        out[prefix] = tree
    return out


def _stream(path: Path, make_leaf: Callable[[tuple[int, ...], str, bytes], Any]) -> Any:
    """Unpack a flax msgpack file incrementally; `make_leaf(shape, dtype, raw)` builds each tensor."""

    def ext_hook(code: int, data: bytes) -> Any:
        if code == _EXT_NDARRAY:
            shape, dtype, raw = msgpack.unpackb(data, raw=False)
            return make_leaf(tuple(shape), dtype, raw)
        if code == _EXT_NPSCALAR:
            shape, dtype, raw = msgpack.unpackb(data, raw=False)
            return make_leaf((), dtype, raw)
        if code == _EXT_COMPLEX:
            raise BlogartError(f"{path}: complex tensors are not part of a DalleBart checkpoint")
        return msgpack.ExtType(code, data)

    try:
        with path.open("rb") as f:
            unpacker = msgpack.Unpacker(f, ext_hook=ext_hook, raw=False, max_buffer_size=2**31 - 1)
            tree = unpacker.unpack()
    except (msgpack.UnpackException, ValueError, TypeError, msgpack.OutOfData) as err:
        raise BlogartError(f"cannot read {path}: not a flax msgpack checkpoint{_lfs_hint(path)}") from err
    if not isinstance(tree, dict):
        raise BlogartError(f"cannot read {path}: not a flax msgpack checkpoint{_lfs_hint(path)}")
    return tree


def _lfs_hint(path: Path) -> str:
    with path.open("rb") as f:
        return " (a git-lfs pointer: fetch the real file)" if f.read(7) == b"version" else ""


def _unchunk(tree: Any) -> Any:
    """Join arrays flax split into chunks (tensors over 1 GiB)."""
    import jax.numpy as jnp

    if isinstance(tree, dict):
        if tree.get(_CHUNKED):
            chunks = _as_tuple(tree["chunks"])
            return jnp.concatenate([c.reshape(-1) for c in chunks]).reshape(_as_tuple(tree["shape"]))
        return {k: _unchunk(v) for k, v in tree.items()}
    return tree


def _as_tuple(value: Any) -> tuple:
    """flax stores tuples inside chunked arrays as {"0": a, "1": b, ...}."""
    if isinstance(value, dict):
        return tuple(value[str(i)] for i in range(len(value)))
    return tuple(value)
