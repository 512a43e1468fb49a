"""The VQGAN pieces only training needs: a training forward pass, the patch discriminator, and the
released folder format the trainer saves to.

The forward pass reuses the model's encoder and decoder (same parameter tree, same names) and does
its own quantization, which adds what training needs: the codebook and commitment losses and the
straight-through gradient.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from blogart.atomic import atomic_write_bytes
from blogart.models.dalle.checkpoint import CONFIG_NAME, WEIGHTS_NAME
from blogart.models.dalle.vqgan import make_module
from blogart.models.dalle.vqgan_config import VQGANConfig

CODEBOOK = ("quantize", "embedding", "embedding")


def codebook(params: dict) -> Any:
    return params[CODEBOOK[0]][CODEBOOK[1]][CODEBOOK[2]]


def with_codebook(params: dict, table: Any) -> dict:
    quantize = {**params[CODEBOOK[0]], CODEBOOK[1]: {CODEBOOK[2]: table}}
    return {**params, CODEBOOK[0]: quantize}


def unit(x: Any) -> Any:
    import jax.numpy as jnp

    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-6)


def _latents(vq, pixels):
    return vq.quant_conv(vq.encoder(pixels))


def latents(module, params: dict, pixels: Any) -> Any:
    """Encoder output projected to the codebook's dimension (B, h, w, embed_dim), before quantization."""
    return module.apply({"params": params}, pixels, method=_latents)


def decode(module, params: dict, states: Any) -> Any:
    return module.apply({"params": params}, states, method="decode")


def quantize(config: VQGANConfig, table: Any, z: Any) -> dict[str, Any]:
    """Nearest codebook entries with a straight-through gradient, and the two VQ losses.

    With `l2_codes` both sides are unit vectors, so nearest means smallest angle (the inference
    module does the same, which keeps training and `encode_images` choosing the same codes).
    """
    import jax
    import jax.numpy as jnp

    flat = z.reshape(-1, z.shape[-1])
    if config.l2_codes:
        flat, table = unit(flat), unit(table)
    distance = jnp.sum(flat**2, axis=1, keepdims=True) + jnp.sum(table**2, axis=1) - 2 * flat @ table.T
    indices = jnp.argmin(distance, axis=1)
    chosen = table[indices]
    sg = jax.lax.stop_gradient
    return {
        "states": (flat + sg(chosen - flat)).reshape(z.shape),
        "indices": indices,
        "flat": flat,  # what dead codes are re-seeded from
        "codebook": jnp.mean((sg(flat) - chosen) ** 2),  # moves entries toward encoder outputs
        "commit": jnp.mean((flat - sg(chosen)) ** 2),  # keeps the encoder near its entries
    }


def discriminator(channels: int = 64, layers: int = 3):
    """A PatchGAN discriminator: strided 4x4 convolutions, one real/fake logit per patch."""
    import flax.linen as nn

    class PatchDiscriminator(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.leaky_relu(nn.Conv(channels, (4, 4), strides=(2, 2), name="conv_in")(x * 2 - 1), 0.2)
            for i in range(1, layers):
                width = channels * min(2**i, 8)
                x = nn.Conv(width, (4, 4), strides=(2, 2) if i < layers - 1 else (1, 1), name=f"conv_{i}")(x)
                x = nn.leaky_relu(nn.GroupNorm(num_groups=min(32, width // 4), name=f"norm_{i}")(x), 0.2)
            return nn.Conv(1, (4, 4), name="conv_out")(x)

    return PatchDiscriminator()


def init_params(config: VQGANConfig, seed: int) -> dict:
    import jax
    import jax.numpy as jnp

    pixels = jnp.zeros((1, config.resolution, config.resolution, config.in_channels), jnp.float32)
    return jax.jit(make_module(config).init)(jax.random.PRNGKey(seed), pixels)["params"]


def export_params(config: VQGANConfig, params: dict) -> dict:
    """The parameters as they are saved: float32 numpy, and unit-length codebook entries under l2_codes
    (the model normalises them anyway; stored normalised they also read right to other tools)."""
    import jax

    tree = jax.tree_util.tree_map(lambda x: np.asarray(x, dtype=np.float32), params)
    if config.l2_codes:
        table = codebook(tree)
        tree = with_codebook(tree, table / np.maximum(np.linalg.norm(table, axis=-1, keepdims=True), 1e-6))
    return tree


def vqgan_files(config: VQGANConfig, params: dict) -> dict[str, bytes]:
    """config.json and flax_model.msgpack as the released VQGAN folders hold them."""
    from flax.serialization import msgpack_serialize

    data = config.to_dict()
    data["architectures"] = ["VQModel"]
    return {
        WEIGHTS_NAME: msgpack_serialize(export_params(config, params)),
        CONFIG_NAME: (json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode(),
    }


def save_vqgan(folder: Path, config: VQGANConfig, params: dict) -> None:
    """Write a released-format VQGAN folder, each file atomically."""
    for name, data in vqgan_files(config, params).items():
        atomic_write_bytes(Path(folder) / name, data)
