"""DalleBart (the DALL-E Mini / Mega text-to-image-token model) as Flax linen modules.

The module and parameter names follow the released `flax_model.msgpack` files exactly (stacked
`use_scan` layers, `FlaxBartAttention_0`, `GLU_0`, `LayerNorm_k`, ...), so a released checkpoint
loads unchanged. The math is BART with the DALL-E Mini changes: separate encoder and decoder
embeddings, no Dense biases, NormFormer layer norms (a bias-only norm before each block, a scaled
norm after it), GLU feed-forward, learned positions with offset 0 and a bias-only final norm.

This module holds the teacher-forced forward pass (parity, training). The fast sampler in
`sampler.py` reuses `layer_norm`, `attention` and `glu` below on the same parameter tree.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from blogart.errors import BlogartError

LN_EPS = 1e-5

# Options of the reference config that change the math or the tree, and the value we support.
_REQUIRED = {
    "ln_type": "layernorm",
    "ln_positions": "normformer",
    "use_bias": False,
    "use_glu": True,
    "use_head_scale": False,
    "use_cosine_attention": False,
    "sinkhorn_iters": 1,
    "use_deepnet_scaling": False,
    "use_alibi": False,
    "use_swin_position_embeddings": False,
    "use_absolute_position_embeddings": True,
    "tie_word_embeddings": False,
    "use_scan": True,
}

_ACTIVATIONS = {
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": lambda x: jax.nn.gelu(x, approximate=True),
    "gelu_fast": lambda x: jax.nn.gelu(x, approximate=True),
    "relu": jax.nn.relu,
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
}


@dataclass(frozen=True)
class DalleBartConfig:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    encoder_attention_heads: int
    decoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_ffn_dim: int
    encoder_vocab_size: int
    image_vocab_size: int  # rows of the decoder embedding and lm_head are this + 1 (the start token)
    image_length: int
    max_text_length: int
    decoder_start_token_id: int
    activation_function: str = "gelu"
    force_ln_scale: bool = False
    scale_embedding: bool = False
    use_final_ln_encoder: bool = True
    use_final_ln_decoder: bool = True
    init_std: float = 0.02

    # Ids a sampler may draw: the VQGAN codebook size. Mega's head has extra rows that no code uses.
    codebook_size: int = 16384

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DalleBartConfig:
        if raw.get("model_type", "dallebart") != "dallebart":
            raise BlogartError(f"not a DalleBart config: model_type={raw.get('model_type')!r}")
        for key, wanted in _REQUIRED.items():
            if key in raw and raw[key] != wanted:
                raise BlogartError(f"unsupported DalleBart config option: {key}={raw[key]!r} (we support {wanted!r})")
        if raw.get("activation_function", "gelu") not in _ACTIVATIONS:
            raise BlogartError(f"unsupported DalleBart activation_function: {raw['activation_function']!r}")
        fields = cls.__dataclass_fields__
        names = [n for n in fields if n != "codebook_size"]
        missing = [n for n in names if n not in raw and fields[n].default is dataclasses.MISSING]
        if missing:
            raise BlogartError(f"DalleBart config lacks: {', '.join(missing)}")
        values = {n: raw[n] for n in names if n in raw}
        values["codebook_size"] = min(16384, int(raw["image_vocab_size"]))
        config = cls(**values)
        for side in ("encoder", "decoder"):
            heads = getattr(config, f"{side}_attention_heads")
            if config.d_model % heads:
                raise BlogartError(f"d_model {config.d_model} is not divisible by {side}_attention_heads {heads}")
        return config

    @property
    def decoder_vocab_size(self) -> int:
        return self.image_vocab_size + 1


# --- math shared with the sampler ------------------------------------------------------------------


def layer_norm(x: jax.Array, bias: jax.Array, scale: jax.Array | None = None) -> jax.Array:
    """LayerNorm over the last axis, always computed in float32 (16-bit weights keep fp32 statistics)."""
    x = x.astype(jnp.float32)
    mean = x.mean(-1, keepdims=True)
    var = jnp.square(x - mean).mean(-1, keepdims=True)
    y = (x - mean) * jax.lax.rsqrt(var + LN_EPS)
    if scale is not None:
        y = y * scale.astype(jnp.float32)
    return y + bias.astype(jnp.float32)


def dense(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """x @ kernel in the kernel's dtype, accumulated and returned in float32."""
    return jnp.dot(x.astype(kernel.dtype), kernel, preferred_element_type=jnp.float32)


