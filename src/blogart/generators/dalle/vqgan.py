"""VQGAN in Flax: the image tokenizer of DALL-E Mini/Mega (encoder, quantizer, decoder) and its loading.

It loads `dalle-mini/vqgan_imagenet_f16_16384` (config.json + flax_model.msgpack) unchanged: the module
tree below reproduces the parameter paths of the vqgan-jax checkpoints exactly, and the math follows
that reference (GroupNorm of 32 groups with eps 1e-6, swish, nearest 2x upsampling, a stride-2 convolution
after padding only the bottom/right edge, single-head attention over the spatial grid).

Pixel convention (checked against the reference cases): the model takes and returns channel-last pixels in
[0, 1] as they are, without any rescaling to [-1, 1]; decoded images can overshoot that range, which is why
`decode_codes` clips them (as DALL-E Mini does).

jax and flax are imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from blogart.errors import BlogartError, InputError, MissingWeights, UsageError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "flax_model.msgpack"
DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class VQGANConfig:
    """The keys of a vqgan-jax config.json that shape the model; the defaults are the released f16_16384."""

    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    resolution: int = 256
    in_channels: int = 3
    out_ch: int = 3
    z_channels: int = 256
    embed_dim: int = 256
    n_embed: int = 16384
    double_z: bool = False
    resamp_with_conv: bool = True
    dropout: float = 0.0  # inference only: kept so that the config round-trips
    # blogart's own keys (absent from the released config, whose behaviour the defaults keep):
    norm_groups: int = 32  # GroupNorm groups; small models with few channels train better with fewer
    l2_codes: bool = False  # codebook entries and encoder outputs compared as unit vectors (cosine lookup)

    @property
    def num_resolutions(self) -> int:
        return len(self.ch_mult)

    @property
    def grid(self) -> int:
        """Codes per side of the latent grid for a `resolution`-sized image."""
        return self.resolution // 2 ** (self.num_resolutions - 1)

    @property
    def num_codes(self) -> int:
        return self.grid * self.grid

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VQGANConfig:
        # Keys such as transformers_version or architectures carry no shape information: ignore them.
        if data.get("give_pre_end"):
            raise UsageError("VQGAN config with give_pre_end=true is not supported (it returns no image)")
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        for key in ("ch_mult", "attn_resolutions"):
            if key in known:
                known[key] = tuple(int(v) for v in known[key])
        config = cls(**known)
        if "num_resolutions" in data and int(data["num_resolutions"]) != config.num_resolutions:
            raise UsageError(
                f"VQGAN config: num_resolutions {data['num_resolutions']} != len(ch_mult) {config.num_resolutions}"
            )
        return config

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ch_mult"] = list(self.ch_mult)
        data["attn_resolutions"] = list(self.attn_resolutions)
        data["num_resolutions"] = self.num_resolutions
        data["give_pre_end"] = False
        return data


def _as_config(config: VQGANConfig | Mapping[str, Any]) -> VQGANConfig:
    return config if isinstance(config, VQGANConfig) else VQGANConfig.from_dict(config)


def _modules():
    """Build the linen modules on first use, so that flax is imported only when a VQGAN is needed."""
    global _MODULES
    if _MODULES is not None:
        return _MODULES

    import flax.linen as nn
    import jax.numpy as jnp

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
            attns = [AttnBlock(self.dtype, g, name=f"attn_{i}") for i in range(self.num_blocks)]
            attns = attns if self.attention else []
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

    class Resample(nn.Module):
        """Holds the resampling convolution under `<level>/(down|up)sample/conv`, as the checkpoints do."""

        channels: int
        stride: int
        padding: Any
        dtype: Any = jnp.float32

        @nn.compact
        def __call__(self, x):
            return conv(self.channels, 3, "conv", self.dtype, stride=self.stride, pad=self.padding)(x)

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
                    c.num_res_blocks + 1,
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

    _MODULES = VQGAN
    return _MODULES


_MODULES = None


def make_module(config: VQGANConfig | Mapping[str, Any], dtype: str = "float32"):
    """The linen module (unbound) for a config, computing in `dtype`."""
    import jax.numpy as jnp

    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    return _modules()(_as_config(config), getattr(jnp, dtype))


def param_tree(config: VQGANConfig | Mapping[str, Any]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Every parameter of the model for `config`: {"encoder/conv_in/kernel": ((3, 3, 3, 128), "float32"), ...}.

    Shapes come from `jax.eval_shape`, so nothing is allocated even for the released model.
    """
    import jax
    import jax.numpy as jnp

    config = _as_config(config)
    module = make_module(config)
    pixels = jax.ShapeDtypeStruct((1, config.resolution, config.resolution, config.in_channels), jnp.float32)
    shapes = jax.eval_shape(lambda x: module.init(jax.random.PRNGKey(0), x), pixels)["params"]
    return {path: (tuple(leaf.shape), str(leaf.dtype)) for path, leaf in _flatten(shapes).items()}


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path + "/"))
        else:
            flat[path] = value
    return flat


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
    from blogart.generators.dalle.weights import check_tree, listing, load_msgpack

    if dtype not in DTYPES:
        raise UsageError(f"unknown dtype {dtype!r}: choose one of {', '.join(DTYPES)}")
    folder = Path(folder)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise MissingWeights(f"VQGAN {name} not found in {folder}: run `blogart models pull vqgan`")
    try:
        raw = json.loads((folder / CONFIG_FILE).read_text())
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        config = VQGANConfig.from_dict(raw)
    except (ValueError, TypeError) as exc:
        raise BlogartError(f"unreadable VQGAN config {folder / CONFIG_FILE}: {exc}") from exc

    # Streamed tensor by tensor, so the file bytes and the device arrays never coexist whole.
    params = load_msgpack(folder / WEIGHTS_FILE, dtype)
    if set(params) == {"params"}:
        params = params["params"]
    check_tree(listing(params), param_tree(config), f"VQGAN weights in {folder}", dtype=dtype)
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
    """Decode image tokens (B, h*w) to float32 pixels (B, H, W, 3) clipped to [0, 1]."""
    codes = np.asarray(codes)
    config = bundle.config
    if codes.ndim != 2 or codes.shape[1] != config.num_codes:
        raise InputError(f"VQGAN expects codes shaped (B, {config.num_codes}), got {codes.shape}")
    if codes.size and (codes.min() < 0 or codes.max() >= config.n_embed):
        raise InputError(f"VQGAN codes must lie in [0, {config.n_embed}), got {codes.min()}..{codes.max()}")
    images = bundle.jitted("decode_code")(bundle.params, codes.astype(np.int32))
    return np.clip(np.asarray(images, dtype=np.float32), 0.0, 1.0)
