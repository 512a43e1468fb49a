"""A tiny random DalleBart checkpoint in the released format (config.json, flax_model.msgpack,
vocab.json + merges.txt), shaped to fit the small reference VQGAN in tests/data/vqgan."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def make_tiny_dalle(root: Path) -> tuple[Path, Path]:
    """A DalleBart checkpoint shaped to the small VQGAN (16x16 codes of 64) with a tiny BPE tokenizer."""
    from tokenizers import ByteLevelBPETokenizer

    bart = root / "dalle-mini"
    bart.mkdir()
    config = json.loads((DATA / "dallebart" / "config.json").read_text())
    config.update(image_length=256, image_vocab_size=64, decoder_start_token_id=64, encoder_vocab_size=320)
    config.update(max_text_length=16, d_model=32, encoder_ffn_dim=48, decoder_ffn_dim=48, normalize_text=True)
    save_params(bart, config)
    bpe = ByteLevelBPETokenizer()
    corpus = [" a cat on a mat", " the blog about art", " cover images for a post", " blurry text"] * 4
    bpe.train_from_iterator(corpus, vocab_size=320, min_frequency=1, special_tokens=SPECIALS)
    bpe.save_model(str(bart))
    return bart, DATA / "vqgan"


def save_params(folder: Path, config: dict) -> None:
    import jax
    from flax.serialization import to_bytes

    from blogart.models.dalle.dallebart import DalleBart, DalleBartConfig, init_params

    (folder / "config.json").write_text(json.dumps(config))
    params = init_params(DalleBart(DalleBartConfig.from_dict(config)), jax.random.PRNGKey(3))
    (folder / "flax_model.msgpack").write_bytes(to_bytes(params))
