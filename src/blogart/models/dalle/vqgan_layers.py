"""The VQGAN's linen modules: encoder, quantizer and decoder, as in the vqgan-jax checkpoints.

The module tree reproduces the parameter paths of `dalle-mini/vqgan_imagenet_f16_16384` exactly, and
the math follows that reference: GroupNorm of 32 groups with eps 1e-6, swish, nearest 2x upsampling,
a stride-2 convolution after padding only the bottom/right edge, single-head attention over the
spatial grid. Two config keys of blogart's own, for small trained models, keep the released behaviour
at their defaults: `norm_groups` (GroupNorm groups), `l2_codes` (cosine codebook lookup) and
`decoder_blocks` (residual blocks per decoder level).
The config is `vqgan_config.py`; loading and the encode/decode entry points are in `vqgan.py`.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from blogart.models.dalle.vqgan_config import VQGANConfig


def group_norm(name: str, groups: int = 32) -> nn.GroupNorm:
    # No dtype, as in the reference: statistics and output follow the input and parameter dtypes.
    return nn.GroupNorm(num_groups=groups, epsilon=1e-6, name=name)


def conv(features: int, size: int, name: str, dtype: Any, stride: int = 1, pad: Any = None) -> nn.Conv:
    padding = pad if pad is not None else ((size // 2, size // 2),) * 2
    return nn.Conv(features, (size, size), strides=(stride, stride), padding=padding, dtype=dtype, name=name)


class ResnetBlock(nn.Module):
    out_channels: int
    dtype: Any = jnp.float32
    groups: int = 32

    @nn.compact
    def __call__(self, x):
        h = nn.swish(group_norm("norm1", self.groups)(x))
        h = conv(self.out_channels, 3, "conv1", self.dtype)(h)
        h = nn.swish(group_norm("norm2", self.groups)(h))
        h = conv(self.out_channels, 3, "conv2", self.dtype)(h)
        if x.shape[-1] != self.out_channels:
            x = conv(self.out_channels, 1, "nin_shortcut", self.dtype)(x)
        return x + h


class AttnBlock(nn.Module):
    """One attention head over all grid positions, with 1x1 convolutions as projections."""

    dtype: Any = jnp.float32
    groups: int = 32

    @nn.compact
    def __call__(self, x):
        batch, height, width, channels = x.shape
        h = group_norm("norm", self.groups)(x)
        q, k, v = (conv(channels, 1, name, self.dtype)(h).reshape(batch, -1, channels) for name in "qkv")
        weights = jnp.einsum("bqc,bkc->bqk", q, k) * (channels**-0.5)
        weights = nn.softmax(weights, axis=-1)
        h = jnp.einsum("bqk,bkc->bqc", weights, v).reshape(batch, height, width, channels)
        return x + conv(channels, 1, "proj_out", self.dtype)(h)


class Resample(nn.Module):
    """Holds the resampling convolution under `<level>/(down|up)sample/conv`, as the checkpoints do."""

    channels: int
    stride: int
    padding: Any
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        return conv(self.channels, 3, "conv", self.dtype, stride=self.stride, pad=self.padding)(x)


class Level(nn.Module):
    """The residual blocks of one resolution (each followed by its own attention block at attention
    resolutions, as in taming and the reference cases), then an optional down- or upsampling."""

    out_channels: int
    num_blocks: int
    attention: bool
    resample: str | None  # "down" | "up" | None
    with_conv: bool = True
    dtype: Any = jnp.float32
    groups: int = 32

    @nn.compact
    def __call__(self, x):
        g = self.groups
        blocks = [ResnetBlock(self.out_channels, self.dtype, g, name=f"block_{i}") for i in range(self.num_blocks)]
        attns = [AttnBlock(self.dtype, g, name=f"attn_{i}") for i in range(self.num_blocks)] if self.attention else []
        for j, block in enumerate(blocks):
            x = block(x)
            if attns:
                x = attns[j](x)
        if self.resample == "down":
            if self.with_conv:
                # Pad only bottom/right, then a VALID stride-2 convolution (taming's asymmetric padding).
                x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
                x = Resample(x.shape[-1], 2, "VALID", self.dtype, name="downsample")(x)
            else:
                x = nn.avg_pool(x, (2, 2), strides=(2, 2), padding="VALID")
        elif self.resample == "up":
            x = jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)  # nearest-neighbour 2x
            if self.with_conv:
                x = Resample(x.shape[-1], 1, ((1, 1), (1, 1)), self.dtype, name="upsample")(x)
        return x


class MidBlock(nn.Module):
    dtype: Any = jnp.float32
    groups: int = 32

    @nn.compact
    def __call__(self, x):
        channels = x.shape[-1]
        x = ResnetBlock(channels, self.dtype, self.groups, name="block_1")(x)
        x = AttnBlock(self.dtype, self.groups, name="attn_1")(x)
        return ResnetBlock(channels, self.dtype, self.groups, name="block_2")(x)


class Encoder(nn.Module):
    config: VQGANConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, pixels):
        c = self.config
        last = c.num_resolutions - 1
        x = conv(c.ch, 3, "conv_in", self.dtype)(pixels)
        res = c.resolution  # attention placement follows the config's resolution, not the input's size
        for level, mult in enumerate(c.ch_mult):
            x = Level(
                c.ch * mult,
                c.num_res_blocks,
                res in c.attn_resolutions,
                "down" if level != last else None,
                c.resamp_with_conv,
                self.dtype,
                c.norm_groups,
                name=f"down_{level}",
            )(x)
            if level != last:
                res //= 2
        x = MidBlock(self.dtype, c.norm_groups, name="mid")(x)
        x = nn.swish(group_norm("norm_out", c.norm_groups)(x))
        return conv(c.z_channels * (2 if c.double_z else 1), 3, "conv_out", self.dtype)(x)


class Decoder(nn.Module):
    config: VQGANConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z):
        c = self.config
        x = conv(c.ch * c.ch_mult[-1], 3, "conv_in", self.dtype)(z)
        x = MidBlock(self.dtype, c.norm_groups, name="mid")(x)
        res = c.grid
        for level in reversed(range(c.num_resolutions)):
            x = Level(
                c.ch * c.ch_mult[level],
                c.blocks_at(level),
                res in c.attn_resolutions,
                "up" if level != 0 else None,
                c.resamp_with_conv,
                self.dtype,
                c.norm_groups,
                name=f"up_{level}",
            )(x)
            if level != 0:
                res *= 2
        x = nn.swish(group_norm("norm_out", c.norm_groups)(x))
        return conv(c.out_ch, 3, "conv_out", self.dtype)(x)


class Quantizer(nn.Module):
    config: VQGANConfig
    dtype: Any = jnp.float32

    def setup(self):
        self.embedding = nn.Embed(self.config.n_embed, self.config.embed_dim, dtype=self.dtype)

    def __call__(self, z):
        """Nearest codebook entry of each grid vector: (quantized states, indices (B, h*w))."""
        table = self.embedding.embedding.astype(jnp.float32)
        flat = z.reshape(-1, z.shape[-1]).astype(jnp.float32)
        if self.config.l2_codes:  # nearest by angle; the quantized state is the unit-length entry
            table, flat = _unit(table), _unit(flat)
        # Squared distance expanded as |z|^2 + |e|^2 - 2 z.e, in float32 even for 16-bit weights,
        # so that the chosen indices match the reference's.
        distance = jnp.sum(flat**2, axis=1, keepdims=True) + jnp.sum(table**2, axis=1) - 2 * jnp.dot(flat, table.T)
        indices = jnp.argmin(distance, axis=1).astype(jnp.int32)
        return self._entries(indices).reshape(z.shape), indices.reshape(z.shape[0], -1)

    def lookup(self, codes):
        batch, count = codes.shape
        side = math.isqrt(count)
        return self._entries(codes).reshape(batch, side, side, -1)

    def _entries(self, indices):
        entries = self.embedding(indices)
        return _unit(entries).astype(entries.dtype) if self.config.l2_codes else entries


def _unit(x):
    x = x.astype(jnp.float32)
    return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-6)


class VQGAN(nn.Module):
    """The whole model; `encode`, `decode` and `decode_code` are the methods `vqgan.py` applies."""

    config: VQGANConfig
    dtype: Any = jnp.float32

    def setup(self):
        c = self.config
        self.encoder = Encoder(c, self.dtype)
        self.decoder = Decoder(c, self.dtype)
        self.quantize = Quantizer(c, self.dtype)
        self.quant_conv = nn.Conv(c.embed_dim, (1, 1), padding="VALID", dtype=self.dtype)
        self.post_quant_conv = nn.Conv(c.z_channels, (1, 1), padding="VALID", dtype=self.dtype)

    def encode(self, pixels):
        return self.quantize(self.quant_conv(self.encoder(pixels)))

    def decode(self, quant_states):
        return self.decoder(self.post_quant_conv(quant_states))

    def decode_code(self, codes):
        return self.decode(self.quantize.lookup(codes))

    def __call__(self, pixels):
        quant_states, indices = self.encode(pixels)
        return self.decode(quant_states), indices
