"""A tiny random SD-Turbo-shaped pipeline (UNet, VAE, CLIP text encoder, CLIP tokenizer, the turbo scheduler)
saved with save_pretrained in the Hugging Face cache layout, so the generator loads it through diffusers' real
`from_pretrained` code: models--stabilityai--sd-turbo/{refs/main, snapshots/<rev>/model_index.json, unet/, ...}."""

from __future__ import annotations

import json
from pathlib import Path

REPO_ID = "stabilityai/sd-turbo"
REVISION = "0" * 40  # a snapshot folder named like a commit; refs/main points at it
SIZE = 32  # pixels: the tiny VAE halves it once, so the UNet works on 16x16 latents
WORDS = ["a", "cat", "on", "the", "mat", "blog", "about", "art", "cover", "blurry", "text", "red", "sea", "lighthouse"]


def _byte_chars() -> list[str]:
    """CLIP's byte -> printable character table (the byte-level BPE alphabet)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def write_tokenizer(folder: Path) -> None:
    """vocab.json + merges.txt for a CLIPTokenizer: every byte (alone and word-final), a few whole words."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    vocab = chars + [c + "</w>" for c in chars]
    merges: list[str] = []
    for word in WORDS:
        # Merge left to right into the whole word, the last symbol word-final (CLIP's BPE convention).
        symbols = list(word[:-1]) + [word[-1] + "</w>"]
        while len(symbols) > 1:
            merged = symbols[0] + symbols[1]
            rule = f"{symbols[0]} {symbols[1]}"
            if rule not in merges:
                merges.append(rule)
                vocab.append(merged)
            symbols = [merged, *symbols[2:]]
    vocab = list(dict.fromkeys([*vocab, "<|startoftext|>", "<|endoftext|>"]))
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")


def build_pipeline(seed: int = 0):
    """A StableDiffusionPipeline of random tiny parts, shaped like SD-Turbo's (turbo scheduler included)."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        sample_size=SIZE // 2,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
        sample_size=SIZE,
    )
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer(Path(tmp))
        tokenizer = CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"), model_max_length=77)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            max_position_embeddings=77,
            projection_dim=16,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    # SD-Turbo's published scheduler_config.json: Euler, trailing timesteps (one step starts at t=999).
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        num_train_timesteps=1000,
        prediction_type="epsilon",
        steps_offset=1,
        timestep_spacing="trailing",
    )
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def make_tiny_sd_turbo(hf_cache: Path, repo_id: str = REPO_ID, revision: str = REVISION) -> Path:
    """The tiny pipeline saved where the HF cache keeps `repo_id`; returns its snapshot folder."""
    repo = hf_cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    build_pipeline().save_pretrained(snapshot, safe_serialization=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot


def make_tiny_taesd(hf_cache: Path, revision: str = REVISION) -> Path:
    """A tiny random AutoencoderTiny (TAESD's class) that decodes the tiny pipeline's latents, in the HF cache."""
    import torch
    from diffusers import AutoencoderTiny

    torch.manual_seed(1)
    blocks = (8, 8)  # two blocks: one 2x upsampling, as the tiny VAE's
    tiny = AutoencoderTiny(
        encoder_block_out_channels=blocks,
        decoder_block_out_channels=blocks,
        num_encoder_blocks=(1, 1),
        num_decoder_blocks=(1, 1),
        latent_channels=4,
    )
    repo = hf_cache / "models--madebyollin--taesd"
    snapshot = repo / "snapshots" / revision
    tiny.save_pretrained(snapshot, safe_serialization=True)
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return snapshot
