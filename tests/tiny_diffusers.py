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
    return save_in_cache(build_pipeline(), hf_cache, repo_id, revision)


def save_in_cache(model, hf_cache: Path, repo_id: str, revision: str = REVISION) -> Path:
    """`model.save_pretrained` into the HF cache's snapshot folder of `repo_id`, refs/main pointing at it."""
    repo = hf_cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    model.save_pretrained(snapshot, safe_serialization=True)
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
    return save_in_cache(tiny, hf_cache, "madebyollin/taesd", revision)


Z_IMAGE_REPO = "Tongyi-MAI/Z-Image-Turbo"
# A chat template of the shape Qwen3's has: the pipeline wraps every prompt as one user turn.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
# Tiny parts in Z-Image-Turbo's layout: a ZImageTransformer2DModel, a Qwen3 text encoder, an AutoencoderKL
# without quant convs that scales by 8 as the real one (so sizes are multiples of 16, as there), a
# flow-matching Euler scheduler (shift 3, the published scheduler config).
TINY_Z_IMAGE = {
    "transformer": dict(
        in_channels=4, dim=32, n_layers=1, n_refiner_layers=1, n_heads=2, n_kv_heads=2, cap_feat_dim=16,
        axes_dims=[4, 6, 6], axes_lens=[1024, 32, 32],
    ),
    "text_encoder": dict(
        hidden_size=16, intermediate_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        head_dim=8, max_position_embeddings=512,
    ),
    "vae": dict(
        block_out_channels=(8, 8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=4, layers_per_block=1,
        sample_size=SIZE,
    ),
}  # fmt: skip


def qwen_tokenizer(folder: Path):
    """A byte-level BPE tokenizer of Qwen's class and special tokens, with a chat template; vocab is tiny."""
    from transformers import Qwen2Tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chars = _byte_chars()
    merges: list[str] = []
    vocab = chars[:]
    for word in WORDS:
        symbols = list(word)
        while len(symbols) > 1:
            merges.append(f"{symbols[0]} {symbols[1]}")
            vocab.append(symbols[0] + symbols[1])
            symbols = [symbols[0] + symbols[1], *symbols[2:]]
    vocab = list(dict.fromkeys([*vocab, "<|endoftext|>", "<|im_start|>", "<|im_end|>"]))
    merges = list(dict.fromkeys(merges))
    (folder / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    tokenizer = Qwen2Tokenizer(
        str(folder / "vocab.json"),
        str(folder / "merges.txt"),
        unk_token=None,
        bos_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def z_image_pipeline(parts: dict, seed: int = 0, vocab_size: int | None = None):
    """A ZImagePipeline of random parts built from `parts` (TINY_Z_IMAGE, or the published shapes)."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, ZImagePipeline, ZImageTransformer2DModel
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = qwen_tokenizer(Path(tmp))
    text = Qwen3Config(**parts["text_encoder"], vocab_size=vocab_size or len(tokenizer))
    # Z-Image's latent statistics and no quant convs; `parts["vae"]` gives the architecture.
    latent = dict(scaling_factor=0.3611, shift_factor=0.1159, use_quant_conv=False, use_post_quant_conv=False)
    vae = AutoencoderKL(**{"in_channels": 3, "out_channels": 3, **parts["vae"], **latent})
    return ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=False),
        vae=vae,
        text_encoder=Qwen3Model(text),
        tokenizer=tokenizer,
        transformer=ZImageTransformer2DModel(**parts["transformer"]),
    )


def make_tiny_z_image(hf_cache: Path, revision: str = REVISION) -> Path:
    """The tiny Z-Image pipeline saved where the HF cache keeps Tongyi-MAI/Z-Image-Turbo; its snapshot folder."""
    return save_in_cache(z_image_pipeline(TINY_Z_IMAGE), hf_cache, Z_IMAGE_REPO, revision)