def split_heads(x: jax.Array, heads: int) -> jax.Array:
    return x.reshape(*x.shape[:-1], heads, x.shape[-1] // heads)


def attention(q: jax.Array, k: jax.Array, v: jax.Array, mask: jax.Array) -> jax.Array:
    """Softmax attention; q (..., Q, H, d), k/v (..., K, H, d), mask broadcastable to (..., H, Q, K)."""
    q = q / math.sqrt(q.shape[-1])
    scores = jnp.einsum("...qhd,...khd->...hqk", q, k, preferred_element_type=jnp.float32)
    scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    weights = jax.nn.softmax(scores, axis=-1)
    return jnp.einsum("...hqk,...khd->...qhd", weights.astype(v.dtype), v, preferred_element_type=jnp.float32)


def glu(x: jax.Array, p: dict, activation: str) -> jax.Array:
    """NormFormer GLU block: norm, act(x W0) * (x W1), norm, W2."""
    act = _ACTIVATIONS[activation]
    h = layer_norm(x, p["LayerNorm_0"]["bias"], p["LayerNorm_0"].get("scale"))
    h = act(dense(h, p["Dense_0"]["kernel"])) * dense(h, p["Dense_1"]["kernel"])
    h = layer_norm(h, p["LayerNorm_1"]["bias"], p["LayerNorm_1"].get("scale"))
    return dense(h, p["Dense_2"]["kernel"])


# --- linen modules (they own the parameter tree) ---------------------------------------------------


def _normal(config: DalleBartConfig):
    return jax.nn.initializers.normal(config.init_std)


class _Norm(nn.Module):
    """A LayerNorm whose params are named as flax's (bias, optional scale); math from `layer_norm`."""

    features: int
    use_scale: bool

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        bias = self.param("bias", jax.nn.initializers.zeros, (self.features,), jnp.float32)
        scale = self.param("scale", jax.nn.initializers.ones, (self.features,), jnp.float32) if self.use_scale else None
        return layer_norm(x, bias, scale)


class _Kernel(nn.Module):
    """A bias-free Dense that only owns its kernel."""

    in_features: int
    features: int
    std: float

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", jax.nn.initializers.normal(self.std), (self.in_features, self.features), jnp.float32
        )
        return dense(x, kernel)


class Attention(nn.Module):
    config: DalleBartConfig
    heads: int

    @nn.compact
    def __call__(self, x: jax.Array, kv: jax.Array, mask: jax.Array) -> jax.Array:
        d = self.config.d_model
        proj = {n: _Kernel(d, d, self.config.init_std, name=n) for n in ("q_proj", "k_proj", "v_proj", "out_proj")}
        q = split_heads(proj["q_proj"](x), self.heads)
        k = split_heads(proj["k_proj"](kv), self.heads)
        v = split_heads(proj["v_proj"](kv), self.heads)
        out = attention(q, k, v, mask)
        return proj["out_proj"](out.reshape(*out.shape[:-2], d))


class GLU(nn.Module):
    config: DalleBartConfig
    ffn_dim: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.config
        x = _Norm(c.d_model, c.force_ln_scale, name="LayerNorm_0")(x)
        act = _ACTIVATIONS[c.activation_function]
        h = act(_Kernel(c.d_model, self.ffn_dim, c.init_std, name="Dense_0")(x))
        h = h * _Kernel(c.d_model, self.ffn_dim, c.init_std, name="Dense_1")(x)
        h = _Norm(self.ffn_dim, c.force_ln_scale, name="LayerNorm_1")(h)
        return _Kernel(self.ffn_dim, c.d_model, c.init_std, name="Dense_2")(h)


class EncoderLayer(nn.Module):
    config: DalleBartConfig

    @nn.compact
    def __call__(self, h: jax.Array, mask: jax.Array) -> tuple[jax.Array, None]:
        c = self.config
        x = _Norm(c.d_model, c.force_ln_scale, name="LayerNorm_0")(h)
        x = Attention(c, c.encoder_attention_heads, name="FlaxBartAttention_0")(x, x, mask)
        h = h + _Norm(c.d_model, True, name="LayerNorm_1")(x)
        h = h + GLU(c, c.encoder_ffn_dim, name="GLU_0")(h)
        return h, None


class DecoderLayer(nn.Module):
    config: DalleBartConfig

    @nn.compact
    def __call__(
        self, h: jax.Array, self_mask: jax.Array, encoder_states: jax.Array, cross_mask: jax.Array
    ) -> tuple[jax.Array, None]:
        c = self.config
        x = _Norm(c.d_model, c.force_ln_scale, name="LayerNorm_0")(h)
        x = Attention(c, c.decoder_attention_heads, name="FlaxBartAttention_0")(x, x, self_mask)
        h = h + _Norm(c.d_model, True, name="LayerNorm_1")(x)
        x = _Norm(c.d_model, c.force_ln_scale, name="LayerNorm_2")(h)
        x = Attention(c, c.decoder_attention_heads, name="FlaxBartAttention_1")(x, encoder_states, cross_mask)
        h = h + _Norm(c.d_model, True, name="LayerNorm_3")(x)
        h = h + GLU(c, c.decoder_ffn_dim, name="GLU_0")(h)
        return h, None


