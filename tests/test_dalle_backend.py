"""The dalle-mini generator end to end on tiny random checkpoints saved in the released formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from blogart.errors import BlogartError, UsageError
from blogart.values import GenerationRequest

DATA = Path(__file__).parent / "data"
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A DalleBart checkpoint shaped to the small VQGAN (16x16 codes of 64) with a tiny BPE tokenizer."""
    from tokenizers import ByteLevelBPETokenizer

    root = tmp_path_factory.mktemp("dalle")
    bart = root / "dalle-mini"
    bart.mkdir()
    config = json.loads((DATA / "dallebart" / "config.json").read_text())
    config.update(image_length=256, image_vocab_size=64, decoder_start_token_id=64, encoder_vocab_size=320)
    config.update(max_text_length=16, d_model=32, encoder_ffn_dim=48, decoder_ffn_dim=48, normalize_text=True)
    _save_params(bart, config)
    bpe = ByteLevelBPETokenizer()
    corpus = [" a cat on a mat", " the blog about art", " cover images for a post", " blurry text"] * 4
    bpe.train_from_iterator(corpus, vocab_size=320, min_frequency=1, special_tokens=SPECIALS)
    bpe.save_model(str(bart))
    return bart, DATA / "vqgan"


def test_generate_writes_pngs_named_by_round_seed_index(folders, tmp_path):
    from PIL import Image

    from blogart.generators.dalle.backend import DalleGenerator

    gen = DalleGenerator("dalle-mini", *folders, batch_size=2)
    request = GenerationRequest(prompt="a cat on a mat", negative_prompt="blurry text", n=3, seed=7)
    candidates = gen.generate(request, tmp_path / "out", round=2)
    assert [c.path.name for c in candidates] == ["2-7-0.png", "2-7-1.png", "2-7-2.png"]
    assert {c.generator for c in candidates} == {"dalle-mini"}
    assert all(c.seed == 7 and c.round == 2 and c.negative_prompt == "blurry text" for c in candidates)
    pixels = [np.asarray(Image.open(c.path)) for c in candidates]
    assert all(p.shape == (32, 32, 3) and p.dtype == np.uint8 for p in pixels)
    assert not np.array_equal(pixels[0], pixels[1])

    # image 1 alone (n=2, batch 1) is the same picture as image 1 of the batch above
    single = DalleGenerator("dalle-mini", *folders, batch_size=1)
    again = single.generate(GenerationRequest("a cat on a mat", "blurry text", n=2, seed=7), tmp_path / "again")
    np.testing.assert_array_equal(np.asarray(Image.open(again[1].path)), pixels[1])


def test_bad_requests_and_mismatched_vqgan(folders, tmp_path):
    from blogart.generators.dalle.backend import DalleGenerator

    bart, vqgan = folders
    with pytest.raises(UsageError):
        DalleGenerator("dalle-mini", bart, vqgan).generate(GenerationRequest("x", n=0), tmp_path)
    other = tmp_path / "bart"
    shutil.copytree(bart, other)
    config = json.loads((other / "config.json").read_text())
    config["image_length"] = 64  # 8x8 tokens: not what the 16x16 VQGAN decodes
    _save_params(other, config)
    with pytest.raises(BlogartError, match="does not fit"):
        DalleGenerator("dalle-mini", other, vqgan).generate(GenerationRequest("x", n=1), tmp_path)
    config["d_model"] = 40  # a checkpoint whose tensors do not fit its config.json
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(BlogartError, match="does not match its config"):
        DalleGenerator("dalle-mini", other, vqgan).generate(GenerationRequest("x", n=1), tmp_path)


def _save_params(folder: Path, config: dict) -> None:
    import jax
    from flax.serialization import to_bytes

    from blogart.generators.dalle.model import DalleBart, DalleBartConfig, init_params

    (folder / "config.json").write_text(json.dumps(config))
    params = init_params(DalleBart(DalleBartConfig.from_dict(config)), jax.random.PRNGKey(3))
    (folder / "flax_model.msgpack").write_bytes(to_bytes(params))
