"""Flax msgpack checkpoints: the file names, the dtypes, reading, and the one tree comparison.

The bottom of the dalle package: DalleBart loading lives here, and the VQGAN loader (`vqgan.py`) and
`verify.py` use the same reading, dtype table and `compare_trees`.

The msgpack file is streamed: each tensor is turned into a device array (and cast) as soon as it is
read, so loading never holds the file bytes and the params at once. Light at import time (reading
a config needs no jax): jax and flax are imported inside the functions that need them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import numpy as np

from blogart.errors import BlogartError, MissingWeights, UsageError

# The two files of every DalleBart and VQGAN checkpoint folder.
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "flax_model.msgpack"

# The types weights can be loaded and run in; 16-bit ones halve the memory.
DTYPES = ("float32", "bfloat16", "float16")

# flax.serialization's msgpack extension codes and its marker for arrays split into chunks
_EXT_NDARRAY = 1
_EXT_COMPLEX = 2
_EXT_NPSCALAR = 3
_CHUNKED = "__msgpack_chunked_array__"

TreeListing = dict[str, tuple[tuple[int, ...], str]]  # "a/b/kernel" -> (shape, dtype name)


def jax_dtype(name: str) -> Any:
    """The jnp dtype of one of DTYPES; UsageError for any other name."""
    if name not in DTYPES:
        raise UsageError(f"unknown dtype {name!r}: choose one of {', '.join(DTYPES)}")
    import jax.numpy as jnp

    return jnp.dtype(name)


@dataclass
class DalleBartBundle:
    config: Any  # dallebart.DalleBartConfig
    params: dict
    module: Any  # dallebart.DalleBart
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

    from blogart.models.dalle.dallebart import DalleBart, DalleBartConfig, init_params

    module = DalleBart(DalleBartConfig.from_dict(config))
    return listing(jax.eval_shape(lambda rng: init_params(module, rng), jax.random.PRNGKey(0)))


def read_msgpack_tree(path: str | Path) -> TreeListing:
    """List a flax msgpack checkpoint (path -> (shape, dtype)) while reading it, without keeping the tensors."""
    from flax.traverse_util import flatten_dict

    def describe(shape: tuple[int, ...], dtype: str, data: bytes) -> tuple[tuple[int, ...], str]:
        return shape, dtype

    def is_chunked(_: tuple, node: dict) -> bool:
        return bool(node.get(_CHUNKED))

    tree = _stream(Path(path), describe)
    out: TreeListing = {}
    for key, leaf in flatten_dict(tree, sep="/", is_leaf=is_chunked).items():
        if isinstance(leaf, dict):  # a chunked array: its header carries the full shape
            first = next(iter(leaf["chunks"].values()))
            out[key] = (_as_tuple(leaf["shape"]), first[1])
        else:
            out[key] = leaf
    return out


def load_msgpack(path: Path, dtype: str = "float32") -> dict:
    """Stream a flax msgpack file into device arrays, floating tensors cast to `dtype`."""
    import jax.numpy as jnp

    target = jax_dtype(dtype)

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
    check_tree(listing(tree), param_tree(config), str(path))
    return tree


def load_dallebart(folder: str | Path, dtype: str = "float32") -> DalleBartBundle:
    """Config, params (cast to `dtype`) and module of a DalleBart checkpoint folder."""
    from blogart.models.dalle.dallebart import DalleBart, DalleBartConfig

    raw = read_config(folder)
    config = DalleBartConfig.from_dict(raw)
    params = load_params(folder, raw, dtype)
    return DalleBartBundle(config=config, params=params, module=DalleBart(config), dtype=dtype)


@dataclass(frozen=True)
class TreeDiff:
    """How a checkpoint's tree differs from the one its config implies (paths as "a/b/kernel")."""

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    wrong_shape: tuple[str, ...] = ()  # "a/k: 3x2 where the config implies 2x3"
    other_dtype: tuple[str, ...] = ()  # "a/b is float16": never a problem, loading casts every tensor

    def problems(self, listed: int | None = None) -> list[str]:
        """One line per problem, missing first; with `listed`, at most that many of each kind, then a count."""
        out = []
        for label, items in (
            ("missing tensor", self.missing),
            ("unexpected tensor", self.unexpected),
            ("wrong shape", self.wrong_shape),
        ):
            shown = items if listed is None else items[:listed]
            out.extend(f"{label}: {item}" for item in shown)
            if len(items) > len(shown):
                out.append(f"... and {len(items) - len(shown)} more ({label})")
        return out


def compare_trees(found: TreeListing, expected: TreeListing) -> TreeDiff:
    """The one tree comparison: loading refuses on any problem, `verify` reports them."""
    both = sorted(found.keys() & expected.keys())
    return TreeDiff(
        missing=tuple(sorted(expected.keys() - found.keys())),
        unexpected=tuple(sorted(found.keys() - expected.keys())),
        wrong_shape=tuple(
            f"{k}: {_shape(found[k][0])} where the config implies {_shape(expected[k][0])}"
            for k in both
            if tuple(found[k][0]) != tuple(expected[k][0])
        ),
        other_dtype=tuple(f"{k} is {found[k][1]}" for k in both if found[k][1] != expected[k][1]),
    )


def check_tree(found: TreeListing, expected: TreeListing, where: str) -> None:
    """Raise a one-line BlogartError naming the first problems of `compare_trees`."""
    if problems := compare_trees(found, expected).problems():
        more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
        raise BlogartError(f"{where} does not match its config: {'; '.join(problems[:3])}{more}")


def listing(tree: dict) -> TreeListing:
    """path -> (shape, dtype) of a loaded (or `jax.eval_shape`d) tree."""
    from flax.traverse_util import flatten_dict

    return {k: (tuple(v.shape), str(v.dtype)) for k, v in flatten_dict(tree, sep="/").items()}


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


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