def _scanned(layer: type[nn.Module], n_layers: int, n_broadcast: int):
    return nn.scan(
        layer,
        variable_axes={"params": 0},
        split_rngs={"params": True},
        in_axes=(nn.broadcast,) * n_broadcast,
        length=n_layers,
    )


class _EncoderLayers(nn.Module):
    config: DalleBartConfig

    @nn.compact
    def __call__(self, h: jax.Array, mask: jax.Array) -> jax.Array:
        layers = _scanned(EncoderLayer, self.config.encoder_layers, 1)(self.config, name="FlaxBartEncoderLayers")
        return layers(h, mask)[0]


class _DecoderLayers(nn.Module):
    config: DalleBartConfig

    @nn.compact
    def __call__(self, h, self_mask, encoder_states, cross_mask) -> jax.Array:
        layers = _scanned(DecoderLayer, self.config.decoder_layers, 3)(self.config, name="FlaxBartDecoderLayers")
        return layers(h, self_mask, encoder_states, cross_mask)[0]


class Encoder(nn.Module):
    config: DalleBartConfig

    @nn.compact
    def __call__(self, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
        c = self.config
        tokens = nn.Embed(c.encoder_vocab_size, c.d_model, embedding_init=_normal(c), name="embed_tokens")
        positions = nn.Embed(c.max_text_length, c.d_model, embedding_init=_normal(c), name="embed_positions")
        h = tokens(input_ids).astype(jnp.float32) * (math.sqrt(c.d_model) if c.scale_embedding else 1.0)
        h = h + positions(jnp.arange(input_ids.shape[-1])[None]).astype(jnp.float32)
        h = _Norm(c.d_model, True, name="layernorm_embedding")(h)
        mask = attention_mask[:, None, None, :].astype(bool)  # (B, H, Q, K) over keys
        h = _EncoderLayers(c, name="layers")(h, mask)
        if c.use_final_ln_encoder:
            h = _Norm(c.d_model, c.force_ln_scale, name="final_ln")(h)
        return h


class Decoder(nn.Module):
    """Teacher-forced decoder: all positions at once with a causal mask."""

    config: DalleBartConfig

    @nn.compact
    def __call__(self, decoder_input_ids: jax.Array, encoder_states: jax.Array, encoder_mask: jax.Array) -> jax.Array:
        c = self.config
        tokens = nn.Embed(c.decoder_vocab_size, c.d_model, embedding_init=_normal(c), name="embed_tokens")
        positions = nn.Embed(c.image_length, c.d_model, embedding_init=_normal(c), name="embed_positions")
        length = decoder_input_ids.shape[-1]
        h = tokens(decoder_input_ids).astype(jnp.float32) * (math.sqrt(c.d_model) if c.scale_embedding else 1.0)
        h = h + positions(jnp.arange(length)[None]).astype(jnp.float32)
        h = _Norm(c.d_model, True, name="layernorm_embedding")(h)
        causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
        cross = encoder_mask[:, None, None, :].astype(bool)
        h = _DecoderLayers(c, name="layers")(h, causal, encoder_states, cross)
        if c.use_final_ln_decoder:
            h = _Norm(c.d_model, c.force_ln_scale, name="final_ln")(h)
        return h


class _Model(nn.Module):
    config: DalleBartConfig

    def setup(self) -> None:
        self.encoder = Encoder(self.config)
        self.decoder = Decoder(self.config)


class DalleBart(nn.Module):
    """Top-level module: params tree `{"model": {"encoder", "decoder"}, "lm_head"}` as released."""

    config: DalleBartConfig

    def setup(self) -> None:
        c = self.config
        self.model = _Model(c)
        self.lm_head = _Kernel(c.d_model, c.decoder_vocab_size, c.init_std)

    def __call__(self, input_ids, attention_mask, decoder_input_ids) -> jax.Array:
        states = self.encode(input_ids, attention_mask)
        return self.decode(decoder_input_ids, states, attention_mask)

    def encode(self, input_ids: jax.Array, attention_mask: jax.Array) -> jax.Array:
        """Encoder last hidden state (B, T, d_model), float32."""
        return self.model.encoder(input_ids, attention_mask)

    def decode(self, decoder_input_ids: jax.Array, encoder_states: jax.Array, encoder_mask: jax.Array) -> jax.Array:
        """Logits (B, S, image_vocab_size + 1) for every position, teacher forced, float32."""
        return self.lm_head(self.model.decoder(decoder_input_ids, encoder_states, encoder_mask))

    def init_inputs(self) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Smallest inputs that create every parameter (for init and eval_shape)."""
        ids = jnp.zeros((1, 1), jnp.int32)
        return ids, jnp.ones((1, 1), jnp.int32), ids


def init_params(module: DalleBart, rng: jax.Array) -> dict:
    """Random params of the released shape (used by tests, the benchmark and eval_shape)."""
    return module.init(rng, *module.init_inputs())["params"]
