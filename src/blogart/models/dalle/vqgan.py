"""VQGAN, the image tokenizer of DALL-E Mini/Mega: loading, and encode/decode.

It loads `dalle-mini/vqgan_imagenet_f16_16384` (config.json + flax_model.msgpack) unchanged; its config
is `vqgan_config.py`, and the linen modules, whose tree reproduces the released parameter paths, are in
`vqgan_layers.py`.

Pixel convention (checked against the reference cases): the model takes and returns channel-last pixels in
[0, 1] as they are, without any rescaling to [-1, 1]; decoded images can overshoot that range, which is why
`decode_codes` clips them (as DALL-E Mini does).

jax and flax (and `vqgan_layers`) are imported inside the functions, so that reading a config stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blogart.errors import BlogartError, InputError, MissingWeights
from blogart.models.dalle.checkpoint import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    TreeListing,
    check_tree,
    jax_dtype,
    listing,
    load_msgpack,
)
from blogart.models.dalle.vqgan_config import VQGANConfig


def _as_config(config: VQGANConfig | Mapping[str, Any]) -> VQGANConfig:
    return config if isinstance(config, VQGANConfig) else VQGANConfig.from_dict(config)


def make_module(config: VQGANConfig | Mapping[str, Any], dtype: str = "float32"):
    """The linen module (unbound) for a config, computing in `dtype`."""
    from blogart.models.dalle.vqgan_layers import VQGAN

    return VQGAN(_as_config(config), jax_dtype(dtype))


def param_tree(config: VQGANConfig | Mapping[str, Any]) -> TreeListing:
    """Every parameter of the model for `config`: {"encoder/conv_in/kernel": ((3, 3, 3, 128), "float32"), ...}.

    Shapes come from `jax.eval_shape`, so nothing is allocated even for the released model.
    """
    import jax
    import jax.numpy as jnp

    config = _as_config(config)
    module = make_module(config)
    pixels = jax.ShapeDtypeStruct((1, config.resolution, config.resolution, config.in_channels), jnp.float32)
    return listing(jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x), pixels)["params"])


@dataclass
class VQGANBundle:
    """A loaded VQGAN: its config, its parameters (on the default device) and the linen module."""

    config: VQGANConfig
    params: dict[str, Any]
    module: Any
    dtype: str = "float32"
    _jitted: dict[str, Any] = field(default_factory=dict, repr=False)

    def jitted(self, method: str):
        """`module.apply(params, x, method=method)` compiled once per input shape (jit caches by shape)."""
        if method not in self._jitted:
            import jax

            module = self.module
            self._jitted[method] = jax.jit(lambda params, x: module.apply({"params": params}, x, method=method))
        return self._jitted[method]


def load_vqgan(folder: str | Path, dtype: str = "float32") -> VQGANBundle:
    """Load a vqgan-jax checkpoint folder (config.json + flax_model.msgpack) as released, checking its tree.

    With dtype "bfloat16" or "float16" the weights are stored and run in that type (half the memory);
    quantizer distances stay in float32.
    """
    jax_dtype(dtype)  # a bad name fails before the weights are read
    folder = Path(folder)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise MissingWeights(f"VQGAN {name} not found in {folder}: run `blogart models pull vqgan`")
    try:
        raw = json.loads((folder / CONFIG_NAME).read_text())
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        config = VQGANConfig.from_dict(raw)
    except (ValueError, TypeError) as exc:
        raise BlogartError(f"unreadable VQGAN config {folder / CONFIG_NAME}: {exc}") from exc

    # Streamed tensor by tensor, so the file bytes and the device arrays never coexist whole.
    params = load_msgpack(folder / WEIGHTS_NAME, dtype)
    if set(params) == {"params"}:
        params = params["params"]
    check_tree(listing(params), param_tree(config), f"VQGAN weights in {folder}")
    return VQGANBundle(config=config, params=params, module=make_module(config, dtype), dtype=dtype)


def encode_images(bundle: VQGANBundle, pixels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Encode (B, H, W, 3) pixels in [0, 1] to (quantized states (B, h, w, embed_dim), indices (B, h*w) int32)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    factor = 2 ** (bundle.config.num_resolutions - 1)
    if pixels.ndim != 4 or pixels.shape[-1] != bundle.config.in_channels:
        raise InputError(f"VQGAN expects images shaped (B, H, W, {bundle.config.in_channels}), got {pixels.shape}")
    if pixels.shape[1] % factor or pixels.shape[2] % factor:
        raise InputError(f"VQGAN image sides must be multiples of {factor}, got {pixels.shape[1:3]}")
    quant_states, indices = bundle.jitted("encode")(bundle.params, pixels)
    return np.asarray(quant_states, dtype=np.float32), np.asarray(indices, dtype=np.int32)


def decode_states(bundle: VQGANBundle, quant_states: Any) -> np.ndarray:
    """Decode quantized states (B, h, w, embed_dim) to raw (unclipped) float32 pixels (B, H, W, 3)."""
    states = np.asarray(quant_states, dtype=np.float32)
    return np.asarray(bundle.jitted("decode")(bundle.params, states), dtype=np.float32)


def decode_codes(bundle: VQGANBundle, codes: Any) -> np.ndarray:
    """Decode image tokens (B, h*w) to float32 pixels (B, H, W, 3) clipped to [0, 1], image by image."""
    codes = np.asarray(codes)
    config = bundle.config
    if codes.ndim != 2 or codes.shape[1] != config.num_codes:
        raise InputError(f"VQGAN expects codes shaped (B, {config.num_codes}), got {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= config.n_embed):
        raise InputError(f"VQGAN codes must lie in [0, {config.n_embed}), got {codes.min()}..{codes.max()}")
    codes = codes.astype(np.int32)
    decode = bundle.jitted("decode_code")
    if len(codes) <= 1:
        images = np.asarray(decode(bundle.params, codes), dtype=np.float32)
    else:
        # One image per call: XLA picks its kernels by batch shape, so a batch of 4 can round a pixel
        # differently from a batch of 3. Alone, image i decodes to the same bytes for any -n.
        images = np.concatenate([np.asarray(decode(bundle.params, row[None]), dtype=np.float32) for row in codes])
    return np.clip(images, 0.0, 1.0)
