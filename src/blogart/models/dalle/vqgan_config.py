"""The VQGAN's config: the keys of a vqgan-jax config.json that shape the model, and the shape rules.

Below both the linen modules (`vqgan_layers.py`) and the loader (`vqgan.py`); it needs no jax.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from blogart.errors import UsageError


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
    # residual blocks of each decoder level, in ch_mult order; None: num_res_blocks + 1 each, as released.
    # A decoder can grow this way while the encoder, and so every image's codes, stay as they are.
    decoder_blocks: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        blocks = self.decoder_blocks
        if blocks is not None and (len(blocks) != len(self.ch_mult) or min(blocks) < 1):
            raise UsageError(
                f"VQGAN config: decoder_blocks needs one count >= 1 per level ({len(self.ch_mult)}), got {list(blocks)}"
            )

    @property
    def num_resolutions(self) -> int:
        return len(self.ch_mult)

    def blocks_at(self, level: int) -> int:
        """Residual blocks of decoder level `level` (0 is the full-resolution one)."""
        return self.decoder_blocks[level] if self.decoder_blocks is not None else self.num_res_blocks + 1

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
        for key in ("ch_mult", "attn_resolutions", "decoder_blocks"):
            if known.get(key) is not None:
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
        if self.decoder_blocks is None:  # absent, as in the released configs
            del data["decoder_blocks"]
        else:
            data["decoder_blocks"] = list(self.decoder_blocks)
        data["num_resolutions"] = self.num_resolutions
        data["give_pre_end"] = False
        return data


def read_config(path: str | Path) -> VQGANConfig:
    """A VQGAN config from a JSON file (an --init file or a model folder's config.json)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        config = VQGANConfig.from_dict(raw)
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"cannot read VQGAN config {path}: {exc}") from None
    check_config(config)
    return config


def check_config(config: VQGANConfig) -> None:
    """Shape rules the model code would otherwise report deep inside flax."""
    widths = {config.ch * m for m in config.ch_mult} | {config.ch}
    if config.norm_groups < 1 or any(w % config.norm_groups for w in widths):
        raise UsageError(f"VQGAN config: norm_groups {config.norm_groups} must divide every width {sorted(widths)}")
    factor = 2 ** (config.num_resolutions - 1)
    if config.resolution % factor:
        raise UsageError(f"VQGAN config: resolution {config.resolution} is not a multiple of {factor}")
